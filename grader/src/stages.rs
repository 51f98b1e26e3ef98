//! THE list of stages (SPEC "The grader"): the text report, the JSON, the
//! JUnit, the class table and the docs are all made from `STAGES`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::exchange::{mismatch, quoted, Conn, End, Fail, Log};
use crate::sandbox::{open_fds, proc_stat, Abilities, Exit, Launch, Output, Running};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// `concurrent`: clients served at the same time; `single`: one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Concurrent,
    Single,
}

/// A stage's time limit: fixed, or a multiple of the idle timeout plus a margin.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Secs(u64),
    Timeouts(u64, u64),
}

impl Limit {
    pub fn of(self, timeout: u32) -> Duration {
        match self {
            Limit::Secs(s) => Duration::from_secs(s),
            Limit::Timeouts(n, plus) => Duration::from_secs(n * u64::from(timeout) + plus),
        }
    }
}

pub type StageFn = fn(&mut Ctx) -> Result<(), Fail>;

pub struct Stage {
    pub slug: &'static str,
    pub title: &'static str,
    pub role: Role,
    /// None: every model.
    pub model: Option<Model>,
    pub strict: bool,
    /// It does not need the program of the stages before it: it starts one
    /// of its own (the server, a fresh client) or reads what they left.
    pub fresh: bool,
    pub limit: Limit,
    pub run: StageFn,
}

const fn stage(slug: &'static str, title: &'static str, role: Role, limit: Limit, run: StageFn) -> Stage {
    Stage { slug, title, role, model: None, strict: false, fresh: false, limit, run }
}

const fn strict(mut s: Stage) -> Stage {
    s.strict = true;
    s
}

const fn fresh(mut s: Stage) -> Stage {
    s.fresh = true;
    s
}

const fn only(model: Model, mut s: Stage) -> Stage {
    s.model = Some(model);
    s
}

use Limit::{Secs, Timeouts};
use Role::{Client as C, Server as S};

pub static STAGES: &[Stage] = &[
    fresh(stage("start", "starts the program and connects, retrying for up to 5 s", S, Secs(6), start)),
    stage("echo", "sends hello\\n; it comes back within 2 s", S, Secs(3), echo),
    stage("lines", "sends 100 different lines in one write; all come back in order", S, Secs(6), lines),
    stage("split", "sends one line a byte at a time, 10 ms apart; it comes back whole", S, Secs(5), split),
    stage("long", "a 5,000-byte line, then a line holding \\x00 \\x01 \\xff \\r", S, Secs(6), long),
    stage(
        "quit",
        "quit\\n and quit\\r\\n end the session; quit now\\n and xquit\\n are echoed",
        S,
        Secs(8),
        quit,
    ),
    stage("concurrent", "A connects and stays silent; B connects and sends a line", S, Secs(5), concurrent),
    stage(
        "timeout",
        "a silent client is closed after the idle timeout; an active one is not",
        S,
        Timeouts(3, 6),
        timeout,
    ),
    stage("reset", "a client resets its connection before reading its echo", S, Secs(7), reset),
    stage(
        "sigpipe",
        "a client sends lines, never reads, and resets once its writes block",
        S,
        Secs(10),
        sigpipe,
    ),
    only(
        Model::Concurrent,
        stage("hog", "a client sends 8 MiB and never reads; another is still served", S, Secs(6), hog),
    ),
    stage("many", "100 clients at once, then 1,000 sessions one after another", S, Secs(62), many),
    stage(
        "leaks",
        "descriptors, threads and children are back where they were after many",
        S,
        Secs(5),
        leaks,
    ),
    stage("idle-cpu", "10 silent clients for 2 s: under 5% of one core", S, Secs(5), idle_cpu),
    strict(stage("no-loss", "quit loses no echo: the end of stream, never a reset", S, Secs(12), no_loss)),
    strict(stage(
        "log",
        "the server's stdout: the lines of SPEC \"Server output\", in order",
        S,
        Secs(2),
        server_log,
    )),
    strict(stage(
        "shutdown",
        "SIGTERM: shutting down, exit 0 within 2 s, nothing left",
        S,
        Secs(4),
        shutdown,
    )),
    fresh(stage("connect", "starts the client and listens; it connects within 5 s", C, Secs(6), connect)),
    stage("send", "hello is typed; hello\\n arrives within 2 s", C, Secs(3), send),
    stage("print", "the grader echoes it; hello shows on stdout within 2 s", C, Secs(3), print),
    stage("pieces", "the echo comes a byte at a time; the line shows once, whole", C, Secs(5), pieces),
    stage(
        "long",
        "a 5,000-byte line is typed; it arrives whole, and the next one too",
        C,
        Secs(7),
        client_long,
    ),
    stage("quit", "quit is typed; quit\\n or the end, and exit 0 within 2 s", C, Secs(4), client_quit),
    fresh(stage("eof", "stdin is closed; the client exits within 2 s", C, Secs(9), eof)),
    fresh(stage(
        "server-close",
        "the grader closes; a line is typed; exit within 2 s, little CPU",
        C,
        Secs(9),
        server_close,
    )),
    fresh(strict(stage(
        "log",
        "the client's stdout: the lines of SPEC \"Client behaviour\"",
        C,
        Secs(2),
        client_log,
    ))),
];

/// Every stage, a line each, for --help (and the book, which includes it).
pub fn table() -> String {
    let mut t = String::from("stages, in order (strict: only with --strict):\n");
    for s in STAGES {
        let who = match (s.role, s.model) {
            (Role::Client, _) => "client",
            (Role::Server, Some(Model::Concurrent)) => "server (concurrent)",
            (Role::Server, Some(Model::Single)) => "server (single)",
            (Role::Server, None) => "server",
        };
        t.push_str(&format!(
            "  {:<20} {:<13} {}{}\n",
            who,
            s.slug,
            s.title,
            if s.strict { " (strict)" } else { "" }
        ));
    }
    t
}

/// The stages a run does, in order.
pub fn selected(role: Role, model: Model, with_strict: bool) -> Vec<&'static Stage> {
    STAGES
        .iter()
        .filter(|s| s.role == role && s.model.is_none_or(|m| m == model) && (with_strict || !s.strict))
        .collect()
}

/// Counts of the program's resources, for `leaks`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub processes: usize,
    pub threads: u64,
    pub fds: usize,
    pub zombies: usize,
}

