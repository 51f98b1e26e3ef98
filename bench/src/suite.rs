//! The suite, `make bench`: every server (C and Rust: thread per client,
//! single, fork, poll), tokio, socat and the floor through the same rows,
//! each run with a freshly started peer, interleaved and repeated; the
//! table of medians, the results as JSON, and the charts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli::SuiteOptions;
use crate::load::{self, LoadReport, Workload};
use crate::peers::{self, Running};
use crate::results::{Cell, Kind, Results, RowResults, Sample};
use crate::tally::Problem;
use crate::{chart, churn, idle, procfs, report, storm};

/// What a run is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `build/{c,rust}/PROGRAM`
    Server(Lang, &'static str),
    Tokio,
    Socat,
    Floor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Rust,
}

/// The servers of the project, in the order of the table.
pub const PROGRAMS: [&str; 4] = ["server", "server_single", "server_fork", "server_poll"];
/// The servers that serve clients at the same time.
const CONCURRENT: [&str; 3] = ["server", "server_fork", "server_poll"];

impl Target {
    pub fn name(self) -> String {
        match self {
            Target::Server(Lang::C, program) => format!("C {program}"),
            Target::Server(Lang::Rust, program) => format!("Rust {program}"),
            Target::Tokio => "tokio".into(),
            Target::Socat => "socat".into(),
            Target::Floor => "floor".into(),
        }
    }

    /// The server's binary, if it is a server of the project.
    fn path(self, build: &Path) -> Option<std::path::PathBuf> {
        match self {
            Target::Server(Lang::C, program) => Some(build.join("c").join(program)),
            Target::Server(Lang::Rust, program) => Some(build.join("rust").join(program)),
            _ => None,
        }
    }

    fn start(self, build: &Path, pin: Option<&str>) -> Result<Running, String> {
        match (self, self.path(build)) {
            (_, Some(path)) => peers::start_server(&path, pin),
            (Target::Tokio, _) => peers::start_tokio(pin),
            (Target::Socat, _) => peers::start_socat(pin),
            _ => peers::start_floor(pin),
        }
    }
}

/// C and Rust of each program.
fn both(programs: &[&'static str]) -> Vec<Target> {
    programs.iter().flat_map(|&p| [Target::Server(Lang::C, p), Target::Server(Lang::Rust, p)]).collect()
}

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
}

impl Setup {
    fn detect(quick: bool) -> Setup {
        let limit = procfs::open_files_limit().unwrap_or(1024) as usize;
        let idle = if quick { 50 } else { 10_000.min(limit.saturating_sub(100)) };
        if idle < 10_000 && !quick {
            eprintln!(
                "echo-bench suite: {limit} descriptors at most (ulimit -n): {idle} idle clients, not 10000"
            );
        }
        let setup = Setup {
            socat: peers::available("socat", &["-V"]),
            taskset: peers::available("taskset", &["-c", "0", "true"]),
            idle,
        };
        if !setup.taskset {
            eprintln!("echo-bench suite: taskset not found: no one-core row");
        }
        setup
    }
}

