//! SPEC "Parity": the same sequence of socket system calls. Each C and Rust
//! program runs under `strace -ff -e trace=network` (one file per thread and
//! per process)
//! through the same scripted sessions; the traces are normalised (descriptor
//! numbers, ports, thread ids, pointers, strace's column padding) and the
//! per-thread sequences of C and Rust must be identical, with the same
//! options, flags, sizes and errors. A difference prints a unified diff.
//!
//! `.ci/run` installs strace; without it these tests are recorded as skipped
//! (`make test` lists them at the end; under CI they fail).

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn have_strace() -> bool {
    have("strace", "-V")
}

/// A fresh directory for one program's trace files.
fn trace_dir(name: &str, lang: Lang) -> PathBuf {
    scratch(&format!("strace-{name}-{}", lang.dir()))
}

/// `strace -ff -e trace=network -o DIR/t build/LANG/PROGRAM ARGS`; for an
/// event loop also fcntl (O_NONBLOCK) and its way of waiting (poll, or the
/// epoll calls), which are its steps.
fn strace(dir: &Path, lang: Lang, program: &str, args: &[&str]) -> Command {
    let p = programs::get(program);
    let calls = if p.waits_with_epoll() {
        "trace=network,fcntl,epoll_create1,epoll_ctl,epoll_wait"
    } else if p.is_event_loop() {
        "trace=network,poll,fcntl"
    } else {
        "trace=network"
    };
    // clone and clone3 as well, for the order the threads were made in
    // (read_traces); their lines are not compared.
    let calls = format!("{calls},clone,clone3");
    let mut command = Command::new("strace");
    command.args(["-ff", "-e", &calls, "-o"]).arg(dir.join("t")).arg(bin(lang, program)).args(args);
    command
}

/// The poll(2) Rust's runtime makes before `main` to see that descriptors
/// 0, 1 and 2 are open: not a step of the program, and the C has no such call.
const RUST_RUNTIME_POLL: &str =
    "poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = 0 (Timeout)";

/// A poll line with its descriptors named (`fd=4` as `fd=FD1`) and its
/// timeout, which counts down to the nearest deadline in milliseconds and so
/// differs by one or two from run to run, as `T` (`-1`, no timeout, stays).
fn normalise_poll(line: &str, fds: &mut FdNames) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("fd=") {
        out.push_str(&rest[..i + 3]);
        let tail = &rest[i + 3..];
        let len = tail.bytes().take_while(u8::is_ascii_digit).count();
        if len > 0 {
            out.push_str(&fds.name(&tail[..len], false));
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    // poll([...], NFDS, TIMEOUT) = ...
    if let Some(close) = out.find("], ") {
        if let Some(comma) = out[close + 3..].find(", ").map(|c| close + 3 + c + 2) {
            let len = out[comma..].bytes().take_while(u8::is_ascii_digit).count();
            if len > 0 {
                out.replace_range(comma..comma + len, "T");
            }
        }
    }
    out
}

/// An epoll line with what differs between runs, and between the twins,
/// replaced: the data an event carries (a pointer in C, a slot number in
/// Rust) as `D`, the socket epoll_ctl names (`FDn`), and epoll_wait's
/// timeout, which counts down to the nearest deadline, as `T` (`-1` stays).
/// The epoll descriptor itself, the first argument, is named as any other.
fn normalise_epoll(line: &str, call: &str, fds: &mut FdNames) -> String {
    let mut out = line.to_string();
    while let Some(start) = out.find("data={") {
        let end = start + out[start..].find('}').expect("data={...}");
        out.replace_range(start..=end, "data=D");
    }
    // The number after `after` (a descriptor, or a timeout) replaced by `with`.
    let mut replace_number = |out: &mut String, after: usize, with: &dyn Fn(&str, &mut FdNames) -> String| {
        let len = out[after..].bytes().take_while(u8::is_ascii_digit).count();
        if len > 0 {
            let replaced = with(&out[after..after + len], fds);
            out.replace_range(after..after + len, &replaced);
        }
    };
    if call == "epoll_ctl" {
        // epoll_ctl(EPFD, EPOLL_CTL_OP, FD, ...)
        if let Some(op) = out.find("EPOLL_CTL_") {
            if let Some(comma) = out[op..].find(", ").map(|c| op + c + 2) {
                replace_number(&mut out, comma, &|fd, fds| fds.name(fd, false));
            }
        }
    } else if call == "epoll_wait" {
        // epoll_wait(EPFD, [EVENTS], MAXEVENTS, TIMEOUT) = N
        if let Some(close) = out.rfind("], ") {
            if let Some(comma) = out[close + 3..].find(", ").map(|c| close + 3 + c + 2) {
                replace_number(&mut out, comma, &|_, _| "T".to_string());
            }
        }
    }
    out
}

/// The first numeric argument of a call such as `accept(3, ...`.
fn first_arg(line: &str) -> Option<(usize, usize)> {
    let open = line.find('(')?;
    let digits = line[open + 1..].bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && line[open + 1 + digits..].starts_with([',', ')'])).then_some((open + 1, open + 1 + digits))
}

