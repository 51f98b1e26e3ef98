//! echo-bench: a load generator for the echo servers, and the `make bench` suite.
//!
//! A tool, not a twin: it uses `std::net` and threads, one per connection.
//!
//! ```text
//! echo-bench [-c CLIENTS] [-n ROUNDS] [-s SIZE] [-t SECONDS] [--json] [HOST] PORT
//! echo-bench --floor [-n ROUNDS] [-s SIZE] [--json]
//! echo-bench --idle N [--pid PID] [--hold SECONDS] [-t SECONDS] [--json] [HOST] PORT
//! echo-bench suite [--build DIR] [--reps N]
//! ```
//!
//! Load: CLIENTS connections at once, each doing ROUNDS round trips of one
//! SIZE-byte line (SIZE counts the final `\n`; the other bytes are any value
//! but `\n` and `q`, so a line is never `quit`). Each round trip sends the
//! whole line, reads until every byte is back, and compares. It reports round
//! trips per second, MB/s (echoed payload), latency p50/p99/max in µs, errors
//! (a connection that failed: refused, reset, timed out, closed early) and
//! mismatches (round trips whose echo differs from what was sent); it exits 1
//! on any of them, 2 on a bad command line.
//!
//! `--floor` runs the same load against the smallest echo loop there is
//! (`--echo-loop`: a recv/send loop per connection in a process of its own,
//! loopback TCP, TCP_NODELAY): the limit no server can beat on this machine.
//!
//! `--idle N` opens N connections one after the other, checks one echo on
//! each, and holds them all open; with `--pid` it reads the server's VmRSS
//! before and after and reports the memory per idle client.
//!
//! `suite` is `make bench`: every server (C and Rust, threaded and single),
//! freshly started with `-q` for each run, plus socat and the floor, through
//! the same workloads, interleaved and repeated; it prints the table of
//! medians and the Rust/C ratios.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: echo-bench [-c CLIENTS] [-n ROUNDS] [-s SIZE] [-t SECONDS] [--json] [HOST] PORT
       echo-bench --floor [-c CLIENTS] [-n ROUNDS] [-s SIZE] [--json]
       echo-bench --idle N [--pid PID] [--hold SECONDS] [-t SECONDS] [--json] [HOST] PORT
       echo-bench suite [--build DIR] [--reps N]
       echo-bench --echo-loop       (the floor's echo peer: prints its port, runs until killed)
";

/// Larger lines could deadlock a client that writes the whole line before
/// reading: the echo would fill both socket buffers.
const MAX_SIZE: usize = 64 * 1024;

/// How much work one load run is.
#[derive(Clone, Copy, Debug)]
struct Workload {
    clients: usize,
    rounds: usize,
    size: usize,
}

/// What one load run measured.
#[derive(Clone, Debug, Default)]
struct Report {
    clients: usize,
    rounds: usize,
    size: usize,
    round_trips: u64,
    seconds: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    /// The slowest connect: over a second means a SYN was dropped (a full
    /// listen backlog) and retransmitted.
    connect_max_us: u64,
    /// CPU time (user + system) the server process spent per round trip, in
    /// µs, when the suite knows its PID: less noisy than round trips per
    /// second when something else runs on the machine.
    server_cpu_us: Option<f64>,
    errors: u64,
    mismatches: u64,
    first_problem: Option<String>,
}

impl Report {
    fn per_second(&self) -> f64 {
        self.round_trips as f64 / self.seconds.max(1e-9)
    }

    /// Echoed payload (one direction), in MB (10^6 bytes) per second.
    fn mb_per_second(&self) -> f64 {
        self.per_second() * self.size as f64 / 1e6
    }

    fn ok(&self) -> bool {
        self.errors == 0 && self.mismatches == 0
    }

    fn json(&self, target: &str) -> String {
        format!(
            "{{\"target\":{},\"clients\":{},\"rounds\":{},\"size\":{},\"round_trips\":{},\"seconds\":{:.6},\
             \"round_trips_per_s\":{:.1},\"mb_per_s\":{:.3},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\
             \"connect_max_us\":{},\"errors\":{},\"mismatches\":{},\"first_problem\":{}}}",
            json_string(target),
            self.clients,
            self.rounds,
            self.size,
            self.round_trips,
            self.seconds,
            self.per_second(),
            self.mb_per_second(),
            self.p50_us,
            self.p99_us,
            self.max_us,
            self.connect_max_us,
            self.errors,
            self.mismatches,
            self.first_problem.as_deref().map_or("null".to_string(), json_string),
        )
    }

    fn text(&self, target: &str) -> String {
        let mut out = format!(
            "{target}: {} clients x {} round trips x {} B: {} round trips in {:.3} s\n\
             {:.0} round trips/s, {:.2} MB/s, latency p50 {} us, p99 {} us, max {} us\n\
             slowest connect {} us; errors {}, mismatches {}\n",
            self.clients,
            self.rounds,
            self.size,
            self.round_trips,
            self.seconds,
            self.per_second(),
            self.mb_per_second(),
            self.p50_us,
            self.p99_us,
            self.max_us,
            self.connect_max_us,
            self.errors,
            self.mismatches,
        );
        if let Some(problem) = &self.first_problem {
            let _ = writeln!(out, "first problem: {problem}");
        }
        out
    }
}

/// A JSON string literal, escaped by hand (no serde here).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// xorshift64: deterministic line contents without a crate.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Bytes of any value but `\n` (the line's end) and `q` (so no line is
/// `quit`), from which each round trip takes its line at a varying offset.
fn make_pool(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    (0..len)
        .map(|_| match rng.next() as u8 {
            b'\n' => b'N',
            b'q' => b'Q',
            b => b,
        })
        .collect()
}

/// What one connection of a load run saw.
#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u32>,
    connect_us: u64,
    errors: u64,
    mismatches: u64,
    first_problem: Option<String>,
}

