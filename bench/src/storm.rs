//! The connection storm: N clients connect at the same moment, each gets one
//! echo; the time until the last has it, and what the kernel's listen queue
//! did meanwhile.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::line;
use crate::procfs;
use crate::tally::{RunReport, Tally};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// Fields left out of a JSON file read back are zero or empty.
#[serde(default)]
pub struct StormReport {
    pub target: String,
    pub clients: usize,
    /// From the moment all clients start connecting until the last one has
    /// its echo.
    pub seconds: f64,
    pub connect_max_us: u64,
    /// The rise of TcpExt ListenOverflows and TCPSynRetrans
    /// (/proc/net/netstat, the whole machine's) during the storm.
    pub listen_overflows: u64,
    pub syn_retrans: u64,
    #[serde(flatten)]
    pub tally: Tally,
}

/// `clients` threads wait at a barrier, then each connects and checks one
/// echo; each connection stays open until every client has its echo. The
/// time runs from the first client's connect to the last client's echo.
pub fn run_storm(addr: SocketAddr, target: &str, clients: usize, timeout: Duration) -> StormReport {
    let barrier = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let barrier = Arc::clone(&barrier);
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    (start, line::connect_and_echo(addr, id, timeout), Instant::now())
                })
                .expect("start a client thread")
        })
        .collect();
    let (overflows_before, retrans_before) = procfs::listen_counters();
    barrier.wait();
    let mut report = StormReport { target: target.into(), clients, ..Default::default() };
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    let mut open = Vec::with_capacity(clients);
    for handle in handles {
        let (start, outcome, end) = handle.join().expect("client thread panicked");
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
        match outcome {
            Ok((stream, connect_us)) => {
                report.connect_max_us = report.connect_max_us.max(connect_us);
                open.push(stream);
            }
            Err(problem) => report.tally.count(problem),
        }
    }
    report.seconds = first.zip(last).map_or(0.0, |(f, l)| (l - f).as_secs_f64());
    let (overflows_after, retrans_after) = procfs::listen_counters();
    report.listen_overflows = overflows_after.saturating_sub(overflows_before);
    report.syn_retrans = retrans_after.saturating_sub(retrans_before);
    report
}

impl RunReport for StormReport {
    fn text(&self) -> String {
        format!(
            "{}: {} clients connecting at once: all echoed within {:.1} ms, slowest connect {} us; \
             ListenOverflows +{}, TCPSynRetrans +{}\n{}",
            self.target,
            self.clients,
            self.seconds * 1e3,
            self.connect_max_us,
            self.listen_overflows,
            self.syn_retrans,
            self.tally.text()
        )
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }

    fn summary(&self) -> String {
        format!(
            "all {} echoed in {:.1} ms, slowest connect {} us, ListenOverflows +{}, TCPSynRetrans +{}",
            self.clients,
            self.seconds * 1e3,
            self.connect_max_us,
            self.listen_overflows,
            self.syn_retrans
        )
    }
}
