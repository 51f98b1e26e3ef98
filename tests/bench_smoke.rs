//! A short run of each mode of `echo-bench` (the `make bench` load generator,
//! bench/), its tokio peer, and its charts. The bench must verify every echo,
//! so a server that breaks SPEC "The protocol" 3 (the bytes back are exactly
//! the bytes sent) shows up as a mismatch or an error and a non-zero exit,
//! never as a fast figure. A few thousand round trips in all; the benchmark
//! itself is `make bench`, not part of `make test`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;

use common::*;

/// A program of the bench crate, as `make test` copies it (make bench-build).
fn bench_bin(name: &str) -> PathBuf {
    let path = root().join("build/bench").join(name);
    assert!(path.exists(), "{} is missing: run `make test`, which builds it first", path.display());
    path
}

fn echo_bench(args: &[&str]) -> Output {
    let mut command = Command::new(bench_bin("echo-bench"));
    command.args(args).current_dir(root());
    run(command, b"", DEADLINE)
}

/// The number after the first `"key":` in echo-bench's JSON.
fn field(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = json[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A peer on 127.0.0.1 for one connection, whose echo is `reply` applied to
/// each chunk read (with the chunk's number); returns its port.
fn fake_peer(reply: impl Fn(usize, &mut Vec<u8>) -> bool + Send + 'static) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 4096];
        for chunk in 0.. {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut data = buf[..n].to_vec();
            let go_on = reply(chunk, &mut data);
            if stream.write_all(&data).is_err() || !go_on {
                return; // dropping the stream closes it
            }
        }
    });
    port
}

/// A load run verified: every round trip counted, no error, no mismatch.
fn assert_clean_load(port: &str, what: &str) {
    for (clients, rounds, size) in [("2", "100", "64"), ("1", "20", "3000")] {
        let out = echo_bench(&["-c", clients, "-n", rounds, "-s", size, "--json", "127.0.0.1", port]);
        let json = out.stdout();
        let what = format!("{what}, {clients} x {rounds} x {size} B: {json} {}", out.stderr());
        assert_eq!(out.code(), Some(0), "{what}");
        let want = clients.parse::<u64>().unwrap() * rounds.parse::<u64>().unwrap();
        assert_eq!(field(&json, "round_trips"), Some(want), "{what}");
        assert_eq!(field(&json, "errors"), Some(0), "{what}");
        assert_eq!(field(&json, "mismatches"), Some(0), "{what}");
        assert!(field(&json, "max_us").is_some_and(|max| max > 0), "{what}");
    }
}

/// SPEC "The protocol" 2 and 3: every server, C and Rust, echoes each line
/// byte for byte, 64-byte lines and 3000-byte lines (three pieces); the
/// bench counts each round trip and finds nothing wrong.
#[test]
fn spec_protocol_bench_verifies_every_echo_from_each_server() {
    for (lang, program) in every_server() {
        let server = Server::start(lang, program, &["-q"]);
        assert_clean_load(&server.port.to_string(), &format!("{lang:?} {program}"));
    }
}

/// tokio-echo, the bench's tokio peer, on each of tokio's runtimes (the
/// default and `--current-thread`): started as the suite starts it, it
/// prints its `listening` line and passes the same verification; on the
/// current_thread runtime it runs one thread, on the default more than one
/// where the machine has more than one CPU (/proc/PID/status).
#[test]
fn bench_tokio_peer_echoes_every_line() {
    for runtime in [None, Some("--current-thread")] {
        let mut child: Child = Command::new(bench_bin("tokio-echo"))
            .args(runtime)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tokio-echo");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read its first line");
        let port = line.trim_end().strip_prefix("listening on 127.0.0.1:").map(str::to_string);
        let what = format!("tokio-echo {runtime:?}");
        let pid = child.id();
        let outcome = std::panic::catch_unwind(|| {
            assert_clean_load(
                port.as_deref().unwrap_or_else(|| panic!("no listening line: {line:?}")),
                &what,
            );
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let threads: usize = status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
                .expect("a Threads line");
            let cpus = thread::available_parallelism().map_or(1, |n| n.get());
            match runtime {
                Some(_) => assert_eq!(threads, 1, "{what}: one thread"),
                None => assert!(threads > usize::from(cpus > 1), "{what}: {threads} threads, {cpus} CPUs"),
            }
        });
        let _ = child.kill();
        let _ = child.wait();
        outcome.unwrap();
    }
}

