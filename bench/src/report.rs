//! The report: the suite's tables of medians, with the ratios and the
//! targets they are judged by, printed from the results (so that `echo-bench
//! report RESULTS.json` prints them again).

use std::path::Path;

use programs::{Model, Program, Transport};

use crate::results::{Cell, Kind, Results, RowResults, Sample};
use crate::stats::{median, min_max};
use crate::tables::{figure, per_target, table};
use crate::target::{all_servers, serves_at_once, Lang, Target};
use crate::verdicts::{self, Verdicts, AMONG_IDLE_RATE, BOUNDED_RATE, LOOPS_OVER_ONE, TWIN_RATE};
use crate::{transports, unp};

/// A cell of a table: `missing`, `-` (not run in this row), or the figure.
fn cell_text(row: &RowResults, target: Target, figure: impl Fn(&Cell) -> Option<String>) -> String {
    match row.cell(target) {
        Some(cell) if cell.missing => "missing".into(),
        Some(cell) => figure(cell).or_else(|| cell.lesson()).unwrap_or_else(|| "-".into()),
        None => "-".into(),
    }
}

/// The median rate and half the range of the runs around it.
fn rate_text(cell: &Cell) -> Option<String> {
    let rates = cell.rates();
    let m = median(rates.clone())?;
    let (lo, hi) = min_max(&rates)?;
    Some(if rates.len() > 1 {
        format!("{m:.0} ±{:.0}%", (hi - lo) / 2.0 / m * 100.0)
    } else {
        format!("{m:.0}")
    })
}

/// The rows that have a load run, with the name of that load.
fn load_rows(results: &Results) -> impl Iterator<Item = (&RowResults, String)> {
    results.rows.iter().filter_map(|row| row.load_name().map(|name| (row, name)))
}

/// The targets of the rows with a load, in table order.
fn load_targets(results: &Results) -> Vec<Target> {
    let loads: Vec<&RowResults> = load_rows(results).map(|(row, _)| row).collect();
    results.targets().into_iter().filter(|&t| loads.iter().any(|row| row.cell(t).is_some())).collect()
}

fn header_with(first: &str, targets: &[Target]) -> Vec<String> {
    std::iter::once(first.to_string()).chain(targets.iter().map(|t| t.to_string())).collect()
}

/// A table with a row for each load and a column for each target.
fn load_table(results: &Results, figure: impl Fn(&RowResults, &Cell) -> Option<String>) {
    let targets = load_targets(results);
    let rows: Vec<Vec<String>> = load_rows(results)
        .map(|(row, name)| {
            let figure = |cell: &Cell| figure(row, cell);
            std::iter::once(name).chain(targets.iter().map(|&t| cell_text(row, t, figure))).collect()
        })
        .collect();
    table(&header_with("workload", &targets), &rows);
}

/// ` (16 at a time)`: the mark of a bounded design in a row of more
/// clients than it serves at once (the others wait in the backlog).
fn at_a_time(row: &RowResults, cell: &Cell) -> String {
    let bound = cell.target.program().and_then(serves_at_once);
    match (bound, row.kind) {
        (Some(n), Kind::Load { workload, .. }) if workload.clients > n => format!(" ({n} at a time)"),
        _ => String::new(),
    }
}

fn throughput(results: &Results) {
    println!();
    println!("Throughput in round trips per second (higher is better), the median of the runs ±");
    println!("half their range as a share of it; (N at a time): a design that serves at most N");
    println!("clients at once, the others waiting in the backlog for one to finish.");
    load_table(results, |row, cell| Some(rate_text(cell)? + &at_a_time(row, cell)));
}

/// The servers of programs.txt with a cell in a row with a load, in its
/// order: a Rust/C column each.
fn load_programs(results: &Results) -> Vec<&'static Program> {
    let targets = load_targets(results);
    let present = |p: &&'static Program| Lang::BOTH.iter().any(|&l| targets.contains(&Target::Server(l, p)));
    all_servers().into_iter().filter(present).collect()
}

