//! What a bounded design does with one client too many: a server that
//! serves at most N clients at once (N pre-forked children, a pool of N
//! threads) cannot hold 10,000 idle clients or 1,000 at the same moment, and
//! a row that asked it to would wait for its timeout. Instead, the bench
//! shows the lesson, measured: N clients opened and served (one echo each,
//! then held), one more that connects (the kernel completes its handshake:
//! it waits in the backlog or the pool's queue) but gets no echo while the N
//! are held, and gets it once one of them closes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::line;
use crate::tally::{Problem, RunReport, Tally};

/// How long the one client too many waits for an echo that must not come.
const UNSERVED: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BoundReport {
    pub target: String,
    /// The clients the design serves at once.
    pub at_once: usize,
    /// Of those, how many were opened and echoed.
    pub served: usize,
    /// Whether the next client got no echo while they were held.
    pub waited: bool,
    /// Its echo, in ms after one of the held clients closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_after_close_ms: Option<f64>,
    #[serde(flatten)]
    pub tally: Tally,
}

impl BoundReport {
    /// The lesson in a table's cell: `full: 16 served, the 17th waits`.
    pub fn lesson(&self) -> String {
        let next = ordinal(self.at_once + 1);
        match (self.waited, self.served_after_close_ms) {
            (true, Some(_)) => format!("full: {} served, the {next} waits", self.served),
            (true, None) => {
                format!("full: {} served, the {next} waits, not served after a close", self.served)
            }
            (false, _) => {
                format!("{} served, and the {next} at once: not bounded at {}", self.served, self.at_once)
            }
        }
    }
}

/// `17th`, `21st`, `2nd`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The probe of a server that serves `at_once` clients at once.
pub fn run_bound(addr: SocketAddr, target: &str, at_once: usize, timeout: Duration) -> BoundReport {
    let mut report = BoundReport { target: target.into(), at_once, ..Default::default() };
    let mut held = Vec::with_capacity(at_once);
    for id in 0..at_once {
        match line::connect_and_echo(addr, id, timeout) {
            Ok((stream, _)) => held.push(stream),
            Err(problem) => {
                report.tally.count(problem);
                return report;
            }
        }
    }
    report.served = held.len();
    if let Err(problem) = one_too_many(addr, at_once, &mut held, timeout, &mut report) {
        report.tally.count(problem);
    }
    report
}

/// The client after the `at_once` held ones: its line sent, no echo within
/// `UNSERVED`, then one held client closed and the echo awaited.
fn one_too_many(
    addr: SocketAddr,
    id: usize,
    held: &mut Vec<TcpStream>,
    timeout: Duration,
    report: &mut BoundReport,
) -> Result<(), Problem> {
    let what = format!("connection {id}");
    let error = |e: std::io::Error| Problem::Error(format!("{what}: {e}"));
    let (mut stream, _) = line::connect(addr, timeout).map_err(error)?;
    let line = format!("echo {id:06}\n").into_bytes();
    stream.write_all(&line).map_err(error)?;
    stream.set_read_timeout(Some(UNSERVED)).map_err(error)?;
    let mut echo = vec![0u8; line.len()];
    let mut got = match stream.read(&mut echo) {
        Ok(0) => return Err(Problem::Error(format!("{what}: closed by the server"))),
        Ok(n) => n,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => 0,
        Err(e) => return Err(error(e)),
    };
    report.waited = got == 0;
    stream.set_read_timeout(Some(timeout)).map_err(error)?;
    held.remove(0); // one of the served clients leaves
    let closed = Instant::now();
    while got < echo.len() {
        match stream.read(&mut echo[got..]) {
            Ok(0) => return Err(Problem::Error(format!("{what}: closed after {got} bytes of the echo"))),
            Ok(n) => got += n,
            Err(e) => return Err(error(e)),
        }
    }
    report.served_after_close_ms = Some(closed.elapsed().as_secs_f64() * 1e3);
    line::compare(&line, &echo, &what)
}

impl RunReport for BoundReport {
    fn text(&self) -> String {
        let after = self
            .served_after_close_ms
            .map_or(String::new(), |ms| format!("; its echo came {ms:.1} ms after a served client closed"));
        format!("{}: {}{after}\n{}", self.target, self.lesson(), self.tally.text())
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }

    fn summary(&self) -> String {
        let after = self
            .served_after_close_ms
            .map_or(String::new(), |ms| format!(" (served {ms:.1} ms after a close)"));
        format!("{}{after}", self.lesson())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lesson_names_the_client_that_waits() {
        let report = |waited, after| BoundReport {
            at_once: 16,
            served: 16,
            waited,
            served_after_close_ms: after,
            ..Default::default()
        };
        assert_eq!(report(true, Some(2.0)).lesson(), "full: 16 served, the 17th waits");
        assert!(report(false, Some(0.0)).lesson().contains("not bounded at 16"));
        assert_eq!(ordinal(21), "21st");
        assert_eq!(ordinal(12), "12th");
    }
}
