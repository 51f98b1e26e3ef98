//! client: line client for the echo servers.
//!
//! The Rust twin of `c-reference/client.c`, step for step. Connects, then
//! sends each line of stdin and waits for its echo. "quit" or the end of
//! stdin ends the session. While waiting for the user it polls stdin and the
//! socket together, so a server that closes the connection (an idle timeout,
//! say) is noticed at once.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use sockets::sys;
use sockets::{
    args, escape, format_addr, is_quit, parse_number, recv_retry, send_all, usage_error, Failure, Getopt,
    Opt, BUF_SIZE,
};

const PROG: &str = "client";
const USAGE: &str = "usage: client [-t SECONDS] [HOST [PORT]]\n";

struct Options {
    host: Vec<u8>,
    port: u16,
    /// Seconds.
    reply_timeout: u32,
}

/// Bytes read from stdin and not yet sent. The client reads fd 0 with read(2)
/// into this buffer, never through `std::io::stdin()`, which has a buffer of
/// its own: poll(2) sees only what the kernel holds, so lines already read
/// ahead would wait for an input that never comes
/// (`printf 'a\nb\nquit\n' | ./client` would hang after "a").
struct Input {
    data: Vec<u8>,
    /// Bytes at the start known to hold no '\n'.
    scanned: usize,
    eof: bool,
}

/// `client: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

fn parse_options(args: &[Vec<u8>]) -> Options {
    let mut opt = Options { host: b"127.0.0.1".to_vec(), port: 8080, reply_timeout: 5 };

    let mut getopt = Getopt::new(args, b"t:h");
    for found in getopt.by_ref() {
        match found {
            Opt::Found(b't', Some(value)) => match parse_number(&value, 1, 3600) {
                Some(seconds) => opt.reply_timeout = seconds,
                None => usage_error(PROG, USAGE, &[b"bad timeout: ", &value]),
            },
            Opt::Found(b'h', _) => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Opt::MissingValue(name) => usage_error(PROG, USAGE, &[b"option -", &[name], b" needs a value"]),
            Opt::Found(name, _) | Opt::Unknown(name) => {
                usage_error(PROG, USAGE, &[b"unknown option -", &[name]])
            }
        }
    }
    let mut operands = getopt.operands().iter();
    if let Some(host) = operands.next() {
        opt.host = host.clone();
    }
    if let Some(port) = operands.next() {
        match parse_number(port, 1, 65535) {
            Some(port) => opt.port = port as u16,
            None => usage_error(PROG, USAGE, &[b"bad port: ", port]),
        }
    }
    if let Some(extra) = operands.next() {
        usage_error(PROG, USAGE, &[b"unexpected argument: ", extra]);
    }
    opt
}

/// getaddrinfo(3) for HOST, any family, then each address in the order given
/// until one connects (Beej's loop: "localhost" may give ::1 and 127.0.0.1).
/// Returns the connected socket and the address that answered.
fn connect_to(opt: &Options) -> (OwnedFd, String) {
    // step: resolve
    let found = match sys::getaddrinfo(&opt.host, &opt.port.to_string()) {
        Ok(found) => found,
        Err(code) => {
            let mut text = format!("{PROG}: resolve ").into_bytes();
            text.extend_from_slice(&opt.host);
            text.extend_from_slice(format!(": {}\n", sys::gai_strerror(code)).as_bytes());
            let _ = io::stderr().write_all(&text);
            std::process::exit(1);
        }
    };

    let mut failure = Failure::new("connect", Errno::ENOENT);
    let mut connected = None;
    for ai in &found {
        let server_addr = format_addr(&ai.addr);
        // step: socket
        let fd = match sys::socket(ai.family, ai.socktype, ai.protocol) {
            Ok(fd) => fd,
            Err(err) => {
                failure = Failure::new("socket", err);
                continue;
            }
        };
        // step: connect
        match sys::connect(fd.as_fd(), &ai.addr) {
            Ok(()) => {
                connected = Some((fd, server_addr));
                break;
            }
            // Dropping fd closes it, as the C's close before the next try.
            Err(err) => failure = Failure::new(format!("connect {server_addr}"), err),
        }
    }
    // The last address's failure.
    let (fd, server_addr) = connected.unwrap_or_else(|| failure.exit(PROG));

    // step: setsockopt
    // An echo that does not come within the timeout fails recv with EAGAIN.
    let timeout = sys::timeval { tv_sec: opt.reply_timeout.into(), tv_usec: 0 };
    sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)
        .unwrap_or_else(|e| die("setsockopt SO_RCVTIMEO", e));
    (fd, server_addr)
}

/// Length of the first whole line in the input, '\n' included, or 0 if there
/// is none yet. At the end of stdin a last line without '\n' gets one. Only
/// the bytes not yet searched are searched: a long line arrives 1024 bytes a
/// read, and searching it all again each time would be quadratic.
fn find_line(input: &mut Input) -> usize {
    if let Some(newline) = sys::memchr(&input.data[input.scanned..], b'\n') {
        return input.scanned + newline + 1;
    }
    input.scanned = input.data.len();
    if input.eof && !input.data.is_empty() {
        input.data.push(b'\n');
        return input.data.len();
    }
    0
}

