//! Connection churn, in the manner of Stevens' UNP Figure 30.1: clients one
//! after another, each connects, does one round trip and closes; what a
//! connection costs the server, fork or thread start included. Over TLS
//! each connection is a new handshake too: what a handshake costs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dial::Dialer;
use crate::procfs::{self, CpuMeter};
use crate::tally::{Problem, RunReport, Tally};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// Fields left out of a JSON file read back are zero or empty.
#[serde(default)]
pub struct ChurnReport {
    pub target: String,
    pub connections: usize,
    pub seconds: f64,
    pub connections_per_s: f64,
    /// Server CPU time (user + system, its children's included) per
    /// connection, in µs, when the PID is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us: Option<f64>,
    #[serde(flatten)]
    pub tally: Tally,
}

/// `n` connections one after another, opened by `dialer` (over TLS with a
/// handshake each). With the server's `pid`, its CPU time is read before
/// and, once it has no child process left, after.
pub fn run_churn(
    (addr, dialer): (SocketAddr, &Dialer),
    target: &str,
    n: usize,
    pid: Option<u32>,
    timeout: Duration,
) -> ChurnReport {
    let cpu = CpuMeter::start(pid);
    let mut report = ChurnReport { target: target.into(), connections: n, ..Default::default() };
    let start = Instant::now();
    for id in 0..n {
        let echoed = dialer
            .open(addr, timeout)
            .map_err(|e| Problem::Error(format!("connection {id}: connect {addr}: {e}")))
            .and_then(|(mut conn, _)| conn.echo_once(id).map(|()| conn.close()));
        if let Err(problem) = echoed {
            report.tally.count(problem);
            break;
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.connections_per_s = n as f64 / report.seconds.max(1e-9);
    if let Some(pid) = pid {
        procfs::settle(pid);
        report.server_cpu_us = cpu.per(n as u64);
    }
    report
}

impl RunReport for ChurnReport {
    fn text(&self) -> String {
        let cpu = self.server_cpu_us.map_or(String::new(), |us| format!(", server CPU {us:.1} us each"));
        format!(
            "{}: {} connections one after another in {:.3} s: {:.0} connections/s{cpu}\n{}",
            self.target,
            self.connections,
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
            "{:.0} connections/s, server CPU {:.1} us each",
            self.connections_per_s,
            self.server_cpu_us.unwrap_or(f64::NAN)
        )
    }
}
