//! echo-bench: a load generator for the echo servers, and the `make bench`
//! suite. A tool, not a twin: it uses `std::net` and threads, one per
//! connection, and well-kept crates where they do the job (see Cargo.toml).
//!
//! A load run: CLIENTS connections at once, each doing ROUNDS round trips of
//! one SIZE-byte line (SIZE counts the final `\n`; the other bytes are any
//! value but `\n` and `q`, so a line is never `quit`). Each round trip sends
//! the whole line, reads until every byte is back, and compares. It reports
//! round trips per second, MB/s (echoed payload), latency percentiles in µs,
//! errors (a connection that failed: refused, reset, timed out, closed early)
//! and mismatches (round trips whose echo differs from what was sent); it
//! exits 1 on any of them, 2 on a bad command line. `cli.rs` has the usage.
//!
//! `--tls CAFILE` runs it over TLS (a handshake per connection, before the
//! clock), `--udp` over datagrams (a datagram a line; an echo not back in
//! time is counted as lost). `--floor` runs the same load against the smallest echo loop there is (the
//! limit no server can beat on this machine); `--idle`, `--storm` and
//! `--churn` the other runs of the suite against one server; `suite` is
//! `make bench`: every server and peer through every row, interleaved and
//! repeated, a table of medians, its results as JSON and two SVG charts.

mod bounded;
mod chart;
mod churn;
mod cli;
mod dial;
mod hold;
mod idle;
mod line;
mod load;
mod peers;
mod procfs;
mod report;
mod results;
mod run;
mod stats;
mod storm;
mod suite;
mod svg;
mod tables;
mod tally;
mod target;
mod tls;
mod transports;
mod udp;
mod unp;
mod verdicts;

use std::process::exit;

use cli::{Command, USAGE};

fn main() {
    let command = cli::parse().unwrap_or_else(|message| {
        eprint!("echo-bench: {message}\n{USAGE}");
        exit(2);
    });
    let status = match command {
        Command::Help => {
            print!("{USAGE}");
            0
        }
        Command::EchoLoop => peers::echo_loop(),
        Command::Run(options) => run::run(options),
        Command::Suite(options) => suite::run(&options),
        Command::Report { results } => report::reprint(&results),
        Command::Chart { results, out } => chart::redraw(&results, &out),
    };
    exit(status);
}
