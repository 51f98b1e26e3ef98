//! UNP Figure 30.1, remeasured: the table of what each server design costs
//! per connection (the row `Kind::Unp`: 5 clients at once, each making its
//! connections one after another, 4,000 bytes echoed on each), as Stevens
//! reports it: the server's CPU time (user + system, its child processes
//! included), and that time minus the iterative server's, which does the
//! same work with no process or thread to create, hand a connection to, or
//! wake: what UNP calls the process control CPU time. And the wall time.

use programs::{Model, Program};

use crate::results::{Cell, RowResults, Sample};
use crate::stats::{median, min_max};
use crate::tables::{self, per_target};
use crate::target::{servers, Lang, Target};
use crate::verdicts::Verdicts;

/// The iterative server: UNP's baseline (its `serv00`).
pub fn iterative() -> Option<&'static Program> {
    servers().into_iter().find(|p| p.model == Model::Single)
}

/// The baseline a target's CPU is taken from: the iterative server of the
/// same language (Rust's for tokio, a Rust program).
pub fn baseline(target: Target) -> Option<Target> {
    let lang = match target {
        Target::Server(lang, _) => lang,
        _ => Lang::Rust,
    };
    iterative().map(|p| Target::Server(lang, p))
}

fn cpu(s: &Sample) -> Option<f64> {
    s.churn()?.server_cpu_us
}

fn seconds(s: &Sample) -> Option<f64> {
    s.churn().map(|r| r.seconds)
}

fn rate(s: &Sample) -> Option<f64> {
    s.churn().map(|r| r.connections_per_s)
}

/// The median server CPU per connection of a cell minus its baseline's,
/// and the runs' range minus the same, in µs.
pub fn over_baseline(row: &RowResults, cell: &Cell) -> Option<(f64, (f64, f64))> {
    let base = median(row.runs_of(baseline(cell.target)?, cpu))?;
    let runs = cell.values(cpu);
    let (lo, hi) = min_max(&runs)?;
    Some((median(runs)? - base, (lo - base, hi - base)))
}

/// The model of a target in words: its label in programs.txt, or the peer's.
fn model(target: Target) -> String {
    target.program().map_or_else(|| target.peer_label(), |p| p.label.to_string())
}

/// The table, and the target of the pre-forked children: faster than a
/// process per client (no fork per connection), C and Rust.
pub fn print(row: &RowResults, verdicts: &mut Verdicts) {
    println!();
    println!(
        "{}: as Stevens' test client for UNP chapter 30 (unpv13e server/client.c), {} clients at once,",
        row.name,
        crate::results::unp_clients(row).unwrap_or(0)
    );
    println!("each making its connections one after another: connect, the line out, its whole echo back,");
    println!("close (the client first). Server CPU: user + system, its child processes included (UNP's");
    println!("first column); minus the iterative server's of the same language (server_single: the same");
    println!("work with no process or thread control; UNP's second column, tokio against Rust's). Medians.");
    let header = [
        "server",
        "model",
        "server CPU per connection, us",
        "minus server_single's, us",
        "wall time, s",
        "connections/s",
    ];
    per_target(row, &header, |cell| {
        vec![
            model(cell.target),
            tables::figure(cell, cpu, 1),
            over_baseline(row, cell).map_or("-".into(), |(v, _)| format!("{v:.1}")),
            tables::figure(cell, seconds, 2),
            tables::figure(cell, rate, 0),
        ]
    });
    judge(row, verdicts);
}

/// `server_prefork` (every server of the model `prefork`) at least as many
/// connections per second as `server_fork` (the model `fork`), each twin
/// against the same language's.
fn judge(row: &RowResults, verdicts: &mut Verdicts) {
    let of = |model| servers().into_iter().filter(move |p| p.model == model);
    println!();
    for prefork in of(Model::Prefork) {
        for fork in of(Model::Fork) {
            for lang in Lang::BOTH {
                let (ours, theirs) = (Target::Server(lang, prefork), Target::Server(lang, fork));
                let what = format!("{}: {ours} connections/s over {theirs}'s", row.name);
                let cell =
                    verdicts.at_least(&what, &row.runs_of(ours, rate), &row.runs_of(theirs, rate), 1.0);
                println!("{ours} against {theirs} (connections/s, at least 1.00 is the target): {cell}");
            }
        }
    }
}
