//! The shared test helper: starts and stops the real binaries (C and Rust),
//! built by `make` into `build/c/` and `build/rust/`.
//!
//! Servers always run with `-p 0` (on `-b 127.0.0.1` unless a test binds
//! `::1` or `::`): the kernel picks a free port and the `listening` line says
//! which, so tests never collide on a fixed port. Waiting is for a line of output, with a deadline, never a bare sleep.
//! Every process is ended by its PID, and every wait is bounded.
#![allow(dead_code)] // each test file uses its own part of this helper

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core CI machine; a passing test never waits it out.
pub const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Rust,
}

pub const LANGS: [Lang; 2] = [Lang::C, Lang::Rust];
/// Every server over plain TCP, from programs.txt: each TCP suite runs them all.
pub fn servers() -> Vec<&'static str> {
    programs::tcp_servers().into_iter().map(|p| p.name).collect()
}

impl Lang {
    pub fn dir(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Rust => "rust",
        }
    }
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `build/{c,rust}/PROGRAM`; the tests run what `make` built.
/// `SOCKETS_C_DIR=build/asan` (relative to the root, or absolute) points the C
/// side at another build, such as the sanitizer builds of `make sanitize`.
pub fn bin(lang: Lang, program: &str) -> PathBuf {
    let dir = match (lang, std::env::var_os("SOCKETS_C_DIR")) {
        (Lang::C, Some(dir)) => root().join(dir),
        _ => root().join("build").join(lang.dir()),
    };
    let path = dir.join(program);
    assert!(path.exists(), "{} is missing: run `make test`, which builds it first", path.display());
    path
}

/// What a finished process left: exit status, stdout, stderr.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A pipe read to its end by a thread, so the child never blocks on a full
/// pipe; what has arrived so far can be looked at while it runs.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
}

impl Collector {
    fn new(mut pipe: impl Read + Send + 'static) -> Collector {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let reader = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Collector { buf, reader }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    /// Everything, once the pipe's writer is gone (the child has exited).
    fn finish(self) -> Vec<u8> {
        let _ = self.reader.join();
        Arc::try_unwrap(self.buf).map(|m| m.into_inner().unwrap()).unwrap_or_default()
    }
}

/// Waits for `child` until `deadline`; kills it (by PID, it is ours) if it
/// is still running then, and says so.
pub fn wait_bounded(child: &mut Child, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} still running after {:?}: killed", child.id(), deadline);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a command to its end with `stdin` as its input, within `deadline`.
pub fn run(mut command: Command, stdin: &[u8], deadline: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = Collector::new(child.stdout.take().unwrap());
    let stderr = Collector::new(child.stderr.take().unwrap());
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // A client that exits early closes its stdin: a failed write is fine.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let status = wait_bounded(&mut child, deadline);
    let _ = writer.join();
    Output { status, stdout: stdout.finish(), stderr: stderr.finish() }
}

/// Runs `build/LANG/PROGRAM ARGS` to its end; see [`run`].
pub fn run_program(lang: Lang, program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(bin(lang, program));
    command.args(args);
    run(command, stdin, DEADLINE)
}

/// The client against `port` on 127.0.0.1, with extra options before HOST.
pub fn run_client(lang: Lang, options: &[&str], port: u16, stdin: &[u8]) -> Output {
    run_client_at(lang, options, "127.0.0.1", port, stdin)
}

/// The client against `host` (`::1`, `localhost`...) and `port`.
pub fn run_client_at(lang: Lang, options: &[&str], host: &str, port: u16, stdin: &[u8]) -> Output {
    let port = port.to_string();
    let mut args = options.to_vec();
    args.extend([host, &port]);
    run_program(lang, "client", &args, stdin)
}

/// A client process still running, for tests that need it alive.
pub struct RunningClient {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    stdout: Option<Collector>,
    stderr: Option<Collector>,
}

impl RunningClient {
    pub fn start(lang: Lang, options: &[&str], port: u16) -> RunningClient {
        RunningClient::start_at(lang, options, "127.0.0.1", port)
    }