/// The lesson of a bounded design's probe in a row, for either twin of `p`.
fn bounded(row: &RowResults, p: &'static Program) -> Option<String> {
    Lang::BOTH.iter().find_map(|&l| row.cell(Target::Server(l, p)).and_then(Cell::lesson))
}

fn ratios(results: &Results, verdicts: &mut Verdicts) {
    println!();
    println!(
        "Ratios of the medians: Rust/C at least {TWIN_RATE:.2} is the target for every twin. Against tokio"
    );
    println!("(at least 1.00), one loop is judged against one loop and N loops against N workers: the");
    println!("thread server against the default runtime with 1, 16 and 256 clients (64 B); poll against");
    println!("current_thread there and with 4 clients of 16 KiB; epoll against current_thread in every row,");
    println!("and against the default with 16 KiB lines; a loop per core against the default in every row");
    println!("but the one-core and the largest idle rows. MISS: below, every run below every run of the");
    println!("other; ~: below, but the runs overlap.");
    let programs = load_programs(results);
    let tcp = |p: &&&Program| p.transport == Transport::Tcp && p.model != Model::Single;
    let vs_tokio: Vec<_> = programs.iter().filter(tcp).collect();
    // One loop against tokio's one loop.
    let vs_one: Vec<_> = vs_tokio.iter().filter(|p| verdicts::one_loop(p)).collect();
    let mut header = vec!["workload".to_string()];
    header.extend(programs.iter().map(|p| format!("{} Rust/C", p.name)));
    header.extend(vs_tokio.iter().map(|p| format!("{} Rust/tokio", p.name)));
    header.extend(vs_one.iter().map(|p| format!("{} Rust/tokio current_thread", p.name)));
    let mut rows = Vec::new();
    for (row, name) in load_rows(results) {
        let rates = |lang, program| row.rates(Target::Server(lang, program));
        let mut line = vec![name.clone()];
        for &p in &programs {
            let what = format!("{name}, {}: Rust/C", p.name);
            line.push(match bounded(row, p) {
                Some(lesson) => lesson,
                None => verdicts.at_least(&what, &rates(Lang::Rust, p), &rates(Lang::C, p), TWIN_RATE),
            });
        }
        let default = row.tokio().map_or(vec![], |c| row.rates(c.target));
        let one = row.rates(Target::TOKIO_ONE);
        let columns = vs_tokio.iter().map(|p| (**p, false, &default, "tokio"));
        let columns = columns.chain(vs_one.iter().map(|p| (***p, true, &one, "tokio current_thread")));
        for (p, is_one, tokio, peer) in columns {
            let ours = rates(Lang::Rust, p);
            line.push(match (bounded(row, p), verdicts::must_match_tokio(p, row, is_one)) {
                (Some(lesson), _) => lesson,
                (None, true) => {
                    verdicts.at_least(&format!("{name}, {}: Rust/{peer}", p.name), &ours, tokio, 1.0)
                }
                (None, false) => median(ours)
                    .zip(median(tokio.clone()))
                    .map_or("-".into(), |(a, b)| format!("{:.2}", a / b)),
            });
        }
        rows.push(line);
    }
    table(&header, &rows);
}

