//! The suite, `make bench`: every TCP server of programs.txt (C and Rust),
//! tokio, socat and the floor through the same rows, the TLS and UDP
//! servers beside them in the 1- and 16-client rows and the TLS servers'
//! handshakes in a row of their own, each run with a freshly started peer,
//! interleaved and repeated; the table of medians, the results as JSON,
//! and the charts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::churn::Churn;
use crate::cli::{Scale, SuiteOptions};
use crate::dial::Dialer;
use crate::load::{self, LoadReport, Workload};
use crate::peers::{self, Running};
use crate::procfs::{self, CpuMeter};
use crate::results::{Cell, Kind, Results, RowResults, Sample};
use crate::tally::Problem;
use crate::target::{
    both, concurrent, plain_server, servers, serves_at_once, tls_servers, udp_servers, Target,
};
use crate::{bounded, chart, churn, idle, report, storm, verdicts};

/// One row of the table.
struct Row {
    name: String,
    kind: Kind,
    targets: Vec<Target>,
    /// How many runs of each target.
    reps: usize,
}

/// What the machine offers the suite.
struct Setup {
    socat: bool,
    taskset: bool,
    /// Idle clients that fit in the descriptors this process may open.
    idle: usize,
    /// The largest idle row: as many clients as a server's descriptors
    /// allow (up to 100,000), and the clients per process of the bench.
    most: Option<(usize, usize)>,
    /// This process's `ulimit -n`, which the servers inherit.
    limit: u64,
}

/// The descriptors a server keeps for itself and the 16 active clients of
/// the largest idle row.
const SERVER_RESERVE: u64 = 64;

impl Setup {
    fn detect(scale: Scale) -> Setup {
        let (soft, hard) = procfs::open_files_limits().unwrap_or((1024, 1024));
        if soft < hard {
            eprintln!(
                "echo-bench suite: ulimit -n {soft}, not its hard limit {hard} (scripts/bench.sh raises it)"
            );
        }
        let per_process = idle::per_process();
        let wanted = match scale {
            Scale::Full => 10_000,
            Scale::Quick => 1000,
            Scale::Smoke => 50,
        };
        let idle = wanted.min(per_process);
        if idle < wanted {
            eprintln!(
                "echo-bench suite: {soft} descriptors at most (ulimit -n): {idle} idle clients, not {wanted}"
            );
        }
        let most = soft.saturating_sub(SERVER_RESERVE).min(100_000) as usize;
        let most = match scale {
            Scale::Full => (most > idle).then_some((most, per_process)),
            Scale::Quick => None,
            Scale::Smoke => Some((60, 25)),
        };
        let setup = Setup {
            socat: peers::available("socat", &["-V"]),
            taskset: peers::available("taskset", &["-c", "0", "true"]),
            idle,
            most,
            limit: soft,
        };
        if !setup.taskset {
            eprintln!("echo-bench suite: taskset not found: no one-core row");
        }
        setup
    }
}

/// The share of the full counts a scale runs.
fn divisor(scale: Scale) -> usize {
    match scale {
        Scale::Full => 1,
        Scale::Quick => 10,
        Scale::Smoke => 100,
    }
}