    /// As `start`, against `host`.
    pub fn start_at(lang: Lang, options: &[&str], host: &str, port: u16) -> RunningClient {
        let mut child = Command::new(bin(lang, "client"))
            .args(options)
            .args([host, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client");
        let stdout = Some(Collector::new(child.stdout.take().unwrap()));
        let stderr = Some(Collector::new(child.stderr.take().unwrap()));
        let stdin = child.stdin.take();
        RunningClient { child, stdin, stdout, stderr }
    }

    pub fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(data).expect("write to client stdin");
        stdin.flush().unwrap();
    }

    /// Waits until the client's stdout contains `needle`.
    pub fn wait_for_stdout(&self, needle: &str) {
        let start = Instant::now();
        while !self.stdout_text().contains(needle) {
            assert!(
                start.elapsed() < DEADLINE,
                "client never printed {needle:?}; stdout: {}",
                self.stdout_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.as_ref().map(Collector::text).unwrap_or_default()
    }

    /// Closes stdin (EOF) if still open and waits for the client to end.
    pub fn finish(mut self) -> Output {
        drop(self.stdin.take());
        self.wait_exit()
    }

    /// Waits for the client to end by itself, stdin left as it is.
    pub fn wait_exit(mut self) -> Output {
        let status = wait_bounded(&mut self.child, DEADLINE);
        let stdout = self.stdout.take().map(Collector::finish).unwrap_or_default();
        let stderr = self.stderr.take().map(Collector::finish).unwrap_or_default();
        Output { status, stdout, stderr }
    }
}

impl Drop for RunningClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether `tool` runs at all (`tool probe_arg`, e.g. `--version`). If not,
/// the check cannot run here: see [`skip`], with the Debian package to
/// install. .ci/run installs every tool the tests use.
pub fn have(tool: &str, probe_arg: &str) -> bool {
    let found = Command::new(tool).arg(probe_arg).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if found.is_err() {
        skip(&format!("{tool} is not installed"), &format!("apt-get install {}", debian_package(tool)));
    }
    found.is_ok()
}

/// The Debian package that has `tool` (the names .ci/run installs).
fn debian_package(tool: &str) -> &str {
    match tool {
        "nc" => "netcat-openbsd",
        "ip" | "ss" => "iproute2",
        "nft" => "nftables",
        "ps" => "procps",
        "rsvg-convert" => "librsvg2-bin",
        "unshare" => "util-linux",
        other => other, // strace, socat, python3, tcpdump, valgrind
    }
}

/// The file `make test` reads for its summary of skipped checks (it empties
/// the file first): one line per skip, `CHECK<tab>WHY<tab>REMEDY`.
/// `SOCKETS_SKIP_LOG` puts it elsewhere.
pub fn skip_log() -> PathBuf {
    std::env::var_os("SOCKETS_SKIP_LOG")
        .map_or_else(|| root().join("build/skipped-checks.txt"), PathBuf::from)
}

/// A check that cannot run on this machine (a tool is missing, it needs
/// root), and what would make it run (`apt-get install socat`). A skipped
/// check must never look like a passing one: under CI (`CI=true`) it fails;
/// otherwise it is written to [`skip_log`] for the summary that ends
/// `make test`, and the caller returns.
pub fn skip(why: &str, remedy: &str) {
    // libtest runs each test on a thread named after it.
    let test = thread::current().name().filter(|name| *name != "main").map(String::from);
    let check = match test {
        Some(test) => format!("{}::{test}", env!("CARGO_CRATE_NAME")),
        None => env!("CARGO_CRATE_NAME").to_string(),
    };
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{check} cannot run: {why}. Under CI every check must run: {remedy} (or run .ci/run)");
    }
    eprintln!("SKIPPED: {why} ({remedy})");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // One write of a short line with O_APPEND: lines from tests running at
    // the same time never mix.
    let line = format!("{check}\t{why}\t{remedy}\n");
    let appended = std::fs::OpenOptions::new().create(true).append(true).open(&log);
    appended.and_then(|mut file| file.write_all(line.as_bytes())).unwrap_or_else(|e| {
        panic!("{check} skipped ({why}), and the skip cannot be recorded in {}: {e}", log.display())
    });
}

/// A hosts file in which `sbs-dual` has both families, IPv6 first, seen by
/// one command only: it runs in a mount namespace of its own (`unshare -m`,
/// which needs root) with the file bound over /etc/hosts. Nothing else on
/// the machine sees it.
pub struct DualHost {
    hosts: PathBuf,
}

impl DualHost {
    pub const NAME: &'static str = "sbs-dual";

    /// None (and the check recorded as skipped) where it cannot be had.
    pub fn new() -> Option<DualHost> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout == b"0\n");
        if !root {
            skip(
                "a private /etc/hosts for one command needs root (unshare -m)",
                "run make test as root (.ci/run does)",
            );
            return None;
        }
        if !have("unshare", "--version") {
            return None;
        }
        let name = format!("hosts-{}-{}", std::process::id(), thread::current().name().unwrap_or("main"));
        let hosts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name.replace("::", "-"));
        std::fs::write(&hosts, format!("::1 {0}\n127.0.0.1 {0}\n", DualHost::NAME))
            .expect("write the hosts file");
        Some(DualHost { hosts })
    }