/// SPEC "The protocol" 3, the bench's side: one flipped bit in one echo is a
/// mismatch, counted once, and the exit status says so.
#[test]
fn spec_protocol_bench_detects_a_corrupted_echo() {
    let port = fake_peer(|chunk, data| {
        if chunk == 7 {
            data[3] ^= 0x20;
        }
        true
    });
    let out = echo_bench(&["-n", "50", "--json", &port.to_string()]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(1), "{json}");
    assert_eq!(field(&json, "mismatches"), Some(1), "{json}");
    assert_eq!(field(&json, "errors"), Some(0), "{json}");
    assert_eq!(field(&json, "round_trips"), Some(50), "{json}");
    assert!(json.contains("echo differs at byte"), "{json}");
}

/// SPEC "The protocol" 3, the bench's side: an echo cut short (the peer
/// sends half a line back and closes) is an error, not a hang.
#[test]
fn spec_protocol_bench_reports_a_truncated_echo_as_an_error() {
    let port = fake_peer(|_, data| {
        data.truncate(data.len() / 2);
        false
    });
    let out = echo_bench(&["-n", "10", "--json", &port.to_string()]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(1), "{json}");
    assert_eq!(field(&json, "errors"), Some(1), "{json}");
    assert_eq!(field(&json, "round_trips"), Some(0), "{json}");
    assert!(json.contains("closed the connection after"), "{json}");
}

/// The same cut echo in the storm and churn modes: an error, exit status 1.
#[test]
fn bench_storm_and_churn_report_a_truncated_echo_as_an_error() {
    for mode in ["--storm", "--churn"] {
        let port = fake_peer(|_, data| {
            data.truncate(data.len() / 2);
            false
        });
        let out = echo_bench(&[mode, "1", "--json", &port.to_string()]);
        let json = out.stdout();
        assert_eq!(out.code(), Some(1), "{mode}: {json}");
        assert_eq!(field(&json, "errors"), Some(1), "{mode}: {json}");
        assert!(json.contains("closed the connection after"), "{mode}: {json}");
    }
}

/// The floor (the bench's own recv/send loop) passes the same verification.
#[test]
fn bench_floor_runs_and_verifies() {
    let out = echo_bench(&["--floor", "-n", "200", "--json"]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(0), "{json} {}", out.stderr());
    assert_eq!(field(&json, "round_trips"), Some(200), "{json}");
    assert_eq!(field(&json, "mismatches"), Some(0), "{json}");
}

/// SPEC "The servers": `server` runs a thread per client, so 20 idle
/// clients are 20 more threads, and the bench reads the server's memory;
/// then 2 active clients among them are served too.
#[test]
fn spec_server_bench_idle_mode_measures_server_memory() {
    for lang in LANGS {
        let server = Server::start(lang, "server", &["-q"]);
        let (port, pid) = (server.port.to_string(), server.pid().to_string());
        let out = echo_bench(&[
            "--idle",
            "20",
            "--active",
            "2",
            "-n",
            "50",
            "--pid",
            &pid,
            "--json",
            "127.0.0.1",
            &port,
        ]);
        let json = out.stdout();
        assert_eq!(out.code(), Some(0), "{lang:?}: {json} {}", out.stderr());
        assert_eq!(field(&json, "opened"), Some(20), "{lang:?}: {json}");
        assert!(field(&json, "rss_kib").is_some_and(|kib| kib > 0), "{lang:?}: {json}");
        assert!(field(&json, "pss_kib").is_some_and(|kib| kib > 0), "{lang:?}: {json}");
        // after: main, the shutdown thread and one thread per client (22 idle and active)
        let after = &json[json.find("\"after\"").expect("an after field")..];
        assert!(field(after, "threads").is_some_and(|n| n >= 22), "{lang:?}: {json}");
        assert_eq!(field(&json, "round_trips"), Some(100), "{lang:?}: {json}");
    }
}

