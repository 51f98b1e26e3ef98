//! The lines the bench sends, and one checked echo of one line.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

use socket2::{Domain, Socket, Type};
use sockets::sys;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::tally::Problem;

/// Larger lines could deadlock a client that writes the whole line before
/// reading: the echo would fill both socket buffers.
pub const MAX_SIZE: usize = 64 * 1024;

/// How far into its pool each round trip's line may start.
const SPREAD: usize = 4096;

/// The lines of one connection: `size` bytes each, the last one `\n`, the
/// others any value but `\n` and `q` (so no line is `quit`), drawn from a
/// pool of seeded random bytes at a varying offset.
pub struct Lines {
    pool: Vec<u8>,
    rng: fastrand::Rng,
    line: Vec<u8>,
}

impl Lines {
    pub fn new(seed: u64, size: usize) -> Lines {
        let mut rng = fastrand::Rng::with_seed(seed);
        let pool = (0..size - 1 + SPREAD)
            .map(|_| match rng.u8(..) {
                b'\n' => b'N',
                b'q' => b'Q',
                b => b,
            })
            .collect();
        Lines { pool, rng, line: vec![b'\n'; size] }
    }

    /// The next line to send.
    pub fn next_line(&mut self) -> &[u8] {
        let body = self.line.len() - 1;
        let offset = self.rng.usize(..SPREAD);
        self.line[..body].copy_from_slice(&self.pool[offset..offset + body]);
        &self.line
    }
}

/// Sends `line` and reads until as many bytes are back; compares them.
/// `what` names the connection and round trip in a problem's text. A TCP
/// stream or a TLS stream over one.
pub fn round_trip(
    stream: &mut (impl Read + Write),
    line: &[u8],
    echo: &mut [u8],
    what: &str,
) -> Result<(), Problem> {
    stream.write_all(line).map_err(|e| Problem::Error(format!("{what}: send: {e}")))?;
    let mut got = 0;
    while got < line.len() {
        match stream.read(&mut echo[got..line.len()]) {
            Ok(0) => {
                return Err(Problem::Error(format!(
                    "{what}: the server closed the connection after {got} of {} bytes",
                    line.len()
                )))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Problem::Error(format!("{what}: recv after {got} bytes: {e}"))),
        }
    }
    compare(line, &echo[..line.len()], what)
}

/// The echo against the line: a mismatch names the first byte that differs.
pub fn compare(line: &[u8], echo: &[u8], what: &str) -> Result<(), Problem> {
    match echo.iter().zip(line).position(|(a, b)| a != b) {
        None if echo.len() == line.len() => Ok(()),
        None => Err(Problem::Mismatch(format!("{what}: sent {} bytes, got {} back", line.len(), echo.len()))),
        Some(at) => Err(Problem::Mismatch(format!(
            "{what}: echo differs at byte {at}: sent 0x{:02x}, got 0x{:02x}",
            line[at], echo[at]
        ))),
    }
}

/// A connection as every client of the bench makes it: TCP_NODELAY like the
/// servers, and reads and writes that give up after `timeout`. Returns it
/// with the time its connect took, in µs.
pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<(TcpStream, u64)> {
    connect_from(addr, None, timeout)
}

/// `connect`, from the `source` address if one is given: bound before it
/// connects, since the ephemeral ports of one source address toward one
/// server port run out past ~28,000 connections. The port is chosen at
/// connect (IP_BIND_ADDRESS_NO_PORT), for that destination only: a port
/// that bind chose would be taken from every address, and the held clients
/// (and their TIME_WAIT after) would leave the other rows' connects none.
pub fn connect_from(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    timeout: Duration,
) -> std::io::Result<(TcpStream, u64)> {
    let connecting = Instant::now();
    let stream = match source {
        None => TcpStream::connect_timeout(&addr, timeout)?,
        Some(source) => {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            let on: libc::c_int = 1;
            sys::setsockopt(socket.as_fd(), libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, &on)?;
            socket.bind(&SocketAddr::from((source, 0)).into())?;
            socket.connect_timeout(&addr.into(), timeout)?;
            socket.into()
        }
    };
    let connect_us = connecting.elapsed().as_micros() as u64;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok((stream, connect_us))
}

/// Connects and checks one echo of a short line: the client of the storm
/// and churn runs. Returns the open connection and its connect time.
pub fn connect_and_echo(addr: SocketAddr, id: usize, timeout: Duration) -> Result<(TcpStream, u64), Problem> {
    connect_and_echo_from(addr, None, id, timeout)
}

/// `connect_and_echo` from a source address: the idle runs' client.
pub fn connect_and_echo_from(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    id: usize,
    timeout: Duration,
) -> Result<(TcpStream, u64), Problem> {
    let what = format!("connection {id}");
    let (mut stream, connect_us) = connect_from(addr, source, timeout)
        .map_err(|e| Problem::Error(format!("{what}: connect {addr}: {e}")))?;
    echo_once(&mut stream, id)?;
    Ok((stream, connect_us))
}

/// One round trip of the short line of connection `id`.
pub fn echo_once(stream: &mut TcpStream, id: usize) -> Result<(), Problem> {
    let line = format!("echo {id:06}\n").into_bytes();
    let mut echo = vec![0u8; line.len()];
    round_trip(stream, &line, &mut echo, &format!("connection {id}"))
}