    /// `program ARGS` with the hosts file over /etc/hosts.
    pub fn command(&self, program: &std::ffi::OsStr, args: &[&std::ffi::OsStr]) -> Command {
        let mut command = Command::new("unshare");
        command.args(["-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\""]).arg(&self.hosts);
        command.arg(program).args(args);
        command
    }
}

impl Drop for DualHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.hosts);
    }
}

/// A running server: `build/LANG/PROGRAM -b 127.0.0.1 -p 0 ARGS`.
pub struct Server {
    pub lang: Lang,
    pub program: String,
    pub port: u16,
    /// The address `connect` reaches it at: the `-b` address, or the
    /// loopback address of its family for `0.0.0.0` and `::`.
    pub host: IpAddr,
    child: Child,
    lines: Receiver<String>,
    /// Every stdout line read so far, in order.
    pub log: Vec<String>,
    stderr: Collector,
}

impl Server {
    /// Starts the server and waits for its `listening` line.
    pub fn start(lang: Lang, program: &str, args: &[&str]) -> Server {
        Server::start_with(lang, program, args, |_| {})
    }

    /// As `start`, with a chance to adjust the command (a wrapper such as
    /// strace goes in `args` of a new Command instead: see `start_command`).
    pub fn start_with(lang: Lang, program: &str, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Server {
        let mut command = Command::new(bin(lang, program));
        command.args(["-b", "127.0.0.1", "-p", "0"]).args(args);
        adjust(&mut command);
        Server::start_command(lang, program, command)
    }

    /// As `start`, bound to `bind` (`::1`, `::`, ...) instead of 127.0.0.1.
    pub fn start_bound(lang: Lang, program: &str, bind: &str, args: &[&str]) -> Server {
        let mut command = Command::new(bin(lang, program));
        command.args(["-b", bind, "-p", "0"]).args(args);
        let mut server = Server::start_command(lang, program, command);
        server.host = match bind.parse().unwrap_or_else(|_| panic!("-b {bind} is not an address")) {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        server
    }

    /// Starts any command that ends in a server's command line (under strace,
    /// valgrind...) and waits for its `listening` line.
    pub fn start_command(lang: Lang, program: &str, mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = Collector::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                let text = String::from_utf8_lossy(&line).trim_end_matches('\n').to_string();
                if tx.send(text).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut server = Server {
            lang,
            program: program.to_string(),
            port: 0,
            host,
            child,
            lines,
            log: Vec::new(),
            stderr,
        };
        let listening = server.wait_for("listening on ");
        // `listening on 127.0.0.1:PORT (...` or `listening on [::1]:PORT (...`
        let address = listening.split(' ').nth(2).unwrap_or("");
        let port = address.rsplit_once(':').and_then(|(_, port)| port.parse().ok());
        server.port = port.unwrap_or_else(|| panic!("no port in {listening:?}"));
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// A raw TCP connection to the server, for byte-level tests.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr()).expect("connect to server");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    /// The next stdout line that contains `needle` (earlier lines are kept in
    /// `log`). Panics with the log if none comes within the deadline.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_for_within(needle, DEADLINE).unwrap_or_else(|| {
            panic!(
                "{:?} {} never printed {needle:?}; stdout so far:\n{}\nstderr:\n{}",
                self.lang,
                self.program,
                self.log.join("\n"),
                self.stderr_text()
            )
        })
    }

    /// As `wait_for`, but None after `within` instead of a panic.
    pub fn wait_for_within(&mut self, needle: &str, within: Duration) -> Option<String> {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Lines that arrive within `within`, without waiting for any in particular.
    pub fn drain(&mut self, within: Duration) -> Vec<String> {
        let end = Instant::now() + within;
        let mut got = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(end.saturating_duration_since(Instant::now())) {
            self.log.push(line.clone());
            got.push(line);
        }
        got
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Sends a signal to the server (by its PID).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("kill");
    }

    /// SIGTERM, then waits (bounded) for the exit; returns the status and the
    /// whole stdout log.
    pub fn stop(self) -> (ExitStatus, Vec<String>) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait_exit()
    }

