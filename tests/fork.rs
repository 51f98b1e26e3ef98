//! `server_fork`'s own rules (SPEC "The servers", issue 9), C and Rust,
//! for every server that forks a child per client (programs.txt:
//! `forks_per_client`; these tests count a child per session, so
//! server_prefork, whose children are forked before any client, has its own
//! in designs.rs):
//! every child is reaped, a shutdown leaves no process of the server behind,
//! the children die with a server killed by SIGKILL, and the log lines of
//! many processes never mix. Everything else server_fork must do, it does in
//! every other suite (it is in `SERVERS`).
//!
//! The children are found through `/proc/PID/task/TID/children` and ended,
//! when a test must, by their PIDs; no test signals a process group.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// The state letter and start time (in clock ticks since boot) of a process,
/// from `/proc/PID/stat`; None once it is gone (reaped). The start time
/// tells a process from a later one that got the same PID.
fn state_and_start(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) STATE ppid ... field 22 is starttime; comm may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields[0].chars().next()?, fields[19].parse().ok()?))
}

/// SPEC: no zombie outlives its client by more than a second. The tests
/// give that second two more, for a loaded 2-core machine, where the
/// server's signal thread may wait that long for a core.
const REAP_WITHIN: Duration = Duration::from_secs(3);

/// Whether the process that had `pid` and started at `start` still runs
/// (a zombie has ended: its code no longer runs, only its exit status waits).
fn still_runs(pid: u32, start: u64) -> bool {
    matches!(state_and_start(pid), Some((state, started)) if started == start && state != 'Z' && state != 'X')
}

/// Whether that process still exists in any form, a zombie included.
fn still_exists(pid: u32, start: u64) -> bool {
    matches!(state_and_start(pid), Some((_, started)) if started == start)
}

/// `n` clients, each served once (a line and its echo), kept connected; and
/// the server's children, one per client, with their start times.
fn connect_served(server: &mut Server, n: usize) -> (Vec<TcpStream>, Vec<(u32, u64)>) {
    let clients: Vec<TcpStream> = (0..n)
        .map(|i| {
            let mut stream = server.connect();
            let line = format!("client {i}\n");
            stream.write_all(line.as_bytes()).unwrap();
            let mut echo = vec![0; line.len()];
            stream.read_exact(&mut echo).expect("echo");
            assert_eq!(echo, line.as_bytes());
            stream
        })
        .collect();
    let pid = server.pid();
    wait_until_within("one child per client", DEADLINE, || children_of(pid).len() == n);
    let children =
        children_of(pid).into_iter().map(|child| (child, state_and_start(child).unwrap().1)).collect();
    (clients, children)
}

/// Every client sees its connection end: end of stream, or a reset.
fn assert_closed(clients: Vec<TcpStream>, what: &str) {
    for mut client in clients {
        let mut rest = Vec::new();
        match client.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "{what}: {rest:?}"),
            Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{what}"),
        }
    }
}

/// Watches the children of `pid` every 10 ms until `done` (at most a
/// minute): the longest time one of them was seen a zombie.
fn longest_zombie(pid: u32, done: &AtomicBool) -> Duration {
    let mut first_seen: HashMap<(u32, u64), Instant> = HashMap::new();
    let mut longest = Duration::ZERO;
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
        for child in children_of(pid) {
            if let Some(('Z', started)) = state_and_start(child) {
                let since = *first_seen.entry((child, started)).or_insert_with(Instant::now);
                longest = longest.max(since.elapsed());
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    longest
}

/// SPEC "The servers": every child is reaped when it exits, no zombie
/// outliving its client by more than a second (`REAP_WITHIN` here). 200
/// clients come and go, 4 at a time, while a watcher times every zombie it
/// sees; after the last session's end the server has no child left, not
/// even a zombie.
#[test]
fn fork_no_zombie_after_200_clients() {
    for (lang, program) in every_server_where(|p| p.forks_per_client()) {
        let mut server = Server::start(lang, program, &["-q"]);
        let pid = server.pid();
        let addr = server.addr();
        let done = AtomicBool::new(false);
        let longest = thread::scope(|scope| {
            let watcher = scope.spawn(|| longest_zombie(pid, &done));
            for _ in 0..4 {
                scope.spawn(move || {
                    for i in 0..50 {
                        let mut stream = TcpStream::connect(addr).expect("connect");
                        stream.set_read_timeout(Some(DEADLINE)).unwrap();
                        let line = format!("round {i}\n");
                        stream.write_all(line.as_bytes()).unwrap();
                        let mut echo = vec![0; line.len()];
                        stream.read_exact(&mut echo).expect("echo");
                    }
                });
            }
            for _ in 0..200 {
                let end = wait_for_session_end(&mut server, "] ", DEADLINE).expect("every session ends");
                assert!(end.ends_with("] disconnected"), "{lang:?}: {end}");
            }
            let took = wait_until_within(&format!("{lang:?}: no child left"), REAP_WITHIN, || {
                children_of(pid).is_empty()
            });
            println!(
                "{lang:?} {program}: 200 clients, the last child reaped {took:?} after its session ended"
            );
            done.store(true, Ordering::Relaxed);
            watcher.join().expect("the zombie watcher")
        });
        assert!(longest < REAP_WITHIN, "{lang:?}: a child stayed a zombie for {longest:?}");
        println!("{lang:?} {program}: the longest a child was seen a zombie: {longest:?}");
        let (status, _) = server.stop();
        assert!(status.success(), "{lang:?}: {status}");
    }
}

/// Stops a child with SIGSTOP (and waits until it is stopped): only
/// SIGKILL ends it now, any other signal stays pending until a SIGCONT.
fn stop(child: u32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child as i32), Signal::SIGSTOP)
        .expect("SIGSTOP a child");
    wait_until("a child stopped", || matches!(state_and_start(child), Some(('T', _))));
}