/// The load rows: every server, both tokio runtimes, and socat and the
/// floor in some.
fn load_rows(setup: &Setup, reps: usize, scale: Scale) -> Vec<Row> {
    let scale = |n: usize| (n / divisor(scale)).max(2);
    let peers = |socat: bool, floor: bool| {
        let mut peers = Target::tokios().to_vec();
        peers.extend((socat && setup.socat).then_some(Target::Socat));
        peers.extend(floor.then_some(Target::Floor));
        peers
    };
    let load = |name: &str, clients, rounds, size, one_core, peers: Vec<Target>| Row {
        name: name.into(),
        kind: Kind::Load { workload: Workload { clients, rounds: scale(rounds), size }, one_core },
        targets: [both(&servers()), peers].concat(),
        reps,
    };
    // TLS and UDP beside the TCP servers, before the peers.
    let beside = |mut row: Row| {
        let others = both(&[tls_servers(), udp_servers()].concat());
        let at = row.targets.iter().position(|t| t.program().is_none()).unwrap_or(row.targets.len());
        row.targets.splice(at..at, others);
        row
    };
    // 10,000 round trips: the unpinned row is bimodal on this VM (see
    // BENCHMARKS.md), more of them would not make it less so.
    let mut rows = vec![beside(load("1 client x 64 B", 1, 10_000, 64, false, peers(true, true)))];
    // Both sides on one CPU: each wakes the other where it runs, with no
    // idle CPU to wake (this VM halts an idle vCPU at once, and waking it
    // costs tens of µs), so the figure no longer depends on what else runs
    // on the machine.
    if setup.taskset {
        rows.push(load("1 client x 64 B, one core", 1, 40_000, 64, true, peers(true, true)));
    }
    rows.extend([
        beside(load("16 clients x 64 B", 16, 3_000, 64, false, peers(true, false))),
        load("256 clients x 64 B", 256, 250, 64, false, peers(false, false)),
        load("4 clients x 16 KiB", 4, 1_200, 16 * 1024, false, peers(false, false)),
    ]);
    rows
}

/// The rows of many clients. The storm and UNP rows run at most 3 times,
/// the idle rows once: against poll(2) and a process per client, opening
/// 10,000 clients takes half a minute (poll scans every descriptor for each
/// one), and memory varies little.
fn crowd_rows(setup: &Setup, reps: usize, scale: Scale) -> Vec<Row> {
    let reps = reps.min(3);
    let storm = 1000 / divisor(scale);
    let active = Workload { clients: 16, rounds: (500 / divisor(scale)).max(5), size: 64 };
    let row = |name: String, kind: Kind, programs: Vec<_>, reps| Row {
        name,
        kind,
        targets: [both(&programs), Target::tokios().to_vec()].concat(),
        reps,
    };
    let idle = |connections, per_process| Kind::Idle { connections, active, per_process };
    let mut rows = vec![
        row(format!("storm of {storm} clients"), Kind::Storm { clients: storm }, concurrent(), reps),
        row(format!("{} idle clients", setup.idle), idle(setup.idle, None), concurrent(), 1),
    ];
    // The largest idle row: the servers whose cost does not grow with the
    // clients they hold (epoll, a loop per core). The 10,000 row shows the
    // others: a pid per client, or poll's scan of every descriptor (19,936
    // clients took server_poll 6 and 10 minutes to open, 2026-12-07).
    if let Some((most, per_process)) = setup.most {
        let name = match scale {
            Scale::Full => format!("{most} idle clients, the most ulimit -n {} allows", setup.limit),
            _ => format!("{most} idle clients, {per_process} per process of the bench"),
        };
        let scaling = servers().into_iter().filter(|p| verdicts::must_keep_rate_among_idle(p)).collect();
        rows.push(row(name, idle(most, Some(per_process)), scaling, 1));
    }
    rows.push(row(unp_name(UNP_CONNECTIONS / divisor(scale)), unp_kind(scale), servers(), reps));
    rows.extend(handshake_row(reps, scale));
    rows
}

/// UNP Figure 30.1's load, as its client makes it (unpv13e server/client.c,
/// `client HOST PORT 5 500 4000`): 5 clients at once, each making its
/// connections one after another, 4,000 bytes each; here 10,000 connections
/// (the book's 2,500 take under a second against most servers here, a few
/// clock ticks of CPU), and each asks for its 4,000 bytes by sending them:
/// an echo.
const UNP_CONNECTIONS: usize = 10_000;
const UNP_CLIENTS: usize = 5;
const UNP_SIZE: usize = 4000;

fn unp_kind(scale: Scale) -> Kind {
    Kind::Unp { connections: UNP_CONNECTIONS / divisor(scale), clients: UNP_CLIENTS, size: UNP_SIZE }
}

fn unp_name(connections: usize) -> String {
    format!("UNP Figure 30.1: {connections} connections, {UNP_CLIENTS} clients x {UNP_SIZE} B")
}