    /// Waits (bounded) for the server to exit by itself, after a signal sent
    /// with `signal`; returns the status and the whole stdout log.
    pub fn wait_exit(mut self) -> (ExitStatus, Vec<String>) {
        let status = wait_bounded(&mut self.child, DEADLINE);
        self.drain(Duration::from_millis(200));
        (status, std::mem::take(&mut self.log))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `data` on a raw connection, half-closes, and reads everything the
/// server sends back until it closes.
pub fn exchange(server: &Server, data: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    stream.write_all(data).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).expect("read echo");
    echoed
}

/// Replaces every `:PORT` of 127.0.0.1 and 0.0.0.0 addresses, and of IPv6
/// ones (`[::1]:PORT`), with `:PORT`, so logs of different runs compare byte
/// for byte.
pub fn normalise_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let markers = [".0.0.1:", ".0.0.0:", "]:"];
    while let Some((i, marker)) = markers.iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min() {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(if digits > 0 { "PORT" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Whether a server's log line ends a session (SPEC "Server output"):
/// `[PEER] quit`, `disconnected`, `idle for N s, closing` or `error: ...`.
pub fn is_session_end(line: &str) -> bool {
    let event = line.split_once("] ").map_or("", |(_, event)| event);
    event == "quit"
        || event == "disconnected"
        || event.starts_with("idle for ")
        || event.starts_with("error: ")
}

/// Waits for the next line containing `prefix` (e.g. `[127.0.0.1:PORT] `, or
/// `] ` for any peer) that ends a session; None if none comes within
/// `within`, so a caller can still show what it got as a diff.
pub fn wait_for_session_end(server: &mut Server, prefix: &str, within: Duration) -> Option<String> {
    let end = Instant::now() + within;
    loop {
        let line = server.wait_for_within(prefix, end.saturating_duration_since(Instant::now()))?;
        if is_session_end(&line) {
            return Some(line);
        }
    }
}

/// How many lines of a diff an assertion message shows at most.
const DIFF_MAX_LINES: usize = 80;

/// Lines longer than `width` characters cut into rows, each continuation
/// starting with `  ...`, so that a diff of long lines (a 1024-byte piece,
/// escaped) points at the part that differs.
pub fn wrap_long_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        for (i, row) in chars.chunks(width.max(1)).enumerate() {
            out.push_str(if i == 0 { "" } else { "  ..." });
            out.extend(row);
            out.push('\n');
        }
        if chars.is_empty() {
            out.push('\n');
        }
    }
    out
}

/// A unified-style line diff of `expected` and `got` (`-` expected, `+` got,
/// three lines of context), for assertion messages that show what drifted.
/// Empty when they are equal.
pub fn unified_diff(expected_name: &str, expected: &str, got_name: &str, got: &str) -> String {
    if expected == got {
        return String::new();
    }
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    // Longest common subsequence table, from the ends (inputs are small).
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops: Vec<(char, &str)> = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change =
        |k: usize| ops[k.saturating_sub(3)..(k + 4).min(ops.len())].iter().any(|(op, _)| *op != ' ');
    let mut out = format!("--- {expected_name}\n+++ {got_name}\n");
    let mut skipped = true;
    let mut shown = 0;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if shown == DIFF_MAX_LINES {
                let left = (k..ops.len()).filter(|&k| near_change(k)).count();
                out.push_str(&format!("... ({left} more lines of diff)\n"));
                break;
            }
            if skipped {
                out.push_str("@@\n");
            }
            out.push_str(&format!("{op}{line}\n"));
            skipped = false;
            shown += 1;
        } else {
            skipped = true;
        }
    }
    if expected.ends_with('\n') != got.ends_with('\n') {
        out.push_str("(the two differ in the final newline)\n");
    }
    out
}

/// A number field of `/proc/PID/status`, such as `Threads` or `VmRSS` (kB).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let prefix = format!("{field}:");
    let line =
        status.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {field} in status"));
    line[prefix.len()..].split_whitespace().next().and_then(|n| n.parse().ok()).expect("a number")
}

/// How many descriptors the process has open (`/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd").count()
}

/// The child processes of `pid` (of each of its threads), by PID: a
/// server_fork's clients, and its zombies until it reaps them.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new(); // the process is gone
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

/// Descriptors, threads and child processes of a process, to see that it
/// gives back what a burst of clients took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub fds: usize,
    pub threads: u64,
    pub children: usize,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        Usage { fds: open_fds(pid), threads: proc_status(pid, "Threads"), children: children_of(pid).len() }
    }

    /// Polls until the process is back at `self`, within `within`; panics
    /// with the last usage seen otherwise.
    pub fn wait_back(self, pid: u32, within: Duration) {
        let end = Instant::now() + within;
        loop {
            let now = Usage::of(pid);
            if now == self {
                return;
            }
            assert!(Instant::now() < end, "pid {pid} did not return to {self:?} within {within:?}: {now:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The SPEC's escaping ("Server output", "Escaping"), written here from the
/// text of the rule rather than taken from the programs: printable ASCII as
/// is, `\\`, `\t`, `\r`, `\n`; a well-formed UTF-8 sequence of a printable
/// code point from U+00A0 up as it is; every other byte `\xHH`.
pub fn spec_escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => match utf8_char(&bytes[i..]) {
                Some((c, len)) if shown_as_text(c) => {
                    out.push(c);
                    i += len;
                    continue;
                }
                // One byte at a time: the rest of an invisible character's
                // sequence is continuation bytes, escaped as well.
                _ => out.push_str(&format!("\\x{b:02x}")),
            },
        }
        i += 1;
    }
    out
}

