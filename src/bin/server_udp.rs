//! server_udp: UDP echo server, one socket for every client.
//!
//! The Rust twin of `c-reference/server_udp.c`, step for step. UDP carries
//! datagrams, not a stream: each recvfrom(2) returns one whole datagram and
//! the address it came from, and sendto(2) sends it back there as one
//! datagram. There is no connection, so there is no listen, no accept, no
//! framing, no quit and no idle timeout, and one socket serves every client
//! (Stevens UNP 8.3, udpserv01). The shared steps (the shutdown thread, the
//! address and escaping) are in the library; the C calls in `src/sys.rs`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use sockets::sys::{self, strerror, SockAddr};
use sockets::{
    args, escape, format_addr, parse_server_options_with, start_signal_thread, Failure, ServerOptions,
    SHUTDOWN_THREAD,
};

const PROG: &str = "server_udp";
const USAGE: &str = "usage: server_udp [-b ADDR] [-p PORT] [-q]\n";
/// More than the largest UDP payload (65,527 bytes over IPv6): none is cut.
const DATAGRAM_SIZE: usize = 65536;

/// `server_udp: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

/// The TCP servers' options less `-t` (its `idle_timeout` is never read):
/// with no connection there is nothing to time out.
fn parse_udp_server_options(args: &[Vec<u8>]) -> ServerOptions {
    parse_server_options_with(PROG, USAGE, b"b:p:qh", args, 8080, |_, _| false)
}

/// recvfrom(2), retried when a signal interrupts it: one whole datagram and
/// its sender.
fn recvfrom_retry(fd: BorrowedFd, buf: &mut [u8]) -> Result<(usize, SockAddr), Errno> {
    // step: recvfrom
    loop {
        match sys::recvfrom(fd, buf, 0) {
            Err(Errno::EINTR) => continue,
            result => return result,
        }
    }
}

/// The `recv:` line of one datagram (unless `-q`): without one final `\n`,
/// and empty for an empty one.
fn log_datagram(peer: &str, data: &[u8], opt: &ServerOptions) {
    if opt.quiet {
        return;
    }
    let text = data.strip_suffix(b"\n").unwrap_or(data);
    // The whole line first, then one print: one write(2), as the C's buffer.
    let line = format!("[{peer}] recv: {}\n", escape(text));
    print!("{line}");
}

/// The echo loop: every datagram, from whichever client, goes back to its
/// sender as one datagram, as Stevens' `dg_echo`. A failed sendto concerns
/// that one datagram (a full send queue drops it, as the network might); the
/// loop goes on.
fn serve_datagrams(fd: BorrowedFd, opt: &ServerOptions) -> ! {
    let mut buf = vec![0u8; DATAGRAM_SIZE];
    loop {
        // Not a client's doing: an unconnected socket hears no ICMP errors.
        let (n, from) = recvfrom_retry(fd, &mut buf).unwrap_or_else(|e| die("recvfrom", e));

        let peer = format_addr(&from);
        log_datagram(&peer, &buf[..n], opt);

        // step: sendto
        // One call: a datagram is sent whole or not at all, never in part.
        if let Err(err) = sys::sendto(fd, &buf[..n], 0, &from) {
            println!("[{peer}] error: {}", strerror(err));
        }
    }
}

/// socket, bind: a datagram socket is ready once it has an address. No
/// SO_REUSEADDR (there is no TIME_WAIT to wait out, and on a UDP socket it
/// would let a second server bind the same port and take half the
/// datagrams), no listen (there are no connections to queue). Returns the
/// socket and where it is bound.
fn open_udp_socket(opt: &ServerOptions) -> Result<(OwnedFd, SockAddr), Failure> {
    let addr = opt.bind_addr;
    // step: socket
    let fd = sys::socket(addr.family(), libc::SOCK_DGRAM, 0).map_err(|e| Failure::new("socket", e))?;

    // step: setsockopt
    // An IPv6 socket takes IPv4 clients too (as ::ffff:a.b.c.d) when
    // IPV6_V6ONLY is 0; say so, whatever the system's default.
    let off: libc::c_int = 0;
    if let SockAddr::V6(_) = addr {
        sys::setsockopt(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &off)
            .map_err(|e| Failure::new("setsockopt IPV6_V6ONLY", e))?;
    }

    // step: bind
    sys::bind(fd.as_fd(), &addr).map_err(|e| Failure::new(format!("bind {}", format_addr(&addr)), e))?;

    // step: getsockname
    // With -p 0 the kernel chose the port: ask which.
    let addr = sys::getsockname(fd.as_fd()).map_err(|e| Failure::new("getsockname", e))?;
    Ok((fd, addr))
}

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_udp_server_options(&args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    start_signal_thread(SHUTDOWN_THREAD).unwrap_or_else(|failure| failure.exit(PROG));

    let (fd, bound_addr) = open_udp_socket(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    println!("listening on {} (UDP, one socket)", format_addr(&bound_addr));

    // No accept: every client's datagrams arrive on this one socket.
    serve_datagrams(fd.as_fd(), &opt);
}