/// The targets of the designs against each other, twin against twin of the
/// same language: a loop per core at least 1.3x one loop with 256 clients;
/// the pre-forked children and the pool at least 0.90x a thread per client
/// with 16 clients (as many as they serve at once).
fn designs(results: &Results, verdicts: &mut Verdicts) {
    let of =
        |model| all_servers().into_iter().filter(move |p| p.model == model && p.transport == Transport::Tcp);
    let clients = |n| move |row: &&RowResults| matches!(row.kind, Kind::Load { workload, one_core: false } if workload.clients == n && workload.size == 64);
    let pairs = [
        (Model::Reuseport, Model::Epoll, 256, LOOPS_OVER_ONE),
        (Model::Prefork, Model::Threads, 16, BOUNDED_RATE),
        (Model::Pool, Model::Threads, 16, BOUNDED_RATE),
    ];
    let mut lines = Vec::new();
    for (ours, theirs, n, at_least) in pairs {
        let Some(row) = results.rows.iter().find(clients(n)) else { continue };
        for (ours, theirs) in of(ours).flat_map(|o| of(theirs).map(move |t| (o, t))) {
            for lang in Lang::BOTH {
                let (a, b) = (Target::Server(lang, ours), Target::Server(lang, theirs));
                let what = format!("{}: {a} over {b}", row.name);
                let cell = verdicts.at_least(&what, &row.rates(a), &row.rates(b), at_least);
                lines.push(format!("  {what}: {cell} (at least {at_least:.2})"));
            }
        }
    }
    if !lines.is_empty() {
        println!();
        println!("The designs against each other (round trips/s, medians; MISS and ~ as above):");
        lines.iter().for_each(|l| println!("{l}"));
    }
}

/// The load among each idle row's clients against as many clients alone
/// (the load row of the same clients and size), for every target of both.
fn among_idle(results: &Results, verdicts: &mut Verdicts) {
    let alone = |active: crate::load::Workload| {
        results.rows.iter().find(|r| {
            matches!(r.kind, Kind::Load { workload: w, one_core: false } if (w.clients, w.size) == (active.clients, active.size))
        })
    };
    for row in &results.rows {
        let (Kind::Idle { active, .. }, Some(name)) = (row.kind, row.load_name()) else { continue };
        let Some(alone) = alone(active) else { continue };
        println!();
        println!("{name}: round trips/s over those of the row {} (medians; at least", alone.name);
        println!("{AMONG_IDLE_RATE:.2} is the target for epoll and a loop per core, whose work does not grow with the clients they hold).");
        let mut line = vec![name.clone()];
        let targets: Vec<Target> = row.cells.iter().map(|c| c.target).collect();
        for &t in &targets {
            let (ours, theirs) = (row.rates(t), alone.rates(t));
            line.push(match t.program().filter(|p| verdicts::must_keep_rate_among_idle(p)) {
                Some(_) => verdicts.at_least(
                    &format!("{name}, {t}: among idle / alone"),
                    &ours,
                    &theirs,
                    AMONG_IDLE_RATE,
                ),
                None => median(ours).zip(median(theirs)).map_or_else(
                    || row.cell(t).and_then(Cell::lesson).unwrap_or("-".into()),
                    |(a, b)| format!("{:.2}", a / b),
                ),
            });
        }
        table(&header_with("workload", &targets), &[line]);
    }
}

fn latency(results: &Results) {
    println!();
    println!("Latency per round trip in microseconds, p50 / p99 / max (medians over the runs).");
    load_table(results, |_, cell| {
        let figure =
            |f: fn(&crate::load::LoadReport) -> u64| median(cell.values(|s| s.load().map(|r| f(r) as f64)));
        Some(format!(
            "{:.0} / {:.0} / {:.0}",
            figure(|r| r.p50_us)?,
            figure(|r| r.p99_us)?,
            figure(|r| r.max_us)?
        ))
    });
}

fn cpu(results: &Results) {
    println!();
    println!("Server CPU time (user + system, its child processes included) per round trip in microseconds");
    println!("(lower is better), medians; less disturbed than the rates by other work on the machine.");
    load_table(results, |_, cell| {
        median(cell.values(|s| s.load()?.server_cpu_us)).map(|v| format!("{v:.1}"))
    });
}

/// A figure of `cell` over tokio's in the same row (the medians).
fn over_tokio(row: &RowResults, cell: &Cell, f: impl Fn(&Sample) -> Option<f64> + Copy) -> String {
    let tokio = row.tokio().and_then(|t| median(t.values(f)));
    median(cell.values(f)).zip(tokio).map_or("-".into(), |(ours, tokio)| format!("{:.2}", ours / tokio))
}

