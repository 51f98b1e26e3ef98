//! What the line clients share (`client`, `client_tls`, `client_udp`): the
//! connect loop, and stdin read into a buffer of their own, a line at a time.
//! Each C client carries its own copy of these functions (`connect_to`,
//! `find_line`, `read_input`, `consume`), the same in every file
//! (tests/c_helpers.rs), where `client_udp.c` names its connect loop
//! `connect_udp`, as it also picks the largest datagram.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;

use crate::cli::ClientOptions;
use crate::framing::BUF_SIZE;
use crate::net::format_addr;
use crate::sys::{self, SockAddr};
use crate::Failure;

/// getaddrinfo(3) for HOST, any family, sockets of `socktype`, then each
/// address in the order given until one connects (Beej's loop: "localhost"
/// may give ::1 and 127.0.0.1). connect(2) on a datagram socket
/// (`client_udp`) sends nothing: it fixes the peer (send needs no address,
/// recv takes only the server's datagrams) and lets the kernel report the
/// ICMP errors that come back. Returns the connected socket and the address
/// that answered; any failure ends the client.
pub fn connect_to(prog: &str, opt: &ClientOptions, socktype: i32) -> (OwnedFd, SockAddr) {
    // step: resolve
    let found = match sys::getaddrinfo(&opt.host, &opt.port.to_string(), socktype) {
        Ok(found) => found,
        Err(code) => {
            let mut text = format!("{prog}: resolve ").into_bytes();
            text.extend_from_slice(&opt.host);
            text.extend_from_slice(format!(": {}\n", sys::gai_strerror(code)).as_bytes());
            let _ = io::stderr().write_all(&text);
            std::process::exit(1);
        }
    };

    let mut failure = Failure::new("connect", Errno::ENOENT);
    let mut connected = None;
    for ai in found {
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
                connected = Some((fd, ai.addr));
                break;
            }
            // Dropping fd closes it, as the C's close before the next try.
            Err(err) => failure = Failure::new(format!("connect {}", format_addr(&ai.addr)), err),
        }
    }
    // The last address's failure.
    let (fd, server) = connected.unwrap_or_else(|| failure.exit(prog));

    // step: setsockopt
    // An echo that does not come within the timeout fails recv with EAGAIN.
    let timeout = sys::timeval { tv_sec: opt.reply_timeout.into(), tv_usec: 0 };
    if let Err(err) = sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout) {
        Failure::new("setsockopt SO_RCVTIMEO", err).exit(prog);
    }
    (fd, server)
}

/// Bytes read from stdin and not yet sent. A client reads fd 0 with read(2)
/// into this buffer, never through `std::io::stdin()`, which has a buffer of
/// its own: poll(2) sees only what the kernel holds, so lines already read
/// ahead would wait for an input that never comes
/// (`printf 'a\nb\nquit\n' | ./client` would hang after "a"). The same code
/// reads lines of any length.
#[derive(Default)]
pub struct Input {
    pub data: Vec<u8>,
    /// Bytes at the start known to hold no '\n'.
    scanned: usize,
    pub eof: bool,
}

/// Length of the first whole line in the input, '\n' included, or 0 if there
/// is none yet. At the end of stdin a last line without '\n' gets one. Only
/// the bytes not yet searched are searched: a long line arrives 1024 bytes a
/// read, and searching it all again each time would be quadratic.
pub fn find_line(input: &mut Input) -> usize {
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

/// One read(2) of stdin into the input buffer; returns how many bytes came
/// (0: the end of stdin, and `eof` is set).
pub fn read_input(input: &mut Input) -> Result<usize, Errno> {
    let mut chunk = [0u8; BUF_SIZE];
    let n = loop {
        match sys::read(io::stdin().as_fd(), &mut chunk) {
            Err(Errno::EINTR) => continue,
            result => break result?,
        }
    };
    if n == 0 {
        input.eof = true;
    }
    input.data.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Drop the first len bytes of the input: that line is done.
pub fn consume(input: &mut Input, len: usize) {
    input.data.drain(..len);
    input.scanned = 0;
}
