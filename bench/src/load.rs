//! The load run: CLIENTS connections at once, each doing ROUNDS round trips
//! of one SIZE-byte line, every echo checked.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::dial::{Conn, Dialer};
use crate::line::Lines;
use crate::tally::{Problem, RunReport, Tally};

/// How much work one load run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub clients: usize,
    pub rounds: usize,
    pub size: usize,
}

/// What one load run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// Fields left out of a JSON file read back are zero or empty.
#[serde(default)]
pub struct LoadReport {
    pub target: String,
    pub clients: usize,
    pub rounds: usize,
    pub size: usize,
    pub round_trips: u64,
    pub seconds: f64,
    pub round_trips_per_s: f64,
    /// Echoed payload (one direction), in MB (10^6 bytes) per second.
    pub mb_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The slowest connect: over a second means a SYN was dropped (a full
    /// listen backlog) and retransmitted.
    pub connect_max_us: u64,
    /// CPU time (user + system) the server spent per round trip, in µs, when
    /// the suite knows its PID: less noisy than round trips per second when
    /// something else runs on the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us: Option<f64>,
    #[serde(flatten)]
    pub tally: Tally,
}

impl LoadReport {
    pub fn new(target: &str, w: Workload) -> LoadReport {
        LoadReport {
            target: target.into(),
            clients: w.clients,
            rounds: w.rounds,
            size: w.size,
            ..Default::default()
        }
    }

    /// Fills in the figures that follow from the latencies and the time.
    fn finish(&mut self, latencies: &Histogram<u64>, seconds: f64) {
        self.seconds = seconds;
        self.round_trips = latencies.len();
        self.round_trips_per_s = self.round_trips as f64 / seconds.max(1e-9);
        self.mb_per_s = self.round_trips_per_s * self.size as f64 / 1e6;
        if !latencies.is_empty() {
            self.p50_us = latencies.value_at_quantile(0.50);
            self.p99_us = latencies.value_at_quantile(0.99);
            self.p999_us = latencies.value_at_quantile(0.999);
            self.max_us = latencies.max();
        }
    }
}

/// Latencies in µs, from 1 µs to 10 minutes, to 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// What one connection of a load run saw.
struct ClientResult {
    latencies: Histogram<u64>,
    connect_us: u64,
    tally: Tally,
}

/// One connection (already open, with the time its connect took, if it was
/// opened before the clock started): `w.rounds` round trips of one line each.
fn run_client(
    (addr, dialer): (SocketAddr, &Dialer),
    id: usize,
    w: Workload,
    timeout: Duration,
    open: Option<(Conn, u64)>,
    done: &AtomicU64,
) -> ClientResult {
    let mut result = ClientResult { latencies: histogram(), connect_us: 0, tally: Tally::default() };
    let (mut conn, connect_us) = match open.map_or_else(|| dialer.open(addr, timeout), Ok) {
        Ok(open) => open,
        Err(e) => {
            result.tally.count(Problem::Error(format!("client {id}: connect {addr}: {e}")));
            return result;
        }
    };
    result.connect_us = connect_us;
    let mut lines = Lines::new(id as u64 + 1, w.size);
    let mut echo = vec![0u8; w.size];
    for round in 0..w.rounds {
        let start = Instant::now();
        let what = format!("client {id}, round trip {round}");
        match conn.round_trip(lines.next_line(), &mut echo, &what) {
            Ok(()) => {}
            Err(problem @ Problem::Lost(_)) => {
                result.tally.count(problem);
                continue; // not a round trip: no latency, not counted done
            }
            Err(problem @ Problem::Mismatch(_)) => result.tally.count(problem),
            Err(problem) => {
                result.tally.count(problem);
                return result;
            }
        }
        let _ = result.latencies.record((start.elapsed().as_micros() as u64).max(1));
        done.fetch_add(1, Ordering::Relaxed);
    }
    conn.close();
    result
}

/// Opens up to `clients` connections one after another, before the clock
/// starts: the clock then measures echoing, not connection setup (the storm
/// row measures that). A connect that does not complete in 4 tries of 50 ms
/// (the server's listen backlog stays full) ends this phase; the clients left
/// connect on their own threads once the clock runs, where a server that is
/// slow to accept makes them wait.
fn open_first(addr: SocketAddr, dialer: &Dialer, clients: usize, timeout: Duration) -> Vec<(Conn, u64)> {
    let mut opened = Vec::with_capacity(clients);
    'opening: while opened.len() < clients {
        // A fresh socket sends its SYN at once: no 1 s retransmit timer.
        for _attempt in 0..4 {
            if let Ok((conn, connect_us)) = dialer.open(addr, Duration::from_millis(50).min(timeout)) {
                // From here on, the run's timeout, not the connect's.
                if conn.set_timeout(timeout).is_ok() {
                    opened.push((conn, connect_us));
                    continue 'opening;
                }
            }
        }
        break;
    }
    opened
}