/// The rows. `quick`: a hundredth of the work, one run each. The storm and
/// churn rows run at most 3 times, the idle row once: against poll(2) and a
/// process per client, opening 10,000 clients takes half a minute (poll
/// scans every descriptor for each one), and memory varies little.
fn rows(setup: &Setup, reps: usize, quick: bool) -> Vec<Row> {
    let scale = |n: usize| if quick { (n / 100).max(2) } else { n };
    let (reps, heavy_reps) = if quick { (1, 1) } else { (reps, reps.min(3)) };
    let extra = |socat: bool, floor: bool| {
        let mut peers = vec![Target::Tokio];
        peers.extend((socat && setup.socat).then_some(Target::Socat));
        peers.extend(floor.then_some(Target::Floor));
        peers
    };
    let load = |name: &str, clients, rounds, size, one_core, peers: Vec<Target>| Row {
        name: name.into(),
        kind: Kind::Load { workload: Workload { clients, rounds: scale(rounds), size }, one_core },
        targets: [both(&PROGRAMS), peers].concat(),
        reps,
    };
    let concurrent = |name: String, kind: Kind, single: bool, reps: usize| Row {
        name,
        kind,
        targets: [both(if single { &PROGRAMS } else { &CONCURRENT }), vec![Target::Tokio]].concat(),
        reps,
    };
    let (idle, storm, churn) = if quick { (setup.idle, 20, 20) } else { (setup.idle, 1000, 5000) };
    let active = Workload { clients: 16, rounds: scale(500), size: 64 };
    let mut rows = vec![
        load("1 client x 64 B", 1, 20_000, 64, false, extra(true, true)),
        // Both sides on one CPU: each wakes the other where it runs, with no
        // idle CPU to wake (this VM halts an idle vCPU at once, and waking it
        // costs tens of µs), so the figure no longer depends on what else
        // runs on the machine.
        load("1 client x 64 B, one core", 1, 40_000, 64, true, extra(true, true)),
        load("16 clients x 64 B", 16, 3_000, 64, false, extra(true, false)),
        load("256 clients x 64 B", 256, 500, 64, false, extra(false, false)),
        load("4 clients x 16 KiB", 4, 1_200, 16 * 1024, false, extra(false, false)),
        concurrent(format!("storm of {storm} clients"), Kind::Storm { clients: storm }, false, heavy_reps),
        concurrent(format!("{idle} idle clients"), Kind::Idle { connections: idle, active }, false, 1),
        concurrent(
            format!("churn of {churn} connections"),
            Kind::Churn { connections: churn },
            true,
            heavy_reps,
        ),
    ];
    if !setup.taskset {
        rows.retain(|row| !matches!(row.kind, Kind::Load { one_core: true, .. }));
    }
    rows
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

/// One run of `row` against the peer `running`.
fn measure(row: &Row, target: &str, running: &Running, timeout: Duration) -> Sample {
    let (addr, pid) = (running.addr, running.pid());
    match row.kind {
        Kind::Load { workload, one_core } => {
            let cpu_before = procfs::tree_cpu_us(pid);
            let mut report = match one_core {
                true => run_load_pinned(addr, target, workload, timeout, "0"),
                false => load::run_load(addr, target, workload, timeout, false),
            };
            churn::settle(pid); // the server's threads see the last EOF and exit
            if let (Some(before), Some(after)) = (cpu_before, procfs::tree_cpu_us(pid)) {
                report.server_cpu_us = Some((after - before) / report.round_trips.max(1) as f64);
            }
            Sample::Load(report)
        }
        Kind::Storm { clients } => Sample::Storm(storm::run_storm(addr, target, clients, timeout)),
        Kind::Idle { connections, active } => {
            let (report, streams) =
                idle::run_idle(addr, target, connections, Some(pid), Some(active), timeout);
            drop(streams);
            Sample::Idle(report)
        }
        Kind::Churn { connections } => {
            Sample::Churn(churn::run_churn(addr, target, connections, Some(pid), timeout))
        }
    }
}

/// The results before any run: a cell for each target of each row, marked
/// `missing` where the server's binary was not built.
fn empty_results(rows: &[Row], build: &Path, reps: usize) -> Results {
    let rows = rows
        .iter()
        .map(|row| RowResults {
            name: row.name.clone(),
            kind: row.kind,
            cells: row
                .targets
                .iter()
                .map(|t| Cell {
                    target: t.name(),
                    missing: t.path(build).is_some_and(|p| !p.exists()),
                    runs: Vec::new(),
                })
                .collect(),
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
    let setup = Setup::detect(options.quick);
    let rows = rows(&setup, options.reps, options.quick);
    let mut results = empty_results(&rows, &options.build, if options.quick { 1 } else { options.reps });
    for cell in results.rows.iter().flat_map(|r| &r.cells).filter(|c| c.missing) {
        eprintln!("echo-bench suite: {} is not built: `missing` in the table", cell.target);
    }
    let started = Instant::now();
    let mut failed = false;
    for rep in 0..rows.iter().map(|r| r.reps).max().unwrap_or(0) {
        for (row, row_results) in rows.iter().zip(&mut results.rows).filter(|(row, _)| rep < row.reps) {
            failed |= !run_row(row, row_results, rep, &options.build, started);
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

/// One repetition of one row: each target in turn, A B A B ..., and
/// B A B A on the next repetition, so that none always runs first.
fn run_row(row: &Row, results: &mut RowResults, rep: usize, build: &Path, started: Instant) -> bool {
    let timeout = Duration::from_secs(60);
    let pin = matches!(row.kind, Kind::Load { one_core: true, .. }).then_some("0");
    let mut order: Vec<usize> = (0..row.targets.len()).collect();
    if rep % 2 == 1 {
        order.reverse();
    }
    let mut ok = true;
    for i in order {
        let (target, cell) = (row.targets[i], &mut results.cells[i]);
        if cell.missing {
            continue;
        }
        let (summary, run_ok) = match target.start(build, pin) {
            Ok(running) => {
                let sample = measure(row, &cell.target, &running, timeout);
                let summary = match sample.problem().filter(|_| !sample.ok()) {
                    Some(problem) => format!("{}  FAILED: {problem}", sample.summary()),
                    None => sample.summary(),
                };
                let ok = sample.ok();
                cell.runs.push(sample);
                (summary, ok)
            }
            Err(e) => (format!("FAILED: {e}"), false),
        };
        let secs = started.elapsed().as_secs();
        eprintln!(
            "[{secs:>3} s] run {}/{}  {:<26} {:<20} {summary}",
            rep + 1,
            row.reps,
            row.name,
            cell.target
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