/// The storm and churn modes against a real server: every client served,
/// and the server's CPU time read for churn.
#[test]
fn spec_server_bench_storm_and_churn_modes_serve_every_client() {
    let server = Server::start(Lang::Rust, "server", &["-q"]);
    let (port, pid) = (server.port.to_string(), server.pid().to_string());
    let out = echo_bench(&["--storm", "50", "--json", &port]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(0), "{json} {}", out.stderr());
    assert_eq!(field(&json, "clients"), Some(50), "{json}");
    assert_eq!(field(&json, "errors"), Some(0), "{json}");
    assert!(json.contains("\"listen_overflows\":"), "{json}");
    let out = echo_bench(&["--churn", "50", "--pid", &pid, "--json", &port]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(0), "{json} {}", out.stderr());
    assert_eq!(field(&json, "connections"), Some(50), "{json}");
    assert!(json.contains("\"server_cpu_us\":"), "{json}");
}

/// UNP Figure 30.1's client (`--churn N -c CLIENTS -s SIZE`): 5 clients at
/// once, each making its connections one after another with a 4,000-byte
/// line echoed on each, against a server that forks a child per client:
/// every connection served, and the server's CPU time, its reaped
/// children's included, read.
#[test]
fn bench_unp_mode_serves_every_connection_and_reads_the_cpu_of_the_children() {
    let server = Server::start(Lang::C, "server_fork", &["-q"]);
    let (port, pid) = (server.port.to_string(), server.pid().to_string());
    let out = echo_bench(&["--churn", "600", "-c", "5", "-s", "4000", "--pid", &pid, "--json", &port]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(0), "{json} {}", out.stderr());
    assert_eq!(field(&json, "connections"), Some(600), "{json}");
    assert_eq!(field(&json, "clients"), Some(5), "{json}");
    assert_eq!(field(&json, "size"), Some(4000), "{json}");
    assert_eq!(field(&json, "errors"), Some(0), "{json}");
    // 600 forks cost more than nothing: a tick (10 ms) at least over 600
    // (60 took under 10 ms of CPU here, and read as 0).
    assert!(json.contains("\"server_cpu_us\":") && !json.contains("\"server_cpu_us\":0.0"), "{json}");
}

/// The probe of a bounded design (`--bound N`): against the server that
/// serves one client at a time, the second client connects but gets no
/// echo while the first is held, and gets it once the first closes; against
/// a thread per client, the second is served at once, and the probe says
/// the design is not bounded there. Neither waits for a timeout.
#[test]
fn bench_bound_probe_shows_the_client_that_waits() {
    let single = Server::start(Lang::Rust, "server_single", &["-q"]);
    let out = echo_bench(&["--bound", "1", &single.port.to_string()]);
    assert_eq!(out.code(), Some(0), "{} {}", out.stdout(), out.stderr());
    assert!(out.stdout().contains("full: 1 served, the 2nd waits; its echo came"), "{}", out.stdout());
    let threads = Server::start(Lang::C, "server", &["-q"]);
    let out = echo_bench(&["--bound", "3", "--json", &threads.port.to_string()]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(0), "{json} {}", out.stderr());
    assert!(json.contains("\"waited\":false"), "{json}");
    assert_eq!(field(&json, "served"), Some(3), "{json}");
}

/// A build directory (`--build`) with every program `make` built, linked,
/// but for the C twin of `absent`.
fn build_without(absent: &str) -> PathBuf {
    let build = scratch("suite-build");
    for lang in LANGS {
        let dir = build.join(lang.dir());
        std::fs::create_dir_all(&dir).unwrap();
        for p in programs::all().iter().filter(|p| p.krate == "sockets") {
            if !(lang == Lang::C && p.name == absent) {
                std::os::unix::fs::symlink(bin(lang, p.name), dir.join(p.name)).expect("link a program");
            }
        }
    }
    build
}

