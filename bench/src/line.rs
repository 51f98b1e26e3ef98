//! The lines the bench sends, and one checked echo of one line.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
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
/// `what` names the connection and round trip in a problem's text.
pub fn round_trip(stream: &mut TcpStream, line: &[u8], echo: &mut [u8], what: &str) -> Result<(), Problem> {
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
    match echo[..line.len()].iter().zip(line).position(|(a, b)| a != b) {
        None => Ok(()),
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
    let connecting = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    let connect_us = connecting.elapsed().as_micros() as u64;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok((stream, connect_us))
}

/// Connects and checks one echo of a short line: the client of the idle,
/// storm and churn runs. Returns the open connection and its connect time.
pub fn connect_and_echo(addr: SocketAddr, id: usize, timeout: Duration) -> Result<(TcpStream, u64), Problem> {
    let what = format!("connection {id}");
    let (mut stream, connect_us) =
        connect(addr, timeout).map_err(|e| Problem::Error(format!("{what}: connect {addr}: {e}")))?;
    let line = format!("echo {id:06}\n").into_bytes();
    let mut echo = vec![0u8; line.len()];
    round_trip(&mut stream, &line, &mut echo, &what)?;
    Ok((stream, connect_us))
}
