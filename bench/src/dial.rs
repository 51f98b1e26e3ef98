//! How a client of the bench reaches its server, by the server's transport
//! in programs.txt: a TCP connection, TLS over one, or a connected UDP
//! socket; and one checked round trip over whichever it is.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::line;
use crate::tally::Problem;
use crate::tls::{self, Connector};
use crate::udp::Datagrams;

/// What opens the clients' connections of a run.
#[derive(Clone)]
pub enum Dialer {
    Tcp,
    Tls(Connector),
    Udp,
}

/// One client's connection.
pub enum Conn {
    Tcp(TcpStream),
    Tls(Box<tls::Stream>),
    Udp(Datagrams),
}

impl Dialer {
    /// A connection to `addr`, and the time it took to open, in µs (for TLS
    /// the handshake included).
    pub fn open(&self, addr: SocketAddr, timeout: Duration) -> io::Result<(Conn, u64)> {
        match self {
            Dialer::Tcp => line::connect(addr, timeout).map(|(s, us)| (Conn::Tcp(s), us)),
            Dialer::Tls(connector) => {
                connector.connect(addr, timeout).map(|(s, us)| (Conn::Tls(Box::new(s)), us))
            }
            Dialer::Udp => Datagrams::open(addr).map(|(d, us)| (Conn::Udp(d), us)),
        }
    }

    /// `tls` or `udp` in a report's words, nothing for plain TCP.
    pub fn name(&self) -> &'static str {
        match self {
            Dialer::Tcp => "",
            Dialer::Tls(_) => " over TLS",
            Dialer::Udp => " over UDP",
        }
    }
}

impl Conn {
    /// One line out, its echo back and compared. Over UDP a lost datagram is
    /// `Problem::Lost`, and the connection goes on.
    pub fn round_trip(&mut self, line: &[u8], echo: &mut [u8], what: &str) -> Result<(), Problem> {
        match self {
            Conn::Tcp(stream) => line::round_trip(stream, line, echo, what),
            Conn::Tls(stream) => line::round_trip(stream.as_mut(), line, echo, what),
            Conn::Udp(datagrams) => datagrams.round_trip(line, what),
        }
    }

    /// The run's timeout on reads and writes, once opened (UDP keeps its
    /// own: a lost datagram is given up after `udp::LOST_AFTER`).
    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tcp = match self {
            Conn::Tcp(stream) => stream,
            Conn::Tls(stream) => stream.get_ref(),
            Conn::Udp(_) => return Ok(()),
        };
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))
    }

    /// Ends the connection as its client would: TLS says close_notify first.
    pub fn close(mut self) {
        if let Conn::Tls(stream) = &mut self {
            tls::close(stream);
        }
    }

    /// One round trip of the short line of connection `id`, as the churn
    /// clients make it.
    pub fn echo_once(&mut self, id: usize) -> Result<(), Problem> {
        let line = format!("echo {id:06}\n").into_bytes();
        let mut echo = vec![0u8; line.len()];
        self.round_trip(&line, &mut echo, &format!("connection {id}"))
    }
}
