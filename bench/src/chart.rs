//! The two charts of docs/BENCHMARKS.md, from the results: round trips per
//! second per server and workload, and memory per idle client per server
//! model (drawn by svg.rs).

use std::path::Path;

use programs::Program;

use crate::results::{Cell, Kind, Results, RowResults, Sample};
use crate::stats::{median, min_max};
use crate::svg::{render, short, Bar, Group, Panel, Series};
use crate::target::{all_servers, program_label, Lang, Target};

/// A bar from the runs of a cell (absent cell: no bar).
fn bar(series: Series, cell: Option<&Cell>, figure: impl Fn(&Sample) -> Option<f64>) -> Option<Bar> {
    let cell = cell?;
    let values = cell.values(figure);
    let range = min_max(&values);
    let target = cell.target.to_string();
    Some(Bar { series, target, value: median(values), range, missing: cell.missing })
}

/// A group for each program (C and Rust), then tokio and socat.
fn groups(
    row: &RowResults,
    programs: &[&'static Program],
    figure: impl Fn(&Sample) -> Option<f64> + Copy,
) -> Vec<Group> {
    let mut groups: Vec<Group> = programs
        .iter()
        .map(|&p| Group {
            label: program_label(p),
            bars: [(Series::C, Lang::C), (Series::Rust, Lang::Rust)]
                .into_iter()
                .filter_map(|(series, lang)| bar(series, row.cell(Target::Server(lang, p)), figure))
                .collect(),
        })
        .collect();
    let peers = row.cells.iter().filter_map(|cell| match cell.target {
        Target::Tokio(_) => Some((Series::Tokio, cell)),
        Target::Socat => Some((Series::Socat, cell)),
        _ => None,
    });
    for (series, cell) in peers {
        if let Some(bar) = bar(series, Some(cell), figure) {
            groups.push(Group { label: cell.target.peer_label(), bars: vec![bar] });
        }
    }
    groups.retain(|g| !g.bars.is_empty());
    groups
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
    for (file, title, panels, subtitle) in charts {
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
