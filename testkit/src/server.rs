//! A server running, and which servers a suite runs: programs.txt decides,
//! so a server added there is in every suite that runs "every server".

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

pub use programs::{Model, Program};

use crate::process::{bin, wait_bounded, Collector, Lang, LANGS};
use crate::wait::DEADLINE;

/// Every server over plain TCP, from programs.txt: each TCP suite runs them
/// all. What a program is, a test asks its line of the list
/// (`programs::get(name).is_event_loop()`, `.forks()`, `.model`), never its name.
pub fn servers() -> Vec<&'static str> {
    programs::tcp_servers().into_iter().map(|p| p.name).collect()
}

/// Every TCP server in C and in Rust: what "for every server" means in
/// every suite, whether it loops over this list, runs [`for_every_server`]
/// or [`every_pairing`].
pub fn every_server() -> Vec<(Lang, &'static str)> {
    every_server_where(|_| true)
}

/// The servers of [`every_server`] that `keep` says a check is about
/// (`|p| p.forks()`, `|p| p.model == Model::Single`), so a new server with
/// that property joins the check.
pub fn every_server_where(keep: impl Fn(&Program) -> bool) -> Vec<(Lang, &'static str)> {
    let kept = servers().into_iter().filter(|name| keep(programs::get(name)));
    let all = kept.flat_map(|name| LANGS.map(|lang| (lang, name)));
    all.filter(|&(lang, _)| !c_only() || lang == Lang::C).collect()
}

/// Under `make sanitize` (`SOCKETS_C_DIR` points the C side at a sanitizer
/// build) the suites run only what has C in it: a Rust server alone, or a
/// Rust client against one, puts no C under the sanitizer.
pub fn c_only() -> bool {
    std::env::var_os("SOCKETS_C_DIR").is_some()
}

/// Every client language against every server of [`every_server`]:
/// `(client, server, program)`, the C client against the C server first
/// (under [`c_only`], every pairing with a C side: C servers run with both
/// clients there, so only Rust against Rust is left out).
pub fn pairings() -> Vec<(Lang, Lang, &'static str)> {
    let servers = servers().into_iter().flat_map(|name| LANGS.map(|lang| (lang, name)));
    let all = servers.flat_map(|(server, program)| LANGS.map(|client| (client, server, program)));
    all.filter(|&(client, server, _)| !c_only() || client == Lang::C || server == Lang::C).collect()
}

/// Runs `check` for every server of [`every_server`], all at once, and
/// names each one that failed.
pub fn for_every_server(check: impl Fn(Lang, &str) + Sync) {
    in_parallel(
        every_server(),
        |(lang, program)| format!("{lang:?} {program}"),
        |(lang, program)| check(lang, program),
    );
}

/// Runs `check(lang, program)` for every server [`every_server_where`]
/// keeps, all at once, and names each one that failed.
pub fn for_every_server_where(keep: impl Fn(&Program) -> bool, check: impl Fn(Lang, &str) + Sync) {
    in_parallel(
        every_server_where(keep),
        |(lang, program)| format!("{lang:?} {program}"),
        |(lang, program)| check(lang, program),
    );
}

/// Runs `check(client, server, program)` for every pairing of
/// [`pairings`], all at once, and names each one that failed.
pub fn every_pairing(check: impl Fn(Lang, Lang, &str) + Sync) {
    in_parallel(
        pairings(),
        |(client, server, program)| format!("{client:?} client -> {server:?} {program}"),
        |(client, server, program)| check(client, server, program),
    );
}

/// `check` on every item on a thread of its own; panics naming the items
/// whose check panicked (each one's own message is printed as it happens).
fn in_parallel<T: Copy + Send>(items: Vec<T>, name: impl Fn(T) -> String, check: impl Fn(T) + Sync) {
    thread::scope(|scope| {
        let check = &check;
        let handles: Vec<_> =
            items.into_iter().map(|item| (item, scope.spawn(move || check(item)))).collect();
        let failed: Vec<String> = handles
            .into_iter()
            .filter_map(|(item, handle)| handle.join().err().map(|_| name(item)))
            .collect();
        assert!(failed.is_empty(), "failed for: {}", failed.join(", "));
    });
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