/// The TLS servers' handshakes: connections one after another, each a new
/// handshake, one echo and close, beside the same over plain TCP to the
/// plain server (what the handshake adds). None without a TLS server.
fn handshake_row(reps: usize, scale: Scale) -> Option<Row> {
    let tls = tls_servers();
    let connections = 1000 / divisor(scale);
    (!tls.is_empty()).then(|| Row {
        name: format!("TLS handshakes, {connections} connections"),
        kind: Kind::Handshakes { connections },
        targets: [both(&tls), both(&Vec::from_iter(plain_server()))].concat(),
        reps,
    })
}

/// A load run from another echo-bench process pinned to `cpu` (the
/// affinity of this one cannot be changed without unsafe code).
fn run_load_pinned(addr: SocketAddr, target: &str, w: Workload, timeout: Duration, cpu: &str) -> LoadReport {
    match pinned_report(addr, w, timeout, cpu) {
        Ok(report) => LoadReport { target: target.into(), ..report },
        Err(e) => {
            let mut report = LoadReport::new(target, w);
            report.tally.count(Problem::Error(format!("no report from the pinned echo-bench: {e}")));
            report
        }
    }
}

/// `taskset -c CPU echo-bench -c .. -n .. -s .. -t .. --json 127.0.0.1 PORT`,
/// and its report read back.
fn pinned_report(addr: SocketAddr, w: Workload, timeout: Duration, cpu: &str) -> Result<LoadReport, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let (clients, rounds, size) = (w.clients.to_string(), w.rounds.to_string(), w.size.to_string());
    let seconds = timeout.as_secs().to_string();
    let output = peers::pinned(Some(cpu), exe.as_os_str())
        .args(["-c", &clients, "-n", &rounds, "-s", &size, "-t", &seconds, "--json"])
        .args([addr.ip().to_string(), addr.port().to_string()])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run taskset: {e}"))?;
    let json = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&json).map_err(|e| format!("{e}: {json:?}"))
}

/// How many clients a row holds open at the same moment, where that is
/// more than its clients' count of a load (storm and idle rows).
fn held_at_once(kind: Kind) -> Option<usize> {
    match kind {
        Kind::Storm { clients } => Some(clients),
        Kind::Idle { connections, .. } => Some(connections),
        _ => None,
    }
}

/// One run of `row` against the peer `running`, its clients opened by
/// `dialer` (the idle and storm rows are TCP's alone). A bounded design in
/// a row that holds more clients than it serves at once gets the probe of
/// bounded.rs instead: the lesson, not a wait for the timeout.
fn measure(row: &Row, target: Target, (running, dialer): (&Running, &Dialer), timeout: Duration) -> Sample {
    let (addr, pid, name) = (running.addr, running.pid(), target.to_string());
    let cpu = || CpuMeter::keeping(Some(pid), running.kept);
    let bound = target.program().and_then(serves_at_once);
    if let (Some(n), Some(held)) = (bound, held_at_once(row.kind)) {
        if held > n {
            return Sample::Bounded(bounded::run_bound(addr, &name, n, timeout));
        }
    }
    match row.kind {
        Kind::Load { workload, one_core } => {
            let cpu = cpu();
            let mut report = match one_core {
                true => run_load_pinned(addr, &name, workload, timeout, "0"),
                false => load::run_load((addr, dialer), &name, workload, timeout, false),
            };
            cpu.settle(); // the server's threads see the last EOF and exit
            report.server_cpu_us = cpu.per(report.round_trips);
            Sample::Load(report)
        }
        Kind::Storm { clients } => Sample::Storm(storm::run_storm(addr, &name, clients, timeout)),
        Kind::Idle { connections, active, per_process } => {
            let size = (connections, per_process.unwrap_or_else(idle::per_process));
            Sample::Idle(Box::new(idle::run_idle(addr, &name, size, Some(pid), Some(active), timeout).0))
        }
        Kind::Churn { connections } | Kind::Handshakes { connections } => {
            let w = Churn { connections, clients: 1, size: 0 };
            Sample::Churn(churn::run_churn((addr, dialer), &name, w, cpu(), timeout))
        }
        Kind::Unp { connections, clients, size } => {
            let w = Churn { connections, clients, size };
            Sample::Churn(churn::run_churn((addr, dialer), &name, w, cpu(), timeout))
        }
    }
}