/// The suite itself, with a hundredth of the work and one run of each row:
/// every row and every peer (tokio included), a server not built (the C
/// twin of the last server, left out of the `--build` directory) shown as
/// `missing`, and its results and charts written.
#[test]
fn bench_quick_suite_runs_every_row() {
    let out_dir = scratch("suite");
    let absent = *servers().last().expect("a server in programs.txt");
    let build = build_without(absent);
    let mut command = Command::new(bench_bin("echo-bench"));
    command.args(["suite", "--smoke", "--build"]).arg(&build).arg("--out").arg(&out_dir).current_dir(root());
    let out = run(command, b"", DEADLINE * 6);
    let (table, log) = (out.stdout(), out.stderr());
    assert_eq!(out.code(), Some(0), "{table}\n{log}");
    for row in [
        "1 client x 64 B",
        "256 clients x 64 B",
        "storm of 10 clients",
        "50 idle clients",
        "60 idle clients, 25 per process of the bench", // the largest idle row, held by helpers
        "UNP Figure 30.1: 100 connections, 5 clients x 4000 B",
    ] {
        assert!(table.contains(row), "no row {row:?}:\n{table}");
    }
    for tokio in ["| tokio (", "| tokio current_thread |"] {
        assert!(table.contains(tokio), "no {tokio} column:\n{table}");
    }
    assert!(table.contains("| minus server_single's, us |"), "no UNP table:\n{table}");
    assert!(log.contains("row 1/"), "no progress line of the rows:\n{log}");
    assert!(table.contains("server Rust/tokio"), "no Rust/tokio ratio:\n{table}");
    assert!(table.contains("| s to open them |"), "no opening table of the idle rows:\n{table}");
    assert!(
        log.contains(&format!("C {absent}: not built")),
        "C {absent} left out, the log does not say so:\n{log}"
    );
    let rows_with_it = table.lines().filter(|l| l.contains("missing")).count();
    assert!(rows_with_it > 0, "C {absent} is not built, and no cell says so:\n{table}");
    for program in servers().into_iter().filter(|p| *p != absent) {
        assert!(!log.contains(&format!("C {program}: not built")), "C {program} is built:\n{log}");
    }
    for file in ["bench-results.json", "bench-throughput.svg", "bench-memory.svg", "bench-unp.svg"] {
        assert!(out_dir.join(file).exists(), "no {file} in {}", out_dir.display());
    }
    assert_transport_rows(&table);
    // UNP's chart: CPU over the iterative server's, CPU, wall time; a bar
    // for every built target of the row (the C twin left out is `missing`).
    let unp = std::fs::read_to_string(out_dir.join("bench-unp.svg")).unwrap();
    let svg = roxmltree::Document::parse(&unp).expect("bench-unp.svg is XML");
    let class = |name| svg.descendants().filter(|n| n.attribute("class") == Some(name)).count();
    let targets = 2 * servers().len() + 2; // C and Rust of each, both tokio runtimes
    assert_eq!(class("panel"), 3, "{unp}");
    assert_eq!(class("bar") + class("missing"), 3 * targets, "{unp}");
    assert_eq!(class("missing"), 3, "C {absent}, once a panel");
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_dir_all(&build);
}

/// The TLS and UDP rows of the quick suite, by the transports programs.txt
/// has: the handshake row, and where the servers are built (make tls for
/// TLS, with its certificate) the comparisons with the plain server.
fn assert_transport_rows(table: &str) {
    use programs::Transport;
    let built = |transport| {
        let servers = programs::all().iter().filter(|p| p.is_server() && p.transport == transport);
        let servers: Vec<_> = servers.collect();
        let built = servers
            .iter()
            .all(|p| LANGS.iter().all(|l| root().join("build").join(l.dir()).join(p.name).exists()));
        (!servers.is_empty(), built)
    };
    let (tls, tls_built) = built(Transport::Tls);
    assert_eq!(table.contains("TLS handshakes, 10 connections"), tls, "the handshake row:\n{table}");
    if tls && tls_built && root().join("build/tls/ca.pem").exists() {
        assert!(table.contains("What a TLS handshake costs against a plain connect"), "{table}");
        assert!(table.contains("What TLS adds to a round trip"), "{table}");
    }
    if let (true, true) = built(Transport::Udp) {
        assert!(table.contains("What a datagram's round trip costs against a TCP segment's"), "{table}");
    }
}

