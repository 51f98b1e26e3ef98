//! The UDP client of the bench (SPEC "UDP"): a connected datagram socket,
//! one line out as one datagram, then its echo, a whole datagram, checked.
//! A datagram may be lost, even on loopback (a full receive buffer): after
//! `LOST_AFTER` without its echo the round trip counts as lost, not as a
//! failure, and the next one goes; an echo that comes after that is
//! recognised as late and passed over.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::line;
use crate::tally::Problem;

/// How long a round trip waits for its echo before it counts as lost: far
/// above a loopback round trip even on a loaded machine (a few ms at most).
pub const LOST_AFTER: Duration = Duration::from_secs(1);

/// One client: its socket, connected so that the kernel keeps only the
/// server's datagrams, and the last line that got no echo in time.
pub struct Datagrams {
    socket: UdpSocket,
    late: Option<Vec<u8>>,
    /// The largest datagram there is: a longer echo would be cut short.
    buf: Vec<u8>,
}

impl Datagrams {
    /// A socket on 127.0.0.1 (any port), connected to `addr`; the time the
    /// two calls took, in µs, as a TCP connect's (no packet is sent).
    pub fn open(addr: SocketAddr) -> io::Result<(Datagrams, u64)> {
        let start = Instant::now();
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.connect(addr)?;
        socket.set_read_timeout(Some(LOST_AFTER))?;
        let open_us = start.elapsed().as_micros() as u64;
        Ok((Datagrams { socket, late: None, buf: vec![0; 65_536] }, open_us))
    }

    /// `line` as one datagram, then its echo; other datagrams in between
    /// (the late echo of a lost round trip) are passed over.
    pub fn round_trip(&mut self, line: &[u8], what: &str) -> Result<(), Problem> {
        self.socket.send(line).map_err(|e| Problem::Error(format!("{what}: send: {e}")))?;
        let deadline = Instant::now() + LOST_AFTER;
        loop {
            let n = match self.socket.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.late = Some(line.to_vec());
                    return Err(Problem::Lost(format!("{what}: no echo within {LOST_AFTER:?}")));
                }
                Err(e) => return Err(Problem::Error(format!("{what}: recv: {e}"))),
            };
            let echo = &self.buf[..n];
            if self.late.as_deref() == Some(echo) && echo != line {
                self.late = None;
                let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
                self.socket
                    .set_read_timeout(Some(left))
                    .map_err(|e| Problem::Error(format!("{what}: {e}")))?;
                continue;
            }
            self.socket
                .set_read_timeout(Some(LOST_AFTER))
                .map_err(|e| Problem::Error(format!("{what}: {e}")))?;
            return line::compare(line, echo, what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo peer on 127.0.0.1 that answers each datagram as `reply` says.
    fn peer(reply: impl Fn(usize, &[u8]) -> Vec<Vec<u8>> + Send + 'static) -> SocketAddr {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = socket.local_addr().unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65_536];
            for i in 0.. {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { return };
                for datagram in reply(i, &buf[..n]) {
                    let _ = socket.send_to(&datagram, from);
                }
            }
        });
        addr
    }

    #[test]
    fn an_echo_is_checked_whole() {
        let addr = peer(|i, d| vec![if i == 1 { d[..d.len() - 1].to_vec() } else { d.to_vec() }]);
        let (mut client, _) = Datagrams::open(addr).unwrap();
        assert!(client.round_trip(b"first\n", "0").is_ok());
        assert!(matches!(client.round_trip(b"second\n", "1"), Err(Problem::Mismatch(_))));
    }

    /// The first datagram gets no echo in time (it comes with the second's):
    /// lost, then passed over as late, and the second round trip is clean.
    #[test]
    fn a_lost_datagram_is_counted_and_its_late_echo_passed_over() {
        let addr = peer(|i, d| match i {
            0 => vec![],
            _ => vec![b"first\n".to_vec(), d.to_vec()],
        });
        let (mut client, _) = Datagrams::open(addr).unwrap();
        assert!(matches!(client.round_trip(b"first\n", "0"), Err(Problem::Lost(_))));
        assert!(client.round_trip(b"second\n", "1").is_ok());
    }
}
