//! What the client and the servers share: the send loop, the EINTR retry of
//! recv (Stevens' `writen` and friends, written once), and how an address is
//! written.

use std::os::fd::BorrowedFd;

use nix::errno::Errno;

use crate::sys::{self, in_addr, SockAddr};

/// `a.b.c.d:port` or `[v6addr]:port`, the form every log line and error
/// message uses. An IPv4 client of an IPv6 socket arrives as
/// `::ffff:a.b.c.d` (IPv4-mapped) and is shown as the IPv4 address it is.
pub fn format_addr(addr: &SockAddr) -> String {
    match addr {
        SockAddr::V6(v6) => {
            let bytes = v6.sin6_addr.s6_addr;
            let port = u16::from_be(v6.sin6_port);
            if bytes[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                let v4 = in_addr { s_addr: u32::from_ne_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) };
                format!("{}:{port}", sys::inet_ntop(&v4))
            } else {
                format!("[{}]:{port}", sys::inet_ntop(&v6.sin6_addr))
            }
        }
        SockAddr::V4(v4) => format!("{}:{}", sys::inet_ntop(&v4.sin_addr), u16::from_be(v4.sin_port)),
    }
}

/// send(2) until every byte is written: a short write is not an error.
pub fn send_all(fd: BorrowedFd, mut data: &[u8]) -> Result<(), Errno> {
    // step: send
    while !data.is_empty() {
        // MSG_NOSIGNAL: a vanished peer gives EPIPE, not a process-killing SIGPIPE.
        match sys::send(fd, data, libc::MSG_NOSIGNAL) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// recv(2), retried when a signal interrupts it.
pub fn recv_retry(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // step: recv
    loop {
        match sys::recv(fd, buf, 0) {
            Err(Errno::EINTR) => continue,
            result => return result,
        }
    }
}
