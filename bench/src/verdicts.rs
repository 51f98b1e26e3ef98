//! The targets the report judges the figures by, stated by what a server
//! is (its model in programs.txt), and the verdicts: met, missed, or below
//! but within the noise.

use programs::{Model, Program, Transport};

use crate::results::{Kind, Results, RowResults};
use crate::stats::{median, min_max};
use crate::target::{Lang, Target};

/// Each Rust twin's rate at least this share of its C twin's (issue 29:
/// 0.95, the noise here being about 10%).
pub const TWIN_RATE: f64 = 0.95;
/// Each Rust twin's memory per idle client at most this multiple of its
/// C twin's.
pub const TWIN_MEMORY: f64 = 1.03;
/// An event loop's rate among idle clients at least this share of its rate
/// with as many clients alone.
pub const AMONG_IDLE_RATE: f64 = 0.90;
/// A loop per core at least this multiple of one loop's rate with 256
/// clients.
pub const LOOPS_OVER_ONE: f64 = 1.3;
/// The pre-forked children and the pool at least this share of a thread
/// per client's rate with 16 clients (as many as they serve at once).
pub const BOUNDED_RATE: f64 = 0.90;
/// A loop per core's memory per idle client at most this, in KiB (PSS).
pub const REUSEPORT_KIB: f64 = 1.25;

/// Whether a server's Rust twin must reach the rate of a tokio runtime
/// (`one`: current_thread, else the default, a worker per CPU) in a row.
/// One loop against one loop, N loops against N workers: a thread per
/// client against the default runtime with 1, 16 and 256 clients of 64 B;
/// poll against current_thread there and with 4 clients of 16 KiB; epoll
/// against current_thread in every row with a load, those among idle
/// clients included, and against the default with 16 KiB lines; a loop per
/// core against the default in every row with a load but the one-core row
/// and the largest idle row. Over TCP only: tokio-echo speaks neither TLS
/// nor UDP.
pub fn must_match_tokio(program: &Program, row: &RowResults, one: bool) -> bool {
    if program.transport != Transport::Tcp {
        return false;
    }
    let load = |f: fn(usize, usize) -> bool| matches!(row.kind, Kind::Load { workload, .. } if f(workload.clients, workload.size));
    let small = load(|clients, size| size == 64 && [1, 16, 256].contains(&clients));
    let large = load(|_, size| size == 16 * 1024);
    let listed = match row.kind {
        Kind::Load { one_core, .. } => !one_core,
        Kind::Idle { per_process, .. } => per_process.is_none(),
        _ => false,
    };
    match (program.model, one) {
        (Model::Threads, false) => small,
        (Model::Poll, true) => small || large,
        (Model::Epoll, true) => row.load_name().is_some(),
        (Model::Epoll, false) => large,
        (Model::Reuseport, false) => listed,
        _ => false,
    }
}

/// Whether a server is one event loop on one thread (poll, epoll): the
/// peer it is measured against is tokio's current_thread runtime, one loop
/// too; a loop per core (reuseport) against tokio's default runtime.
pub fn one_loop(program: &Program) -> bool {
    matches!(program.model, Model::Poll | Model::Epoll)
}

/// Whether a server must keep its rate among idle clients (`AMONG_IDLE_RATE`):
/// epoll and a loop per core, whose cost does not grow with the clients
/// they hold (and the servers of the largest idle row).
pub fn must_keep_rate_among_idle(program: &Program) -> bool {
    matches!(program.model, Model::Epoll | Model::Reuseport)
}

/// The targets missed, and those below target within the noise.
#[derive(Default)]
pub struct Verdicts {
    misses: Vec<String>,
    noise: Vec<String>,
}

impl Verdicts {
    /// Judges `ours / theirs >= at_least` from the runs of both: below it is
    /// a miss only when every one of our runs was lower than every one of
    /// theirs (with at least 3 runs); otherwise the runs overlap: noise.
    /// `shortfall` words a ratio below target. Returns the ratio of the
    /// medians and its mark: ``, ` MISS` or ` ~`.
    pub fn judge(
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
        let (ours_max, theirs_min) = (min_max(ours)?.1, min_max(theirs)?.0);
        if ours_max < theirs_min && ours.len() >= 3 && theirs.len() >= 3 {
            self.misses.push(format!("{}, and every run below every run it is compared with", shortfall(x)));
            Some((x, " MISS"))
        } else {
            self.noise.push(format!("{}, but the runs overlap (or fewer than 3 runs)", shortfall(x)));
            Some((x, " ~"))
        }
    }