/// What the stages share: the program, where it is, what they learnt.
pub struct Ctx {
    pub launch: Launch,
    pub abilities: Abilities,
    pub model: Model,
    pub timeout: u32,
    pub port: u16,
    pub program: Option<Running>,
    pub log: Log,
    /// A program that could not be started at all (exit status 2).
    pub unstartable: Option<String>,
    before_many: Option<Snapshot>,
    /// The quit stage passed (for many's hint).
    quit_ok: bool,
    echo_port: Option<u16>,
    // The client stages' session.
    listener: Option<TcpListener>,
    conn: Option<Conn>,
    /// Every client session's output, for the client's log stage.
    pub sessions: Vec<Arc<Mutex<Output>>>,
    /// The stdout lines seen so far of the current session.
    seen_lines: usize,
}

impl Ctx {
    pub fn new(launch: Launch, abilities: Abilities, model: Model, timeout: u32, port: u16) -> Ctx {
        Ctx {
            launch,
            abilities,
            model,
            timeout,
            port,
            program: None,
            log: Log::new(),
            unstartable: None,
            before_many: None,
            quit_ok: false,
            echo_port: None,
            listener: None,
            conn: None,
            sessions: Vec::new(),
            seen_lines: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn t(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout))
    }

    fn connect(&self, who: &str) -> Result<Conn, Fail> {
        Conn::connect(self.addr(), who, &self.log).map_err(|e| {
            Fail::new(format!("a connection to {}", self.addr()), format!("connect: {e}"))
                .hint("perhaps the server stopped accepting (it no longer calls accept, or it exited)")
        })
    }

    fn running(&self) -> &Running {
        self.program.as_ref().expect("a stage after start has a program")
    }

    /// How the program ended, if it did.
    pub fn exited(&self) -> Option<Exit> {
        self.program.as_ref().and_then(|p| p.exit())
    }

    /// How the program ended, if it did, once what it wrote is read to the
    /// end: its exit can be known before its last lines are read (seen on a
    /// loaded machine: a prefork server's "shutting down" came after its
    /// exit). For a stage that judges its output after the exit.
    fn exited_and_read(&self) -> Option<Exit> {
        let exit = self.exited()?;
        self.running().wait_output_end(OUTPUT_END_WAIT);
        Some(exit)
    }

    fn still_running(&self, hint: &str) -> Result<(), Fail> {
        thread::sleep(Duration::from_millis(100));
        match self.exited() {
            None => Ok(()),
            Some(exit) => {
                let hint = if exit == Exit::Signal(13) {
                    "the program was killed by SIGPIPE: perhaps it sends with send(fd, buf, n, 0) or write(); \
                     use send(..., MSG_NOSIGNAL) (or signal(SIGPIPE, SIG_IGN)) so that a vanished client \
                     is an error, not a kill"
                } else {
                    hint
                };
                Err(Fail::new("the server still running", format!("the program exited ({exit})")).hint(hint))
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for pid in self.running().processes() {
            let Some(stat) = proc_stat(pid) else { continue };
            s.processes += 1;
            if stat.state == 'Z' {
                s.zombies += 1;
                continue;
            }
            s.threads += stat.threads;
            s.fds += open_fds(pid);
        }
        s
    }

    /// Starts the program (a fresh session for a client: its own sandbox,
    /// the grader's listener made inside it first).
    fn start_program(&mut self, listen: bool) -> Result<(), Fail> {
        if let Some(mut old) = self.program.take() {
            old.kill_all();
        }
        self.conn = None;
        self.seen_lines = 0;
        let port = self.port;
        let mut listener = None;
        let started = Running::start(&self.launch, &self.abilities, || {
            if listen {
                listener = Some(TcpListener::bind(("127.0.0.1", port)));
            }
        });
        match started {
            Ok(running) => {
                self.sessions.push(running.output.clone());
                self.program = Some(running);
            }
            Err(e) => {
                self.unstartable = Some(e.clone());
                return Err(Fail::new("the program started", e));
            }
        }
        if let Some(l) = listener {
            self.listener = Some(
                l.map_err(|e| Fail::new(format!("the grader listening on port {port}"), e.to_string()))?,
            );
        }
        Ok(())
    }
}

/// The TCP ports a process listens on (its own network namespace's view).
fn listening_ports(pid: Pid) -> Vec<u16> {
    let mut ports = Vec::new();
    for file in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 3 && f[3] == "0A" {
                if let Some(port) = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) {
                    ports.push(port);
                }
            }
        }
    }
    ports
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

// ---- server stages ----

fn start(c: &mut Ctx) -> Result<(), Fail> {
    c.start_program(false)?;
    let addr = c.addr();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last_error = String::new();
    while Instant::now() < deadline {
        if let Some(exit) = c.exited() {
            return Err(Fail::new(format!("a connection to {addr} within 5 s"), format!("the program exited ({exit}) first"))
                .hint("perhaps bind failed (the port is taken, or a wrong address) or the program read a missing argument: see its output below"));
        }
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(_probe) => {
                c.log.note(format!("connected to {addr}, and closed"));
                return c.still_running(
                    "perhaps the server ends after its first client: it should go back to accept",
                );
            }
            Err(e) => last_error = e.to_string(),
        }
        thread::sleep(Duration::from_millis(50));
    }
    c.log.note(format!("connect to {addr}: {last_error}, for 5.0 s"));
    let others: Vec<String> = listening_ports(c.running().pid)
        .into_iter()
        .filter(|p| *p != c.port)
        .map(|p| p.to_string())
        .collect();
    let hint = if c.running().sandboxed && !others.is_empty() {
        format!(
            "the program listens on port {} instead: perhaps it ignores -p (its port is fixed in the code, or read from the wrong argument)",
            others.join(", ")
        )
    } else {
        "perhaps the program never calls listen (or blocks before it), or listens on another port or address"
            .into()
    };
    Err(Fail::new(format!("a connection to {addr} within 5 s"), last_error).hint(hint))
}

fn echo(c: &mut Ctx) -> Result<(), Fail> {
    let mut a = c.connect("")?;
    c.echo_port = Some(a.local_port());
    let _ = a.send(b"hello\n");
    let within = Duration::from_secs(2);
    let end = a.read_up_to(6, within);
    let got = a.take();
    if got == b"hello\n" {
        a.shutdown_write();
        let _ = a.expect_end(Duration::from_millis(500));
        return Ok(());
    }
    let hint = match (got.as_slice(), end) {
        (b"hello", _) => "perhaps the server cuts the \\n off the line (strtok, or buf[n-1] = '\\0') before it sends it back",
        ([], End::Timeout) => "perhaps the server never sends the echo, or waits for more bytes than a line before it does (recv until its buffer is full)",
        ([], _) => "perhaps the server closes the connection right after accept, or exits",
        (g, _) if g.starts_with(b"hello\n") => {
            "perhaps the server sends its whole buffer (sizeof buf) instead of the n bytes recv returned"
        }
        _ => "perhaps the server sends something else than the bytes it received",
    };
    Err(mismatch(b"hello\n", &got, end, within).hint(hint))
}

