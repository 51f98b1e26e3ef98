//! A run against one peer, from the command line: a load, idle clients, a
//! storm or churn; the report as text or as one line of JSON.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};

use serde::Serialize;

use crate::cli::{Mode, RunOptions};
use crate::dial::Dialer;
use crate::procfs::CpuMeter;
use crate::tally::RunReport;
use crate::tls::Connector;
use crate::{bounded, churn, hold, idle, load, peers, storm};

/// `[HOST] PORT` as an IPv4 address (HOST defaults to 127.0.0.1).
fn resolve(operands: &[String]) -> Result<SocketAddr, String> {
    let (host, port) = match operands {
        [port] => ("127.0.0.1", port),
        [host, port] => (host.as_str(), port),
        _ => return Err("expected [HOST] PORT".into()),
    };
    let port: u16 = port.parse().ok().filter(|&p| p > 0).ok_or(format!("bad port: {port}"))?;
    match (host, port).to_socket_addrs().map(|mut a| a.find(SocketAddr::is_ipv4)) {
        Ok(Some(addr)) => Ok(addr),
        _ => Err(format!("resolve {host}: no IPv4 address")),
    }
}

/// The report, as JSON on one line or as text.
fn show(report: &impl Serialize, text: String, json: bool) {
    if json {
        println!("{}", serde_json::to_string(report).expect("a report serializes"));
    } else {
        print!("{text}");
    }
    let _ = std::io::stdout().flush();
}

/// Runs the mode; returns the exit status: 0, or 1 on any error or mismatch.
pub fn run(o: RunOptions) -> i32 {
    let floor = match o.floor.then(|| peers::start_floor(None)).transpose() {
        Ok(floor) => floor,
        Err(e) => return fail(&e),
    };
    let addr = match floor.as_ref().map(|peer| peer.addr).ok_or(()).or_else(|()| resolve(&o.operands)) {
        Ok(addr) => addr,
        Err(e) => return fail(&e),
    };
    let dialer = match (&o.tls, o.udp) {
        (Some(ca), _) => match Connector::new(ca) {
            Ok(connector) => Dialer::Tls(connector),
            Err(e) => return fail(&e),
        },
        (None, true) => Dialer::Udp,
        (None, false) => Dialer::Tcp,
    };
    let target = if o.floor { "floor".to_string() } else { format!("{addr}{}", dialer.name()) };
    let ok = match o.mode {
        Mode::Load => shown(load::run_load((addr, &dialer), &target, o.workload, o.timeout, true), o.json),
        Mode::Idle { connections, active, per_process } => {
            let active = active.map(|clients| load::Workload { clients, ..o.workload });
            let size = (connections, per_process.unwrap_or_else(idle::per_process));
            let (report, held) = idle::run_idle(addr, &target, size, o.pid, active, o.timeout);
            let ok = shown(report, o.json);
            std::thread::sleep(o.hold);
            drop(held);
            ok
        }
        Mode::Helper { clients, first } => return hold::helper(addr, first, clients, o.timeout),
        Mode::Storm { clients } => shown(storm::run_storm(addr, &target, clients, o.timeout), o.json),
        Mode::Bound { at_once } => shown(bounded::run_bound(addr, &target, at_once, o.timeout), o.json),
        Mode::Churn(w) => {
            shown(churn::run_churn((addr, &dialer), &target, w, CpuMeter::start(o.pid), o.timeout), o.json)
        }
    };
    i32::from(!ok)
}

/// `show`s a report; whether its run went well.
fn shown(report: impl RunReport + Serialize, json: bool) -> bool {
    show(&report, report.text(), json);
    report.ok()
}

fn fail(message: &str) -> i32 {
    eprintln!("echo-bench: {message}");
    1
}