/// The code point a well-formed UTF-8 sequence at the start of `bytes`
/// encodes, and the sequence's length; None if it is not one. Written from
/// the definition (RFC 3629): a lead byte 110xxxxx, 1110xxxx or 11110xxx,
/// then 1, 2 or 3 bytes 10xxxxxx; the shortest form only (no overlongs), no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
fn utf8_char(bytes: &[u8]) -> Option<(char, usize)> {
    let lead = *bytes.first()?;
    let (len, bits, min) = match lead {
        _ if lead & 0b1110_0000 == 0b1100_0000 => (2, lead & 0b0001_1111, 0x80),
        _ if lead & 0b1111_0000 == 0b1110_0000 => (3, lead & 0b0000_1111, 0x800),
        _ if lead & 0b1111_1000 == 0b1111_0000 => (4, lead & 0b0000_0111, 0x1_0000),
        _ => return None,
    };
    let tail = bytes.get(1..len)?;
    let mut code = u32::from(bits);
    for &b in tail {
        if b & 0b1100_0000 != 0b1000_0000 {
            return None;
        }
        code = code << 6 | u32::from(b & 0b0011_1111);
    }
    if code < min || (0xd800..=0xdfff).contains(&code) || code > 0x10_ffff {
        return None;
    }
    char::from_u32(code).map(|c| (c, len))
}

/// SPEC "Escaping": a code point from U+00A0 up shows as itself, except the
/// invisible ones that hide or reorder text on a terminal.
fn shown_as_text(c: char) -> bool {
    let invisible = matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}');
    c >= '\u{a0}' && !invisible
}

/// Runs `check` for every client against every server, all at once.
pub fn every_pairing(check: impl Fn(Lang, Lang, &str) + Sync) {
    thread::scope(|scope| {
        let check = &check;
        for program in servers() {
            for server in LANGS {
                for client in LANGS {
                    scope.spawn(move || check(client, server, program));
                }
            }
        }
    });
}

/// Raises this process's RLIMIT_NOFILE to at least `need` before a server is
/// started, so that the server (which inherits it) and the clients here both
/// have room: one descriptor per client on each side.
pub fn raise_nofile(need: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft >= need {
        return;
    }
    setrlimit(Resource::RLIMIT_NOFILE, need, hard.max(need))
        .unwrap_or_else(|err| panic!("RLIMIT_NOFILE is {soft}/{hard} and cannot be raised to {need}: {err}"));
}

/// `[127.0.0.1:PORT] `, the prefix of the server's log lines about `stream`.
pub fn peer_of(stream: &TcpStream) -> String {
    format!("[{}] ", stream.local_addr().unwrap())
}

/// Polls `done` until it holds, within `within`; returns how long it took.
pub fn wait_until_within(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

/// Polls `done` until it holds, within [`DEADLINE`]; returns how long it took.
pub fn wait_until(what: &str, done: impl FnMut() -> bool) -> Duration {
    wait_until_within(what, DEADLINE, done)
}

/// The bytes the server listening on `port` has left unread, over all its
/// connections (`/proc/net/tcp`: local port, ESTABLISHED, rx_queue).
pub fn unread_bytes(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let rx_queue = fields[4].rsplit(':').next().and_then(|q| u64::from_str_radix(q, 16).ok());
            (local_port == Some(port) && fields[3] == "01").then_some(rx_queue).flatten()
        })
        .sum()
}

/// Waits until the server on `port` has stopped reading: bytes wait unread
/// and their count has not moved for 200 ms (a server that still reads a
/// client that is still sending would move it every millisecond).
pub fn wait_stopped_reading(what: &str, port: u16) {
    let start = Instant::now();
    let (mut unread, mut since) = (unread_bytes(port), Instant::now());
    loop {
        thread::sleep(Duration::from_millis(10));
        let now = unread_bytes(port);
        if now != unread {
            (unread, since) = (now, Instant::now());
        } else if unread > 0 && since.elapsed() >= Duration::from_millis(200) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "not within {DEADLINE:?}: {what} (unread: {unread})");
    }
}
