//! Connection churn, as Stevens' test client for UNP chapter 30 makes it
//! (unpv13e server/client.c, the load of Figure 30.1): CLIENTS clients at
//! once, each making its share of the connections one after another; each
//! connection sends one line, reads its whole echo, and the client closes
//! first (the TIME_WAIT is the client's, not the server's). What a
//! connection costs the server, fork or thread start included. With one
//! client and the short line, the churn row; over TLS each connection is a
//! new handshake too: what a handshake costs.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dial::Dialer;
use crate::line::Lines;
use crate::procfs::CpuMeter;
use crate::tally::{Problem, RunReport, Tally};

/// How much work one churn run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Churn {
    pub connections: usize,
    /// Clients at once, each making its share one after another.
    pub clients: usize,
    /// The line's size, `\n` included; 0: the short `echo N` line.
    pub size: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// Fields left out of a JSON file read back are zero or empty.
#[serde(default)]
pub struct ChurnReport {
    pub target: String,
    pub connections: usize,
    /// 0 in results saved before churn had more than one client: one.
    #[serde(skip_serializing_if = "is_zero")]
    pub clients: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub size: usize,
    /// Wall time, from the first connect to the last close.
    pub seconds: f64,
    pub connections_per_s: f64,
    /// Server CPU time (user + system, its children's included) per
    /// connection, in µs, when the PID is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us: Option<f64>,
    #[serde(flatten)]
    pub tally: Tally,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One client's share: connections `id`, `id + clients`, ... below `n`,
/// one after another; the first problem ends it.
fn one_client((addr, dialer): (SocketAddr, &Dialer), first: usize, w: Churn, timeout: Duration) -> Tally {
    let mut tally = Tally::default();
    let mut lines = Lines::new(first as u64 + 1, w.size.max(2));
    let mut echo = vec![0u8; w.size];
    for id in (first..w.connections).step_by(w.clients.max(1)) {
        let echoed = dialer
            .open(addr, timeout)
            .map_err(|e| Problem::Error(format!("connection {id}: connect {addr}: {e}")))
            .and_then(|(mut conn, _)| {
                match w.size {
                    0 => conn.echo_once(id),
                    _ => conn.round_trip(lines.next_line(), &mut echo, &format!("connection {id}")),
                }
                .map(|()| conn.close())
            });
        if let Err(problem) = echoed {
            tally.count(problem);
            break;
        }
    }
    tally
}

/// `w.connections` connections, by `w.clients` clients at once, opened by
/// `dialer` (over TLS with a handshake each). `cpu` reads the server's CPU
/// time from before the first to after the last, once the server has
/// finished with it.
pub fn run_churn(
    (addr, dialer): (SocketAddr, &Dialer),
    target: &str,
    w: Churn,
    cpu: CpuMeter,
    timeout: Duration,
) -> ChurnReport {
    let mut report = ChurnReport {
        target: target.into(),
        connections: w.connections,
        clients: w.clients,
        size: w.size,
        ..Default::default()
    };
    let start = Instant::now();
    let clients: Vec<_> = (0..w.clients.max(1))
        .map(|first| {
            let dialer = dialer.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || one_client((addr, &dialer), first, w, timeout))
                .expect("start a client thread")
        })
        .collect();
    for client in clients {
        report.tally.add(client.join().expect("client thread panicked"));
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.connections_per_s = w.connections as f64 / report.seconds.max(1e-9);
    cpu.settle();
    report.server_cpu_us = cpu.per(w.connections as u64);
    report
}

impl RunReport for ChurnReport {
    fn text(&self) -> String {
        let cpu = self.server_cpu_us.map_or(String::new(), |us| format!(", server CPU {us:.1} us each"));
        let line = match self.size {
            0 => String::new(),
            size => format!(" of {size} B"),
        };
        format!(
            "{}: {} connections{line}, {} clients each one after another, in {:.3} s: {:.0} connections/s{cpu}\n{}",
            self.target,
            self.connections,
            self.clients.max(1),
            self.seconds,
            self.connections_per_s,
            self.tally.text()
        )
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }

    fn summary(&self) -> String {
        format!(
            "{:.0} connections/s, {:.3} s, server CPU {:.1} us each",
            self.connections_per_s,
            self.seconds,
            self.server_cpu_us.unwrap_or(f64::NAN)
        )
    }
}