/// One read(2) of stdin into the input buffer; returns how many bytes came.
fn read_input(input: &mut Input) -> usize {
    let mut chunk = [0u8; BUF_SIZE];
    let n = loop {
        match sys::read(io::stdin().as_fd(), &mut chunk) {
            Err(Errno::EINTR) => continue,
            Err(err) => die("read stdin", err),
            Ok(n) => break n,
        }
    };
    if n == 0 {
        input.eof = true;
    }
    input.data.extend_from_slice(&chunk[..n]);
    n
}

/// Drop the first len bytes of the input: that line is done.
fn consume(input: &mut Input, len: usize) {
    input.data.drain(..len);
    input.scanned = 0;
}

/// Between echoes the server has nothing to say, so a readable socket means it
/// closed the connection (after its idle timeout, say) or broke the protocol.
/// If the prompt is showing, the message starts a line of its own.
fn server_gone(fd: BorrowedFd, prompt_showing: bool) -> ! {
    if prompt_showing {
        println!();
    }
    let mut byte = [0u8; 1];
    match recv_retry(fd, &mut byte) {
        Ok(0) => {
            println!("server closed the connection");
            std::process::exit(1);
        }
        Err(err) => die("recv", err),
        Ok(_) => {
            eprintln!("{PROG}: unexpected data from server");
            std::process::exit(1);
        }
    }
}

/// Wait until stdin has input; notice at once if the server goes away.
fn wait_for_input(fd: BorrowedFd, prompt_showing: bool) {
    // step: poll
    let mut fds = [
        libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    loop {
        match sys::poll(&mut fds, -1) {
            Err(Errno::EINTR) => continue,
            Err(err) => die("poll", err),
            Ok(_) => {}
        }
        if fds[1].revents != 0 {
            server_gone(fd, prompt_showing);
        }
        if fds[0].revents != 0 {
            return;
        }
    }
}

/// Read back the echo of one piece: exactly `sent.len()` bytes, the bytes sent.
fn receive_echo(fd: BorrowedFd, sent: &[u8], reply_timeout: u32) {
    // step: echo
    let mut buf = [0u8; BUF_SIZE];
    let mut received = 0;
    while received < sent.len() {
        let n = match recv_retry(fd, &mut buf[..sent.len() - received]) {
            Ok(0) => {
                println!("server closed the connection");
                std::process::exit(1);
            }
            Ok(n) => n,
            Err(Errno::EAGAIN) => {
                println!("no reply within {reply_timeout} s");
                std::process::exit(1);
            }
            Err(err) => die("recv", err),
        };
        if buf[..n] != sent[received..received + n] {
            eprintln!("{PROG}: echo mismatch");
            std::process::exit(1);
        }
        received += n;
    }
}

/// Send one line, check its echo, print it. A line longer than BUF_SIZE goes
/// in pieces of BUF_SIZE bytes, each echo read before the next piece is sent,
/// as the server echoes every full BUF_SIZE piece. Sending it all first would
/// deadlock once the line outgrows the socket buffers: the server stops
/// reading while it cannot send its echo, and we would not be reading either.
fn echo_line(fd: BorrowedFd, line: &[u8], reply_timeout: u32) {
    for piece in line.chunks(BUF_SIZE) {
        if let Err(err) = send_all(fd, piece) {
            die("send", err);
        }
        receive_echo(fd, piece, reply_timeout);
    }

    println!("echo: {}", escape(&line[..line.len() - 1]));
}

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_options(&args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    let (fd, server_addr) = connect_to(&opt);
    println!("connected to {server_addr}");

    let interactive = sys::isatty(io::stdin().as_fd());
    let mut prompt_showing = false; // "> " on the screen, the cursor after it
    let mut input = Input { data: Vec::new(), scanned: 0, eof: false };
    loop {
        let len = find_line(&mut input);
        if len == 0 && input.eof {
            break; // end of stdin: say quit
        }
        if len == 0 {
            if interactive && input.data.is_empty() {
                print!("> ");
                let _ = io::stdout().flush();
                prompt_showing = true;
            }
            wait_for_input(fd.as_fd(), prompt_showing);
            let n = read_input(&mut input);
            // Enter ends the prompt's line; Ctrl-D leaves the cursor on it.
            if prompt_showing && n > 0 {
                prompt_showing = input.data.last() != Some(&b'\n');
            }
            continue;
        }
        if prompt_showing {
            // Ctrl-D after a partial line: the cursor is still on the prompt's line.
            println!();
            prompt_showing = false;
        }
        if is_quit(&input.data[..len]) {
            break;
        }
        echo_line(fd.as_fd(), &input.data[..len], opt.reply_timeout);
        consume(&mut input, len);
    }

    // step: close
    if let Err(err) = send_all(fd.as_fd(), b"quit\n") {
        die("send", err);
    }
    if prompt_showing {
        println!();
    }
    println!("closing connection");
    drop(fd); // close(2)
}