/// The results before any run: a cell for each target of each row, marked
/// `missing` where the server's binary was not built (or, for TLS, its
/// certificate, or the bench without TLS).
fn empty_results(rows: &[Row], build: &Path, reps: usize) -> Results {
    let cell = |t: Target| Cell { target: t, missing: t.missing(build).is_some(), runs: vec![] };
    let rows = rows
        .iter()
        .map(|row| RowResults {
            name: row.name.clone(),
            kind: row.kind,
            cells: row.targets.iter().map(|&t| cell(t)).collect(),
        })
        .collect();
    Results {
        machine: procfs::cpu_name(),
        load_average_before: procfs::load_average(),
        seconds: 0,
        reps,
        rows,
    }
}

/// Runs the suite; returns the exit status (1 if any run failed).
pub fn run(options: &SuiteOptions) -> i32 {
    let setup = Setup::detect(options.scale);
    let reps = match options.scale {
        Scale::Full => options.reps,
        Scale::Quick | Scale::Smoke => 1,
    };
    let mut rows = load_rows(&setup, reps, options.scale);
    rows.extend(crowd_rows(&setup, reps, options.scale));
    if let Some(only) = &options.rows {
        rows.retain(|row| row.name.contains(only.as_str()));
        if rows.is_empty() {
            eprintln!("echo-bench suite: no row's name contains {only:?}");
            return 2;
        }
    }
    let mut results = empty_results(&rows, &options.build, reps);
    for target in results.targets() {
        if let Some(why) = target.missing(&options.build) {
            eprintln!("echo-bench suite: {target}: {why}: `missing` in the table");
        }
    }
    let started = Instant::now();
    let mut failed = false;
    let count = rows.len();
    for rep in 0..rows.iter().map(|r| r.reps).max().unwrap_or(0) {
        let pending = rows.iter().zip(&mut results.rows).enumerate().filter(|(_, (row, _))| rep < row.reps);
        for (number, (row, row_results)) in pending {
            let at = Progress { row: (number + 1, count), rep, build: &options.build, started };
            failed |= !run_row(row, row_results, at);
        }
    }
    results.seconds = started.elapsed().as_secs();
    if let Err(e) = save(&results, &options.out) {
        eprintln!("echo-bench suite: {e}");
        failed = true;
    }
    report::print(&results);
    i32::from(failed)
}

/// One run of one target: its progress line, and whether it went well.
fn run_one(row: &Row, cell: &mut Cell, build: &Path) -> (String, bool) {
    let timeout = Duration::from_secs(60);
    let pin = matches!(row.kind, Kind::Load { one_core: true, .. }).then_some("0");
    let dialer = match cell.target.dialer(build) {
        Ok(dialer) => dialer,
        Err(e) => return (format!("FAILED: {e}"), false),
    };
    let running = match cell.target.start(build, pin) {
        Ok(running) => running,
        Err(e) => return (format!("FAILED: {e}"), false),
    };
    let sample = measure(row, cell.target, (&running, &dialer), timeout);
    let summary = match sample.problem().filter(|_| !sample.ok()) {
        Some(problem) => format!("{}  FAILED: {problem}", sample.summary()),
        None => sample.summary(),
    };
    let ok = sample.ok();
    cell.runs.push(sample);
    (summary, ok)
}

/// Where the suite is: which row of how many, which repetition, since when.
struct Progress<'a> {
    row: (usize, usize),
    rep: usize,
    build: &'a Path,
    started: Instant,
}