/// SPEC "The servers": SIGINT or SIGTERM ends every child (their
/// clients see the connection close), with SIGKILL (one child is stopped,
/// which nothing else ends), then `shutting down`, exit 0, and no process of
/// the server is left: not a child, not a zombie.
#[test]
fn fork_shutdown_ends_every_child_first() {
    for (lang, program) in every_server_where(|p| p.forks_per_client()) {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let what = format!("{lang:?} {program} {signal}");
            let mut server = Server::start(lang, program, &["-t", "60"]);
            let (clients, children) = connect_served(&mut server, 10);
            stop(children[0].0);
            server.signal(signal);
            let (status, log) = server.wait_exit();
            assert_eq!(status.code(), Some(0), "{what}");
            assert_eq!(log.last().map(String::as_str), Some("shutting down"), "{what}: {log:?}");
            for &(child, start) in &children {
                assert!(
                    !still_exists(child, start),
                    "{what}: child {child} is left: {:?}",
                    state_and_start(child)
                );
            }
            assert_closed(clients, &what);
        }
    }
}

/// SPEC "The servers": the shutdown waits for the children the server
/// forked, and only for them. `exec server_fork > >(exec cat)` gives the
/// server a child it did not fork (bash forks cat, then execs the server in
/// that process), and cat ends only when the server's stdout closes: a
/// shutdown that waited for every child (waitpid(-1) until ECHILD) would
/// never end.
#[test]
fn fork_shutdown_waits_only_for_its_own_children() {
    for (lang, program) in every_server_where(|p| p.forks_per_client()) {
        let what = format!("{lang:?} {program} with a child it did not fork");
        let mut command = Command::new("bash");
        command.args(["-c", r#"exec "$0" -b 127.0.0.1 -p 0 -t 60 > >(exec cat)"#]).arg(bin(lang, program));
        let server = Server::start_command(lang, program, command);
        let foreign = children_of(server.pid());
        assert_eq!(foreign.len(), 1, "{what}: cat is its only child before any client: {foreign:?}");
        let clients: Vec<TcpStream> = (0..2).map(|_| server.connect()).collect();
        let pid = server.pid();
        wait_until_within(&format!("{what}: a child per client"), DEADLINE, || children_of(pid).len() == 3);
        server.signal(Signal::SIGTERM);
        let (status, log) = server.wait_exit();
        assert_eq!(status.code(), Some(0), "{what}");
        assert_eq!(log.last().map(String::as_str), Some("shutting down"), "{what}: {log:?}");
        assert_closed(clients, &what);
    }
}

/// SPEC "The servers": a child whose parent was killed with SIGKILL
/// ends as well (PR_SET_PDEATHSIG with SIGKILL: one child is stopped, which
/// nothing else ends), and its client sees the close.
#[test]
fn fork_children_end_when_the_server_is_killed() {
    for (lang, program) in every_server_where(|p| p.forks_per_client()) {
        let what = format!("{lang:?} {program}, SIGKILL");
        // -t 60: only the parent's death, not an idle timeout, can end them.
        let mut server = Server::start(lang, program, &["-t", "60"]);
        let (clients, children) = connect_served(&mut server, 5);
        stop(children[0].0);
        server.signal(Signal::SIGKILL);
        let _ = server.wait_exit();
        for &(child, start) in &children {
            // Reparented to init (or a subreaper), which reaps it when it can.
            wait_until_within(&format!("{what}: child {child} ends"), DEADLINE, || !still_runs(child, start));
        }
        assert_closed(clients, &what);
    }
}

/// One `write(FD, ...)` of a trace by `strace -xx` (every byte as `\xHH`):
/// the bytes written, or None for another call or descriptor.
fn write_to(fd: u32, line: &str) -> Option<Vec<u8>> {
    let data = line.strip_prefix(&format!("write({fd}, \""))?.split('"').next()?;
    let bytes = data.split("\\x").skip(1).map(|hex| u8::from_str_radix(hex, 16).expect("hex byte")).collect();
    Some(bytes)
}

/// SPEC "The servers" and "Server output": every log line is one
/// write(2) into the log socket, the server's stdout (descriptor 1, of main
/// and of each child), and the relay writes each to the real stdout (its
/// `dup(1)`), one write(2) per line. Under `strace -ff` (a trace file per
/// thread and per process), every such write is exactly one whole line, also
/// the longest one the server writes: a 1024-byte piece of bytes shown as
/// `\xHH`, 4,096 bytes of text (longer than Rust's stdout buffer and than
/// glibc's for a pipe); the relay's writes are the log, in its order, main's
/// the `listening` and `connected` lines, and the children's their sessions'.
#[test]
fn fork_each_log_line_is_one_write() {
    if !have("strace", "-V") {
        return;
    }
    let mut input = b"short\n".to_vec();
    input.extend([1u8; 1023]);
    input.push(b'\n');
    input.extend([0xffu8; 1024]); // a full piece, then its line's end
    input.extend_from_slice(b"end\n");
    for (lang, program) in every_server_where(|p| p.forks_per_client()) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "fork-writes-{}-{}",
            std::process::id(),
            lang.dir()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new("strace");
        command
            .args(["-ff", "-xx", "-s", "65536", "-e", "trace=write,dup", "-o"])
            .arg(dir.join("t"))
            // The plain build, also under `make sanitize`: LeakSanitizer
            // cannot run under ptrace, and the writes are what is checked.
            .arg(root().join("build").join(lang.dir()).join(program))
            .args(["-b", "127.0.0.1", "-p", "0"]);
        let server = Server::start_command(lang, program, command);
        for _ in 0..2 {
            assert_eq!(exchange(&server, &input), input, "{lang:?}");
        }
        let tracee = children_of(server.pid())[0];
        wait_until_within("the children are reaped", DEADLINE, || children_of(tracee).is_empty());
        let server_threads: HashSet<String> = std::fs::read_dir(format!("/proc/{tracee}/task"))
            .expect("the server's threads")
            .map(|task| task.unwrap().file_name().into_string().unwrap())
            .collect();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(tracee as i32), Signal::SIGTERM).unwrap();
        let (status, log) = server.wait_exit();
        assert!(status.success(), "{lang:?}: {status}");

        // Trace files are t.TID: the server's threads', and the children's.
        let traces: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let tid = path.extension().unwrap().to_str().unwrap().to_owned();
                (tid, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        assert_eq!(
            traces.len(),
            5,
            "{lang:?}: main, the signal thread, the log relay and two children each have a trace"
        );
        // The real stdout: the descriptor `dup(1)` gave main.
        let real_stdout: u32 = traces
            .iter()
            .flat_map(|(_, trace)| trace.lines())
            .find_map(|line| line.strip_prefix("dup(1)")?.trim_start().strip_prefix("= ")?.parse().ok())
            .unwrap_or_else(|| panic!("{lang:?}: no dup(1) in the traces"));
        let (mut relay_writes, mut main_writes, mut child_writes) = (Vec::new(), Vec::new(), Vec::new());
        for (tid, trace) in &traces {
            relay_writes.extend(trace.lines().filter_map(|line| write_to(real_stdout, line)));
            let into_the_log = trace.lines().filter_map(|line| write_to(1, line));
            if server_threads.contains(tid) {
                main_writes.extend(into_the_log);
            } else {
                child_writes.extend(into_the_log);
            }
        }
        for bytes in relay_writes.iter().chain(&main_writes).chain(&child_writes) {
            let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
            assert!(
                newlines == 1 && bytes.ends_with(b"\n"),
                "{lang:?}: a write that is not one whole line: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let as_text = |writes: &[Vec<u8>]| -> Vec<String> {
            writes.iter().map(|w| String::from_utf8_lossy(&w[..w.len() - 1]).into_owned()).collect()
        };
        let sorted = |mut lines: Vec<String>| {
            lines.sort();
            lines
        };
        assert_eq!(as_text(&relay_writes), log, "{lang:?}: the relay's writes, one per log line, in order");
        let (main_lines, session_lines): (Vec<String>, Vec<String>) = log
            .iter()
            .filter(|l| *l != "shutting down")
            .cloned()
            .partition(|l| l.starts_with("listening on ") || l.ends_with("] connected"));
        assert_eq!(as_text(&main_writes), main_lines, "{lang:?}: main's writes, its lines");
        assert_eq!(
            sorted(as_text(&child_writes)),
            sorted(session_lines),
            "{lang:?}: the children's writes, one per line of their sessions"
        );
        let longest = relay_writes.iter().map(Vec::len).max().unwrap();
        assert!(longest > 4096, "{lang:?}: the longest line was {longest} bytes");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Line `n` of client `id`: 700 to 1,000 bytes, a quarter of them control
/// bytes the log shows as `\xHH` (or `\t`, `\r`), so that each log line is
/// 1.2 to 1.8 KB, lines of many sizes (tests/log_lines.rs has the longest).
fn mixed_line(id: usize, n: usize) -> Vec<u8> {
    const CONTROL: [u8; 6] = [0x01, 0x02, b'\t', b'\r', 0x1b, 0x7f]; // no '\n'
    let len = 700 + (id * 37 + n * 101) % 300;
    let mut line = format!("client {id:02} line {n:02} ").into_bytes();
    line.extend(
        (line.len()..len).map(|i| if i % 4 == 0 { CONTROL[i / 4 % 6] } else { b'a' + (i % 26) as u8 }),
    );
    line.push(b'\n');
    line
}

/// SPEC "The servers" and "Server output": 50 clients at once, each
/// sending 20 long lines full of escaped bytes, each line sent as soon as
/// the previous echo is back: 50 processes write to the one stdout pipe at
/// the same time. Every line of the log is whole: each `recv:` line is one
/// of the lines sent, escaped, and each comes exactly once.
#[test]
fn fork_log_lines_of_50_clients_never_mix() {
    const CLIENTS: usize = 50;
    const LINES: usize = 20;
    for (lang, program) in every_server_where(|p| p.forks_per_client()) {
        let mut server = Server::start(lang, program, &[]);
        let addr = server.addr();
        let peers: Vec<String> = thread::scope(|scope| {
            let handles: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    scope.spawn(move || {
                        let mut stream = TcpStream::connect(addr).expect("connect");
                        stream.set_read_timeout(Some(DEADLINE)).unwrap();
                        for n in 0..LINES {
                            let line = mixed_line(id, n);
                            stream.write_all(&line).unwrap();
                            let mut echo = vec![0; line.len()];
                            stream.read_exact(&mut echo).expect("echo");
                            assert_eq!(echo, line);
                        }
                        format!("[{}] ", stream.local_addr().unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("client thread")).collect()
        });
        // Every child has exited: every line is in the pipe.
        let pid = server.pid();
        wait_until_within(&format!("{lang:?}: every child exits"), DEADLINE, || children_of(pid).is_empty());
        server.drain(Duration::from_millis(300));
        let mut want: HashSet<String> = HashSet::new();
        for (id, peer) in peers.iter().enumerate() {
            want.insert(format!("{peer}connected"));
            want.insert(format!("{peer}disconnected"));
            for n in 0..LINES {
                let line = mixed_line(id, n);
                want.insert(format!("{peer}recv: {}", spec_escape(&line[..line.len() - 1])));
            }
        }
        let log = &server.log[1..]; // after the `listening` line
        for line in log {
            assert!(want.contains(line), "{lang:?}: a line that is not whole: {line:?}");
        }
        assert_eq!(log.len(), want.len(), "{lang:?}: each line once");
        assert_eq!(log.iter().collect::<HashSet<_>>().len(), want.len(), "{lang:?}: each line once");
    }
}