fn numbered_lines(n: usize, tag: &str) -> Vec<u8> {
    (1..=n).flat_map(|i| format!("line {i} of {n} {tag} {}\n", "x".repeat(i % 17)).into_bytes()).collect()
}

fn lines(c: &mut Ctx) -> Result<(), Fail> {
    let mut a = c.connect("")?;
    let data = numbered_lines(100, "lines");
    let _ = a.send(&data);
    let within = Duration::from_secs(5);
    let end = a.read_up_to(data.len(), within);
    let got = a.take();
    if got == data {
        return Ok(());
    }
    let first_line = data.iter().position(|b| *b == b'\n').unwrap() + 1;
    let hint = if got.len() == first_line
        || (end == End::Timeout
            && got.len() < data.len()
            && data.starts_with(&got)
            && got.ends_with(b"\n")
            && got.len() < 200)
    {
        "perhaps the server echoes only the first line of what one recv returned and drops the rest of the buffer"
    } else if data.starts_with(&got) && got.len() % 1024 == 0 {
        "perhaps the server echoes only what one recv returned (one buffer), not every line that came"
    } else if data.starts_with(&got) {
        "perhaps the server stops echoing after the first recv, or closes too early"
    } else {
        "perhaps the server mixes up its buffer: it sends bytes it did not get in that order (a copy with the wrong length or offset)"
    };
    Err(mismatch(&data, &got, end, within).hint(hint))
}

