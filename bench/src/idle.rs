//! Idle clients: N connections opened one after another, each checked with
//! one echo (so the server has really served it) and then held open (see
//! hold.rs); the server's memory before and after, optionally a load among
//! them, and then one more echo each.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dial::Dialer;
use crate::hold::Held;
use crate::load::{self, LoadReport, Workload};
use crate::procfs::{self, CpuMeter, Memory};
use crate::tally::{RunReport, Tally};

/// What an idle run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// Fields left out of a JSON file read back are zero or empty.
#[serde(default)]
pub struct IdleReport {
    pub target: String,
    pub idle_connections: usize,
    pub opened: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Memory>,
    /// The load run among the idle clients, if one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<LoadReport>,
    /// Seconds to open them, one after another (connect, echo, next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_seconds: Option<f64>,
    /// Seconds for one more echo on each, once all are open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub again_seconds: Option<f64>,
    /// Why the bench stopped opening before the count (the machine's pids
    /// or memory), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    #[serde(flatten)]
    pub tally: Tally,
}

impl IdleReport {
    /// RSS growth per idle client, in KiB (summed over the server's
    /// processes: pages shared after a fork count in each).
    pub fn rss_per_client_kib(&self) -> Option<f64> {
        let (before, after) = (self.before?, self.after?);
        Some((after.rss_kib as f64 - before.rss_kib as f64) / self.opened.max(1) as f64)
    }

    /// PSS growth per idle client, in KiB: what each one really costs.
    pub fn pss_per_client_kib(&self) -> Option<f64> {
        let (before, after) = (self.before?, self.after?);
        Some((after.pss_kib as f64 - before.pss_kib as f64) / self.opened.max(1) as f64)
    }

    /// What ended the opening short of the count: the bench's reason, or
    /// the first problem; `None` when every client was held.
    pub fn stopped_by(&self) -> Option<&str> {
        self.stopped.as_deref().or(self.tally.first_problem.as_deref())
    }
}

/// Opens `n` idle connections one by one and keeps them (in helper
/// processes of `per_process` clients each past that many); the memory of
/// the server `pid` (and its children) is read before the first and after
/// the last. Then, if `active` is given, a load run among them; then one
/// more echo each. Returns the clients, still open.
pub fn run_idle(
    addr: SocketAddr,
    target: &str,
    (n, per_process): (usize, usize),
    pid: Option<u32>,
    active: Option<Workload>,
    timeout: Duration,
) -> (IdleReport, Held) {
    let mut report = IdleReport { target: target.into(), idle_connections: n, ..Default::default() };
    report.before = pid.and_then(procfs::tree_memory);
    let (mut held, opened) = Held::open(addr, n, per_process, timeout);
    (report.opened, report.open_seconds, report.stopped) =
        (opened.opened, Some(opened.seconds), opened.stopped);
    report.tally = opened.tally;
    report.after = pid.and_then(procfs::tree_memory);
    if let Some(w) = active.filter(|_| report.tally.ok()) {
        let cpu = CpuMeter::start(pid);
        let mut load = load::run_load((addr, &Dialer::Tcp), target, w, timeout, false);
        load.server_cpu_us = cpu.per(load.round_trips);
        report.active = Some(load);
    }
    if report.tally.ok() {
        let again = held.again();
        report.again_seconds = Some(again.seconds);
        report.tally.add(again.tally);
    }
    (report, held)
}

/// The clients one process may hold: its descriptors, less a hundred for
/// the rest of its work.
pub fn per_process() -> usize {
    (procfs::open_files_limit().unwrap_or(1024) as usize).saturating_sub(100).max(1)
}

impl RunReport for IdleReport {
    fn text(&self) -> String {
        let mut out =
            format!("{}: {} of {} idle connections open", self.target, self.opened, self.idle_connections);
        if let (Some(open), Some(again)) = (self.open_seconds, self.again_seconds) {
            out += &format!(" (opened in {open:.3} s, one more echo each in {again:.3} s)");
        }
        if let Some(stopped) = &self.stopped {
            out += &format!("; stopped short: {stopped}");
        }
        if let (Some(before), Some(after)) = (self.before, self.after) {
            out += &format!(
                "; server RSS {} KiB before, {} KiB after, PSS {} -> {} KiB ({} processes, {} threads): \
                 {:.1} KiB RSS, {:.1} KiB PSS per idle client",
                before.rss_kib,
                after.rss_kib,
                before.pss_kib,
                after.pss_kib,
                after.processes,
                after.threads,
                self.rss_per_client_kib().unwrap_or(0.0),
                self.pss_per_client_kib().unwrap_or(0.0)
            );
        }
        out += "\n";
        out += &self.tally.text();
        if let Some(active) = &self.active {
            out += &format!("among them, {}", active.text());
        }
        out
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }

    fn ok(&self) -> bool {
        self.tally.ok() && self.active.as_ref().is_none_or(|a| a.tally.ok())
    }

    fn problem(&self) -> Option<&str> {
        let active = self.active.as_ref().filter(|_| self.tally.ok());
        active.map_or(&self.tally, |a| &a.tally).first_problem.as_deref()
    }

    fn summary(&self) -> String {
        format!(
            "{} of {} held{}, opened in {:.1} s; {:.1} KiB RSS, {:.1} KiB PSS per idle client ({} processes, {} threads); {:.0} round trips/s among them",
            self.opened,
            self.idle_connections,
            self.stopped.as_ref().map_or(String::new(), |s| format!(" (stopped: {s})")),
            self.open_seconds.unwrap_or(f64::NAN),
            self.rss_per_client_kib().unwrap_or(f64::NAN),
            self.pss_per_client_kib().unwrap_or(f64::NAN),
            self.after.map_or(0, |m| m.processes),
            self.after.map_or(0, |m| m.threads),
            self.active.as_ref().map_or(f64::NAN, |a| a.round_trips_per_s)
        )
    }
}
