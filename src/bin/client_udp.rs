//! client_udp: line client for the UDP echo server.
//!
//! The Rust twin of `c-reference/client_udp.c`, step for step. Sends each
//! line of stdin as one datagram and waits for it to come back. Nothing
//! brings a lost datagram back, so a line may get no reply (it says so and
//! goes on with the next one), and an echo may come after its wait is over
//! (it is shown as late). The socket is connected (Stevens UNP 8.11): no
//! handshake is sent, but the kernel then keeps only the server's datagrams
//! and reports "port unreachable" as ECONNREFUSED. "quit" or the end of
//! stdin ends the client; there is no session to end, so nothing is sent.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use sockets::sys;
use sockets::{
    args, escape, format_addr, is_quit, parse_number, recv_retry, usage_error, Failure, Getopt, Opt, BUF_SIZE,
};

const PROG: &str = "client_udp";
const USAGE: &str = "usage: client_udp [-t SECONDS] [HOST [PORT]]\n";
/// More than the largest UDP payload: no echo is cut.
const DATAGRAM_SIZE: usize = 65536;
/// 65,535 less the IPv4 header (20) and the UDP header (8).
const MAX_DATAGRAM_V4: usize = 65507;
/// 65,535 less the UDP header: IPv6 counts its own header apart.
const MAX_DATAGRAM_V6: usize = 65527;

struct Options {
    host: Vec<u8>,
    port: u16,
    /// Seconds.
    reply_timeout: u32,
}

/// Bytes read from stdin and not yet sent. The client reads fd 0 with read(2)
/// into this buffer, as `client.rs` does (there for poll(2)); the same code
/// reads lines of any length.
struct Input {
    data: Vec<u8>,
    /// Bytes at the start known to hold no '\n'.
    scanned: usize,
    eof: bool,
}

/// `client_udp: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

/// `client`'s options; the wait is shorter (1 s): a lost datagram is normal here.
fn parse_udp_client_options(args: &[Vec<u8>]) -> Options {
    let mut opt = Options { host: b"127.0.0.1".to_vec(), port: 8080, reply_timeout: 1 };

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

/// getaddrinfo(3) for HOST, any family, datagram sockets, then each address
/// in the order given until a socket connects. connect(2) on a datagram
/// socket sends nothing: it fixes the peer (send needs no address, recv
/// takes only the server's datagrams) and lets the kernel report the ICMP
/// errors that come back. Returns the socket, the address it is connected
/// to, and the largest line it can carry.
fn connect_udp(opt: &Options) -> (OwnedFd, String, usize) {
    // step: resolve
    let found = match sys::getaddrinfo_datagram(&opt.host, &opt.port.to_string()) {
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
        let max_datagram = if ai.family == libc::AF_INET6 { MAX_DATAGRAM_V6 } else { MAX_DATAGRAM_V4 };
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
                connected = Some((fd, server_addr, max_datagram));
                break;
            }
            // Dropping fd closes it, as the C's close before the next try.
            Err(err) => failure = Failure::new(format!("connect {server_addr}"), err),
        }
    }
    // The last address's failure.
    let (fd, server_addr, max_datagram) = connected.unwrap_or_else(|| failure.exit(PROG));

    // step: setsockopt
    // An echo that does not come within the timeout fails recv with EAGAIN.
    let timeout = sys::timeval { tv_sec: opt.reply_timeout.into(), tv_usec: 0 };
    sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)
        .unwrap_or_else(|e| die("setsockopt SO_RCVTIMEO", e));
    (fd, server_addr, max_datagram)
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

/// `echo: TEXT` or `late: TEXT`: the datagram without one final `\n`, escaped.
fn print_datagram(label: &str, data: &[u8]) {
    println!("{label}: {}", escape(data.strip_suffix(b"\n").unwrap_or(data)));
}

/// Wait for the echo of one datagram. Any other datagram is the echo of an
/// earlier line that missed its wait: shown as late, and the wait goes on
/// (each recv waits the whole timeout again). No datagram in time: this
/// line's echo, or the line itself, was lost; say so and go on.
fn receive_datagram_echo(fd: BorrowedFd, sent: &[u8], reply_timeout: u32) {
    // step: echo
    let mut buf = vec![0u8; DATAGRAM_SIZE];
    loop {
        let n = match recv_retry(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::EAGAIN) => {
                println!("no reply within {reply_timeout} s");
                return;
            }
            // ECONNREFUSED: port unreachable, no server there.
            Err(err) => die("recv", err),
        };
        if buf[..n] == *sent {
            print_datagram("echo", &buf[..n]);
            return;
        }
        print_datagram("late", &buf[..n]);
    }
}

/// Send one line as one datagram and wait for its echo. A datagram is sent
/// whole or not at all: no loop for a short send, no pieces; a line that
/// does not fit in one is not sent.
fn echo_datagram(fd: BorrowedFd, line: &[u8], max_datagram: usize, reply_timeout: u32) {
    if line.len() > max_datagram {
        println!("line too long for one datagram");
        return;
    }
    // step: send
    let sent = loop {
        match sys::send(fd, line, 0) {
            Err(Errno::EINTR) => continue,
            result => break result,
        }
    };
    if let Err(err) = sent {
        die("send", err);
    }
    receive_datagram_echo(fd, line, reply_timeout);
}

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_udp_client_options(&args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    let (fd, server_addr, max_datagram) = connect_udp(&opt);
    println!("sending to {server_addr} (UDP)");

    let interactive = sys::isatty(io::stdin().as_fd());
    let mut prompt_showing = false; // "> " on the screen, the cursor after it
    let mut input = Input { data: Vec::new(), scanned: 0, eof: false };
    loop {
        let len = find_line(&mut input);
        if len == 0 && input.eof {
            break; // end of stdin
        }
        if len == 0 {
            if interactive && input.data.is_empty() {
                print!("> ");
                let _ = io::stdout().flush();
                prompt_showing = true;
            }
            // No connection to watch while the user types: just read.
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
        echo_datagram(fd.as_fd(), &input.data[..len], max_datagram, opt.reply_timeout);
        consume(&mut input, len);
    }

    // step: close
    // Nothing to send: the server keeps no session, so there is none to end.
    if prompt_showing {
        println!();
    }
    drop(fd); // close(2)
}
