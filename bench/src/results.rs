//! What the suite measured, every run of every row, as it saves it in JSON
//! (build/bench/bench-results.json; the published run in docs/) and as
//! `echo-bench report` and `echo-bench chart` read it back.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::churn::ChurnReport;
use crate::idle::IdleReport;
use crate::load::{LoadReport, Workload};
use crate::storm::StormReport;

#[derive(Debug, Serialize, Deserialize)]
pub struct Results {
    /// `2 x AMD EPYC`
    pub machine: String,
    /// The 1-minute load average before the suite started.
    pub load_average_before: String,
    pub seconds: u64,
    /// Runs of each load row (the storm, idle and churn rows may have fewer).
    pub reps: usize,
    pub rows: Vec<RowResults>,
}

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// A load run; `one_core`: the peer and the load pinned to CPU 0.
    Load { workload: Workload, one_core: bool },
    /// A connection storm of this many clients.
    Storm { clients: usize },
    /// Idle clients, their memory, then a load run among them.
    Idle { connections: usize, active: Workload },
    /// Connections one after another.
    Churn { connections: usize },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RowResults {
    pub name: String,
    pub kind: Kind,
    pub cells: Vec<Cell>,
}

/// The runs of one target in one row.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cell {
    /// `C server`, `Rust server_poll`, `tokio`, `socat`, `floor`.
    pub target: String,
    /// The binary was not built: no runs, and the table says `missing`.
    #[serde(default)]
    pub missing: bool,
    pub runs: Vec<Sample>,
}

/// One run's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    Load(LoadReport),
    Storm(StormReport),
    Idle(IdleReport),
    Churn(ChurnReport),
}

impl Sample {
    /// The load run: a load row's, or the one among an idle row's clients.
    pub fn load(&self) -> Option<&LoadReport> {
        match self {
            Sample::Load(report) => Some(report),
            Sample::Idle(report) => report.active.as_ref(),
            _ => None,
        }
    }

    pub fn ok(&self) -> bool {
        match self {
            Sample::Load(r) => r.tally.ok(),
            Sample::Storm(r) => r.tally.ok(),
            Sample::Idle(r) => r.ok(),
            Sample::Churn(r) => r.tally.ok(),
        }
    }

    /// The first problem of a failed run.
    pub fn problem(&self) -> Option<&str> {
        let tally = match self {
            Sample::Load(r) => &r.tally,
            Sample::Storm(r) => &r.tally,
            Sample::Idle(r) => r.active.as_ref().filter(|_| r.tally.ok()).map_or(&r.tally, |a| &a.tally),
            Sample::Churn(r) => &r.tally,
        };
        tally.first_problem.as_deref()
    }

    /// One line for the suite's progress on stderr.
    pub fn summary(&self) -> String {
        match self {
            Sample::Load(r) => format!(
                "{:.0} round trips/s, server CPU {:.1} us each, p50 {} us, p99 {} us, max {} us, slowest connect {} us",
                r.round_trips_per_s,
                r.server_cpu_us.unwrap_or(f64::NAN),
                r.p50_us,
                r.p99_us,
                r.max_us,
                r.connect_max_us
            ),
            Sample::Storm(r) => format!(
                "all {} echoed in {:.1} ms, slowest connect {} us, ListenOverflows +{}, TCPSynRetrans +{}",
                r.clients,
                r.seconds * 1e3,
                r.connect_max_us,
                r.listen_overflows,
                r.syn_retrans
            ),
            Sample::Idle(r) => format!(
                "{:.1} KiB RSS, {:.1} KiB PSS per idle client ({} processes, {} threads); {:.0} round trips/s among them",
                r.rss_per_client_kib().unwrap_or(f64::NAN),
                r.pss_per_client_kib().unwrap_or(f64::NAN),
                r.after.map_or(0, |m| m.processes),
                r.after.map_or(0, |m| m.threads),
                r.active.as_ref().map_or(f64::NAN, |a| a.round_trips_per_s)
            ),
            Sample::Churn(r) => format!(
                "{:.0} connections/s, server CPU {:.1} us each",
                r.connections_per_s,
                r.server_cpu_us.unwrap_or(f64::NAN)
            ),
        }
    }
}

impl Cell {
    /// One figure of each run that has it.
    pub fn values(&self, figure: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
        self.runs.iter().filter_map(figure).collect()
    }

    /// Round trips per second of each run with a load.
    pub fn rates(&self) -> Vec<f64> {
        self.values(|s| s.load().map(|r| r.round_trips_per_s))
    }
}

impl RowResults {
    pub fn cell(&self, target: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.target == target)
    }

    /// The name of the row's load, if it has one: an idle row's is the load
    /// among its idle clients.
    pub fn load_name(&self) -> Option<String> {
        match self.kind {
            Kind::Load { .. } => Some(self.name.clone()),
            Kind::Idle { connections, active } => {
                Some(format!("{} active among {connections} idle", active.clients))
            }
            _ => None,
        }
    }
}

impl Results {
    pub fn read(path: &Path) -> Result<Results, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("results serialize") + "\n";
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every target of every row, in the order of their first appearance.
    pub fn targets(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for cell in self.rows.iter().flat_map(|r| &r.cells) {
            if !names.contains(&cell.target.as_str()) {
                names.push(&cell.target);
            }
        }
        names
    }
}
