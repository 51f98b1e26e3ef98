//! Clients held open, for the idle runs: opened one after another (connect,
//! one checked echo, next), from the source addresses 127.0.0.2, .3, ...
//! (10,000 clients each: one address has ~28,000 ephemeral ports toward one
//! server port); in this process, or, past what its descriptors allow, in
//! helper processes (`echo-bench --helper`) that each hold a share, opened one
//! helper after another. Opening stops early, and says why, when the
//! machine runs short of pids or memory (`procfs::no_room`).

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::line;
use crate::procfs;
use crate::tally::{Problem, Tally};

/// Clients per source address.
const PER_SOURCE: usize = 10_000;
/// How often (in clients) opening asks whether the machine has room.
const ROOM_CHECK: usize = 256;

/// What opening some clients did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Opened {
    pub opened: usize,
    /// From the first connect to the last client's echo.
    pub seconds: f64,
    /// Why opening stopped before a problem or the count, if it did.
    pub stopped: Option<String>,
    #[serde(flatten)]
    pub tally: Tally,
}

/// One more echo on each held client.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Again {
    pub seconds: f64,
    #[serde(flatten)]
    pub tally: Tally,
}

/// The source address of client `id`: 127.0.0.2 for the first 10,000.
fn source(id: usize) -> Ipv4Addr {
    let [_, _, high, low] = ((2 + id / PER_SOURCE) as u32).to_be_bytes();
    Ipv4Addr::new(127, 0, high, low)
}

/// Opens clients `first..first + n` one after another and keeps them.
fn open_here(addr: SocketAddr, first: usize, n: usize, timeout: Duration) -> (Vec<TcpStream>, Opened) {
    let mut opened = Opened::default();
    let mut streams = Vec::with_capacity(n);
    let start = Instant::now();
    for id in first..first + n {
        if (id - first).is_multiple_of(ROOM_CHECK) {
            opened.stopped = procfs::no_room();
            if opened.stopped.is_some() {
                break;
            }
        }
        match line::connect_and_echo_from(addr, Some(source(id)), id, timeout) {
            Ok((stream, _)) => streams.push(stream),
            Err(problem) => {
                opened.tally.count(problem);
                break;
            }
        }
    }
    opened.seconds = start.elapsed().as_secs_f64();
    opened.opened = streams.len();
    (streams, opened)
}

/// One more echo on each client, in turn.
fn again_here(streams: &mut [TcpStream], first: usize) -> Again {
    let mut again = Again::default();
    let start = Instant::now();
    for (id, stream) in (first..).zip(streams.iter_mut()) {
        if let Err(problem) = line::echo_once(stream, id) {
            again.tally.count(problem);
            break;
        }
    }
    again.seconds = start.elapsed().as_secs_f64();
    again
}

/// `echo-bench --helper N --first ID HOST PORT`: opens the clients `ID..ID +
/// N`, prints what it did as a line of JSON, then does one more echo each
/// (and prints that) on each `again` line of its stdin; ends at its EOF.
pub fn helper(addr: SocketAddr, first: usize, n: usize, timeout: Duration) -> i32 {
    let (mut streams, opened) = open_here(addr, first, n, timeout);
    let ok = opened.tally.ok();
    print_json(&opened);
    for command in std::io::stdin().lock().lines().map_while(Result::ok) {
        if command == "again" {
            print_json(&again_here(&mut streams, first));
        }
    }
    i32::from(!ok)
}

fn print_json(report: &impl Serialize) {
    println!("{}", serde_json::to_string(report).expect("a report serializes"));
    let _ = std::io::stdout().flush();
}

/// A helper process and its pipes.
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    first: usize,
}

impl Helper {
    fn start(addr: SocketAddr, first: usize, n: usize, timeout: Duration) -> Result<Helper, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(["--helper", &n.to_string(), "--first", &first.to_string()])
            .args(["-t", &timeout.as_secs().to_string()])
            .args([addr.ip().to_string(), addr.port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a helper echo-bench: {e}"))?;
        let (stdin, stdout) = (child.stdin.take(), BufReader::new(child.stdout.take().expect("stdout")));
        Ok(Helper { child, stdin, stdout, first })
    }

    /// Its next line of JSON.
    fn read<T: DeserializeOwned>(&mut self) -> Result<T, String> {
        let mut json = String::new();
        let _ = self.stdout.read_line(&mut json);
        serde_json::from_str(&json).map_err(|e| format!("helper of clients {} on: {e}: {json:?}", self.first))
    }

    fn again(&mut self) -> Result<Again, String> {
        let stdin = self.stdin.as_mut().ok_or("no stdin")?;
        stdin.write_all(b"again\n").map_err(|e| format!("helper of clients {} on: {e}", self.first))?;
        self.read()
    }
}

impl Drop for Helper {
    /// Its stdin closed, it closes its clients and ends.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The clients of an idle run, wherever they are held.
pub enum Held {
    Here(Vec<TcpStream>),
    Helpers(Vec<Helper>),
}

impl Held {
    /// Opens `n` clients: here if `per_process` allows, else in helpers of
    /// `per_process` clients each, until one falls short.
    pub fn open(addr: SocketAddr, n: usize, per_process: usize, timeout: Duration) -> (Held, Opened) {
        if n <= per_process {
            let (streams, opened) = open_here(addr, 0, n, timeout);
            return (Held::Here(streams), opened);
        }
        let (mut helpers, mut all) = (Vec::new(), Opened::default());
        for first in (0..n).step_by(per_process.max(1)) {
            let share = per_process.min(n - first);
            let opened = Helper::start(addr, first, share, timeout).and_then(|mut helper| {
                let opened: Opened = helper.read()?;
                helpers.push(helper);
                Ok(opened)
            });
            let opened = opened.unwrap_or_else(|e| {
                let mut failed = Opened::default();
                failed.tally.count(Problem::Error(e));
                failed
            });
            let short = opened.opened < share;
            add(&mut all, opened);
            if short {
                break;
            }
        }
        (Held::Helpers(helpers), all)
    }

    /// One more echo on each client, one after another.
    pub fn again(&mut self) -> Again {
        match self {
            Held::Here(streams) => again_here(streams, 0),
            Held::Helpers(helpers) => {
                let mut all = Again::default();
                for helper in helpers {
                    let again = helper.again().unwrap_or_else(|e| {
                        let mut failed = Again::default();
                        failed.tally.count(Problem::Error(e));
                        failed
                    });
                    all.seconds += again.seconds;
                    all.tally.add(again.tally);
                }
                all
            }
        }
    }
}

/// A helper's share added to the whole.
fn add(all: &mut Opened, share: Opened) {
    all.opened += share.opened;
    all.seconds += share.seconds;
    all.stopped = all.stopped.take().or(share.stopped);
    all.tally.add(share.tally);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_clients_share_a_source_address() {
        assert_eq!(source(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source(9_999), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source(10_000), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(source(99_999), Ipv4Addr::new(127, 0, 0, 11));
    }
}
