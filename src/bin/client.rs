//! client: line client for the echo servers.
//!
//! The Rust twin of `c-reference/client.c`, step for step. Connects, then
//! sends each line of stdin and waits for its echo. "quit" or the end of
//! stdin ends the session. While waiting for the user it polls stdin and the
//! socket together, so a server that closes the connection (an idle timeout,
//! say) is noticed at once.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use sockets::sys;
use sockets::{
    args, connect_to, consume, escape, find_line, format_addr, is_quit, parse_client_options, read_input,
    recv_retry, send_all, ClientOptions, Failure, Input, BUF_SIZE,
};

const PROG: &str = "client";
const USAGE: &str = "usage: client [-t SECONDS] [HOST [PORT]]\n";

/// `client: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

/// `[-t SECONDS] [HOST [PORT]]`: 127.0.0.1, 8080, a 5-second wait for an echo.
fn parse_options(args: &[Vec<u8>]) -> ClientOptions {
    let defaults = ClientOptions { host: b"127.0.0.1".to_vec(), port: 8080, reply_timeout: 5 };
    parse_client_options(PROG, USAGE, b"t:h", args, defaults, |_, _| false)
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

    let (fd, server) = connect_to(PROG, &opt, libc::SOCK_STREAM);
    println!("connected to {}", format_addr(&server));

    let interactive = sys::isatty(io::stdin().as_fd());
    let mut prompt_showing = false; // "> " on the screen, the cursor after it
    let mut input = Input::default();
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
            let n = read_input(&mut input).unwrap_or_else(|e| die("read stdin", e));
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