    /// `judge` as a table cell.
    pub fn at_least(&mut self, what: &str, ours: &[f64], theirs: &[f64], at_least: f64) -> String {
        match self.judge(&|x| format!("{what} {x:.3} < {at_least:.2}"), ours, theirs, at_least) {
            Some((x, "")) => format!("{x:.2}"),
            Some((x, mark)) => format!("{x:.3}{mark}"),
            None => "-".into(),
        }
    }

    /// A target missed outright (a single figure, no runs to compare).
    pub fn miss(&mut self, what: String) {
        self.misses.push(what);
    }

    pub fn print(&self, results: &Results) {
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

/// The memory targets of an idle row: a thread per client at most 64 KiB
/// PSS per client, each Rust twin at most 1.03x its C twin, an event loop
/// at most tokio's, a loop per core at most 1.25 KiB.
pub fn judge_memory(row: &RowResults, verdicts: &mut Verdicts) {
    let pss = |target| median(row.runs_of(target, |s| s.idle()?.pss_per_client_kib()));
    let tokio = row.tokio().map(|c| c.target).and_then(pss);
    let mut programs: Vec<&Program> = row.cells.iter().filter_map(|c| c.target.program()).collect();
    programs.dedup(); // C then Rust of each
    for program in programs {
        let [c, rust] = Lang::BOTH.map(|lang| pss(Target::Server(lang, program)));
        for (lang, m) in Lang::BOTH.into_iter().zip([c, rust]).filter_map(|(l, m)| Some((l, m?))) {
            let target = Target::Server(lang, program);
            if program.model == Model::Threads && m > 64.0 {
                verdicts.miss(format!("{}: {target} {m:.1} KiB > 64 KiB", row.name));
            }
            if program.model == Model::Reuseport && m > REUSEPORT_KIB {
                verdicts.miss(format!("{}: {target} {m:.2} KiB > {REUSEPORT_KIB} KiB", row.name));
            }
            if let (true, Some(t)) = (program.is_event_loop(), tokio) {
                if m > t {
                    verdicts.miss(format!("{}: {target} {m:.2} KiB > tokio's {t:.2} KiB", row.name));
                }
            }
        }
        if let (Some(c), Some(rust)) = (c, rust) {
            if rust > c * TWIN_MEMORY {
                let name = program.name;
                verdicts.miss(format!("{}: {name} Rust/C memory {:.2} > {TWIN_MEMORY}", row.name, rust / c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Workload;

    fn load(clients: usize, size: usize, one_core: bool) -> RowResults {
        let workload = Workload { clients, rounds: 10, size };
        RowResults { name: String::new(), kind: Kind::Load { workload, one_core }, cells: vec![] }
    }

    fn idle(per_process: Option<usize>) -> RowResults {
        let active = Workload { clients: 16, rounds: 10, size: 64 };
        RowResults {
            name: String::new(),
            kind: Kind::Idle { connections: 10_000, active, per_process },
            cells: vec![],
        }
    }

    /// One loop against one loop, N loops against N workers (issue 29).
    #[test]
    fn each_model_is_judged_against_the_tokio_runtime_of_its_shape() {
        let model = |model| Program { model, ..*programs::get("server") };
        let (small, large, pinned) = (load(256, 64, false), load(4, 16 * 1024, false), load(1, 64, true));
        let (ten_thousand, largest) = (idle(None), idle(Some(5000)));
        let judged = |m, row: &RowResults, one| must_match_tokio(&model(m), row, one);
        assert!(judged(Model::Threads, &small, false) && !judged(Model::Threads, &small, true));
        assert!(!judged(Model::Threads, &large, false));
        assert!(judged(Model::Poll, &small, true) && judged(Model::Poll, &large, true));
        assert!(!judged(Model::Poll, &small, false));
        for row in [&small, &large, &pinned, &ten_thousand, &largest] {
            assert!(judged(Model::Epoll, row, true));
        }
        assert!(judged(Model::Epoll, &large, false) && !judged(Model::Epoll, &small, false));
        for row in [&small, &large, &ten_thousand] {
            assert!(judged(Model::Reuseport, row, false) && !judged(Model::Reuseport, row, true));
        }
        assert!(!judged(Model::Reuseport, &pinned, false) && !judged(Model::Reuseport, &largest, false));
        for m in [Model::Single, Model::Fork, Model::Prefork, Model::Pool] {
            assert!(!judged(m, &small, false) && !judged(m, &small, true));
        }
        assert!(one_loop(&model(Model::Epoll)) && !one_loop(&model(Model::Reuseport)));
    }
}