fn split(c: &mut Ctx) -> Result<(), Fail> {
    let mut a = c.connect("")?;
    let line = b"this line is sent a byte at a time\n";
    for b in line.chunks(1) {
        if a.send(b).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let within = Duration::from_secs(2);
    let end = a.read_up_to(line.len(), within);
    let got = a.take();
    if got == line {
        return Ok(());
    }
    let hint = if got.len() == 1 {
        "perhaps the server echoes one recv and then waits for nothing more: a recv is not a line, loop until the \\n"
    } else if got.windows(2).any(|w| w == b"\n\n") || got.iter().filter(|b| **b == b'\n').count() > 1 {
        "perhaps the server treats each recv as a whole line and adds a \\n to it"
    } else {
        "perhaps the server expects a whole line in one recv"
    };
    Err(mismatch(line, &got, end, within).hint(hint))
}

pub fn long_line() -> Vec<u8> {
    let mut line: Vec<u8> = (0..5000).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    line
}

fn long(c: &mut Ctx) -> Result<(), Fail> {
    let mut a = c.connect("")?;
    let line = long_line();
    let _ = a.send(&line);
    let within = Duration::from_secs(3);
    let end = a.read_up_to(line.len(), within);
    let got = a.take();
    if got != line {
        let hint = if got.len() == 1024 || got.len() == 1023 {
            "perhaps the server echoes one buffer of 1024 bytes and drops the rest of the line"
        } else {
            "perhaps the server loses or repeats bytes when a line is longer than its buffer"
        };
        return Err(mismatch(&line, &got, end, within).hint(hint));
    }
    let binary = b"bytes \x00\x01\xff\r kept\n";
    let _ = a.send(binary);
    let end = a.read_up_to(binary.len(), within);
    let got = a.take();
    if got == binary {
        return Ok(());
    }
    let hint = if binary.starts_with(&got) && got.len() == 6 || got.len() == 7 && got.ends_with(b"\n") {
        "perhaps the server treats the line as a C string (strlen, strcpy, printf(\"%s\")) and stops at the \\x00 byte"
    } else {
        "perhaps the server changes bytes it does not print (\\r, \\xff): it must send back exactly what came"
    };
    Err(mismatch(binary, &got, end, within).hint(hint))
}

fn quit(c: &mut Ctx) -> Result<(), Fail> {
    let within = Duration::from_secs(2);
    for (who, line, hint) in [
        ("A", &b"quit\n"[..], "perhaps the server compares the line with strcmp(buf, \"quit\") while buf still ends in \\n"),
        ("B", &b"quit\r\n"[..], "perhaps the server takes quit\\n but not quit\\r\\n (what telnet and nc -C send): strip a \\r before the \\n too"),
    ] {
        let mut a = c.connect(who)?;
        let _ = a.send(line);
        // Its echo is the failure, whatever follows (the server's own idle
        // timeout may end the connection soon after): stop reading there.
        let end = a.read_up_to(line.len(), within);
        let got = a.take();
        if !got.is_empty() || end == End::Timeout {
            let expected = format!("no echo of {}, and the end of the connection within 2 s", quoted(line));
            let got_text = if got.is_empty() {
                format!("nothing for {}, the connection still open", secs(within))
            } else if end == End::Complete {
                format!("{} back", quoted(&got))
            } else {
                format!("{} {}", quoted(&got), end.words(within))
            };
            let hint = if got.is_empty() { "perhaps the server sees quit but does not close the client's socket (close, or return from the thread)" } else { hint };
            return Err(Fail::new(expected, got_text).hint(hint));
        }
    }
    let mut a = c.connect("C")?;
    for (line, hint) in [
        (&b"quit now\n"[..], "perhaps the server compares only the first 4 bytes (strncmp(buf, \"quit\", 4)): only a line that is exactly quit ends the session"),
        (&b"xquit\n"[..], "perhaps the server looks for quit anywhere in the line (strstr): only a line that is exactly quit ends the session"),
    ] {
        let _ = a.send(line);
        let end = a.read_up_to(line.len(), within);
        let got = a.take();
        if got != line {
            return Err(mismatch(line, &got, end, within).hint(hint));
        }
    }
    c.quit_ok = true;
    Ok(())
}

fn concurrent(c: &mut Ctx) -> Result<(), Fail> {
    let mut a = c.connect("A")?;
    thread::sleep(Duration::from_millis(100));
    let mut b = c.connect("B")?;
    let line = b"from B\n";
    let _ = b.send(line);
    // A must still be connected: at -t 1, 1 s would be its idle timeout.
    let second = Duration::from_secs(1).min(c.t().mul_f64(0.6));
    match c.model {
        Model::Concurrent => {
            let end = b.read_up_to(line.len(), second);
            let got = b.take();
            if got == line {
                return Ok(());
            }
            Err(mismatch(line, &got, end, second).hint(
                "perhaps the server serves one client at a time: it runs the echo loop where it accepts (no thread, fork or poll per client); if that is the assignment, grade with -m single",
            ))
        }
        Model::Single => {
            let early = b.expect_silence(second);
            if !early.is_empty() {
                return Err(Fail::new("no echo for B while A is connected (model single)", quoted(&early))
                    .hint("the server serves clients at the same time: grade it with -m concurrent"));
            }
            let _ = a.send(b"quit\n");
            let _ = a.expect_end(second);
            drop(a);
            let end = b.read_up_to(line.len(), second);
            let got = b.take();
            if got == line {
                return Ok(());
            }
            Err(mismatch(line, &got, end, second)
                .hint("perhaps the server does not go back to accept after a client's quit (or exits)"))
        }
    }
}

fn timeout(c: &mut Ctx) -> Result<(), Fail> {
    let t = c.t();
    // A line every second (every half timeout when the timeout is that
    // short: at -t 1 a 1 s pace would itself be idle for the timeout).
    let active_run = |mut k: Conn, t: Duration| -> Result<(), Fail> {
        let every = Duration::from_secs(1).min(t / 2);
        let n = (2 * t.as_millis() / every.as_millis()) as u32;
        for i in 1..=n {
            let sent_at = Instant::now();
            let line = format!("still here {i}\n");
            let _ = k.send(line.as_bytes());
            // What is checked is that the server does not close it, not
            // how fast it answers (that is concurrent's): a window as wide
            // as the timeout, so that a loaded machine cannot fail it.
            let window = t + Duration::from_secs(1);
            let end = k.read_up_to(line.len(), window);
            let got = k.take();
            if got != line.as_bytes() {
                return Err(mismatch(line.as_bytes(), &got, end, window).hint(
                    "the active client was cut: perhaps the idle timeout counts from the connection's start, not from the last byte",
                ));
            }
            thread::sleep(every.saturating_sub(sent_at.elapsed()));
        }
        Ok(())
    };
    let mut a = c.connect("A")?;
    let _ = a.send(b"then silence\n");
    a.expect(b"then silence\n", Duration::from_secs(2))?;
    let last_byte = Instant::now();
    let active = if c.model == Model::Concurrent {
        let k = c.connect("B")?;
        Some(thread::spawn(move || active_run(k, t)))
    } else {
        None
    };
    let (lo, hi) = (t.mul_f64(0.8), t.mul_f64(1.5));
    let (end, got) = a.expect_end(hi + Duration::from_millis(500));
    let closed_after = last_byte.elapsed();
    let silent = if !got.is_empty() {
        Err(Fail::new("nothing, then the end of the connection", quoted(&got)))
    } else if end == End::Timeout {
        Err(Fail::new(
            format!("the server closes the silent client between {} and {} after its last byte", secs(lo), secs(hi)),
            format!("still open after {}", secs(closed_after)),
        )
        .hint("perhaps the server sets no idle timeout: setsockopt(SO_RCVTIMEO) on the client's socket (recv then fails with EAGAIN), or a poll timeout"))
    } else if closed_after < lo || closed_after > hi {
        Err(Fail::new(
            format!("the server closes the silent client between {} and {} after its last byte", secs(lo), secs(hi)),
            format!("closed after {}", secs(closed_after)),
        )
        .hint(format!(
            "perhaps the timeout is not the configured {} s (-t): a constant in the code, milliseconds for seconds, or counted from accept",
            t.as_secs()
        )))
    } else {
        Ok(())
    };
    let active = match active {
        Some(h) => h.join().unwrap_or_else(|_| Err(Fail::new("the active client's thread", "a panic"))),
        None => {
            let k = c.connect("B")?;
            active_run(k, t)
        }
    };
    silent.and(active)
}

fn reset(c: &mut Ctx) -> Result<(), Fail> {
    let mut r = c.connect("A")?;
    let _ = r.send(b"reset me\n");
    r.reset();
    thread::sleep(Duration::from_millis(200));
    c.still_running("perhaps the server exits when recv or send fails (exit() in an error path) instead of closing that one connection")?;
    let mut b = c.connect("B")?;
    let _ = b.send(b"after the reset\n");
    // SPEC gives no time here: a window wide enough for a loaded machine.
    b.expect(b"after the reset\n", Duration::from_secs(5))
        .map_err(|f| f.hint("perhaps the server stopped serving after a client's reset"))
}

fn sigpipe(c: &mut Ctx) -> Result<(), Fail> {
    // A sends lines and never reads, until its writes block: then the
    // server's echoes fill A's buffers and the server is stuck in send (or
    // holds echoes it has still to send), with more of A's lines unread.
    // Then A resets. The server's sends fail, whatever the timing: a plain
    // 64 KiB and a close can be all read and echoed before the reset comes
    // (a busy machine), and then only recv fails.
    let mut a = c.connect("A")?;
    let _ = a.stream.set_write_timeout(Some(Duration::from_millis(300)));
    let chunk = numbered_lines(2000, "sigpipe")[..64 << 10].to_vec();
    let mut sent = 0usize;
    while sent < 8 << 20 {
        if a.stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    c.log.note(format!("A sent {} KiB of lines without reading, until its writes blocked", sent >> 10));
    a.reset();
    c.log.note("A reset its connection (SO_LINGER 0): the server's next sends fail");
    thread::sleep(Duration::from_millis(500));
    c.still_running("perhaps the server exits when send fails instead of closing that one connection")?;
    let mut b = c.connect("B")?;
    let _ = b.send(b"after the sigpipe\n");
    // SPEC gives no time here: a window wide enough for a loaded machine.
    b.expect(b"after the sigpipe\n", Duration::from_secs(5))
}

fn hog(c: &mut Ctx) -> Result<(), Fail> {
    let h = c.connect("A")?;
    let stream = h.stream.try_clone().map_err(|e| Fail::new("a second handle", e.to_string()))?;
    c.log.note("A sends 8 MiB and never reads");
    let writer = thread::spawn(move || {
        let mut stream = stream;
        let _ = stream.set_write_timeout(Some(Duration::from_secs(4)));
        let chunk = vec![b'h'; 64 << 10];
        for _ in 0..128 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    thread::sleep(Duration::from_millis(300));
    let mut b = c.connect("B")?;
    let line = b"while A hogs\n";
    let _ = b.send(line);
    let r = b.expect(line, Duration::from_secs(1)).map_err(|f| {
        f.hint("perhaps the server blocks in send to the client that never reads, and that holds the others (one thread for all, blocking sockets)")
    });
    let _ = h.stream.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    r
}

/// A client of `many` that failed: its number, why, and its steps.
type ClientFail = (usize, Fail, Vec<crate::exchange::Step>);

fn many(c: &mut Ctx) -> Result<(), Fail> {
    c.before_many = Some(c.snapshot());
    let addr = c.addr();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Every failing client, kept; the lowest-numbered one is shown, so that
    // the explanation does not depend on which thread ran first.
    let fails: Arc<Mutex<Vec<ClientFail>>> = Arc::new(Mutex::new(Vec::new()));
    let quit_ok = c.quit_ok;
    let mut handles = Vec::new();
    for i in 0..100 {
        // Each client its own steps: a failure shows the failing client's.
        let log = Log::new();
        let fails = fails.clone();
        handles.push(thread::spawn(move || {
            let who = format!("C{i}");
            let expected: Vec<u8> =
                (1..=10).flat_map(|j| format!("client {i} token-{i:03}-{} line {j}\n", i * 7919 % 1000).into_bytes()).collect();
            let result = (|| {
                let mut conn = Conn::connect(addr, &who, &log)
                    .map_err(|e| Fail::new(format!("client {i} connected"), format!("connect: {e}")))?;
                let mut out = expected.clone();
                out.extend_from_slice(b"quit\n");
                let _ = conn.send(&out);
                let left = deadline.saturating_duration_since(Instant::now());
                let (end, got) = conn.expect_end(left);
                if got == expected && end != End::Timeout {
                    return Ok(());
                }
                let mut fail = mismatch(&expected, &got, end, left);
                fail.expected = format!("client {i}: its own 10 lines, then the end of stream: {}", fail.expected);
                let token = format!("token-{i:03}-");
                let others = got
                    .windows(token.len())
                    .any(|w| w.starts_with(b"token-") && w[9] == b'-' && w != token.as_bytes());
                let quit_echoed = got.len() > expected.len() && got.starts_with(&expected) && got.ends_with(b"quit\n");
                Err(if quit_echoed && quit_ok {
                    fail.hint("the server echoed quit: perhaps it compares a whole recv with quit, not each line (here the 10 lines and quit came together): split what recv returns at each \\n")
                } else if quit_echoed {
                    fail.hint("the server echoed quit instead of ending the session: see the quit stage")
                } else if others {
                    fail.hint("perhaps the clients share one buffer (a global, or a static in the thread function): each needs its own")
                } else {
                    fail.hint("perhaps the server cannot hold this many clients at once, or loses a client's lines")
                })
            })();
            if let Err(f) = result {
                fails.lock().unwrap().push((i, f, log.steps()));
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    let mut fails = std::mem::take(&mut *fails.lock().unwrap());
    fails.sort_by_key(|(i, _, _)| *i);
    if let Some((i, f, steps)) = fails.into_iter().next() {
        for s in steps {
            c.log.add(&format!("C{i}"), s.kind, s.text);
        }
        return Err(f);
    }
    c.log.note("100 clients done; now 1,000 sessions one after another");
    let quiet = Log::new();
    for i in 0..1000 {
        let line = format!("session {i}\n");
        let left = deadline.saturating_duration_since(Instant::now());
        let result = Conn::connect(addr, "", &quiet).map(|mut conn| {
            let _ = conn.send(format!("{line}quit\n").as_bytes());
            conn.expect_end(left.min(Duration::from_secs(5)))
        });
        match result {
            Ok((End::Eof | End::Reset, got)) if got == line.as_bytes() => {}
            Ok((end, got)) => {
                for s in quiet.steps() {
                    c.log.add(&format!("S{i}"), s.kind, s.text);
                }
                return Err(mismatch(line.as_bytes(), &got, end, left.min(Duration::from_secs(5)))
                    .hint("perhaps the server runs out of something after many sessions (descriptors not closed, threads not ended)"));
            }
            Err(e) => {
                return Err(Fail::new(format!("session {i} connected"), format!("connect: {e}"))
                    .hint("perhaps the server stopped accepting after many sessions (descriptors not closed: accept fails with EMFILE)"))
            }
        }
    }
    c.log.note("1,000 sessions done");
    Ok(())
}

fn leaks(c: &mut Ctx) -> Result<(), Fail> {
    let Some(before) = c.before_many else {
        return Err(Fail::new("the counts taken before many", "none (many did not run)"));
    };
    thread::sleep(Duration::from_secs(2));
    let after = c.snapshot();
    c.log.note(format!("before many: {before:?}"));
    c.log.note(format!("2 s after:   {after:?}"));
    let grew = |a: u64, b: u64| b > a + 2;
    let show = |s: &Snapshot| {
        format!(
            "{} descriptors, {} threads, {} processes, {} zombies",
            s.fds, s.threads, s.processes, s.zombies
        )
    };
    let hint = if after.zombies > 0 {
        Some("perhaps the children are never reaped: waitpid(-1, NULL, WNOHANG) in a loop on SIGCHLD")
    } else if grew(before.fds as u64, after.fds as u64) {
        Some("perhaps the server does not close a client's socket on some path (after quit, on end of stream, in the parent after fork)")
    } else if grew(before.threads, after.threads) {
        Some("perhaps the client threads never end (they wait for something after the session)")
    } else if grew(before.processes as u64, after.processes as u64) {
        Some("perhaps the children do not exit after their client (exit(0) at the end of the child's branch)")
    } else {
        None
    };
    match hint {
        None => Ok(()),
        Some(h) => {
            Err(Fail::new(format!("as before many (within 2): {}", show(&before)), show(&after)).hint(h))
        }
    }
}

fn idle_cpu(c: &mut Ctx) -> Result<(), Fail> {
    let mut conns = Vec::new();
    for i in 0..10 {
        conns.push(c.connect(&format!("C{i}"))?);
    }
    // 2 s, or less when the idle timeout is shorter, so that the clients
    // are still connected (the server closes them after the timeout).
    let during = Duration::from_secs(2).min(c.t().mul_f64(0.8));
    // Every thread's schedstat (ns on a CPU, ns waiting for one), sampled
    // every 100 ms so that a thread that ends in the window still counts.
    let mut first: std::collections::HashMap<i32, (u64, u64)> = Default::default();
    let mut last: std::collections::HashMap<i32, (u64, u64)> = Default::default();
    let started = Instant::now();
    let mut initial = true;
    loop {
        for pid in c.running().processes() {
            for (tid, stat) in crate::sandbox::thread_schedstats(pid) {
                first.entry(tid).or_insert(if initial { stat } else { (0, 0) });
                last.insert(tid, stat);
            }
        }
        initial = false;
        if started.elapsed() >= during {
            break;
        }
        thread::sleep(Duration::from_millis(100).min(during.saturating_sub(started.elapsed())));
    }
    let window = started.elapsed().as_secs_f64();
    let mut ran = 0u64;
    let mut busiest = 0u64;
    for (tid, end) in &last {
        let begin = first.get(tid).copied().unwrap_or((0, 0));
        let r = end.0.saturating_sub(begin.0);
        ran += r;
        busiest = busiest.max(r + end.1.saturating_sub(begin.1));
    }
    let ran = ran as f64 / 1e9;
    let share = ran / window * 100.0;
    let ready = busiest as f64 / 1e9 / window * 100.0;
    c.log.note(format!(
        "the program's threads ran {ran:.2} s in {window:.1} s: {share:.0}% of one core; its busiest thread was running or ready to run {ready:.0}% of the time"
    ));
    // Under load a spinning loop gets less of the CPU than it asks for:
    // a thread that was running or ready to run half the time spins too.
    if share < 5.0 && ready < 50.0 {
        return Ok(());
    }
    Err(Fail::new(
        "under 5% of one core while 10 clients are silent (and no thread ready to run half the time)",
        format!("{share:.0}% of one core ({ran:.2} s in {window:.1} s), a thread ready to run {ready:.0}% of the time"),
    )
    .hint("perhaps a loop spins without waiting: poll/select with a zero timeout, or a non-blocking recv retried at once on EAGAIN"))
}

fn no_loss(c: &mut Ctx) -> Result<(), Fail> {
    let within = Duration::from_secs(3);
    let hint = "perhaps the server closes right after quit while the client's bytes are still unread: the kernel answers \
                with a reset, which throws the echoes away; shutdown(fd, SHUT_WR), read until the end of stream (2 s at most), then close";
    let mut a = c.connect("A")?;
    let _ = a.send(b"a\nquit\nb\n");
    let (end, got) = a.expect_end(within);
    if got != b"a\n" || end != End::Eof {
        let expected = b"a\n";
        let mut f = mismatch(expected, &got, end, within);
        f.expected = format!("{} then the end of stream (never a reset)", f.expected);
        return Err(f.hint(hint));
    }
    let mut b = c.connect("B")?;
    let mut data: Vec<u8> = Vec::new();
    for i in 0..200 {
        let mut line = format!("{i:04} ").into_bytes();
        line.resize(1023, b'n');
        line.push(b'\n');
        data.extend_from_slice(&line);
    }
    let mut out = data.clone();
    out.extend_from_slice(b"quit\n");
    // And one more line after quit, longer than a read, as a client that
    // types on (SPEC "The protocol" rule 5): a server that closes at once
    // leaves it unread, and the kernel's reset throws away the echoes
    // still queued.
    out.extend_from_slice(&[b'm'; 2000]);
    out.push(b'\n');
    let mut writer = b.stream.try_clone().map_err(|e| Fail::new("a second handle", e.to_string()))?;
    c.log.add(
        "B",
        crate::exchange::Kind::Sent,
        format!("sent {} (200 lines of 1 KiB, quit\\n, a line of 2,000 bytes)", quoted(&out)),
    );
    let w = thread::spawn(move || {
        let _ = writer.set_write_timeout(Some(Duration::from_secs(5)));
        let _ = writer.write_all(&out);
    });
    let within = Duration::from_secs(8);
    let (end, got) = b.expect_end(within);
    let _ = w.join();
    if got == data && end == End::Eof {
        return Ok(());
    }
    let mut f = mismatch(&data, &got, end, within);
    f.expected = format!("all 200 echoes ({} bytes), then the end of stream", data.len());
    Err(f.hint(hint))
}

/// The first line that is not a session's (`[peer] ...`): the listening
/// line, if the server's log begins as it should.
fn first_not_of_a_session(lines: &[String]) -> Option<&String> {
    lines.iter().find(|l| server_line(l).is_none_or(|(peer, _)| peer.is_empty()))
}

/// The log lines SPEC "Server output" allows; None if `line` is none of them.
fn server_line(line: &str) -> Option<(String, &'static str)> {
    if line.starts_with("listening on ") && line.ends_with(')') {
        return Some((String::new(), "listening"));
    }
    if line == "shutting down" {
        return Some((String::new(), "shutting down"));
    }
    let rest = line.strip_prefix('[')?;
    let (peer, event) = rest.split_once("] ")?;
    let kind = match event {
        "connected" => "connected",
        "quit" => "quit",
        "disconnected" => "disconnected",
        e if e.starts_with("recv: ") => "recv",
        e if e.starts_with("error: ") => "error",
        e if e.starts_with("idle for ") && e.ends_with(" s, closing") => "idle",
        _ => return None,
    };
    Some((peer.to_string(), kind))
}

fn server_log(c: &mut Ctx) -> Result<(), Fail> {
    let output = c.running().output.lock().unwrap();
    let cut = output.dropped_lines > 0;
    let lines: Vec<String> = output.lines().into_iter().filter(|l| !l.stderr).map(|l| l.text).collect();
    let head = output.head.iter().filter(|l| !l.stderr).count();
    drop(output);
    let log_fail = |expected: String, got: String| {
        Err(Fail::new(expected, got).hint("see SPEC \"Server output\": one line per event, flushed as it happens (fflush, or setvbuf(stdout, NULL, _IOLBF, 0), when stdout is a pipe)"))
    };
    // The grader connects as soon as the port takes connections, which can
    // be before the server has printed that it is ready (pre-forked
    // children, or loops, accept while the main thread starts the rest and
    // then prints): the lines of sessions may come before the listening
    // line, and are checked below with the others.
    match first_not_of_a_session(&lines) {
        Some(l) if l.starts_with("listening on ") => {}
        other => {
            return log_fail(
                "a first line \"listening on ADDR:PORT (MODEL, idle timeout N s)\"".into(),
                format!("{other:?}"),
            )
        }
    }
    let mut open: std::collections::HashMap<String, bool> = Default::default();
    for (i, line) in lines.iter().enumerate() {
        // What came in the dropped middle is not known: a session may have
        // begun there, on a port an earlier session had used.
        if cut && i == head {
            open.clear();
        }
        let Some((peer, kind)) = server_line(line) else {
            return log_fail(
                "a line of SPEC \"Server output\"".into(),
                format!("line {}: \"{line}\"", i + 1),
            );
        };
        if peer.is_empty() {
            continue;
        }
        let after_gap = cut && i >= head;
        let is_open = open.get(&peer).copied();
        match kind {
            "connected" if is_open == Some(true) => {
                return log_fail(
                    format!("{peer}'s session ended before it connects again"),
                    format!("line {}: \"{line}\"", i + 1),
                )
            }
            "connected" => {
                open.insert(peer, true);
            }
            _ if is_open != Some(true) && !(after_gap && is_open.is_none()) => {
                return log_fail(
                    format!("\"[{peer}] connected\" before \"{line}\""),
                    format!("line {}: \"{line}\"", i + 1),
                );
            }
            "recv" => {
                open.insert(peer, true);
            }
            _ => {
                open.insert(peer, false);
            }
        }
    }
    if let Some(port) = c.echo_port {
        let mine: Vec<&str> =
            lines.iter().filter_map(|l| l.strip_prefix(&format!("[127.0.0.1:{port}] "))).collect();
        let expected = ["connected", "recv: hello", "disconnected"];
        if mine != expected {
            return log_fail(format!("for the echo stage's session: {expected:?}"), format!("{mine:?}"));
        }
    }
    Ok(())
}

/// How long a stage that saw the program exit waits for the rest of its
/// output (a few milliseconds, as a rule).
const OUTPUT_END_WAIT: Duration = Duration::from_secs(1);

fn shutdown(c: &mut Ctx) -> Result<(), Fail> {
    c.log.note("SIGTERM to the program");
    c.running().signal(Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(2);
    while c.exited().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let exit = c.exited_and_read();
    let said =
        c.running().output.lock().unwrap().lines().iter().any(|l| !l.stderr && l.text == "shutting down");
    let left = c.running().left_behind();
    let handler = "perhaps the server has no SIGTERM handler that ends it cleanly: catch SIGINT and SIGTERM (sigaction without SA_RESTART so that accept returns EINTR, or a thread in sigwait), print shutting down, exit(0)";
    match exit {
        None => Err(Fail::new("exit 0 within 2 s of SIGTERM", "still running after 2.0 s").hint(handler)),
        Some(Exit::Code(0)) if said && left == 0 => Ok(()),
        Some(Exit::Code(0)) if said => Err(Fail::new(
            "nothing of the program left running",
            format!("{left} of its processes still running when it exited"),
        )
        .hint("perhaps the server does not end its children (kill them, then waitpid each) before it exits")),
        Some(exit) => Err(Fail::new(
            "\"shutting down\" on stdout, then exit status 0",
            format!("{}, {exit}", if said { "\"shutting down\"" } else { "no \"shutting down\"" }),
        )
        .hint(handler)),
    }
}

// ---- client stages ----

fn stdout_lines(c: &Ctx) -> Vec<String> {
    let Some(p) = &c.program else { return Vec::new() };
    let out = p.output.lock().unwrap();
    out.lines()
        .into_iter()
        .filter(|l| !l.stderr)
        .map(|l| l.text.trim_start_matches("> ").to_string())
        .collect()
}

/// Waits for a new stdout line for which `want` holds; the new lines.
fn wait_lines(c: &mut Ctx, within: Duration, want: impl Fn(&[String]) -> bool) -> (bool, Vec<String>) {
    let deadline = Instant::now() + within;
    loop {
        let exited = c.exited_and_read().is_some();
        let lines = stdout_lines(c);
        let new: Vec<String> = lines[c.seen_lines.min(lines.len())..].to_vec();
        if want(&new) {
            c.seen_lines = lines.len();
            return (true, new);
        }
        if Instant::now() >= deadline || exited {
            c.seen_lines = lines.len();
            return (false, new);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn type_line(c: &mut Ctx, line: &[u8]) -> Result<(), Fail> {
    c.log.add("stdin", crate::exchange::Kind::Note, format!("typed {}", quoted(line)));
    let p = c.program.as_mut().expect("a client session");
    match p.stdin.as_mut().map(|s| s.write_all(line).and_then(|_| s.flush())) {
        Some(Ok(())) => Ok(()),
        _ => Err(Fail::new("the client reading its stdin", "its stdin is closed (the client exited?)")),
    }
}

fn conn(c: &mut Ctx) -> Result<&mut Conn, Fail> {
    c.conn.as_mut().ok_or_else(|| Fail::new("the client's connection", "none (connect failed)"))
}

fn accept_client(c: &mut Ctx) -> Result<(), Fail> {
    let listener = c.listener.take().ok_or_else(|| Fail::new("the grader listening", "no listener"))?;
    let log = c.log.clone();
    let got = Conn::accept(&listener, Duration::from_secs(5), "", &log);
    match got {
        Ok(conn) => {
            c.conn = Some(conn);
            Ok(())
        }
        Err(_) => {
            let why = match c.exited() {
                Some(exit) => format!("the client exited ({exit}) without connecting"),
                None => "no connection within 5.0 s".into(),
            };
            Err(Fail::new(format!("a connection to 127.0.0.1:{} within 5 s", c.port), why).hint(
                "perhaps the client connects to another port or address: it takes HOST and PORT from its arguments (127.0.0.1 8080 by default)",
            ))
        }
    }
}

fn connect(c: &mut Ctx) -> Result<(), Fail> {
    c.start_program(true)?;
    accept_client(c)
}

fn send(c: &mut Ctx) -> Result<(), Fail> {
    type_line(c, b"hello\n")?;
    let within = Duration::from_secs(2);
    let a = conn(c)?;
    let end = a.read_up_to(6, within);
    let got = a.take();
    if got == b"hello\n" {
        return Ok(());
    }
    let hint = if got == b"hello" {
        "perhaps the client strips the \\n that fgets keeps and sends strlen bytes: the server frames by \\n"
    } else if got.starts_with(b"hello\n") {
        "perhaps the client sends its whole buffer (sizeof buf) rather than the line's length"
    } else {
        "perhaps the client waits for something before it sends (a greeting from the server?) or does not read stdin a line at a time"
    };
    Err(mismatch(b"hello\n", &got, end, within).hint(hint))
}

fn print(c: &mut Ctx) -> Result<(), Fail> {
    conn(c)?.send(b"hello\n").map_err(|e| Fail::new("the echo sent", e.to_string()))?;
    let (ok, new) = wait_lines(c, Duration::from_secs(2), |l| l.iter().any(|l| l.contains("hello")));
    if ok {
        return Ok(());
    }
    Err(Fail::new("a line with hello (\"echo: hello\") on the client's stdout within 2 s", format!("{new:?}"))
        .hint("perhaps the client does not flush stdout when it is a pipe (printf without fflush), or waits for more bytes than the echo"))
}

fn pieces(c: &mut Ctx) -> Result<(), Fail> {
    let text = "pieces come back one by one";
    let line = format!("{text}\n");
    type_line(c, line.as_bytes())?;
    let within = Duration::from_secs(2);
    let a = conn(c)?;
    let end = a.read_up_to(line.len(), within);
    let got = a.take();
    if got != line.as_bytes() {
        return Err(mismatch(line.as_bytes(), &got, end, within));
    }
    for b in line.as_bytes().chunks(1) {
        let _ = a.send(b);
        thread::sleep(Duration::from_millis(20));
    }
    let (_, new) = wait_lines(c, Duration::from_millis(1500), |l| l.iter().any(|l| l.contains(text)));
    thread::sleep(Duration::from_millis(200));
    let (_, more) = wait_lines(c, Duration::ZERO, |_| true);
    let shown: Vec<String> = new.into_iter().chain(more).filter(|l| !l.trim().is_empty()).collect();
    if shown.len() == 1 && shown[0].contains(text) {
        return Ok(());
    }
    Err(Fail::new(format!("the line once, whole, on one line: \"echo: {text}\""), format!("{} lines: {shown:?}", shown.len()))
        .hint("perhaps the client prints each recv as it comes: a recv is not a line, read until the \\n before printing"))
}

fn client_long(c: &mut Ctx) -> Result<(), Fail> {
    let line = long_line();
    type_line(c, &line)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let a = conn(c)?;
    let mut got = Vec::new();
    let mut end = End::Complete;
    while got.len() < line.len() && Instant::now() < deadline {
        end = a.read_up_to(1, deadline.saturating_duration_since(Instant::now()));
        let piece = a.take();
        if piece.is_empty() {
            break;
        }
        let _ = a.send(&piece);
        got.extend_from_slice(&piece);
    }
    if got != line {
        return Err(mismatch(&line, &got, end, Duration::from_secs(5)).hint(
            "perhaps the client reads stdin into a buffer smaller than the line and loses the rest, or waits for the whole echo before it sends the rest",
        ));
    }
    type_line(c, b"after the long line\n")?;
    let a = conn(c)?;
    let within = Duration::from_secs(2);
    let end = a.read_up_to(20, within);
    let got = a.take();
    let _ = a.send(&got);
    if got == b"after the long line\n" {
        return Ok(());
    }
    Err(mismatch(b"after the long line\n", &got, end, within).hint(
        "perhaps the client is still waiting for the long line's echo: it came in pieces, read until the \\n",
    ))
}

fn client_quit(c: &mut Ctx) -> Result<(), Fail> {
    type_line(c, b"quit\n")?;
    let within = Duration::from_secs(2);
    let a = conn(c)?;
    let end = a.read_up_to(5, within);
    let got = a.take();
    if !(got == b"quit\n" || matches!(end, End::Eof | End::Reset)) {
        return Err(mismatch(b"quit\n", &got, end, within)
            .hint("perhaps the client does not send the quit line before it ends"));
    }
    wait_exit(c, within, true)
}

fn wait_exit(c: &mut Ctx, within: Duration, zero: bool) -> Result<(), Fail> {
    let deadline = Instant::now() + within;
    while c.exited().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    match c.exited() {
        None => Err(Fail::new(format!("the client exits within {}", secs(within)), "still running")
            .hint("perhaps the client waits for an echo or for stdin after it should have ended (check fgets's NULL, recv's 0)")),
        Some(Exit::Code(0)) => Ok(()),
        Some(e) if zero => Err(Fail::new("exit status 0", e.to_string())),
        Some(_) => Ok(()),
    }
}

fn eof(c: &mut Ctx) -> Result<(), Fail> {
    c.start_program(true)?;
    accept_client(c)?;
    c.log.add("stdin", crate::exchange::Kind::Note, "closed (end of input)".into());
    if let Some(p) = c.program.as_mut() {
        p.stdin = None;
    }
    wait_exit(c, Duration::from_secs(2), false)
}

fn server_close(c: &mut Ctx) -> Result<(), Fail> {
    c.start_program(true)?;
    accept_client(c)?;
    if let Some(conn) = c.conn.take() {
        drop(conn);
        c.log.add("", crate::exchange::Kind::End, "the grader closed the connection".into());
    }
    thread::sleep(Duration::from_millis(100));
    let _ = type_line(c, b"a line after the close\n");
    let pid = c.running().pid;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut ticks = 0;
    while c.exited().is_none() && Instant::now() < deadline {
        if let Some(s) = proc_stat(pid) {
            ticks = s.cpu_ticks;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    let cpu = ticks as f64 / hz;
    wait_exit(c, Duration::ZERO, false).map_err(|f| {
        f.hint("perhaps the client does not notice the end of stream (recv returns 0) and keeps going")
    })?;
    if cpu >= 0.5 {
        return Err(Fail::new("under 0.5 s of CPU", format!("{cpu:.2} s"))
            .hint("perhaps the client loops on recv returning 0 (end of stream) before it stops"));
    }
    Ok(())
}

fn client_log(c: &mut Ctx) -> Result<(), Fail> {
    let session = |i: usize| -> Vec<String> {
        c.sessions
            .get(i)
            .map(|o| {
                o.lock()
                    .unwrap()
                    .lines()
                    .into_iter()
                    .filter(|l| !l.stderr)
                    .map(|l| l.text.trim_start_matches("> ").to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let addr = format!("connected to 127.0.0.1:{}", c.port);
    let long = format!("echo: {}", String::from_utf8(long_line()[..5000].to_vec()).unwrap());
    let first: Vec<String> = vec![
        addr.clone(),
        "echo: hello".into(),
        "echo: pieces come back one by one".into(),
        long,
        "echo: after the long line".into(),
        "closing connection".into(),
    ];
    let third = vec![addr, "server closed the connection".into()];
    for (i, expected) in [(0, first), (2, third)] {
        // The grader keeps the first LINE_KEPT bytes of a line.
        let expected: Vec<String> =
            expected.into_iter().map(|l| l.chars().take(crate::sandbox::LINE_KEPT).collect()).collect();
        let got = session(i);
        if got != expected {
            let show = |v: &[String]| {
                v.iter()
                    .map(|l| {
                        format!("\"{}\"", if l.len() > 60 { format!("{}...", &l[..60]) } else { l.clone() })
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Fail::new(show(&expected), show(&got))
                .hint("see SPEC \"Client behaviour\": the lines, in these words"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| l.to_string()).collect()
    }

    /// A session's lines before the listening line (a pre-forked child
    /// accepted the grader's first connection) do not hide it; any other
    /// line before it is what the log stage reports.
    #[test]
    fn the_listening_line_is_found_after_session_lines_only() {
        let listening = "listening on 0.0.0.0:8080 (16 prefork processes, idle timeout 5 s)";
        let early = lines(&["[127.0.0.1:40000] connected", "[127.0.0.1:40000] disconnected", listening]);
        assert_eq!(first_not_of_a_session(&early).map(String::as_str), Some(listening));
        let chatty = lines(&["Server started!", listening]);
        assert_eq!(first_not_of_a_session(&chatty).map(String::as_str), Some("Server started!"));
        let silent = lines(&["[127.0.0.1:40000] connected"]);
        assert_eq!(first_not_of_a_session(&silent), None);
    }
}
