//! The report's comparisons of the transports against the plain server (the
//! TCP server with a thread per client, `target::plain_server`): what a TLS
//! handshake costs against a plain connect, what TLS adds to a round trip,
//! and what a datagram's round trip costs against a TCP segment's; medians
//! of the runs of one suite, C against C and Rust against Rust.

use programs::{Program, Transport};

use crate::results::{Kind, Results, RowResults, Sample};
use crate::stats::median;
use crate::tables::{self, per_target};
use crate::target::{all_servers, plain_server, Lang, Target};

/// The median of a figure of the runs of a target in a row (built only).
fn figure(row: &RowResults, target: Target, f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    median(row.runs_of(target, f))
}

/// The servers of `transport` in a row, each language, with the plain
/// server of the same language.
fn pairs(row: &RowResults, transport: Transport) -> Vec<(Target, Target)> {
    let Some(plain) = plain_server() else { return vec![] };
    let programs = all_servers().into_iter().filter(|p| p.transport == transport);
    let pairs = programs.flat_map(|p: &'static Program| Lang::BOTH.map(|l| (Target::Server(l, p), l)));
    pairs.map(|(t, l)| (t, Target::Server(l, plain))).filter(|(t, _)| row.cell(*t).is_some()).collect()
}

/// The handshake row: its table, then, for each TLS server, the handshake
/// against the plain server's connect.
pub fn handshakes(row: &RowResults) {
    println!();
    println!("{}: one client after another connects, does one round trip and closes, over TLS", row.name);
    println!("with a new handshake each (no session resumed), and over plain TCP (medians).");
    let churn = |f: fn(&crate::churn::ChurnReport) -> Option<f64>| move |s: &Sample| s.churn().and_then(f);
    let rate = churn(|r| Some(r.connections_per_s));
    let cpu = churn(|r| r.server_cpu_us);
    per_target(row, &["server", "connections/s", "server CPU per connection, us"], |cell| {
        vec![tables::figure(cell, rate, 0), tables::figure(cell, cpu, 1)]
    });
    println!();
    println!("What a TLS handshake costs against a plain connect (TLS connection over plain, medians):");
    for (tls, plain) in pairs(row, Transport::Tls) {
        let (Some(r), Some(p)) = (figure(row, tls, rate), figure(row, plain, rate)) else { continue };
        let cpus = figure(row, tls, cpu).zip(figure(row, plain, cpu));
        let server = cpus.map_or(String::new(), |(t, p)| {
            let times = if p > 0.0 { format!(", {:.1}x", t / p) } else { String::new() };
            format!("; server CPU {t:.0} us against {p:.0} us{times}: {:.0} us a handshake", t - p)
        });
        println!(
            "  {:<18} {r:.0} connections/s against {plain}'s {p:.0}: {:.2} ms each against {:.2} ms{server}",
            tls.to_string(),
            1e3 / r,
            1e3 / p
        );
    }
}

/// What a round trip over `transport` costs against the plain server's in
/// the same row: rate, server CPU and median latency, and lost datagrams.
fn round_trips(results: &Results, transport: Transport, title: &str) {
    let loads = results.rows.iter().filter(|r| matches!(r.kind, Kind::Load { .. }));
    let rows: Vec<(&RowResults, Vec<(Target, Target)>)> =
        loads.map(|row| (row, pairs(row, transport))).filter(|(_, p)| !p.is_empty()).collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!("{title} (medians; the ratio: over the plain server's):");
    let rate = |s: &Sample| s.load().map(|r| r.round_trips_per_s);
    let cpu = |s: &Sample| s.load()?.server_cpu_us;
    let p50 = |s: &Sample| s.load().map(|r| r.p50_us as f64);
    let lost = |s: &Sample| s.load().map(|r| r.tally.lost as f64);
    for (row, pairs) in rows {
        for (ours, plain) in pairs {
            let (Some(r), Some(p)) = (figure(row, ours, rate), figure(row, plain, rate)) else { continue };
            let both = |f: &dyn Fn(&Sample) -> Option<f64>| figure(row, ours, f).zip(figure(row, plain, f));
            let cpu = both(&cpu).map_or("-".into(), |(o, p)| format!("{o:.1} us against {p:.1}"));
            let p50 = both(&p50).map_or("-".into(), |(o, p)| format!("{o:.0} us against {p:.0}"));
            let lost = row.runs_of(ours, lost).iter().sum::<f64>();
            let lost = if lost > 0.0 { format!(", {lost:.0} datagrams lost") } else { String::new() };
            println!(
                "  {}, {:<16} {r:.0} round trips/s against {plain}'s {p:.0} ({:.2}x); server CPU a round trip {cpu}; p50 {p50}{lost}",
                row.name,
                ours.to_string(),
                r / p
            );
        }
    }
}

/// The comparisons of the load rows: TLS and UDP against the plain server.
pub fn print(results: &Results) {
    round_trips(
        results,
        Transport::Tls,
        "What TLS adds to a round trip (SSL_write and SSL_read around send and recv)",
    );
    round_trips(
        results,
        Transport::Udp,
        "What a datagram's round trip costs against a TCP segment's (recvfrom/sendto, no ACK, no connection)",
    );
}