fn storm(row: &RowResults) {
    println!();
    println!(
        "{}: all clients connect at the same moment, each gets one echo (medians; the counters",
        row.name
    );
    println!("are the whole machine's, from /proc/net/netstat).");
    let storm = |f: fn(&crate::storm::StormReport) -> f64| move |s: &Sample| s.storm().map(f);
    per_target(
        row,
        &[
            "server",
            "ms until all echoed",
            "slowest connect, ms",
            "ListenOverflows rise",
            "TCPSynRetrans rise",
            "time / tokio's",
        ],
        |cell| {
            vec![
                figure(cell, storm(|r| r.seconds * 1e3), 1),
                figure(cell, storm(|r| r.connect_max_us as f64 / 1e3), 1),
                figure(cell, storm(|r| r.listen_overflows as f64), 0),
                figure(cell, storm(|r| r.syn_retrans as f64), 0),
                over_tokio(row, cell, storm(|r| r.seconds)),
            ]
        },
    );
}

/// An idle run's figure, for `Cell::values`.
fn idle(f: fn(&crate::idle::IdleReport) -> Option<f64>) -> impl Fn(&Sample) -> Option<f64> + Copy {
    move |s: &Sample| s.idle().and_then(f)
}

fn memory(row: &RowResults, verdicts: &mut Verdicts) {
    println!();
    println!(
        "{}: server memory growth per idle client in KiB (lower is better), medians. RSS counts",
        row.name
    );
    println!(
        "a page shared by processes in each; PSS divides it among them. Targets: at most 64 KiB PSS for"
    );
    println!("the thread-per-client server, Rust/C at most 1.03, the event loops at most tokio's, a loop");
    println!("per core at most 1.25 KiB.");
    verdicts::judge_memory(row, verdicts);
    per_target(
        row,
        &[
            "server",
            "clients held",
            "RSS per client",
            "PSS per client",
            "processes",
            "threads",
            "PSS / tokio's",
        ],
        |cell| {
            vec![
                figure(cell, idle(|r| Some(r.opened as f64)), 0),
                figure(cell, idle(|r| r.rss_per_client_kib()), 1),
                figure(cell, idle(|r| r.pss_per_client_kib()), 1),
                figure(cell, idle(|r| r.after.map(|m| m.processes as f64)), 0),
                figure(cell, idle(|r| r.after.map(|m| m.threads as f64)), 0),
                over_tokio(row, cell, idle(|r| r.pss_per_client_kib())),
            ]
        },
    );
}

/// What held the clients of an idle row: all of them, or what stopped it
/// (the first run's), and the time to open them one after another (not in
/// results saved before the bench timed it).
fn opening(row: &RowResults) {
    let timed = |cell: &Cell| !cell.values(idle(|r| r.open_seconds)).is_empty();
    if !row.cells.iter().any(timed) {
        return;
    }
    println!();
    println!(
        "{}: clients opened one after another (connect, one echo, next), then one more echo each",
        row.name
    );
    println!("(medians); what stopped the opening where a server held fewer.");
    let header = ["server", "clients held", "s to open them", "s for one more echo each", "stopped by"];
    per_target(row, &header, |cell| {
        let first = cell.runs.iter().find_map(Sample::idle);
        let stopped = first.map_or("-", |r| match r.opened == r.idle_connections {
            true => "nothing: all held",
            false => r.stopped_by().unwrap_or("?"),
        });
        vec![
            figure(cell, idle(|r| Some(r.opened as f64)), 0),
            figure(cell, idle(|r| r.open_seconds), 2),
            figure(cell, idle(|r| r.again_seconds), 2),
            stopped.to_string(),
        ]
    });
}

