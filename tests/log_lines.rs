//! SPEC "Server output": one line per event, "each line whole: never
//! interleaved with another thread's or process's", also when stdout is a
//! pipe.
//!
//! The hardest case for that rule: about the longest log lines there are (a
//! `recv:` of a 1024-byte line whose every byte but the `\n` is escaped,
//! 4,092 characters of text, more than PIPE_BUF with its `[PEER] recv: `), from
//! many clients at once, into a pipe that is full because its reader
//! pauses. A pipe write longer than PIPE_BUF is not atomic: when the pipe
//! is full it goes in parts, and another writer's bytes can come between.
//! In one process that does no harm (stdout's lock is held for the whole
//! write, so the other threads wait); between the processes of
//! `server_fork` it does, and no lock spans them. So `server_fork` keeps the
//! promise for lines of up to PIPE_BUF bytes (every line but the `recv:` of
//! a piece of mostly undisplayable bytes), and this test gives it the
//! longest such lines; README says so.
//! Every server of `SERVERS`, C and Rust.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::*;

const CLIENTS: usize = 16;
const LINES: usize = 40;
/// PIPE_BUF: the longest pipe write that is never split.
const PIPE_BUF: usize = 4096;

/// A line whose every byte but the `\n` is escaped: 1023 x 0xff (one
/// buffer's worth) is 4,092 characters of `\xff`, a log line of 4,117
/// bytes; for `server_fork`, 1,000 x 0xff, a log line just under PIPE_BUF.
fn hostile_line(program: &str) -> Vec<u8> {
    let mut line = vec![0xff; if program == "server_fork" { 1000 } else { 1023 }];
    line.push(b'\n');
    line
}

/// One client: `LINES` hostile lines, echoes read as they come, then `quit`.
fn flood(port: u16, program: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE * 3)).unwrap();
    let data: Vec<u8> = hostile_line(program).repeat(LINES);
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
    stream.write_all(&data).expect("send");
    assert_eq!(echoes.join().unwrap(), want, "every echo");
    stream.write_all(b"quit\n").unwrap();
}

/// Whether `line` is one whole log line of this test's sessions.
fn whole(line: &str, piece: &str) -> bool {
    if line.starts_with("listening on ") || line == "shutting down" {
        return true;
    }
    let Some((peer, event)) = line.split_once("] ") else { return false };
    let peer_ok =
        peer.strip_prefix("[127.0.0.1:").is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()));
    peer_ok
        && (matches!(event, "connected" | "quit" | "disconnected")
            || event.strip_prefix("recv: ") == Some(piece))
}

fn check(lang: Lang, program: &'static str) {
    let mut child = Command::new(bin(lang, program))
        .args(["-b", "127.0.0.1", "-p", "0"])
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
    // Nobody reads the pipe for a second: it fills, and the writers wait.
    let clients: Vec<_> = (0..CLIENTS).map(|_| thread::spawn(move || flood(port, program))).collect();
    thread::sleep(Duration::from_secs(1));
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).expect("read the log");
        text
    });
    for client in clients {
        client.join().expect("a client");
    }
    // Every session logged its end before the server is stopped.
    thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .expect("signal the server");
    wait_bounded(&mut child, DEADLINE);
    let log = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let line = hostile_line(program);
    let piece = spec_escape(&line[..line.len() - 1]);
    let longest = format!("[127.0.0.1:65535] recv: {piece}\n").len();
    assert!(program != "server_fork" || longest <= PIPE_BUF, "{program}: a log line of {longest} bytes");
    let broken: Vec<&str> = log.lines().filter(|line| !whole(line, &piece)).collect();
    let recvs = log.lines().filter(|line| line.contains("] recv: ")).count();
    assert!(
        broken.is_empty() && recvs == CLIENTS * LINES,
        "{lang:?} {program}: {} of {} lines are not whole log lines ({recvs} recv lines, {} expected); the first: {:?}",
        broken.len(),
        log.lines().count(),
        CLIENTS * LINES,
        broken.first().map(|line| &line[..line.len().min(200)])
    );
}

/// SPEC "Server output": the longest lines, from 16 clients at once, into
/// a pipe that fills: every line whole.
#[test]
fn log_lines_stay_whole_in_a_full_pipe() {
    thread::scope(|scope| {
        for program in servers() {
            for lang in LANGS {
                scope.spawn(move || check(lang, program));
            }
        }
    });
}