/// A progress line on stderr once a run has lasted two seconds, then every
/// second, until `stop` is dropped.
fn progress(done: Arc<AtomicU64>, total: u64, start: Instant) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let monitor = thread::spawn(move || {
        let mut printed = false;
        let mut next = Duration::from_secs(2);
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(next.saturating_sub(start.elapsed()))
        {
            let n = done.load(Ordering::Relaxed);
            let share = n as f64 * 100.0 / total.max(1) as f64;
            eprint!("\recho-bench: {n}/{total} round trips ({share:.0}%), {} s ", start.elapsed().as_secs());
            printed = true;
            next += Duration::from_secs(1);
        }
        if printed {
            eprintln!();
        }
    });
    (stop, monitor)
}

/// The clients' results, as they end, into the report; the clock stops
/// when the last has.
fn gather(
    mut report: LoadReport,
    clients: Vec<thread::JoinHandle<ClientResult>>,
    start: Instant,
) -> LoadReport {
    let mut latencies = histogram();
    for client in clients {
        let result = client.join().expect("client thread panicked");
        latencies.add(&result.latencies).expect("histograms of the same bounds");
        report.connect_max_us = report.connect_max_us.max(result.connect_us);
        report.tally.add(result.tally);
    }
    report.finish(&latencies, start.elapsed().as_secs_f64());
    report
}

/// `w.clients` connections at once against `addr`, opened by `dialer`
/// first (see `open_first`); the clock runs until the last client ends.
pub fn run_load(
    (addr, dialer): (SocketAddr, &Dialer),
    target: &str,
    w: Workload,
    timeout: Duration,
    show_progress: bool,
) -> LoadReport {
    let mut opened = open_first(addr, dialer, w.clients, timeout).into_iter();
    let done = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(w.clients + 1));
    let handles: Vec<_> = (0..w.clients)
        .map(|id| {
            let (done, barrier, open) = (Arc::clone(&done), Arc::clone(&barrier), opened.next());
            let dialer = dialer.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    run_client((addr, &dialer), id, w, timeout, open, &done)
                })
                .expect("start a client thread")
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let total = (w.clients * w.rounds) as u64;
    let monitor = show_progress.then(|| progress(Arc::clone(&done), total, start));

    let report = gather(LoadReport::new(target, w), handles, start);
    if let Some((stop, monitor)) = monitor {
        drop(stop);
        let _ = monitor.join();
    }
    report
}

impl RunReport for LoadReport {
    fn text(&self) -> String {
        format!(
            "{}: {} clients x {} round trips x {} B: {} round trips in {:.3} s\n\
             {:.0} round trips/s, {:.2} MB/s, latency p50 {} us, p99 {} us, p99.9 {} us, max {} us\n\
             slowest connect {} us; {}",
            self.target,
            self.clients,
            self.rounds,
            self.size,
            self.round_trips,
            self.seconds,
            self.round_trips_per_s,
            self.mb_per_s,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.connect_max_us,
            self.tally.text(),
        )
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }

    fn summary(&self) -> String {
        let lost = match self.tally.lost {
            0 => String::new(),
            n => format!(", {n} datagrams lost"),
        };
        format!(
            "{:.0} round trips/s, server CPU {:.1} us each, p50 {} us, p99 {} us, max {} us, slowest connect {} us{lost}",
            self.round_trips_per_s,
            self.server_cpu_us.unwrap_or(f64::NAN),
            self.p50_us,
            self.p99_us,
            self.max_us,
            self.connect_max_us
        )
    }
}