/// One repetition of one row: each target in turn, A B A B ..., and
/// B A B A on the next repetition, so that none always runs first; a
/// progress line for each run (`[ 12 s] row 3/12, run 1/5, 4/22: ROW  TARGET  figures`).
fn run_row(row: &Row, results: &mut RowResults, at: Progress) -> bool {
    let mut order: Vec<usize> = (0..row.targets.len()).collect();
    if at.rep % 2 == 1 {
        order.reverse();
    }
    let mut ok = true;
    let targets = order.len();
    for (done, i) in order.into_iter().enumerate() {
        let cell = &mut results.cells[i];
        if cell.missing {
            continue;
        }
        let (summary, run_ok) = run_one(row, cell, at.build);
        let (secs, target) = (at.started.elapsed().as_secs(), cell.target.to_string());
        let (number, rows) = at.row;
        eprintln!(
            "[{secs:>3} s] row {number}/{rows}, run {}/{}, {}/{targets}: {:<26} {target:<22} {summary}",
            at.rep + 1,
            row.reps,
            done + 1,
            row.name
        );
        ok &= run_ok;
    }
    ok
}

/// The results as JSON and the two charts, in `out`.
fn save(results: &Results, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    results.write(&out.join("bench-results.json"))?;
    chart::draw(results, out)?;
    eprintln!("echo-bench suite: results and charts in {}/", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use programs::Program;

    use super::*;
    use crate::target::Lang;

    fn all_rows() -> Vec<Row> {
        let setup = Setup { socat: true, taskset: true, idle: 50, most: Some((60, 25)), limit: 1024 };
        let mut rows = load_rows(&setup, 1, Scale::Smoke);
        rows.extend(crowd_rows(&setup, 1, Scale::Smoke));
        rows
    }

    /// A server added to programs.txt is in every row that applies, with no
    /// other edit: both twins in the load and churn rows, the concurrent
    /// ones in the storm and idle rows, the largest idle row included; the
    /// handshake row has the plain server alone, beside the TLS servers.
    #[test]
    fn every_row_takes_its_servers_from_programs_txt() {
        let rows = all_rows();
        assert_eq!(rows.iter().filter(|r| matches!(r.kind, Kind::Idle { .. })).count(), 2);
        for row in &rows {
            let applies = |p: &Program| match row.kind {
                Kind::Idle { per_process: Some(_), .. } => verdicts::must_keep_rate_among_idle(p),
                Kind::Storm { .. } | Kind::Idle { .. } => p.model != programs::Model::Single,
                Kind::Handshakes { .. } => Some(p) == plain_server(),
                _ => true,
            };
            for program in programs::tcp_servers() {
                for lang in Lang::BOTH {
                    let present = row.targets.contains(&Target::Server(lang, program));
                    assert_eq!(present, applies(program), "{}: {lang:?} {}", row.name, program.name);
                }
            }
            let handshakes = matches!(row.kind, Kind::Handshakes { .. });
            for tokio in Target::tokios() {
                assert_eq!(row.targets.contains(&tokio), !handshakes, "{}", row.name);
            }
        }
    }

    /// The TLS and UDP servers (by their transport) are in the 1- and
    /// 16-client rows of 64 B, C and Rust, before the peers; the TLS ones in
    /// the handshake row too, which is there only if a TLS server is; in no
    /// other row.
    #[test]
    fn tls_and_udp_servers_are_in_their_rows_only() {
        let rows = all_rows();
        let tls = tls_servers();
        let handshake_rows = rows.iter().filter(|r| matches!(r.kind, Kind::Handshakes { .. })).count();
        assert_eq!(handshake_rows, usize::from(!tls.is_empty()));
        for row in &rows {
            let beside = matches!(row.kind, Kind::Load { workload, one_core: false }
                if workload.size == 64 && [1, 16].contains(&workload.clients));
            let last_server = row.targets.iter().rposition(|t| t.program().is_some());
            assert!(
                row.targets[..last_server.unwrap_or(0)].iter().all(|t| t.program().is_some()),
                "{}",
                row.name
            );
            for (program, lang) in
                [tls.clone(), udp_servers()].concat().into_iter().flat_map(|p| Lang::BOTH.map(|l| (p, l)))
            {
                let handshakes = matches!(row.kind, Kind::Handshakes { .. }) && tls.contains(&program);
                let present = row.targets.contains(&Target::Server(lang, program));
                assert_eq!(present, beside || handshakes, "{}: {lang:?} {}", row.name, program.name);
            }
        }
    }
}