/// Descriptor names of one thread: the numbers may differ between runs (a
/// thread-per-client server's next accept may come before or after the last
/// thread closed its socket), so each thread names its descriptors in order:
/// one it has not seen yet, or one a `socket` or `accept` returns, gets the
/// next name.
#[derive(Default)]
struct FdNames {
    names: HashMap<String, String>,
    count: usize,
}

impl FdNames {
    fn name(&mut self, fd: &str, fresh: bool) -> String {
        if fresh || !self.names.contains_key(fd) {
            self.names.insert(fd.to_string(), format!("FD{}", self.count));
            self.count += 1;
        }
        self.names[fd].clone()
    }
}

/// One strace line with what must differ between runs replaced: descriptor
/// numbers, ports, pointers, pids, and strace's padding before ` = `.
fn normalise_line(line: &str, fds: &mut FdNames) -> String {
    let mut line = line.to_string();
    let call = line.split('(').next().unwrap_or("").to_string();
    if call == "poll" {
        line = normalise_poll(&line, fds);
    } else if !matches!(call.as_str(), "socket" | "socketpair") {
        if call.starts_with("epoll_") {
            line = normalise_epoll(&line, &call, fds);
        }
        if let Some((start, end)) = first_arg(&line) {
            let fd = fds.name(&line[start..end], false);
            line.replace_range(start..end, &fd);
        }
    }
    // Collapse the padding strace adds to align the results.
    while line.contains("  = ") {
        line = line.replace("  = ", " = ");
    }
    if matches!(call.as_str(), "socket" | "accept" | "accept4" | "epoll_create1") {
        if let Some(eq) = line.rfind(") = ") {
            let ret = &line[eq + 4..];
            if ret.bytes().all(|b| b.is_ascii_digit()) && !ret.is_empty() {
                let fd = fds.name(ret, true);
                line.replace_range(eq + 4.., &fd);
            }
        }
    }
    let mut out = String::new();
    let mut rest = line.as_str();
    // Numbers after these markers differ from run to run.
    while let Some((i, marker)) =
        ["htons(", "0x", "si_pid=", "si_uid="].iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min()
    {
        out.push_str(&rest[..i + marker.len()]);
        let tail = &rest[i + marker.len()..];
        let len = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(if len > 0 { "N" } else { "" });
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// The thread ids `text` (one thread's trace) saw its clone calls return,
/// in the order it made them.
fn made_by(text: &str) -> Vec<u32> {
    text.lines()
        .filter(|l| l.starts_with("clone(") || l.starts_with("clone3("))
        .filter_map(|l| l.rsplit(" = ").next()?.parse().ok())
        .collect()
}

/// All the trace files of one run, thread by thread in the order the threads
/// were created, normalised. The order comes from the clone calls, each
/// thread followed by those it made: not from the thread ids, which wrap at
/// pid_max, so that a later thread can have a smaller id.
fn read_traces(dir: &Path) -> String {
    let mut texts: std::collections::BTreeMap<u32, String> = fs::read_dir(dir)
        .expect("trace directory")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let tid = path.extension()?.to_str()?.parse().ok()?;
            Some((tid, fs::read_to_string(&path).expect("read trace")))
        })
        .collect();
    let made: std::collections::HashSet<u32> = texts.values().flat_map(|t| made_by(t)).collect();
    let mut files: Vec<(u32, String)> = Vec::new();
    let mut next: Vec<u32> = texts.keys().copied().filter(|tid| !made.contains(tid)).rev().collect();
    while let Some(tid) = next.pop() {
        let Some(text) = texts.remove(&tid) else { continue };
        next.extend(made_by(&text).into_iter().rev());
        files.push((tid, text));
    }
    // Whatever the walk did not reach (nothing should be left): after the
    // others, by id, so that no trace is dropped unseen.
    files.extend(std::mem::take(&mut texts));
    assert!(!files.is_empty(), "strace wrote no trace into {}", dir.display());
    let mut out = String::new();
    for (n, (_, text)) in files.iter().enumerate() {
        out.push_str(&format!("== thread {}\n", n + 1));
        let mut fds = FdNames::default();
        // A call still blocked when the process exits (`accept(3,
        // <unfinished ...>) = ?`) is left out: whether the main thread was
        // back in accept when SIGTERM came is timing, not behaviour.
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("<unfinished ...>") && *l != RUST_RUNTIME_POLL)
            .filter(|l| !l.starts_with("clone(") && !l.starts_with("clone3("))
            .collect();
        // A pool's worker is handed its connections (no accept of its own),
        // so the number a session's socket has depends on whether the main
        // thread accepted it before or after the worker closed the last one:
        // each session (its timeouts set, RCVTIMEO then SNDTIMEO) gets a
        // name of its own instead.
        let handed = !lines.iter().any(|l| l.starts_with("accept") || l.starts_with("socket"));
        for (i, line) in lines.iter().enumerate() {
            let session_starts = handed
                && line.starts_with("setsockopt(")
                && line.contains("SO_RCVTIMEO")
                && lines.get(i + 1).is_some_and(|next| next.contains("SO_SNDTIMEO"));
            if let Some((start, end)) = first_arg(line).filter(|_| session_starts) {
                fds.name(&line[start..end], true);
            }
            out.push_str(&normalise_line(line, &mut fds));
            out.push('\n');
        }
    }
    let _ = fs::remove_dir_all(dir);
    out
}