/// The charts of a known small results file (tests/data/): an SVG document
/// each, with one bar per run target and `missing` where a server was not
/// built, drawn the same byte for byte every time.
#[test]
fn bench_charts_draw_the_results_into_bars() {
    let (first, second) = (scratch("chart1"), scratch("chart2"));
    for dir in [&first, &second] {
        let out =
            echo_bench(&["chart", "tests/data/bench-results-small.json", "--out", dir.to_str().unwrap()]);
        assert_eq!(out.code(), Some(0), "{}", out.stderr());
    }
    let read = |dir: &PathBuf, file: &str| std::fs::read_to_string(dir.join(file)).expect("read the chart");
    let throughput = read(&first, "bench-throughput.svg");
    assert_eq!(throughput, read(&second, "bench-throughput.svg"), "the same results drew different bytes");
    let svg = roxmltree::Document::parse(&throughput).expect("bench-throughput.svg is XML");
    let panels: Vec<_> = svg.descendants().filter(|n| n.attribute("class") == Some("panel")).collect();
    let count = |panel: &roxmltree::Node, class: &str| {
        panel.descendants().filter(|n| n.attribute("class") == Some(class)).count()
    };
    let title = |panel: &roxmltree::Node| -> Option<String> {
        let node = panel.descendants().find(|n| n.attribute("class") == Some("panel-title"))?;
        node.text().map(str::to_string)
    };
    assert_eq!(panels.len(), 2, "a panel for the load row and one for the load among idle clients");
    assert_eq!(title(&panels[0]).as_deref(), Some("1 client x 64 B"));
    assert_eq!(count(&panels[0], "bar"), 3, "C server, Rust server, tokio");
    assert_eq!(count(&panels[0], "missing"), 2, "C and Rust server_poll");
    assert_eq!(count(&panels[0], "marker"), 1, "the floor");
    assert_eq!(title(&panels[1]).as_deref(), Some("2 active among 3 idle"));
    assert_eq!(count(&panels[1], "bar"), 3);
    let memory = read(&first, "bench-memory.svg");
    let svg = roxmltree::Document::parse(&memory).expect("bench-memory.svg is XML");
    let bars: Vec<String> = svg
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
        .filter_map(|n| {
            n.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()).map(str::to_string)
        })
        .collect();
    // PSS then RSS per client: (2000 + 12 * 3 - 2000) / 3 = 12 KiB for C.
    assert_eq!(bars.len(), 6, "{bars:?}");
    assert_eq!(bars[0], "C server: 12.0 KiB per idle client", "{bars:?}");
    assert_eq!(bars[2], "tokio: 2.0 KiB per idle client", "{bars:?}");
    let _ = (std::fs::remove_dir_all(&first), std::fs::remove_dir_all(&second));
}

/// Each chart renders: rsvg-convert (librsvg) draws it into a PNG without
/// an error, the charts of tests/data/ and those published in docs/.
#[test]
fn bench_charts_render_with_rsvg() {
    if !have("rsvg-convert", "--version") {
        return;
    }
    let dir = scratch("render");
    let out = echo_bench(&["chart", "tests/data/bench-results-small.json", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr());
    let published = [root().join("docs/bench-throughput.svg"), root().join("docs/bench-memory.svg")];
    for svg in [dir.join("bench-throughput.svg"), dir.join("bench-memory.svg")].iter().chain(&published) {
        let png = dir.join("chart.png");
        let mut command = Command::new("rsvg-convert");
        command.arg(svg).arg("-o").arg(&png);
        let out = run(command, b"", DEADLINE);
        assert_eq!(out.code(), Some(0), "rsvg-convert {}: {}", svg.display(), out.stderr());
        assert!(std::fs::metadata(&png).is_ok_and(|m| m.len() > 1000), "no PNG from {}", svg.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The charts in docs/ are those that `echo-bench chart` draws from the
/// results saved beside them (docs/bench-results.json): redrawn, not edited.
#[test]
fn bench_published_charts_match_the_published_results() {
    let dir = scratch("published");
    let out = echo_bench(&["chart", "docs/bench-results.json", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr());
    for file in ["bench-throughput.svg", "bench-memory.svg"] {
        let drawn = std::fs::read_to_string(dir.join(file)).unwrap();
        let published = std::fs::read_to_string(root().join("docs").join(file)).expect("read docs/ chart");
        assert!(drawn == published, "docs/{file} is not what docs/bench-results.json draws: run `build/bench/echo-bench chart docs/bench-results.json --out docs`");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