impl ClientResult {
    fn problem(&mut self, text: String) {
        self.first_problem.get_or_insert(text);
    }
}

/// One connection: connect, then `rounds` round trips of one line each.
/// One connection (`open` if it was opened before the clock started, with the
/// time its connect took): connect, then `rounds` round trips of one line each.
fn run_client(
    addr: SocketAddr,
    id: usize,
    w: Workload,
    timeout: Duration,
    open: Option<(TcpStream, u64)>,
    done: &AtomicU64,
) -> ClientResult {
    let mut result = ClientResult { latencies_us: Vec::with_capacity(w.rounds), ..Default::default() };
    let connected = match open {
        Some((stream, connect_us)) => {
            result.connect_us = connect_us;
            Ok(stream)
        }
        None => {
            let connecting = Instant::now();
            let connected = TcpStream::connect_timeout(&addr, timeout);
            result.connect_us = connecting.elapsed().as_micros() as u64;
            connected
        }
    };
    let mut stream = match connected {
        Ok(stream) => stream,
        Err(err) => {
            result.errors += 1;
            result.problem(format!("client {id}: connect {addr}: {err}"));
            return result;
        }
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));

    const SPREAD: usize = 4096;
    let pool = make_pool(id as u64 + 1, w.size - 1 + SPREAD);
    let mut rng = XorShift::new(id as u64 + 1000);
    let mut line = vec![0u8; w.size];
    let mut echo = vec![0u8; w.size];
    for round in 0..w.rounds {
        let offset = rng.next() as usize % SPREAD;
        line[..w.size - 1].copy_from_slice(&pool[offset..offset + w.size - 1]);
        line[w.size - 1] = b'\n';

        let start = Instant::now();
        if let Err(err) = stream.write_all(&line) {
            result.errors += 1;
            result.problem(format!("client {id}, round trip {round}: send: {err}"));
            return result;
        }
        let mut got = 0;
        while got < w.size {
            match stream.read(&mut echo[got..]) {
                Ok(0) => {
                    result.errors += 1;
                    result.problem(format!(
                        "client {id}, round trip {round}: the server closed the connection after {got} of {} bytes",
                        w.size
                    ));
                    return result;
                }
                Ok(n) => got += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    result.errors += 1;
                    result.problem(format!("client {id}, round trip {round}: recv after {got} bytes: {err}"));
                    return result;
                }
            }
        }
        let elapsed = start.elapsed();
        result.latencies_us.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
        if echo != line {
            result.mismatches += 1;
            let at = echo.iter().zip(&line).position(|(a, b)| a != b).unwrap_or(0);
            result.problem(format!(
                "client {id}, round trip {round}: echo differs at byte {at}: sent 0x{:02x}, got 0x{:02x}",
                line[at], echo[at]
            ));
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u32], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    u64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `w.clients` connections at once against `addr`.
///
/// The connections are opened first, one after another, so that the clock
/// measures echoing and not a connect storm: 256 SYNs at once overflow the
/// listen backlog (128) even of a server that accepts as fast as it can, and
/// each dropped SYN is retransmitted only after 1 s. A connect that does not
/// complete in 4 tries of 50 ms (the backlog stays full: `server_single` is
/// busy serving the first client) ends that phase; the clients left connect on
/// their own threads once the clock runs, which is where `server_single`
/// makes them wait. The clock runs until the last client ends.
fn run_load(addr: SocketAddr, w: Workload, timeout: Duration, progress: bool) -> Report {
    let mut opened = Vec::with_capacity(w.clients);
    'opening: while opened.len() < w.clients {
        // A fresh socket sends its SYN at once: no 1 s retransmit timer.
        for _attempt in 0..4 {
            let connecting = Instant::now();
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(50).min(timeout)) {
                opened.push((stream, connecting.elapsed().as_micros() as u64));
                continue 'opening;
            }
        }
        break;
    }
    let mut opened = opened.into_iter();

    let done = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(w.clients + 1));
    let mut handles = Vec::with_capacity(w.clients);
    for id in 0..w.clients {
        let done = Arc::clone(&done);
        let barrier = Arc::clone(&barrier);
        let open = opened.next();
        let handle = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                barrier.wait();
                run_client(addr, id, w, timeout, open, &done)
            })
            .expect("start a client thread");
        handles.push(handle);
    }
    barrier.wait();
    let start = Instant::now();

    // A progress line on stderr once a run has lasted two seconds.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let monitor = progress.then(|| {
        let done = Arc::clone(&done);
        let total = (w.clients * w.rounds) as u64;
        thread::spawn(move || {
            let mut printed = false;
            let mut next = Duration::from_secs(2);
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stop_rx.recv_timeout(next.saturating_sub(start.elapsed()))
            {
                let n = done.load(Ordering::Relaxed);
                eprint!(
                    "\recho-bench: {n}/{total} round trips ({:.0}%), {} s ",
                    n as f64 * 100.0 / total.max(1) as f64,
                    start.elapsed().as_secs()
                );
                printed = true;
                next += Duration::from_secs(1);
            }
            if printed {
                eprintln!();
            }
        })
    });

    let mut report = Report { clients: w.clients, rounds: w.rounds, size: w.size, ..Default::default() };
    let mut latencies = Vec::with_capacity(w.clients * w.rounds);
    for handle in handles {
        let result = handle.join().expect("client thread panicked");
        latencies.extend_from_slice(&result.latencies_us);
        report.connect_max_us = report.connect_max_us.max(result.connect_us);
        report.errors += result.errors;
        report.mismatches += result.mismatches;
        if report.first_problem.is_none() {
            report.first_problem = result.first_problem;
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    drop(stop_tx);
    if let Some(monitor) = monitor {
        let _ = monitor.join();
    }
    latencies.sort_unstable();
    report.round_trips = latencies.len() as u64;
    report.p50_us = percentile(&latencies, 50.0);
    report.p99_us = percentile(&latencies, 99.0);
    report.max_us = percentile(&latencies, 100.0);
    report
}

/// The floor: the tightest echo loop, recv then send, on loopback TCP with
/// TCP_NODELAY like the servers, a thread per connection. `echo-bench
/// --echo-loop` runs it in a process of its own, as the servers run, and
/// prints a `listening on 127.0.0.1:PORT` line like theirs.
fn echo_loop() -> ! {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| {
        eprintln!("echo-bench: bind 127.0.0.1:0: {e}");
        std::process::exit(1);
    });
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("listening on 127.0.0.1:{port} (echo loop)");
    let _ = std::io::stdout().flush();
    for mut stream in listener.incoming().flatten() {
        let _ = stream.set_nodelay(true);
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    std::process::exit(1);
}

/// A peer started for a run; killed (by its PID) when dropped.
struct Running {
    addr: SocketAddr,
    child: Option<Child>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `command` (a server with `-p 0`, or the echo loop), reads its
/// `listening on 127.0.0.1:PORT` line, and drains the rest of its stdout
/// (connected/disconnected lines) on a thread.
fn start_listening(mut command: Command) -> Result<Running, String> {
    let what = format!("{:?}", command.get_program());
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    // ETXTBSY: a concurrent `make` is copying the binary into build/; wait.
    let mut tries = 0;
    let mut child = loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                thread::sleep(Duration::from_millis(100));
            }
            spawned => break spawned.map_err(|e| format!("cannot start {what}: {e}"))?,
        }
    };
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    let port = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok());
    let running =
        Running { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0))), child: Some(child) };
    if port.is_none() {
        return Err(format!("{what}: no listening line, got {line:?}"));
    }
    thread::spawn(move || {
        let mut sink = [0u8; 8192];
        while let Ok(1..) = stdout.get_mut().read(&mut sink) {}
    });
    Ok(running)
}