/// Runs `trace` for C and Rust at once and asserts the traces are equal;
/// returns the C trace for further checks.
fn assert_same_syscalls(rule: &str, trace: impl Fn(Lang) -> String + Sync) -> String {
    let [c, rust] = thread::scope(|scope| {
        let trace = &trace;
        let handles = LANGS.map(|lang| scope.spawn(move || trace(lang)));
        handles.map(|h| h.join().expect("trace thread"))
    });
    let diff = unified_diff("C", &c, "Rust", &rust);
    assert!(diff.is_empty(), "{rule}: the system calls differ:\n{diff}\nC trace:\n{c}");
    c
}

/// Every `sendto` carries MSG_NOSIGNAL (SPEC "The protocol" 7).
fn assert_sends_have_nosignal(trace: &str) {
    for line in trace.lines().filter(|l| l.starts_with("sendto(")) {
        assert!(line.contains("MSG_NOSIGNAL"), "send without MSG_NOSIGNAL: {line}\n{trace}");
    }
}

// ---------------------------------------------------------------------------
// Servers

/// The pid strace started: the traced server itself (a child we started,
/// through strace, so it is ours to signal).
fn tracee_pid(strace_pid: u32) -> Pid {
    let children = fs::read_to_string(format!("/proc/{strace_pid}/task/{strace_pid}/children"))
        .expect("read the children of strace");
    let pid = children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("strace has a child");
    Pid::from_raw(pid)
}

/// Reads until `want` bytes came, or EOF, or an error: what the server does
/// is for the trace to show, not for this driver to judge.
fn read_up_to(stream: &mut TcpStream, want: usize) {
    let mut got = 0;
    let mut chunk = [0u8; 4096];
    while got < want {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => got += n,
        }
    }
}

