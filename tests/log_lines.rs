//! SPEC "Server output": one line per event, each line whole at any length:
//! never cut by or interleaved with another thread's or process's line, also
//! when stdout is a pipe whose reader is slow and the pipe fills.
//!
//! The hardest case for that rule: the longest log lines there are (a
//! `recv:` of a 1024-byte line whose every byte but the `\n` is escaped,
//! 4,092 characters of text, a log line of 4,117 bytes, more than PIPE_BUF),
//! from many clients at once, into a pipe that is full because its reader
//! pauses. A pipe write longer than PIPE_BUF (4,096 bytes) is not atomic:
//! when the pipe is full it goes in parts, and another writer's bytes can
//! come between. In one process stdout's lock keeps the writers apart; the
//! processes of `server_fork` need more (see "The log" in server_fork.c),
//! and for it the test also kills one of its children in the middle of the
//! run: the other lines still come out whole, and the server goes on.
//! Every server of `servers()`, C and Rust.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const CLIENTS: usize = 16;
const LINES: usize = 40;

/// A line whose every byte but the `\n` is escaped: 1023 x 0xff (one
/// buffer's worth) is 4,092 characters of `\xff`, a log line of 4,117 bytes.
fn hostile_line() -> Vec<u8> {
    let mut line = vec![0xff; 1023];
    line.push(b'\n');
    line
}

/// One client's session: `LINES` hostile lines, echoes read as they come,
/// then `quit`. Returns its log lines' prefix (`[PEER] `), and whether the session
/// went to its end (every echo back, `quit` sent) or was cut by the server.
fn flood(port: u16) -> (String, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE * 3)).unwrap();
    let peer = peer_of(&stream);
    let data: Vec<u8> = hostile_line().repeat(LINES);
    let mut reader = stream.try_clone().unwrap();
    let want = data.len();
    let echoes = thread::spawn(move || {
        let mut got = 0;
        let mut chunk = [0u8; 65536];
        while got < want {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    });
    // A killed child resets the connection: the send may fail, the echoes stop.
    let sent = stream.write_all(&data).is_ok();
    let whole = sent && echoes.join().unwrap() == want && stream.write_all(b"quit\n").is_ok();
    (peer, whole)
}

/// Whether some thread of the process, or of one of its child processes, is
/// blocked writing into a full pipe (its wait channel is `pipe_write`, or
/// `anon_pipe_write` in newer kernels).
fn blocked_on_a_full_pipe(pid: u32) -> bool {
    std::iter::once(pid).chain(children_of(pid)).any(|process| {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{process}/task")) else { return false };
        tasks.flatten().any(|task| {
            std::fs::read_to_string(task.path().join("wchan"))
                .is_ok_and(|wchan| wchan.ends_with("pipe_write"))
        })
    })
}

/// A child process of `pid` that is in write(2) (`/proc/PID/syscall` starts
/// with the call's number), as a server_fork child waiting to log a line.
fn child_in_write(pid: u32) -> Option<u32> {
    let write = libc::SYS_write.to_string();
    children_of(pid).into_iter().find(|child| {
        std::fs::read_to_string(format!("/proc/{child}/syscall"))
            .is_ok_and(|call| call.split(' ').next() == Some(write.as_str()))
    })
}

/// The server's stdout, read to its end on a thread, and what has come so far.
struct LogReader {
    text: Arc<Mutex<Vec<u8>>>,
    thread: thread::JoinHandle<()>,
}