/// The floor's echo loop, in a process of its own (this program again).
fn start_floor(pin: Option<&str>) -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = pinned(pin, exe.as_os_str());
    command.arg("--echo-loop");
    start_listening(command)
}

/// `program`, or `taskset -c CPU program` when pinned to a CPU.
fn pinned(pin: Option<&str>, program: &std::ffi::OsStr) -> Command {
    match pin {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cpu]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The number after `"key":` in a one-line JSON report.
fn json_number(json: &str, key: &str) -> Option<f64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let text: String = json[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    text.parse().ok()
}

/// A load run from another echo-bench process pinned to `cpu` (the
/// affinity of this one cannot be changed without unsafe code).
fn run_load_pinned(addr: SocketAddr, w: Workload, timeout: Duration, cpu: &str) -> Report {
    let mut report = Report { clients: w.clients, rounds: w.rounds, size: w.size, ..Default::default() };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            report.errors = 1;
            report.first_problem = Some(format!("current_exe: {e}"));
            return report;
        }
    };
    let output = pinned(Some(cpu), exe.as_os_str())
        .args(["-c", &w.clients.to_string(), "-n", &w.rounds.to_string(), "-s", &w.size.to_string()])
        .args([
            "-t",
            &timeout.as_secs().to_string(),
            "--json",
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .stderr(Stdio::null())
        .output();
    let json = match output {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(e) => {
            report.errors = 1;
            report.first_problem = Some(format!("cannot run taskset: {e}"));
            return report;
        }
    };
    let get = |key: &str| json_number(&json, key);
    match (get("round_trips"), get("seconds"), get("errors"), get("mismatches")) {
        (Some(n), Some(seconds), Some(errors), Some(mismatches)) => {
            report.round_trips = n as u64;
            report.seconds = seconds;
            report.errors = errors as u64;
            report.mismatches = mismatches as u64;
            report.p50_us = get("p50_us").unwrap_or(0.0) as u64;
            report.p99_us = get("p99_us").unwrap_or(0.0) as u64;
            report.max_us = get("max_us").unwrap_or(0.0) as u64;
            report.connect_max_us = get("connect_max_us").unwrap_or(0.0) as u64;
            if report.errors + report.mismatches > 0 {
                report.first_problem = Some(json);
            }
        }
        _ => {
            report.errors = 1;
            report.first_problem = Some(format!("no report from the pinned echo-bench: {json:?}"));
        }
    }
    report
}

/// CPU time a process has used, its own and its reaped children's (socat's
/// forks), in µs, from /proc/PID/stat (clock ticks of 1/100 s: USER_HZ).
fn proc_cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the ")" that ends the command name: field 3 (state) onwards.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11..15)?.iter().map(|f| f.parse::<u64>().unwrap_or(0)).sum();
    Some(ticks as f64 * 10_000.0)
}

