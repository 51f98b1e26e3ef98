//! What the suite measured, every run of every row, as it saves it in JSON
//! (build/bench/bench-results.json; the published run in docs/) and as
//! `echo-bench report` and `echo-bench chart` read it back.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bounded::BoundReport;
use crate::churn::ChurnReport;
use crate::idle::IdleReport;
use crate::load::{LoadReport, Workload};
use crate::storm::StormReport;
use crate::tally::RunReport;
use crate::target::Target;

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
    /// Idle clients, their memory, then a load run among them; held in
    /// helper processes of `per_process` clients each past that many (by
    /// default, what this process's descriptors allow).
    Idle {
        connections: usize,
        active: Workload,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        per_process: Option<usize>,
    },
    /// Connections one after another.
    Churn { connections: usize },
    /// UNP's Figure 30.1: connections by several clients at once, each
    /// one after another, a line of `size` bytes echoed on each.
    Unp { connections: usize, clients: usize, size: usize },
    /// Connections one after another to the TLS servers, a new handshake
    /// each, beside the same to the plain server (churn runs, both).
    Handshakes { connections: usize },
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
    pub target: Target,
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
    Idle(Box<IdleReport>),
    Churn(ChurnReport),
    /// A bounded design's probe, where a row holds more clients than it
    /// serves at once (bounded.rs).
    Bounded(BoundReport),
}

impl Sample {
    /// The report, whichever its kind.
    fn report(&self) -> &dyn RunReport {
        match self {
            Sample::Load(r) => r,
            Sample::Storm(r) => r,
            Sample::Idle(r) => r.as_ref(),
            Sample::Churn(r) => r,
            Sample::Bounded(r) => r,
        }
    }

    /// The load run: a load row's, or the one among an idle row's clients.
    pub fn load(&self) -> Option<&LoadReport> {
        match self {
            Sample::Load(report) => Some(report),
            Sample::Idle(report) => report.active.as_ref(),
            _ => None,
        }
    }

    pub fn storm(&self) -> Option<&StormReport> {
        if let Sample::Storm(report) = self {
            Some(report)
        } else {
            None
        }
    }

    pub fn idle(&self) -> Option<&IdleReport> {
        if let Sample::Idle(report) = self {
            Some(report)
        } else {
            None
        }
    }

    pub fn churn(&self) -> Option<&ChurnReport> {
        if let Sample::Churn(report) = self {
            Some(report)
        } else {
            None
        }
    }

    pub fn bounded(&self) -> Option<&BoundReport> {
        if let Sample::Bounded(report) = self {
            Some(report)
        } else {
            None
        }
    }

    pub fn ok(&self) -> bool {
        self.report().ok()
    }

    pub fn problem(&self) -> Option<&str> {
        self.report().problem()
    }

    pub fn summary(&self) -> String {
        self.report().summary()
    }
}

impl Cell {
    /// One figure of each run that has it.
    pub fn values(&self, figure: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
        self.runs.iter().filter_map(figure).collect()
    }

    /// The lesson of a bounded design's probe, if this cell's run was one.
    pub fn lesson(&self) -> Option<String> {
        self.runs.iter().find_map(Sample::bounded).map(|r| r.lesson())
    }

    /// Round trips per second of each run with a load.
    pub fn rates(&self) -> Vec<f64> {
        self.values(|s| s.load().map(|r| r.round_trips_per_s))
    }
}

impl RowResults {
    pub fn cell(&self, target: Target) -> Option<&Cell> {
        self.cells.iter().find(|c| c.target == target)
    }

    /// The cell of tokio's default runtime, whatever its workers.
    pub fn tokio(&self) -> Option<&Cell> {
        self.cells.iter().find(|c| c.target.is_tokio_default())
    }

    /// Round trips per second of each run of a target that was built.
    pub fn rates(&self, target: Target) -> Vec<f64> {
        self.runs_of(target, |s| s.load().map(|r| r.round_trips_per_s))
    }

    /// The runs of a target that was built (none for one that was not).
    pub fn runs_of(&self, target: Target, figure: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
        self.cell(target).filter(|c| !c.missing).map(|c| c.values(figure)).unwrap_or_default()
    }

    /// The name of the row's load, if it has one: an idle row's is the load
    /// among its idle clients.
    pub fn load_name(&self) -> Option<String> {
        match self.kind {
            Kind::Load { .. } => Some(self.name.clone()),
            Kind::Idle { connections, active, .. } => {
                Some(format!("{} active among {connections} idle", active.clients))
            }
            _ => None,
        }
    }
}

/// The clients at once of a UNP row.
pub fn unp_clients(row: &RowResults) -> Option<usize> {
    match row.kind {
        Kind::Unp { clients, .. } => Some(clients),
        _ => None,
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
    pub fn targets(&self) -> Vec<Target> {
        let mut targets: Vec<Target> = Vec::new();
        for cell in self.rows.iter().flat_map(|r| &r.cells) {
            if !targets.contains(&cell.target) {
                targets.push(cell.target);
            }
        }
        targets
    }
}