impl LogReader {
    fn start(mut stdout: BufReader<ChildStdout>) -> LogReader {
        let text = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&text);
        let thread = thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                shared.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        LogReader { text, thread }
    }

    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.text.lock().unwrap()).matches(needle).count()
    }

    fn finish(self) -> String {
        self.thread.join().expect("the log reader");
        let text = self.text.lock().unwrap();
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// Starts the server with its stdout a pipe; returns it, its port, and the
/// pipe after the `listening` line.
fn start(lang: Lang, program: &str) -> (Child, u16, BufReader<ChildStdout>) {
    let mut child = Command::new(bin(lang, program))
        .args(["-b", "127.0.0.1", "-p", "0", "-t", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut listening = String::new();
    stdout.read_line(&mut listening).expect("the listening line");
    let port: u16 = listening
        .split(' ')
        .nth(2)
        .and_then(|addr| addr.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {listening:?}"));
    (child, port, stdout)
}

/// `CLIENTS` floods at once into a server whose stdout nobody reads until
/// the pipe is full and a writer waits; then (if `kill_a_child`) one of the
/// server's child processes is killed with SIGKILL, the log is read, one more
/// session is served, and the server is stopped. Every line must be a whole
/// log line, each session's lines all there, and the server's end clean.
fn check(lang: Lang, program: &'static str, kill_a_child: bool) {
    let what = format!("{lang:?} {program}{}", if kill_a_child { ", a child killed" } else { "" });
    let (mut child, port, stdout) = start(lang, program);
    let pid = child.id();
    let clients: Vec<_> = (0..CLIENTS).map(|_| thread::spawn(move || flood(port))).collect();
    wait_until(&format!("{what}: a writer waits on the full pipe"), || blocked_on_a_full_pipe(pid));
    if kill_a_child {
        // A child in the middle of a line: its session has an echo to come.
        let mut victim = None;
        wait_until(&format!("{what}: a child in write(2)"), || {
            victim = child_in_write(pid);
            victim.is_some()
        });
        kill(Pid::from_raw(victim.unwrap() as i32), Signal::SIGKILL).expect("kill a child");
    }
    let log = LogReader::start(stdout);
    let sessions: Vec<(String, bool)> = clients.into_iter().map(|c| c.join().expect("a client")).collect();
    let cut = sessions.iter().filter(|(_, whole)| !whole).count();
    assert_eq!(cut, usize::from(kill_a_child), "{what}: sessions cut short: {sessions:?}");

    // The server goes on: one more session, after the kill.
    let mut after = TcpStream::connect(("127.0.0.1", port)).expect("connect after the run");
    after.set_read_timeout(Some(DEADLINE)).unwrap();
    after.write_all(b"after\n").unwrap();
    let mut echo = [0u8; 6];
    after.read_exact(&mut echo).expect("the echo after the run");
    after.write_all(b"quit\n").unwrap();
    drop(after);
    // Every session that ran to its end logged it before the server is stopped.
    let quits = sessions.len() - cut + 1;
    wait_until(&format!("{what}: {quits} quit lines"), || log.count("] quit\n") == quits);
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("signal the server");
    let status = wait_bounded(&mut child, DEADLINE);
    assert_eq!(status.code(), Some(0), "{what}: the server's end");
    let log = log.finish();
    check_log(&what, &log, &sessions, programs::get(program).forks_per_client());
}

/// Whether `line` is one whole log line of this test's sessions.
fn whole(line: &str, piece: &str) -> bool {
    let Some((peer, event)) = line.split_once("] ") else {
        return line == "shutting down" || is_replacement(line);
    };
    let peer_ok =
        peer.strip_prefix("[127.0.0.1:").is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()));
    peer_ok
        && (matches!(event, "connected" | "quit" | "disconnected" | "recv: after")
            || event.strip_prefix("recv: ") == Some(piece))
}

/// server_prefork's line for the child the test killed, and the one that
/// took its place (SPEC "The servers": a child that dies is replaced and
/// logged): `child PID killed by signal 9, replaced by PID`.
fn is_replacement(line: &str) -> bool {
    let pid = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    line.strip_prefix("child ")
        .and_then(|rest| rest.split_once(" killed by signal 9, replaced by "))
        .is_some_and(|(dead, new)| pid(dead) && pid(new))
}

/// Every line whole; each whole session's `LINES` recv lines and its quit
/// there, the cut session's at most that and no end of its own; the last
/// line `shutting down`. A child per client (server_fork) has its
/// `connected` line written by the parent, so even the cut session has it;
/// a prefork child logs its own, and may be killed before it did.
fn check_log(what: &str, log: &str, sessions: &[(String, bool)], parent_logs_connected: bool) {
    let line = hostile_line();
    let piece = spec_escape(&line[..line.len() - 1]);
    let lines: Vec<&str> = log.lines().collect();
    let broken: Vec<&&str> = lines.iter().filter(|line| !whole(line, &piece)).collect();
    assert!(
        broken.is_empty(),
        "{what}: {} of {} lines are not whole log lines; the first: {:?}",
        broken.len(),
        lines.len(),
        broken.first().map(|line| &line[..line.len().min(200)])
    );
    for (peer, ran_to_end) in sessions {
        let of_peer =
            |event: &str| lines.iter().filter(|l| l.strip_prefix(peer.as_str()) == Some(event)).count();
        let recvs = of_peer(&format!("recv: {piece}"));
        if *ran_to_end || parent_logs_connected {
            assert_eq!(of_peer("connected"), 1, "{what}: {peer}connected");
        } else {
            assert!(of_peer("connected") <= 1, "{what}: {peer}connected more than once");
        }
        if *ran_to_end {
            assert_eq!((recvs, of_peer("quit")), (LINES, 1), "{what}: {peer}recv and quit lines");
        } else {
            assert!(recvs < LINES && of_peer("quit") == 0, "{what}: {peer}killed, logged {recvs} recv lines");
        }
    }
    assert_eq!(lines.iter().filter(|l| l.ends_with("] recv: after")).count(), 1, "{what}: the session after");
    assert_eq!(lines.last(), Some(&"shutting down"), "{what}: the last line");
}

/// SPEC "Server output": the longest lines, from 16 clients at once, into
/// a pipe that fills: every line whole, every server, C and Rust.
#[test]
fn log_lines_stay_whole_in_a_full_pipe() {
    thread::scope(|scope| {
        for program in servers() {
            for lang in LANGS {
                scope.spawn(move || check(lang, program, false));
            }
        }
    });
}

/// SPEC "Server output" and "The servers": the same, and one of the
/// server's processes killed with SIGKILL while the pipe is full: no line is
/// cut (the killed child's included), and the server serves on.
#[test]
fn log_lines_stay_whole_when_a_child_is_killed() {
    let forking: Vec<&str> = servers().into_iter().filter(|p| programs::get(p).forks()).collect();
    assert!(!forking.is_empty(), "programs.txt lists no server that forks");
    thread::scope(|scope| {
        for program in forking {
            for lang in LANGS {
                scope.spawn(move || check(lang, program, true));
            }
        }
    });
}

/// SPEC "Server output": one line per event, as it happens, so the log keeps
/// the order of the events. Sessions one after another (each reads the
/// server's end of stream after `quit` before the next connects): every
/// session's `quit` comes before the next session's `connected`. In
/// server_fork the two lines come from two processes, a child and the
/// parent, and still reach stdout in that order (see "The log" in
/// server_fork.c).
#[test]
fn log_keeps_the_order_of_sessions_one_after_another() {
    const SESSIONS: usize = 50;
    for_every_server(|lang, program| {
        let what = format!("{lang:?} {program}");
        let mut server = Server::start(lang, program, &[]);
        let mut peers = Vec::new();
        for i in 0..SESSIONS {
            let mut stream = server.connect();
            peers.push(peer_of(&stream));
            stream.write_all(format!("session {i}\nquit\n").as_bytes()).unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap_or_else(|e| panic!("{what}: session {i}: {e}"));
            assert_eq!(rest, format!("session {i}\n").as_bytes(), "{what}: session {i}");
        }
        server.wait_for(&format!("{}quit", peers[SESSIONS - 1]));
        let at = |line: String| {
            let found = server.log.iter().position(|l| *l == line);
            found.unwrap_or_else(|| panic!("{what}: no {line:?} in {:?}", server.log))
        };
        for pair in peers.windows(2) {
            let (quit, next) = (at(format!("{}quit", pair[0])), at(format!("{}connected", pair[1])));
            assert!(quit < next, "{what}: {:?} after {:?}", server.log[quit], server.log[next]);
        }
    });
}