/// VmRSS and Threads of a process, from /proc (KiB, count).
fn proc_status(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

/// What `--idle` measured.
#[derive(Debug, Default)]
struct IdleReport {
    connections: usize,
    opened: usize,
    rss_before_kib: Option<u64>,
    rss_after_kib: Option<u64>,
    threads_after: Option<u64>,
    errors: u64,
    mismatches: u64,
    first_problem: Option<String>,
}

impl IdleReport {
    fn per_client_kib(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_kib?, self.rss_after_kib?);
        Some((after as f64 - before as f64) / self.opened.max(1) as f64)
    }

    fn ok(&self) -> bool {
        self.errors == 0 && self.mismatches == 0
    }

    fn json(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
        format!(
            "{{\"idle_connections\":{},\"opened\":{},\"rss_before_kib\":{},\"rss_after_kib\":{},\
             \"rss_per_client_kib\":{},\"threads_after\":{},\"errors\":{},\"mismatches\":{},\"first_problem\":{}}}",
            self.connections,
            self.opened,
            opt(self.rss_before_kib),
            opt(self.rss_after_kib),
            self.per_client_kib().map_or("null".to_string(), |v| format!("{v:.2}")),
            opt(self.threads_after),
            self.errors,
            self.mismatches,
            self.first_problem.as_deref().map_or("null".to_string(), json_string),
        )
    }

    fn text(&self) -> String {
        let mut out = format!("{} of {} idle connections open", self.opened, self.connections);
        if let (Some(before), Some(after)) = (self.rss_before_kib, self.rss_after_kib) {
            let _ = write!(
                out,
                "; server RSS {before} KiB before, {after} KiB after ({} threads): {:.1} KiB per idle client",
                self.threads_after.unwrap_or(0),
                self.per_client_kib().unwrap_or(0.0)
            );
        }
        let _ = writeln!(out, "\nerrors {}, mismatches {}", self.errors, self.mismatches);
        if let Some(problem) = &self.first_problem {
            let _ = writeln!(out, "first problem: {problem}");
        }
        out
    }
}

/// Opens `n` connections one by one, each checked with one echo, and keeps
/// them open. RSS is read from `pid` before the first and after the last.
fn open_idle(
    addr: SocketAddr,
    n: usize,
    pid: Option<u32>,
    timeout: Duration,
) -> (IdleReport, Vec<TcpStream>) {
    let mut report = IdleReport { connections: n, ..Default::default() };
    report.rss_before_kib = pid.and_then(proc_status).map(|s| s.0);
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        let line = format!("idle {i:06}\n").into_bytes();
        let mut step = || -> std::io::Result<Vec<u8>> {
            let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_nodelay(true)?;
            stream.write_all(&line)?;
            let mut echo = vec![0u8; line.len()];
            stream.read_exact(&mut echo)?;
            streams.push(stream);
            Ok(echo)
        };
        match step() {
            Ok(echo) if echo == line => {}
            Ok(_) => {
                report.mismatches += 1;
                report.first_problem.get_or_insert(format!("connection {i}: the echo differs"));
            }
            Err(err) => {
                report.errors += 1;
                report.first_problem.get_or_insert(format!("connection {i}: {err}"));
                break;
            }
        }
    }
    report.opened = streams.len();
    if let Some((rss, threads)) = pid.and_then(proc_status) {
        report.rss_after_kib = Some(rss);
        report.threads_after = Some(threads);
    }
    (report, streams)
}

// ---------------------------------------------------------------------------
// The command line of the single-run modes.

fn usage_error(message: &str) -> ! {
    eprint!("echo-bench: {message}\n{USAGE}");
    std::process::exit(2);
}

fn number<T>(name: &str, value: Option<String>, min: T) -> T
where
    T: std::str::FromStr + PartialOrd + Copy,
{
    let value = value.unwrap_or_else(|| usage_error(&format!("option {name} needs a value")));
    match value.parse::<T>() {
        Ok(v) if v >= min => v,
        _ => usage_error(&format!("bad value for {name}: {value}")),
    }
}

