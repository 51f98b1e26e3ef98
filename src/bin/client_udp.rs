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
    args, connect_to, consume, escape, find_line, format_addr, is_quit, parse_client_options, read_input,
    recv_retry, ClientOptions, Failure, Input,
};

const PROG: &str = "client_udp";
const USAGE: &str = "usage: client_udp [-t SECONDS] [HOST [PORT]]\n";
/// More than the largest UDP payload: no echo is cut.
const DATAGRAM_SIZE: usize = 65536;
/// 65,535 less the IPv4 header (20) and the UDP header (8).
const MAX_DATAGRAM_V4: usize = 65507;
/// 65,535 less the UDP header: IPv6 counts its own header apart.
const MAX_DATAGRAM_V6: usize = 65527;

/// `client_udp: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

/// `client`'s options; the wait is shorter (1 s): a lost datagram is normal here.
fn parse_udp_client_options(args: &[Vec<u8>]) -> ClientOptions {
    let defaults = ClientOptions { host: b"127.0.0.1".to_vec(), port: 8080, reply_timeout: 1 };
    parse_client_options(PROG, USAGE, b"t:h", args, defaults, |_, _| false)
}

/// `client`'s connect loop over datagram sockets (see [`connect_to`]).
/// Returns the socket, the address it is connected to, and the largest line
/// it can carry, which depends on the family.
fn connect_udp(opt: &ClientOptions) -> (OwnedFd, String, usize) {
    let (fd, server) = connect_to(PROG, opt, libc::SOCK_DGRAM);
    let max_datagram = if server.family() == libc::AF_INET6 { MAX_DATAGRAM_V6 } else { MAX_DATAGRAM_V4 };
    (fd, format_addr(&server), max_datagram)
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
    let mut input = Input::default();
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