/// The server sessions, one connection after another: lines, a 5,000-byte
/// line, a batched `quit`; pending bytes at EOF; a reset; an idle timeout.
/// Each waits for the server's side of the socket, not for a log line, so
/// that a changed log line shows in the tests that check logs, not here.
fn drive_server(server: &Server, tracee: Pid) {
    // Each session starts once the server has closed the one before: a poll
    // server would otherwise see that close and the next connect in one
    // wake-up or in two, as it happens.
    let pid = tracee.as_raw() as u32;
    let idle_fds = idle_fds_of_tree(pid);
    let idle_threads = proc_status(pid, "Threads");
    // server_prefork's children are there before any client, and stay.
    let idle_children = children_of(pid).len();
    let closed = || {
        let start = Instant::now();
        while open_fds_of_tree(pid) > idle_fds {
            assert!(start.elapsed() < DEADLINE, "the server never closed the connection");
            thread::sleep(std::time::Duration::from_millis(2));
        }
    };
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    let mut long = vec![b'y'; 5000];
    long.push(b'\n');
    for line in [&b"hello\t\x00\xff\\\n"[..], &long] {
        stream.write_all(line).unwrap();
        read_up_to(&mut stream, line.len()); // the echo: the next send finds the server in recv
    }
    stream.write_all(b"a\nquit\n").unwrap();
    read_up_to(&mut stream, usize::MAX); // until the server closes
    drop(stream); // the end of the lingering close
    closed();

    let mut stream = server.connect();
    stream.write_all(b"partial").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_up_to(&mut stream, usize::MAX);
    closed();

    let mut stream = server.connect();
    stream.write_all(b"x\n").unwrap();
    read_up_to(&mut stream, 2);
    // SO_LINGER 0: close sends a reset, the server's recv fails.
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    sockets::sys::setsockopt(stream.as_fd(), libc::SOL_SOCKET, libc::SO_LINGER, &linger).unwrap();
    drop(stream);
    closed();

    let mut stream = server.connect();
    read_up_to(&mut stream, usize::MAX); // closed after the idle timeout
    closed();

    // Every connection's thread or child process has ended (main, the
    // signal thread and server_fork's log relay are left), so the traces are
    // whole when SIGTERM comes.
    let start = Instant::now();
    let pid = tracee.as_raw() as u32;
    while proc_status(pid, "Threads") > idle_threads || children_of(pid).len() > idle_children {
        assert!(start.elapsed() < DEADLINE, "the connection threads or processes never ended");
        thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `-n 1` for a server that takes a count (prefork, pool, reuseport): with
/// N children, threads or loops, which of them takes a connection is the
/// kernel's choice from run to run, and the two twins' traces would differ
/// in where a session's calls are, not in what they are. One worker makes
/// the trace the same every run (the guide's sessions do the same).
fn one_worker(program: &str) -> &'static [&'static str] {
    if programs::get(program).takes_count() {
        &["-n", "1"]
    } else {
        &[]
    }
}

fn server_trace(lang: Lang, program: &str) -> String {
    let dir = trace_dir(program, lang);
    let args = [&["-b", "127.0.0.1", "-p", "0", "-t", "1"][..], one_worker(program)].concat();
    let command = strace(&dir, lang, program, &args);
    let server = Server::start_command(lang, program, command);
    let tracee = tracee_pid(server.pid());
    drive_server(&server, tracee);
    kill(tracee, Signal::SIGTERM).expect("signal the traced server");
    let (status, _) = server.wait_exit(); // strace ends with its tracee
    assert!(status.success(), "{lang:?} {program} under strace: {status}");
    read_traces(&dir)
}

fn check_server(program: &str) {
    if !have_strace() {
        return;
    }
    let trace =
        assert_same_syscalls(&format!("SPEC \"Parity\", {program}"), |lang| server_trace(lang, program));
    // strace -ff writes a file per thread and per process: server_fork's four
    // sessions are four child processes, each traced from its fork on.
    let tasks = trace.lines().filter(|l| l.starts_with("== thread ")).count();
    let model = programs::get(program).model;
    let want = match model {
        // main, the signal thread, and a thread or a process per session
        Model::Threads => Some(6),
        // and the log relay, which reads and writes (no network call)
        Model::Fork => Some(7),
        // main, the signal thread: one thread serves every client
        Model::Single | Model::Poll | Model::Epoll => Some(2),
        // one child, thread or loop here (-n 1) and the design's own helpers:
        // the count is the C twin's, which assert_same_syscalls compared.
        Model::Prefork | Model::Pool | Model::Reuseport | Model::Line => None,
    };
    if let Some(want) = want {
        assert_eq!(tasks, want, "{program}: traced threads and processes:\n{trace}");
    }
    // And the calls SPEC names are there at all (a drift in both twins alike).
    let needles: &[&str] = match model {
        programs::Model::Poll => &[
            "SO_REUSEADDR, [1]",
            "O_NONBLOCK",
            "TCP_NODELAY, [1]",
            "ECONNRESET",
            "EAGAIN",
            "SHUT_WR",
            "(Timeout)",
            "revents=POLLIN",
        ],
        // server_reuseport: server_epoll's calls in every loop
        programs::Model::Epoll | programs::Model::Reuseport => &[
            "SO_REUSEADDR, [1]",
            "O_NONBLOCK",
            "TCP_NODELAY, [1]",
            "ECONNRESET",
            "EAGAIN",
            "SHUT_WR",
            "epoll_create1(EPOLL_CLOEXEC)",
            "EPOLL_CTL_ADD",
            "EPOLL_CTL_DEL",
            "events=EPOLLIN",
        ],
        _ => &["SO_REUSEADDR, [1]", "SO_RCVTIMEO", "SO_SNDTIMEO", "TCP_NODELAY, [1]", "ECONNRESET", "EAGAIN"],
    };
    for needle in needles {
        assert!(trace.contains(needle), "{program}: no {needle} in the trace:\n{trace}");
    }
    // And the listener each of its loops has.
    if model == Model::Reuseport {
        assert!(trace.contains("SO_REUSEPORT, [1]"), "{program}: no SO_REUSEPORT in the trace:\n{trace}");
    }
    // SPEC "The protocol" 5: after quit, a FIN (shutdown) before the close.
    assert!(
        trace.contains("shutdown(FD") && trace.contains("SHUT_WR) = 0"),
        "{program}: no shutdown:\n{trace}"
    );
    // SPEC "The protocol" 9: the backlog is SOMAXCONN (glibc's 4096).
    let listen = format!("listen(FD0, {}) = 0", libc::SOMAXCONN);
    assert!(trace.contains(&listen), "{program}: no {listen} in the trace:\n{trace}");
    assert_sends_have_nosignal(&trace);
}

/// SPEC "Parity", "The protocol" 7 and "The servers": every TCP server
/// of programs.txt makes the same calls as its C twin, per thread and per
/// process (main, the signal thread, a thread or a process per connection,
/// the log relay), the event loops' poll, epoll_ctl, epoll_wait and fcntl
/// included (each poll with the same descriptors, events and revents, each
/// accept until EAGAIN, each recv and send). One server after another (each
/// traced run is slow); every failing one is named at the end.
#[test]
fn syscalls_every_server() {
    let failed: Vec<&str> = servers()
        .into_iter()
        .filter(|program| std::panic::catch_unwind(|| check_server(program)).is_err())
        .collect();
    assert!(failed.is_empty(), "SPEC \"Parity\": the system calls differ (see above) for {failed:?}");
}

// ---------------------------------------------------------------------------
// The client

/// How a traced client session must end: its exit status, and the last
/// line it printed (on stdout, or on stderr for an error), so that a trace
/// is compared only for a session that went as the test meant.
struct Ends(i32, &'static str);

/// Runs the traced client with `stdin`, held open if `hold_stdin` (the
/// session then ends on the other side), within the deadline, and checks it
/// ended as `ends` says (strace exits with the traced program's status).
fn client_trace(name: &str, lang: Lang, args: &[&str], stdin: &[u8], hold_stdin: bool, ends: Ends) -> String {
    let dir = trace_dir(name, lang);
    let output = |stream: &str| fs::File::create(dir.with_extension(stream)).expect("create an output file");
    let mut child = strace(&dir, lang, "client", args)
        .stdin(Stdio::piped())
        .stdout(output("stdout"))
        .stderr(output("stderr"))
        .spawn()
        .expect("start strace");
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin);
    let held = if hold_stdin { Some(input) } else { None }; // else: EOF now
    let status = wait_bounded(&mut child, DEADLINE);
    drop(held);
    let [stdout, stderr] =
        ["stdout", "stderr"].map(|s| fs::read_to_string(dir.with_extension(s)).unwrap_or_default());
    let last = if ends.0 == 0 || stderr.is_empty() { &stdout } else { &stderr };
    let Ends(code, line) = ends;
    let what = format!("{lang:?} client {args:?} under strace");
    assert_eq!(status.code(), Some(code), "{what}: stdout:\n{stdout}stderr:\n{stderr}");
    assert_eq!(last.lines().last(), Some(line), "{what}: stdout:\n{stdout}stderr:\n{stderr}");
    read_traces(&dir)
}

/// SPEC "Parity" and "Client behaviour": lines, a 5,000-byte line, binary
/// bytes, then `quit`, against the C server.
#[test]
fn syscalls_client_echo_session() {
    if !have_strace() {
        return;
    }
    let server = Server::start(Lang::C, "server", &[]);
    let port = server.port.to_string();
    let mut input = b"hello\n".to_vec();
    input.extend(vec![b'z'; 5000]);
    input.extend_from_slice(b"\n\x00\xff\\\nquit\n");
    let trace = assert_same_syscalls("SPEC \"Parity\", client echo session", |lang| {
        client_trace("echo", lang, &["127.0.0.1", &port], &input, false, Ends(0, "closing connection"))
    });
    assert!(trace.contains("SO_RCVTIMEO"), "{trace}");
    assert_sends_have_nosignal(&trace);
}

/// SPEC "Parity" and "Errors and exit status": connection refused.
#[test]
fn syscalls_client_connection_refused() {
    if !have_strace() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let refused = format!("client: connect 127.0.0.1:{port}: Connection refused").leak();
    let trace = assert_same_syscalls("SPEC \"Parity\", connection refused", |lang| {
        client_trace("refused", lang, &["127.0.0.1", &port], b"x\n", false, Ends(1, refused))
    });
    assert!(trace.contains("ECONNREFUSED"), "{trace}");
}

/// SPEC "Parity" and "Client behaviour": no reply within `-t` (a listener
/// that never answers): recv fails with EAGAIN.
#[test]
fn syscalls_client_no_reply() {
    if !have_strace() {
        return;
    }
    let silent = TcpListener::bind("127.0.0.1:0").unwrap(); // the kernel completes the handshake
    let port = silent.local_addr().unwrap().port().to_string();
    let trace = assert_same_syscalls("SPEC \"Parity\", no reply", |lang| {
        client_trace(
            "noreply",
            lang,
            &["-t", "1", "127.0.0.1", &port],
            b"hello\n",
            false,
            Ends(1, "no reply within 1 s"),
        )
    });
    assert!(trace.contains("EAGAIN"), "{trace}");
}

/// SPEC "Parity" and "Client behaviour": the server closes the connection
/// (idle timeout) while the client waits for input.
#[test]
fn syscalls_client_server_closes() {
    if !have_strace() {
        return;
    }
    let server = Server::start(Lang::C, "server", &["-t", "1"]);
    let port = server.port.to_string();
    assert_same_syscalls("SPEC \"Parity\", server closes", |lang| {
        client_trace(
            "closed",
            lang,
            &["127.0.0.1", &port],
            b"a\n",
            true,
            Ends(1, "server closed the connection"),
        )
    });
}

// ---------------------------------------------------------------------------
// IPv6

/// Waits until the traced server is back where it started: its descriptors
/// at `fds` (the client's socket closed), its threads at `threads` (main,
/// the signal thread, server_fork's log relay), no child process; its
/// traces are then whole.
/// The descriptors open in `pid` and its children: a prefork child, not the
/// server, holds a session's socket, and a session is over when it closed it.
fn open_fds_of_tree(pid: u32) -> usize {
    open_fds(pid) + children_of(pid).into_iter().map(open_fds_of_child).sum::<usize>()
}

/// The server's descriptors at rest: the least of five looks 10 ms apart,
/// so that one its start-up holds for a moment (the Rust runtime reads a
/// cgroup file for the count of CPUs) is not taken for an idle one, which
/// would let a session's socket be counted as idle.
fn idle_fds_of_tree(pid: u32) -> usize {
    (0..5)
        .map(|_| {
            thread::sleep(std::time::Duration::from_millis(10));
            open_fds_of_tree(pid)
        })
        .min()
        .unwrap()
}

fn wait_until_idle(tracee: Pid, fds: usize, threads: u64, children: usize) {
    let pid = tracee.as_raw() as u32;
    let start = Instant::now();
    while open_fds_of_tree(pid) > fds
        || proc_status(pid, "Threads") > threads
        || children_of(pid).len() > children
    {
        assert!(start.elapsed() < DEADLINE, "the server never went back to idle: fds {} of {fds}, threads {} of {threads}, children {} of {children}", open_fds(pid), proc_status(pid, "Threads"), children_of(pid).len());
        thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `PROGRAM -b ::1` under strace, one session from `::1`: a line, `quit`,
/// the server's FIN, the client's close.
fn server_trace_ipv6(lang: Lang, program: &str) -> String {
    let dir = trace_dir(&format!("{program}-ipv6"), lang);
    let args = [&["-b", "::1", "-p", "0", "-t", "1"][..], one_worker(program)].concat();
    let command = strace(&dir, lang, program, &args);
    let mut server = Server::start_command(lang, program, command);
    server.host = std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let tracee = tracee_pid(server.pid());
    let idle_fds = idle_fds_of_tree(tracee.as_raw() as u32);
    let idle_threads = proc_status(tracee.as_raw() as u32, "Threads");
    // server_prefork's children are there before any client, and stay.
    let idle_children = children_of(tracee.as_raw() as u32).len();
    let mut stream = server.connect();
    stream.write_all(b"hello\n").unwrap();
    read_up_to(&mut stream, 6);
    stream.write_all(b"quit\n").unwrap();
    read_up_to(&mut stream, usize::MAX); // until the server's FIN
    drop(stream);
    wait_until_idle(tracee, idle_fds, idle_threads, idle_children);
    kill(tracee, Signal::SIGTERM).expect("signal the traced server");
    let (status, _) = server.wait_exit();
    assert!(status.success(), "{lang:?} {program} -b ::1 under strace: {status}");
    read_traces(&dir)
}

/// SPEC "Parity" and "Addresses": one IPv6 session on each server bound to
/// `::1` (an AF_INET6 socket with IPV6_V6ONLY set to 0 explicitly), and the
/// client at `::1`: the same calls in C and Rust.
#[test]
fn syscalls_ipv6_session() {
    if !have_strace() {
        return;
    }
    for program in servers() {
        let trace = assert_same_syscalls(&format!("SPEC \"Parity\", {program} -b ::1"), |lang| {
            server_trace_ipv6(lang, program)
        });
        for needle in ["socket(AF_INET6, SOCK_STREAM", "IPV6_V6ONLY, [0]", "sa_family=AF_INET6"] {
            assert!(trace.contains(needle), "{program} -b ::1: no {needle} in the trace:\n{trace}");
        }
    }
    let server = Server::start_bound(Lang::C, "server", "::1", &[]);
    let port = server.port.to_string();
    let trace = assert_same_syscalls("SPEC \"Parity\", client ::1", |lang| {
        client_trace("ipv6", lang, &["::1", &port], b"hello\nquit\n", false, Ends(0, "closing connection"))
    });
    assert!(trace.contains("connect(FD0, {sa_family=AF_INET6"), "{trace}");
    assert_sends_have_nosignal(&trace);
}

/// The trace from the first TCP socket on: what getaddrinfo does before
/// (nscd, netlink, the UDP probes that sort the addresses) is the C
/// library's own, the same library under both twins, with process ids in it.
fn from_first_tcp_socket(trace: &str) -> String {
    let mut at = 0;
    for line in trace.split_inclusive('\n') {
        if line.starts_with("socket(AF_INET") && line.contains("SOCK_STREAM") {
            return trace[at..].to_string();
        }
        at += line.len();
    }
    panic!("no TCP socket in the trace:\n{trace}");
}

/// SPEC "Parity" and "Addresses": a name with both families (`sbs-dual`,
/// ::1 then 127.0.0.1, in a hosts file of the client's own) against a
/// server on 127.0.0.1 only: both clients try ::1, are refused, and connect
/// to 127.0.0.1, with the same calls.
#[test]
fn syscalls_client_tries_each_address_in_order() {
    if !have_strace() {
        return;
    }
    let Some(dual) = DualHost::new() else { return };
    let server = Server::start(Lang::C, "server", &[]);
    let port = server.port.to_string();
    let trace = assert_same_syscalls("SPEC \"Parity\", a name with both families", |lang| {
        let dir = trace_dir("dual", lang);
        let out = dir.join("t");
        let client = bin(lang, "client");
        let args = ["-ff", "-e", "trace=network", "-o"].map(std::ffi::OsStr::new);
        let mut args = args.to_vec();
        args.extend([out.as_os_str(), client.as_os_str(), DualHost::NAME.as_ref(), port.as_ref()]);
        let command = dual.command("strace".as_ref(), &args);
        let result = run(command, b"hi\nquit\n", DEADLINE);
        assert_eq!(result.code(), Some(0), "{lang:?} client sbs-dual: {}", result.stderr());
        from_first_tcp_socket(&read_traces(&dir))
    });
    let refused = trace.find("AF_INET6").zip(trace.find("ECONNREFUSED"));
    let connected = trace.find("sa_family=AF_INET, sin_port");
    assert!(
        matches!((refused, connected), (Some((v6, no)), Some(v4)) if v6 < no && no < v4),
        "not ::1 refused, then 127.0.0.1:\n{trace}"
    );
}

// ---------------------------------------------------------------------------
// The UDP pair (SPEC "UDP"): recvfrom and sendto on one socket, no listen or
// accept; the client's connected datagram socket.

/// The traced `server_udp`, sent a line, an empty datagram and a binary one
/// by a socket of the test's own (each echo awaited), then SIGTERM.
fn udp_server_trace(lang: Lang) -> String {
    let dir = trace_dir("server_udp", lang);
    let command = strace(&dir, lang, "server_udp", &["-b", "127.0.0.1", "-p", "0"]);
    let server = Server::start_command(lang, "server_udp", command);
    let tracee = tracee_pid(server.pid());
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server.addr()).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 64];
    for datagram in [&b"hello\n"[..], b"", b"\x00\xff\n"] {
        socket.send(datagram).unwrap();
        assert_eq!(socket.recv(&mut buf).ok(), Some(datagram.len()), "{lang:?}: the echo");
    }
    kill(tracee, Signal::SIGTERM).expect("signal the traced server");
    let (status, _) = server.wait_exit();
    assert!(status.success(), "{lang:?} server_udp under strace: {status}");
    read_traces(&dir)
}

/// SPEC "Parity" and "UDP": `server_udp` makes the C's calls: a datagram
/// socket, bind, then recvfrom and sendto per datagram; no SO_REUSEADDR,
/// listen or accept.
#[test]
fn syscalls_server_udp() {
    if !have_strace() {
        return;
    }
    let trace = assert_same_syscalls("SPEC \"Parity\", server_udp", udp_server_trace);
    for needle in
        ["SOCK_DGRAM", "recvfrom(FD0, \"hello\\n\", 65536, 0, {sa_family=AF_INET", "sendto(FD0, \"\", 0, 0"]
    {
        assert!(trace.contains(needle), "server_udp: no {needle} in the trace:\n{trace}");
    }
    for absent in ["SO_REUSEADDR", "listen(", "accept"] {
        assert!(!trace.contains(absent), "server_udp: {absent} in the trace:\n{trace}");
    }
}

/// The traced `client_udp` with `stdin`, to its end.
fn udp_client_trace(name: &str, lang: Lang, args: &[&str], stdin: &[u8]) -> String {
    let dir = trace_dir(name, lang);
    let mut child = strace(&dir, lang, "client_udp", args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strace");
    let _ = child.stdin.take().unwrap().write_all(stdin); // then EOF
    wait_bounded(&mut child, DEADLINE);
    read_traces(&dir)
}

/// SPEC "Parity" and "UDP": `client_udp` against the C server (lines, one
/// too long for a datagram), against a socket that never answers (EAGAIN),
/// and against a closed port (ECONNREFUSED from recv).
#[test]
fn syscalls_client_udp() {
    if !have_strace() {
        return;
    }
    let server = Server::start(Lang::C, "server_udp", &[]);
    let port = server.port.to_string();
    let mut input = b"hello\n\x00\xff\n".to_vec();
    input.extend(vec![b'z'; 65_508]);
    input.extend_from_slice(b"\nquit\n");
    let trace = assert_same_syscalls("SPEC \"Parity\", client_udp echo", |lang| {
        udp_client_trace("udp-echo", lang, &["127.0.0.1", &port], &input)
    });
    for needle in ["SOCK_DGRAM, IPPROTO_UDP", "connect(FD0", "SO_RCVTIMEO", "recvfrom(FD0, \"hello\\n\""] {
        assert!(trace.contains(needle), "client_udp: no {needle} in the trace:\n{trace}");
    }
    // Two datagrams out, hello and the binary line: not the one too long, not quit.
    assert_eq!(trace.lines().filter(|l| l.starts_with("sendto(")).count(), 2, "{trace}");

    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    let trace = assert_same_syscalls("SPEC \"Parity\", client_udp no reply", |lang| {
        udp_client_trace("udp-silent", lang, &["127.0.0.1", &silent_port], b"a\n")
    });
    assert!(trace.contains("EAGAIN"), "{trace}");

    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let trace = assert_same_syscalls("SPEC \"Parity\", client_udp refused", |lang| {
        udp_client_trace("udp-refused", lang, &["127.0.0.1", &closed], b"a\n")
    });
    assert!(trace.contains("ECONNREFUSED"), "{trace}");
}