fn resolve(host: &str, port: &str) -> SocketAddr {
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => usage_error(&format!("bad port: {port}")),
    };
    match (host, port).to_socket_addrs().map(|mut a| a.find(SocketAddr::is_ipv4)) {
        Ok(Some(addr)) => addr,
        _ => {
            eprintln!("echo-bench: resolve {host}: no IPv4 address");
            std::process::exit(1);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("suite") {
        args.next();
        suite::main(args.collect());
    }

    let mut w = Workload { clients: 1, rounds: 1000, size: 64 };
    let mut timeout = Duration::from_secs(60);
    let (mut json, mut floor) = (false, false);
    let (mut idle, mut pid, mut hold) = (None::<usize>, None::<u32>, 0u64);
    let mut operands = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--clients" => w.clients = number(&arg, args.next(), 1),
            "-n" | "--rounds" => w.rounds = number(&arg, args.next(), 1),
            "-s" | "--size" => w.size = number(&arg, args.next(), 1),
            "-t" | "--timeout" => timeout = Duration::from_secs(number(&arg, args.next(), 1)),
            "--json" => json = true,
            "--floor" => floor = true,
            "--echo-loop" => echo_loop(),
            "--idle" => idle = Some(number(&arg, args.next(), 1)),
            "--pid" => pid = Some(number(&arg, args.next(), 1)),
            "--hold" => hold = number(&arg, args.next(), 0),
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            _ if arg.starts_with('-') && arg.len() > 1 => usage_error(&format!("unknown option {arg}")),
            _ => operands.push(arg),
        }
    }
    if w.size > MAX_SIZE {
        usage_error(&format!("a line is at most {MAX_SIZE} bytes"));
    }

    let floor_peer = floor.then(|| {
        start_floor(None).unwrap_or_else(|e| {
            eprintln!("echo-bench: {e}");
            std::process::exit(1);
        })
    });
    let addr = match (&floor_peer, operands.as_slice()) {
        (Some(peer), []) => peer.addr,
        (Some(_), _) => usage_error("--floor takes no HOST or PORT"),
        (None, [port]) => resolve("127.0.0.1", port),
        (None, [host, port]) => resolve(host, port),
        (None, _) => usage_error("expected [HOST] PORT"),
    };

    if let Some(n) = idle {
        let (report, streams) = open_idle(addr, n, pid, timeout);
        print!("{}", if json { report.json() + "\n" } else { report.text() });
        let _ = std::io::stdout().flush();
        thread::sleep(Duration::from_secs(hold));
        drop(streams);
        drop(floor_peer); // process::exit runs no destructors
        std::process::exit(if report.ok() { 0 } else { 1 });
    }

    let report = run_load(addr, w, timeout, true);
    drop(floor_peer); // process::exit runs no destructors
    let target = if floor { "floor".to_string() } else { addr.to_string() };
    print!("{}", if json { report.json(&target) + "\n" } else { report.text(&target) });
    std::process::exit(if report.ok() { 0 } else { 1 });
}

// ---------------------------------------------------------------------------
// `make bench`.

mod suite {
    use super::*;

