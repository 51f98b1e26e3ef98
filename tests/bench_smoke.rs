//! A short run of `echo-bench` (the `make bench` load generator): it must
//! verify every echo, so a server that breaks SPEC "The protocol" 3 (the bytes
//! back are exactly the bytes sent) shows up as a mismatch or an error and a
//! non-zero exit, never as a fast figure. A few hundred round trips in all;
//! the benchmark itself is `make bench`, not part of `make test`.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::thread;

use common::*;

fn echo_bench(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_echo-bench"));
    command.args(args);
    run(command, b"", DEADLINE)
}

/// The number after `"key":` in echo-bench's one-line JSON.
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

/// SPEC "The protocol" 2 and 3: every server, C and Rust, echoes each line
/// byte for byte, 64-byte lines and 3000-byte lines (three pieces); the
/// bench counts each round trip and finds nothing wrong.
#[test]
fn spec_protocol_bench_verifies_every_echo_from_each_server() {
    for lang in LANGS {
        for program in SERVERS {
            let server = Server::start(lang, program, &["-q"]);
            let port = server.port.to_string();
            for (clients, rounds, size) in [("2", "100", "64"), ("1", "20", "3000")] {
                let out =
                    echo_bench(&["-c", clients, "-n", rounds, "-s", size, "--json", "127.0.0.1", &port]);
                let json = out.stdout();
                let what =
                    format!("{lang:?} {program}, {clients} x {rounds} x {size} B: {json} {}", out.stderr());
                assert_eq!(out.code(), Some(0), "{what}");
                let want = clients.parse::<u64>().unwrap() * rounds.parse::<u64>().unwrap();
                assert_eq!(field(&json, "round_trips"), Some(want), "{what}");
                assert_eq!(field(&json, "errors"), Some(0), "{what}");
                assert_eq!(field(&json, "mismatches"), Some(0), "{what}");
                assert!(field(&json, "max_us").is_some_and(|max| max > 0), "{what}");
            }
        }
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

/// The floor (the bench's own recv/send loop) passes the same verification.
#[test]
fn bench_floor_runs_and_verifies() {
    let out = echo_bench(&["--floor", "-n", "200", "--json"]);
    let json = out.stdout();
    assert_eq!(out.code(), Some(0), "{json} {}", out.stderr());
    assert_eq!(field(&json, "round_trips"), Some(200), "{json}");
    assert_eq!(field(&json, "mismatches"), Some(0), "{json}");
}

/// SPEC "The six programs": `server` runs a thread per client, so 20 idle
/// clients are 20 more threads, and the bench reads the server's RSS.
#[test]
fn spec_server_bench_idle_mode_measures_server_memory() {
    for lang in LANGS {
        let server = Server::start(lang, "server", &["-q"]);
        let (port, pid) = (server.port.to_string(), server.pid().to_string());
        let out = echo_bench(&["--idle", "20", "--pid", &pid, "--json", "127.0.0.1", &port]);
        let json = out.stdout();
        assert_eq!(out.code(), Some(0), "{lang:?}: {json} {}", out.stderr());
        assert_eq!(field(&json, "opened"), Some(20), "{lang:?}: {json}");
        assert!(field(&json, "rss_before_kib").is_some_and(|kib| kib > 0), "{lang:?}: {json}");
        assert!(field(&json, "rss_after_kib").is_some(), "{lang:?}: {json}");
        // main, the shutdown thread and one thread per client
        assert!(field(&json, "threads_after").is_some_and(|n| n >= 22), "{lang:?}: {json}");
    }
}
