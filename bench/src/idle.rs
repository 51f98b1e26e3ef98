//! Idle clients: N connections opened one after another, each checked with
//! one echo (so the server has really served it) and then held open; the
//! server's memory before and after, and optionally a load among them.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::line;
use crate::load::{self, LoadReport, Workload};
use crate::procfs::{self, Memory};
use crate::tally::Tally;

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

    pub fn ok(&self) -> bool {
        self.tally.ok() && self.active.as_ref().is_none_or(|a| a.tally.ok())
    }

    pub fn text(&self) -> String {
        let mut out =
            format!("{}: {} of {} idle connections open", self.target, self.opened, self.idle_connections);
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
}

/// Opens `n` idle connections one by one and keeps them; the memory of the
/// server `pid` (and its children) is read before the first and after the
/// last. Then, if `active` is given, a load run among them.
pub fn run_idle(
    addr: SocketAddr,
    target: &str,
    n: usize,
    pid: Option<u32>,
    active: Option<Workload>,
    timeout: Duration,
) -> (IdleReport, Vec<TcpStream>) {
    let mut report = IdleReport { target: target.into(), idle_connections: n, ..Default::default() };
    report.before = pid.and_then(procfs::tree_memory);
    let mut streams = Vec::with_capacity(n);
    for id in 0..n {
        match line::connect_and_echo(addr, id, timeout) {
            Ok((stream, _)) => streams.push(stream),
            Err(problem) => {
                report.tally.count(problem);
                break;
            }
        }
    }
    report.opened = streams.len();
    report.after = pid.and_then(procfs::tree_memory);
    if let Some(w) = active.filter(|_| report.tally.ok()) {
        let cpu_before = pid.and_then(procfs::tree_cpu_us);
        let mut load = load::run_load(addr, target, w, timeout, false);
        if let (Some(before), Some(after)) = (cpu_before, pid.and_then(procfs::tree_cpu_us)) {
            load.server_cpu_us = Some((after - before) / load.round_trips.max(1) as f64);
        }
        report.active = Some(load);
    }
    (report, streams)
}
