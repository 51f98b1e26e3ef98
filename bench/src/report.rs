//! The report: the suite's tables of medians, with the ratios and the
//! targets they are judged by, printed from the results (so that `echo-bench
//! report RESULTS.json` prints them again).

use std::path::Path;

use crate::results::{Cell, Kind, Results, RowResults, Sample};
use crate::suite::PROGRAMS;

/// The median of the values, if there are any.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// A markdown table: the first column left-aligned, the others right.
fn table(header: &[String], rows: &[Vec<String>]) {
    println!();
    println!("| {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len() - 1));
    for row in rows {
        println!("| {} |", row.join(" | "));
    }
}

/// A cell of a table: `missing`, `-` (not run in this row), or the figure.
fn cell_text(row: &RowResults, target: &str, figure: impl Fn(&Cell) -> Option<String>) -> String {
    match row.cell(target) {
        Some(cell) if cell.missing => "missing".into(),
        Some(cell) => figure(cell).unwrap_or_else(|| "-".into()),
        None => "-".into(),
    }
}

/// The median rate and half the range of the runs around it.
fn rate_text(cell: &Cell) -> Option<String> {
    let rates = cell.rates();
    let m = median(rates.clone())?;
    let (lo, hi) = min_max(&rates);
    Some(if rates.len() > 1 {
        format!("{m:.0} ±{:.0}%", (hi - lo) / 2.0 / m * 100.0)
    } else {
        format!("{m:.0}")
    })
}

/// The targets missed, and those below target within the noise.
#[derive(Default)]
struct Verdicts {
    misses: Vec<String>,
    noise: Vec<String>,
}

impl Verdicts {
    /// Judges `ours / theirs >= at_least` from the runs of both: below it is
    /// a miss only when every one of our runs was lower than every one of
    /// theirs (with at least 3 runs); otherwise the runs overlap: noise.
    /// `shortfall` words a ratio below target. Returns the ratio of the
    /// medians and its mark: ``, ` MISS` or ` ~`.
    fn judge(
        &mut self,
        shortfall: &dyn Fn(f64) -> String,
        ours: &[f64],
        theirs: &[f64],
        at_least: f64,
    ) -> Option<(f64, &'static str)> {
        let x = median(ours.to_vec())? / median(theirs.to_vec())?;
        if x >= at_least {
            return Some((x, ""));
        }
        let apart = min_max(ours).1 < min_max(theirs).0 && ours.len() >= 3 && theirs.len() >= 3;
        if apart {
            self.misses.push(format!("{}, and every run below every run it is compared with", shortfall(x)));
            Some((x, " MISS"))
        } else {
            self.noise.push(format!("{}, but the runs overlap (or fewer than 3 runs)", shortfall(x)));
            Some((x, " ~"))
        }
    }

    /// `judge` as a table cell.
    fn at_least(&mut self, what: &str, ours: &[f64], theirs: &[f64], at_least: f64) -> String {
        match self.judge(&|x| format!("{what} {x:.3} < {at_least:.2}"), ours, theirs, at_least) {
            Some((x, "")) => format!("{x:.2}"),
            Some((x, mark)) => format!("{x:.3}{mark}"),
            None => "-".into(),
        }
    }

    fn print(&self, results: &Results) {
        println!();
        let failed: Vec<String> = results
            .rows
            .iter()
            .flat_map(|row| row.cells.iter().map(move |cell| (row, cell)))
            .flat_map(|(row, cell)| cell.runs.iter().filter(|s| !s.ok()).map(move |s| (row, cell, s)))
            .map(|(row, cell, s)| format!("{}, {}: {}", row.name, cell.target, s.problem().unwrap_or("?")))
            .collect();
        if !failed.is_empty() {
            println!(
                "Runs with errors or mismatches (their figures are in the medians above; the suite exits 1):"
            );
            failed.iter().for_each(|f| println!("  {f}"));
        }
        if !self.noise.is_empty() {
            println!("Below target but within the run-to-run spread (rerun on a quiet machine):");
            self.noise.iter().for_each(|n| println!("  {n}"));
        }
        if self.misses.is_empty() {
            println!("All targets met.");
        } else {
            println!("Targets missed:");
            self.misses.iter().for_each(|m| println!("  {m}"));
        }
    }
}

/// The rows that have a load run, with the name of that load.
fn load_rows(results: &Results) -> impl Iterator<Item = (&RowResults, String)> {
    results.rows.iter().filter_map(|row| row.load_name().map(|name| (row, name)))
}

/// The targets of the rows with a load, in table order.
fn load_targets(results: &Results) -> Vec<&str> {
    let loads: Vec<&RowResults> = load_rows(results).map(|(row, _)| row).collect();
    results.targets().into_iter().filter(|t| loads.iter().any(|row| row.cell(t).is_some())).collect()
}

fn header_with(first: &str, targets: &[&str]) -> Vec<String> {
    std::iter::once(first.to_string()).chain(targets.iter().map(|t| t.to_string())).collect()
}

/// A table with a row for each load and a column for each target.
fn load_table(results: &Results, figure: impl Fn(&Cell) -> Option<String>) {
    let targets = load_targets(results);
    let rows: Vec<Vec<String>> = load_rows(results)
        .map(|(row, name)| {
            std::iter::once(name).chain(targets.iter().map(|t| cell_text(row, t, &figure))).collect()
        })
        .collect();
    table(&header_with("workload", &targets), &rows);
}

fn throughput(results: &Results) {
    println!();
    println!("Throughput in round trips per second (higher is better), the median of the runs ±");
    println!("half their range as a share of it.");
    load_table(results, rate_text);
}

/// Whether a row is one of those where the thread and poll servers must
/// match tokio: a load of 64-byte lines from 1, 16 or 256 clients.
fn judged_against_tokio(row: &RowResults) -> bool {
    matches!(row.kind, Kind::Load { workload, .. } if workload.size == 64 && [1, 16, 256].contains(&workload.clients))
}

fn ratios(results: &Results, verdicts: &mut Verdicts) {
    println!();
    println!("Ratios of the medians: Rust/C at least 0.97 is the target for every twin; Rust/tokio at least");
    println!("1.00 for the thread and poll servers with 1, 16 and 256 clients (64 B). MISS: below, every");
    println!("run below every run of the other; ~: below, but the runs overlap.");
    let vs_tokio = ["server", "server_fork", "server_poll"];
    let mut header = vec!["workload".to_string()];
    header.extend(PROGRAMS.iter().map(|p| format!("{p} Rust/C")));
    header.extend(vs_tokio.iter().map(|p| format!("{p} Rust/tokio")));
    let mut rows = Vec::new();
    for (row, name) in load_rows(results) {
        let rates = |t: &str| row.cell(t).filter(|c| !c.missing).map(Cell::rates).unwrap_or_default();
        let mut line = vec![name.clone()];
        for p in PROGRAMS {
            line.push(verdicts.at_least(
                &format!("{name}, {p}: Rust/C"),
                &rates(&format!("Rust {p}")),
                &rates(&format!("C {p}")),
                0.97,
            ));
        }
        for p in vs_tokio {
            let (ours, tokio) = (rates(&format!("Rust {p}")), rates("tokio"));
            line.push(if p != "server_fork" && judged_against_tokio(row) {
                verdicts.at_least(&format!("{name}, {p}: Rust/tokio"), &ours, &tokio, 1.0)
            } else {
                median(ours).zip(median(tokio)).map_or("-".into(), |(a, b)| format!("{:.2}", a / b))
            });
        }
        rows.push(line);
    }
    table(&header, &rows);
}

fn latency(results: &Results) {
    println!();
    println!("Latency per round trip in microseconds, p50 / p99 / max (medians over the runs).");
    load_table(results, |cell| {
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
    load_table(results, |cell| median(cell.values(|s| s.load()?.server_cpu_us)).map(|v| format!("{v:.1}")));
}

/// A table with a row for each target of the rows of one kind.
fn per_target(row: &RowResults, header: &[&str], figures: impl Fn(&Cell) -> Vec<String>) {
    let rows: Vec<Vec<String>> = row
        .cells
        .iter()
        .map(|cell| {
            let mut line = vec![cell.target.clone()];
            match cell.missing {
                true => line.extend(header[1..].iter().map(|_| "missing".to_string())),
                false => line.extend(figures(cell)),
            }
            line
        })
        .collect();
    table(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>(), &rows);
}

fn figure(cell: &Cell, f: impl Fn(&Sample) -> Option<f64>, decimals: usize) -> String {
    median(cell.values(f)).map_or("-".into(), |v| format!("{v:.decimals$}"))
}

/// A figure of `cell` over tokio's in the same row (the medians).
fn over_tokio(row: &RowResults, cell: &Cell, f: impl Fn(&Sample) -> Option<f64> + Copy) -> String {
    let tokio = row.cell("tokio").and_then(|t| median(t.values(f)));
    median(cell.values(f)).zip(tokio).map_or("-".into(), |(ours, tokio)| format!("{:.2}", ours / tokio))
}

fn storm(row: &RowResults) {
    println!();
    println!(
        "{}: all clients connect at the same moment, each gets one echo (medians; the counters",
        row.name
    );
    println!("are the whole machine's, from /proc/net/netstat).");
    let storm = |f: fn(&crate::storm::StormReport) -> f64| {
        move |s: &Sample| if let Sample::Storm(r) = s { Some(f(r)) } else { None }
    };
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
    move |s: &Sample| if let Sample::Idle(r) = s { f(r) } else { None }
}

/// The memory targets: the thread server at most 64 KiB PSS per client,
/// each Rust twin at most 1.03x its C twin, server_poll at most tokio.
fn judge_memory(row: &RowResults, verdicts: &mut Verdicts) {
    let pss = |target: &str| {
        row.cell(target).map(|c| median(c.values(idle(|r| r.pss_per_client_kib())))).unwrap_or_default()
    };
    for cell in row.cells.iter().filter(|c| !c.missing) {
        let target = &cell.target;
        let Some(m) = pss(target) else { continue };
        if target.ends_with(" server") && m > 64.0 {
            verdicts.misses.push(format!("{}: {target} {m:.1} KiB > 64 KiB", row.name));
        }
        if let (Some(c), Some(program)) =
            (pss(&target.replacen("Rust ", "C ", 1)), target.strip_prefix("Rust "))
        {
            if m > c / 0.97 {
                verdicts.misses.push(format!("{}: {program} Rust/C memory {:.2} > 1.03", row.name, m / c));
            }
        }
        if let (true, Some(t)) = (target.ends_with("server_poll"), pss("tokio")) {
            if m > t {
                verdicts.misses.push(format!("{}: {target} {m:.2} KiB > tokio's {t:.2} KiB", row.name));
            }
        }
    }
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
    println!("the thread-per-client server, Rust/C at most 1.03, server_poll at most tokio's.");
    judge_memory(row, verdicts);
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

fn churn(row: &RowResults) {
    println!();
    println!("{}: one client after another connects, does one round trip and closes (medians).", row.name);
    let churn = |f: fn(&crate::churn::ChurnReport) -> Option<f64>| {
        move |s: &Sample| if let Sample::Churn(r) = s { f(r) } else { None }
    };
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
        let Some(floor) = row.cell("floor").map(Cell::rates).filter(|r| !r.is_empty()) else { continue };
        println!();
        println!(
            "Distance to the floor ({}: floor round trips/s over the server's; at most 1.30 is the target):",
            row.name
        );
        for cell in row.cells.iter().filter(|c| c.target != "floor" && !c.missing) {
            let ours = cell.rates();
            // Only the project's servers are judged; floor/ours <= 1.30 is ours/floor >= 1/1.30.
            let judged = cell.target.starts_with("C ") || cell.target.starts_with("Rust ");
            let what = |x: f64| format!("{}: {} is {:.2}x the floor > 1.30", row.name, cell.target, 1.0 / x);
            let verdict = match judged {
                true => verdicts.judge(&what, &ours, &floor, 1.0 / 1.3),
                false => median(ours).zip(median(floor.clone())).map(|(a, b)| (a / b, "")),
            };
            if let Some((x, mark)) = verdict {
                println!("  {:<22} {:.2}x{mark}", cell.target, 1.0 / x);
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
    throughput(results);
    ratios(results, &mut verdicts);
    latency(results);
    cpu(results);
    for row in &results.rows {
        match row.kind {
            Kind::Storm { .. } => storm(row),
            Kind::Idle { .. } => memory(row, &mut verdicts),
            Kind::Churn { .. } => churn(row),
            Kind::Load { .. } => {}
        }
    }
    floor(results, &mut verdicts);
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