    /// What a run is measured against.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Target {
        /// `build/{c,rust}/{server,server_single}`
        Server(&'static str, &'static str),
        Socat,
        Floor,
    }

    impl Target {
        fn name(self) -> String {
            match self {
                Target::Server(lang, program) => format!("{lang} {program}"),
                Target::Socat => "socat".into(),
                Target::Floor => "floor".into(),
            }
        }
    }

    const C_SERVER: Target = Target::Server("c", "server");
    const RUST_SERVER: Target = Target::Server("rust", "server");
    const C_SINGLE: Target = Target::Server("c", "server_single");
    const RUST_SINGLE: Target = Target::Server("rust", "server_single");
    const COLUMNS: [Target; 6] = [C_SERVER, RUST_SERVER, C_SINGLE, RUST_SINGLE, Target::Socat, Target::Floor];

    enum Kind {
        Load(Workload),
        Idle(usize),
    }

    struct Row {
        name: &'static str,
        kind: Kind,
        targets: Vec<Target>,
        /// The CPU that the server and the load generator both run on, if any.
        pin: Option<&'static str>,
    }

    fn fail(message: &str) -> ! {
        eprintln!("echo-bench suite: {message}");
        std::process::exit(1);
    }

    /// Starts a server with `-q` on a free port and reads its `listening`
    /// line; the rest of its stdout (connected/disconnected) is drained.
    fn start_server(build: &Path, lang: &str, program: &str, pin: Option<&str>) -> Running {
        let path = build.join(lang).join(program);
        let mut command = pinned(pin, path.as_os_str());
        command.args(["-b", "127.0.0.1", "-p", "0", "-q", "-t", "60"]);
        start_listening(command).unwrap_or_else(|e| fail(&format!("{e} (run make first)")))
    }

    fn socat_available() -> bool {
        Command::new("socat")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// socat as an echo peer no one here wrote: a process per connection
    /// (fork), echoing through a pipe, TCP_NODELAY like the servers.
    fn start_socat(pin: Option<&str>) -> Running {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| fail(&format!("no free port: {e}")));
        let child = pinned(pin, "socat".as_ref())
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=128"))
            .arg("PIPE")
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start socat: {e}")));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let running = Running { addr, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                fail("socat never started listening");
            }
            thread::sleep(Duration::from_millis(10));
        }
        running
    }

    fn start(build: &Path, target: Target, pin: Option<&str>) -> Running {
        match target {
            Target::Server(lang, program) => start_server(build, lang, program, pin),
            Target::Socat => start_socat(pin),
            Target::Floor => start_floor(pin).unwrap_or_else(|e| fail(&e)),
        }
    }

    fn taskset_available() -> bool {
        Command::new("taskset")
            .args(["-c", "0", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// One measured value of one run: round trips/s (and latencies) or KiB.
    #[derive(Clone)]
    enum Sample {
        Load(Report),
        Idle(f64),
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(|a, b| a.total_cmp(b));
        let n = values.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    }

    fn cpu_name() -> String {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = info
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|r| r.trim_start_matches([' ', '\t', ':']));
        let cores = thread::available_parallelism().map_or(0, |n| n.get());
        format!("{} x {}", cores, model.unwrap_or("unknown CPU"))
    }

    pub fn main(args: Vec<String>) -> ! {
        let mut build = PathBuf::from("build");
        let mut reps = 7usize;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--build" => {
                    build = args.next().map(PathBuf::from).unwrap_or_else(|| usage_error("--build DIR"))
                }
                "--reps" => reps = number("--reps", args.next(), 1),
                _ => usage_error(&format!("suite: unknown argument {arg}")),
            }
        }

        let socat = socat_available();
        let with_socat = |mut targets: Vec<Target>| {
            if socat {
                targets.push(Target::Socat);
            }
            targets
        };
        let servers = vec![C_SERVER, RUST_SERVER, C_SINGLE, RUST_SINGLE];
        let with_floor = |mut targets: Vec<Target>| {
            targets.push(Target::Floor);
            targets
        };
        let mut rows = vec![
            Row {
                name: "1 client x 64 B",
                kind: Kind::Load(Workload { clients: 1, rounds: 20_000, size: 64 }),
                targets: with_floor(with_socat(servers.clone())),
                pin: None,
            },
            // Both sides on one CPU: each wakes the other where it runs, with
            // no idle CPU to wake (this VM halts an idle vCPU at once, and
            // waking it costs tens of µs), so the figure no longer depends on
            // what else runs on the machine.
            Row {
                name: "1 client x 64 B, one core",
                kind: Kind::Load(Workload { clients: 1, rounds: 40_000, size: 64 }),
                targets: with_floor(with_socat(servers.clone())),
                pin: Some("0"),
            },
            Row {
                name: "16 clients x 64 B",
                kind: Kind::Load(Workload { clients: 16, rounds: 3_000, size: 64 }),
                targets: with_socat(servers.clone()),
                pin: None,
            },
            Row {
                name: "256 clients x 64 B",
                kind: Kind::Load(Workload { clients: 256, rounds: 500, size: 64 }),
                targets: servers.clone(),
                pin: None,
            },
            Row {
                name: "4 clients x 16 KiB",
                kind: Kind::Load(Workload { clients: 4, rounds: 1_200, size: 16 * 1024 }),
                targets: servers.clone(),
                pin: None,
            },
            Row {
                name: "1000 idle clients",
                kind: Kind::Idle(1000),
                targets: vec![C_SERVER, RUST_SERVER],
                pin: None,
            },
        ];
        if !taskset_available() {
            eprintln!("echo-bench suite: taskset not found: no one-core row");
            rows.retain(|row| row.pin.is_none());
        }

        let started = Instant::now();
        let load_before = load_average();
        let timeout = Duration::from_secs(60);
        let mut samples: Vec<Vec<Vec<Sample>>> =
            rows.iter().map(|_| vec![Vec::new(); COLUMNS.len()]).collect();
        let mut failed = false;
        for rep in 0..reps {
            for (r, row) in rows.iter().enumerate() {
                // A B A B ..., and B A B A on the next repetition, so that
                // neither side always runs first.
                let mut order = row.targets.clone();
                if rep % 2 == 1 {
                    order.reverse();
                }
                for target in order {
                    let running = start(&build, target, row.pin);
                    let column = COLUMNS.iter().position(|&c| c == target).unwrap();
                    let (sample, ok, summary) = match row.kind {
                        Kind::Load(w) => {
                            let pid = running.child.as_ref().map(Child::id);
                            let cpu_before = pid.and_then(proc_cpu_us);
                            let mut report = match row.pin {
                                Some(cpu) => run_load_pinned(running.addr, w, timeout, cpu),
                                None => run_load(running.addr, w, timeout, false),
                            };
                            // The server's threads see the last EOF and exit.
                            thread::sleep(Duration::from_millis(20));
                            if let (Some(before), Some(after)) = (cpu_before, pid.and_then(proc_cpu_us)) {
                                report.server_cpu_us =
                                    Some((after - before) / report.round_trips.max(1) as f64);
                            }
                            let summary = format!(
                                "{:.0} round trips/s, server CPU {:.1} us each, p50 {} us, p99 {} us, max {} us, \
                                 slowest connect {} us",
                                report.per_second(),
                                report.server_cpu_us.unwrap_or(f64::NAN),
                                report.p50_us,
                                report.p99_us,
                                report.max_us,
                                report.connect_max_us
                            );
                            (Sample::Load(report.clone()), report.ok(), (summary, report.first_problem))
                        }
                        Kind::Idle(n) => {
                            let pid = running.child.as_ref().map(Child::id);
                            let (report, streams) = open_idle(running.addr, n, pid, timeout);
                            drop(streams);
                            let kib = report.per_client_kib().unwrap_or(f64::NAN);
                            let summary = format!(
                                "{kib:.1} KiB per idle client ({} -> {} KiB, {} threads)",
                                report.rss_before_kib.unwrap_or(0),
                                report.rss_after_kib.unwrap_or(0),
                                report.threads_after.unwrap_or(0)
                            );
                            (Sample::Idle(kib), report.ok(), (summary, report.first_problem))
                        }
                    };
                    drop(running);
                    eprintln!(
                        "[{:>3} s] run {}/{reps}  {:<20} {:<20} {}{}",
                        started.elapsed().as_secs(),
                        rep + 1,
                        row.name,
                        target.name(),
                        summary.0,
                        if ok {
                            String::new()
                        } else {
                            format!("  FAILED: {}", summary.1.unwrap_or_default())
                        }
                    );
                    failed |= !ok;
                    samples[r][column].push(sample);
                }
            }
        }

        let load = format!("load average {load_before} before it started");
        print_table(&rows, &samples, reps, socat, started.elapsed(), &load);
        std::process::exit(if failed { 1 } else { 0 });
    }

    /// The 1-minute load average, read before the suite loads the machine
    /// itself (afterwards it mostly counts the suite's own 512 threads).
    fn load_average() -> String {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        text.split_whitespace().next().unwrap_or("?").to_string()
    }

    fn print_table(
        rows: &[Row],
        samples: &[Vec<Vec<Sample>>],
        reps: usize,
        socat: bool,
        took: Duration,
        load_note: &str,
    ) {
        let load = |s: &[Sample], f: &dyn Fn(&Report) -> f64| -> Option<f64> {
            let values: Vec<f64> =
                s.iter().filter_map(|s| if let Sample::Load(r) = s { Some(f(r)) } else { None }).collect();
            (!values.is_empty()).then(|| median(values))
        };
        let idle = |s: &[Sample]| -> Option<f64> {
            let values: Vec<f64> =
                s.iter().filter_map(|s| if let Sample::Idle(k) = s { Some(*k) } else { None }).collect();
            (!values.is_empty()).then(|| median(values))
        };
        let cell = |v: Option<f64>, decimals: usize| v.map_or("-".to_string(), |v| format!("{v:.decimals$}"));
        let ratio = |rust: Option<f64>, c: Option<f64>| match (rust, c) {
            (Some(r), Some(c)) if c > 0.0 => Some(r / c),
            _ => None,
        };
        let mark = |x: Option<f64>, ok: bool| match x {
            Some(x) => format!("{x:.2}{}", if ok { "" } else { " MISS" }),
            None => "-".into(),
        };
        let [cs, rs, c1, r1, so, fl] = [0, 1, 2, 3, 4, 5];

        println!();
        println!(
            "echo-bench suite: medians of {reps} runs, interleaved; {}; {} s; {load_note}",
            cpu_name(),
            took.as_secs()
        );
        println!(
            "Throughput in round trips per second (higher is better); Rust/C at least 0.97 is the target."
        );
        println!();
        println!("| workload | C server | Rust server | Rust/C | C server_single | Rust server_single | Rust/C | socat | floor |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut misses = Vec::new();
        let mut noise = Vec::new();
        for (row, s) in rows.iter().zip(samples) {
            if let Kind::Load(_) = row.kind {
                let rates = |col: usize| -> Vec<f64> {
                    s[col]
                        .iter()
                        .filter_map(|s| if let Sample::Load(r) = s { Some(r.per_second()) } else { None })
                        .collect()
                };
                let rate = |col: usize| load(&s[col], &|r| r.per_second());
                // The median, and half the range of the runs around it.
                let spread = |col: usize| {
                    let v = rates(col);
                    match rate(col) {
                        Some(m) if v.len() > 1 => {
                            let (lo, hi) =
                                v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                            format!("{m:.0} ±{:.0}%", (hi - lo) / 2.0 / m * 100.0)
                        }
                        m => cell(m, 0),
                    }
                };
                // Below 0.97 is a miss only when every Rust run was slower
                // than every C run; otherwise the runs overlap: noise.
                let mut verdict = |rust: usize, c: usize, which: &str| -> String {
                    let Some(x) = ratio(rate(rust), rate(c)) else { return "-".into() };
                    if x >= 0.97 {
                        return format!("{x:.2}");
                    }
                    let rust_max = rates(rust).into_iter().fold(f64::MIN, f64::max);
                    let c_min = rates(c).into_iter().fold(f64::MAX, f64::min);
                    let what = format!("{} {which}: Rust/C {x:.3}", row.name);
                    if rust_max < c_min && reps >= 3 {
                        misses.push(format!("{what} < 0.97, and every Rust run slower than every C run"));
                        format!("{x:.3} MISS")
                    } else {
                        noise.push(format!("{what} < 0.97, but the runs overlap (or fewer than 3 runs)"));
                        format!("{x:.3} ~")
                    }
                };
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    row.name,
                    spread(cs),
                    spread(rs),
                    verdict(rs, cs, "server"),
                    spread(c1),
                    spread(r1),
                    verdict(r1, c1, "server_single"),
                    if socat || rate(so).is_some() { spread(so) } else { "n/a".into() },
                    spread(fl),
                );
            }
        }
        println!();
        println!(
            "±: half the range of the runs, as a share of the median. ~: below 0.97 but within that range."
        );

        println!();
        println!("Latency per round trip in microseconds, p50 / p99 / max (medians over the runs).");
        println!();
        println!(
            "| workload | C server | Rust server | C server_single | Rust server_single | socat | floor |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (row, s) in rows.iter().zip(samples) {
            if let Kind::Load(_) = row.kind {
                let lat = |col: usize| {
                    let p50 = load(&s[col], &|r| r.p50_us as f64);
                    let p99 = load(&s[col], &|r| r.p99_us as f64);
                    let max = load(&s[col], &|r| r.max_us as f64);
                    match (p50, p99, max) {
                        (Some(a), Some(b), Some(c)) => format!("{a:.0} / {b:.0} / {c:.0}"),
                        _ => "-".into(),
                    }
                };
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    row.name,
                    lat(cs),
                    lat(rs),
                    lat(c1),
                    lat(r1),
                    lat(so),
                    lat(fl)
                );
            }
        }

        println!();
        println!(
            "Server CPU time (user + system) per round trip in microseconds (lower is better), medians; \
             less disturbed than the rates by other work on the machine."
        );
        println!();
        println!("| workload | C server | Rust server | Rust/C | C server_single | Rust server_single | Rust/C | socat | floor |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (row, s) in rows.iter().zip(samples) {
            if let Kind::Load(_) = row.kind {
                let cpu = |col: usize| {
                    let values: Vec<f64> = s[col]
                        .iter()
                        .filter_map(|s| if let Sample::Load(r) = s { r.server_cpu_us } else { None })
                        .collect();
                    (!values.is_empty()).then(|| median(values))
                };
                let x = |rust: usize, c: usize| {
                    ratio(cpu(rust), cpu(c)).map_or("-".into(), |x| format!("{x:.2}"))
                };
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    row.name,
                    cell(cpu(cs), 1),
                    cell(cpu(rs), 1),
                    x(rs, cs),
                    cell(cpu(c1), 1),
                    cell(cpu(r1), 1),
                    x(r1, c1),
                    cell(cpu(so), 1),
                    cell(cpu(fl), 1),
                );
            }
        }

        println!();
        println!(
            "Memory: server RSS growth per idle client, KiB (lower is better); at most 64 is the target."
        );
        println!();
        println!("| workload | C server | Rust server | Rust/C |");
        println!("|---|---:|---:|---:|");
        for (row, s) in rows.iter().zip(samples) {
            if let Kind::Idle(_) = row.kind {
                let (c, rust) = (idle(&s[cs]), idle(&s[rs]));
                let x = ratio(rust, c);
                for (name, v) in [("C server", c), ("Rust server", rust)] {
                    if v.is_some_and(|v| v > 64.0) {
                        misses.push(format!("{}: {name} {:.1} KiB > 64 KiB", row.name, v.unwrap()));
                    }
                }
                if x.is_some_and(|x| x > 1.0 / 0.97) {
                    misses.push(format!("{}: Rust/C memory {:.2} > 1.03", row.name, x.unwrap()));
                }
                println!(
                    "| {} | {} | {} | {} |",
                    row.name,
                    cell(c, 1),
                    cell(rust, 1),
                    mark(x, x.is_none_or(|x| x <= 1.0 / 0.97))
                );
            }
        }

        // The distance to the floor: the 1-client 64-byte rows.
        for (row, s) in
            rows.iter().zip(samples).filter(|(r, _)| matches!(r.kind, Kind::Load(w) if w.clients == 1))
        {
            let floor = load(&s[fl], &|r| r.per_second());
            let rates = |col: usize| -> Vec<f64> {
                s[col]
                    .iter()
                    .filter_map(|s| if let Sample::Load(r) = s { Some(r.per_second()) } else { None })
                    .collect()
            };
            println!();
            println!("Distance to the floor ({}: floor round trips/s over the server's; at most 1.30 is the target):", row.name);
            for col in [cs, rs, c1, r1, so] {
                if let (Some(f), Some(v)) = (floor, load(&s[col], &|r| r.per_second())) {
                    let x = f / v;
                    let target = col != so;
                    // As for Rust/C: a miss only if the runs do not overlap.
                    let floor_min = rates(fl).into_iter().fold(f64::MAX, f64::min);
                    let server_max = rates(col).into_iter().fold(f64::MIN, f64::max);
                    let apart = floor_min > server_max && reps >= 3;
                    let what = format!("{}: {} is {x:.2}x the floor > 1.30", row.name, COLUMNS[col].name());
                    let mark = match (target && x > 1.3, apart) {
                        (false, _) => "",
                        (true, true) => {
                            misses.push(what);
                            " MISS"
                        }
                        (true, false) => {
                            noise.push(format!("{what}, but the runs overlap (or fewer than 3 runs)"));
                            " ~"
                        }
                    };
                    println!("  {:<20} {x:.2}x{mark}", COLUMNS[col].name());
                }
            }
        }
        println!();
        if !noise.is_empty() {
            println!("Below target but within the run-to-run spread (rerun on a quiet machine):");
            for n in noise {
                println!("  {n}");
            }
        }
        if misses.is_empty() {
            println!("All targets met.");
        } else {
            println!("Targets missed:");
            for m in misses {
                println!("  {m}");
            }
        }
    }
}
