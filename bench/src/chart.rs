//! The charts of docs/BENCHMARKS.md, from the results: round trips per
//! second per server and workload, memory per idle client per server model,
//! and UNP's Figure 30.1 remeasured: what a connection costs (drawn by
//! svg.rs).

use std::path::Path;

use programs::Program;

use crate::results::{Cell, Kind, Results, RowResults, Sample};
use crate::stats::{median, min_max};
use crate::svg::{render, short, Bar, Group, Panel, Series};
use crate::target::{all_servers, program_label, servers, Lang, Target};
use crate::unp;

/// A bar from the runs of a cell (absent cell: no bar); a bounded design's
/// probe is its lesson, written where the bar would be.
fn bar(series: Series, cell: Option<&Cell>, figure: impl Fn(&Sample) -> Option<f64>) -> Option<Bar> {
    let cell = cell?;
    let values = cell.values(figure);
    let range = min_max(&values);
    let target = cell.target.to_string();
    Some(Bar { series, target, value: median(values), range, missing: cell.missing, note: cell.lesson() })
}

/// A group for each program (C and Rust), then the peers (both tokio
/// runtimes, socat), each bar made by `bar_of`.
fn groups_by(
    row: &RowResults,
    programs: &[&'static Program],
    bar_of: impl Fn(Series, &Cell) -> Option<Bar>,
) -> Vec<Group> {
    let mut groups: Vec<Group> = programs
        .iter()
        .map(|&p| Group {
            label: program_label(p),
            bars: [(Series::C, Lang::C), (Series::Rust, Lang::Rust)]
                .into_iter()
                .filter_map(|(series, lang)| bar_of(series, row.cell(Target::Server(lang, p))?))
                .collect(),
        })
        .collect();
    let peers = row.cells.iter().filter_map(|cell| match cell.target {
        Target::Tokio(_) => Some((Series::Tokio, cell)),
        Target::Socat => Some((Series::Socat, cell)),
        _ => None,
    });
    for (series, cell) in peers {
        if let Some(bar) = bar_of(series, cell) {
            groups.push(Group { label: cell.target.peer_label(), bars: vec![bar] });
        }
    }
    groups.retain(|g| !g.bars.is_empty());
    groups
}

/// `groups_by` with a bar of the median of `figure`.
fn groups(
    row: &RowResults,
    programs: &[&'static Program],
    figure: impl Fn(&Sample) -> Option<f64> + Copy,
) -> Vec<Group> {
    groups_by(row, programs, |series, cell| bar(series, Some(cell), figure))
}

/// The panels of the UNP rows: the server's CPU per connection over the
/// iterative server's (UNP's process control time), the whole CPU, and the
/// wall time.
fn unp_panels(results: &Results) -> Vec<Panel> {
    let programs = servers();
    let mut panels = Vec::new();
    for row in results.rows.iter().filter(|r| matches!(r.kind, Kind::Unp { .. })) {
        let over = |series, cell: &Cell| {
            let value = unp::over_baseline(row, cell);
            Some(Bar {
                series,
                target: cell.target.to_string(),
                value: value.map(|(v, _)| v),
                range: value.map(|(_, r)| r),
                missing: cell.missing,
                note: cell.lesson(),
            })
        };
        panels.push(Panel {
            title: format!("{}: server CPU per connection minus server_single's", row.name),
            unit: "us per connection (UNP's process control CPU time; below 0, drawn at 0: less than server_single's)"
                .into(),
            groups: groups_by(row, &programs, over),
            marker: None,
        });
        panels.push(Panel {
            title: "the same: server CPU per connection (user + system, children included)".into(),
            unit: "us per connection".into(),
            groups: groups(row, &programs, |s| s.churn()?.server_cpu_us),
            marker: None,
        });
        panels.push(Panel {
            title: "the same: wall time for all the connections".into(),
            unit: "seconds".into(),
            groups: groups(row, &programs, |s| s.churn().map(|r| r.seconds)),
            marker: None,
        });
    }
    panels
}

fn throughput_panels(results: &Results) -> Vec<Panel> {
    let rate = |s: &Sample| s.load().map(|r| r.round_trips_per_s);
    // Every server with a cell in the row, TLS and UDP included.
    let programs = all_servers();
    let panel = |row: &RowResults| {
        let floor = row.cell(Target::Floor).and_then(|c| median(c.rates()));
        Some(Panel {
            title: row.load_name()?,
            unit: "round trips per second".into(),
            groups: groups(row, &programs, rate),
            marker: floor.map(|f| (format!("floor {}", short(f)), f)),
        })
    };
    results.rows.iter().filter_map(panel).collect()
}

fn memory_panels(results: &Results) -> Vec<Panel> {
    let programs = all_servers();
    let per_client = |f: fn(&crate::idle::IdleReport) -> Option<f64>| move |s: &Sample| s.idle().and_then(f);
    let mut panels = Vec::new();
    for row in results.rows.iter().filter(|r| matches!(r.kind, Kind::Idle { .. })) {
        panels.push(Panel {
            title: format!(
                "{}: PSS per client (each shared page divided among the processes sharing it)",
                row.name
            ),
            unit: "KiB per idle client".into(),
            groups: groups(row, &programs, per_client(|r| r.pss_per_client_kib())),
            marker: None,
        });
        panels.push(Panel {
            title: format!(
                "{}: RSS per client (a page shared after fork counted in every process)",
                row.name
            ),
            unit: "KiB per idle client".into(),
            groups: groups(row, &programs, per_client(|r| r.rss_per_client_kib())),
            marker: None,
        });
    }
    panels
}

/// The machine, the runs behind each bar of the rows drawn, and the load.
fn subtitle(results: &Results, drawn: impl Fn(&RowResults) -> bool) -> String {
    let rows = results.rows.iter().filter(|row| drawn(row));
    let runs = rows.flat_map(|row| row.cells.iter().map(|c| c.runs.len())).max().unwrap_or(0);
    let each = if runs == 1 {
        "one run per bar".to_string()
    } else {
        format!("the median of up to {runs} runs per bar")
    };
    format!(
        "make bench on {}: {each} (load average {} before it started)",
        results.machine, results.load_average_before
    )
}

/// Draws bench-throughput.svg and bench-memory.svg into `out`.
pub fn draw(results: &Results, out: &Path) -> Result<(), String> {
    let idle = |row: &RowResults| matches!(row.kind, Kind::Idle { .. });
    let charts = [
        (
            "bench-throughput.svg",
            "Echo round trips per second, by server and workload (higher is better)",
            throughput_panels(results),
            subtitle(results, |row| row.load_name().is_some()),
        ),
        (
            "bench-memory.svg",
            "Memory per idle client, by server model (lower is better)",
            memory_panels(results),
            subtitle(results, idle),
        ),
    ];
    let unp = (
        "bench-unp.svg",
        "UNP Figure 30.1 remeasured: what a connection costs each design (lower is better)",
        unp_panels(results),
        subtitle(results, |row| matches!(row.kind, Kind::Unp { .. })),
    );
    // The UNP chart where the results have its row (not those saved before it).
    let unp = Some(unp).filter(|(_, _, panels, _)| !panels.is_empty());
    for (file, title, panels, subtitle) in charts.into_iter().chain(unp) {
        let path = out.join(file);
        std::fs::write(&path, render(title, &subtitle, &panels))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// `echo-bench chart RESULTS.json --out DIR`: the charts again.
pub fn redraw(results: &Path, out: &Path) -> i32 {
    match Results::read(results).and_then(|r| draw(&r, out)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("echo-bench: {e}");
            1
        }
    }
}