fn churn(row: &RowResults) {
    println!();
    println!("{}: one client after another connects, does one round trip and closes (medians).", row.name);
    let churn = |f: fn(&crate::churn::ChurnReport) -> Option<f64>| move |s: &Sample| s.churn().and_then(f);
    let header = ["server", "connections/s", "server CPU per connection, us", "CPU / tokio's"];
    per_target(row, &header, |cell| {
        vec![
            figure(cell, churn(|r| Some(r.connections_per_s)), 0),
            figure(cell, churn(|r| r.server_cpu_us), 1),
            over_tokio(row, cell, churn(|r| r.server_cpu_us)),
        ]
    });
}

/// The distance to the floor in the 1-client rows: the floor's rate over
/// each server's, at most 1.30 for the servers of the project.
fn floor(results: &Results, verdicts: &mut Verdicts) {
    let one_client =
        |row: &&RowResults| matches!(row.kind, Kind::Load { workload, .. } if workload.clients == 1);
    for row in results.rows.iter().filter(one_client) {
        let Some(floor) = row.cell(Target::Floor).map(Cell::rates).filter(|r| !r.is_empty()) else {
            continue;
        };
        println!();
        println!(
            "Distance to the floor ({}: floor round trips/s over the server's; at most 1.30 is the target):",
            row.name
        );
        for cell in row.cells.iter().filter(|c| c.target != Target::Floor && !c.missing) {
            let ours = cell.rates();
            // Only the project's TCP servers are judged (TLS does more, UDP
            // less); floor/ours <= 1.30 is ours/floor >= 1/1.30.
            let judged = cell.target.program().is_some_and(|p| p.transport == Transport::Tcp);
            let what = |x: f64| format!("{}: {} is {:.2}x the floor > 1.30", row.name, cell.target, 1.0 / x);
            let verdict = match judged {
                true => verdicts.judge(&what, &ours, &floor, 1.0 / 1.3),
                false => median(ours).zip(median(floor.clone())).map(|(a, b)| (a / b, "")),
            };
            if let Some((x, mark)) = verdict {
                println!("  {:<22} {:.2}x{mark}", cell.target.to_string(), 1.0 / x);
            }
        }
    }
}

/// Prints every table of the results, and the verdicts.
pub fn print(results: &Results) {
    println!();
    let runs: Vec<String> = results
        .rows
        .iter()
        .filter(|row| !matches!(row.kind, Kind::Load { .. }))
        .map(|row| format!("{} {}", row.name, row.cells.iter().map(|c| c.runs.len()).max().unwrap_or(0)))
        .collect();
    println!(
        "echo-bench suite: medians of {} runs ({}), interleaved; {}; {} s; load average {} before it started",
        results.reps,
        runs.join(", "),
        results.machine,
        results.seconds,
        results.load_average_before
    );
    let mut verdicts = Verdicts::default();
    // The tables of the loads, where a row has one (`--rows` may leave none).
    if load_rows(results).next().is_some() {
        throughput(results);
        ratios(results, &mut verdicts);
        designs(results, &mut verdicts);
        among_idle(results, &mut verdicts);
        latency(results);
        cpu(results);
    }
    for row in &results.rows {
        match row.kind {
            Kind::Storm { .. } => storm(row),
            Kind::Idle { .. } => {
                memory(row, &mut verdicts);
                opening(row);
            }
            Kind::Churn { .. } => churn(row),
            Kind::Handshakes { .. } => transports::handshakes(row),
            Kind::Unp { .. } => unp::print(row, &mut verdicts),
            Kind::Load { .. } => {}
        }
    }
    floor(results, &mut verdicts);
    transports::print(results);
    verdicts.print(results);
}

/// `echo-bench report RESULTS.json`: the tables again.
pub fn reprint(path: &Path) -> i32 {
    match Results::read(path) {
        Ok(results) => {
            print(&results);
            0
        }
        Err(e) => {
            eprintln!("echo-bench: {e}");
            1
        }
    }
}
