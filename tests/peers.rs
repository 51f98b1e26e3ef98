//! Peers no one on the project wrote: `nc` (netcat-openbsd) and `socat` as
//! clients of every TCP server (C and Rust), Python's socket module checking
//! the framing rules (tests/peers/framing.py), and `socat` as a third-party
//! server for the client (C and Rust). `.ci/run` installs them; where one is absent its test is
//! recorded as skipped (`make test` lists it at the end; under CI it fails).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;

/// 64 KiB of every byte value, with a `\n` now and then and never a `quit`
/// line; it does not end in `\n`, so the last bytes are pending at EOF.
fn binary_file() -> Vec<u8> {
    (0..65_536u32).map(|i| (i.wrapping_mul(7) ^ (i >> 8)) as u8).collect()
}

/// Sends the binary file through `client` (a command ending in HOST PORT)
/// and checks it comes back byte-exact and the server logs the EOF.
fn check_binary_echo(tool: &str, client: impl Fn(u16) -> Command) {
    let data = binary_file();
    for (lang, program) in every_server() {
        let server = Server::start(lang, program, &["-q"]);
        let out = run(client(server.port), &data, DEADLINE);
        let what = format!("{tool} -> {lang:?} {program}");
        assert_eq!(out.code(), Some(0), "{what}: {}", out.stderr());
        assert_eq!(out.stdout.len(), data.len(), "{what}: length of the echo");
        let first_difference = out.stdout.iter().zip(&data).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "{what}: the echo differs");
        // The server logged the end before it closed, and the client has
        // seen the close: the whole log is there once the server stops.
        let (_, log) = server.stop();
        let events: Vec<_> =
            log.iter().skip(1).map(|l| l.split_once("] ").map_or(l.as_str(), |(_, e)| e)).collect();
        assert_eq!(
            events,
            ["connected", "disconnected", "shutting down"],
            "{what}: SPEC \"Server output\" with -q"
        );
    }
}

/// SPEC "The protocol" 3 and 5: `nc -N` (shuts down its write side at the
/// end of the file) gets a 64 KiB binary file back byte-exact from every server.
#[test]
fn peers_nc_echoes_binary_file() {
    if !have("nc", "-h") {
        return;
    }
    check_binary_echo("nc -N", |port| {
        let mut nc = Command::new("nc");
        nc.args(["-N", "127.0.0.1", &port.to_string()]);
        nc
    });
}

/// SPEC "The protocol" 3 and 5: `socat` as a client, the same file.
#[test]
fn peers_socat_client_echoes_binary_file() {
    if !have("socat", "-V") {
        return;
    }
    check_binary_echo("socat", |port| {
        let mut socat = Command::new("socat");
        socat.args(["-t", "5", "-", &format!("TCP:127.0.0.1:{port}")]);
        socat
    });
}

/// SPEC "The protocol" 3, 4, 5: Python's socket module checks the framing:
/// batched `a\nquit\n`, `quit` split across segments with pauses, `quit`
/// right after a full piece, 3,000 bytes then a half-close. The C and Rust
/// servers log the same lines for it.
#[test]
fn peers_python_checks_framing() {
    if !have("python3", "--version") {
        return;
    }
    let script = root().join("tests/peers/framing.py");
    let mut logs = Vec::new();
    for (lang, program) in every_server() {
        let server = Server::start(lang, program, &[]);
        let mut python = Command::new("python3");
        python.arg(&script).args(["127.0.0.1", &server.port.to_string()]);
        let out = run(python, b"", Duration::from_secs(30));
        let what = format!("python -> {lang:?} {program}");
        assert_eq!(out.code(), Some(0), "{what}:\n{}{}", out.stdout(), out.stderr());
        // Each session was closed by the server after it logged the end.
        let (_, log) = server.stop();
        logs.push((what, normalise_ports(&log[1..].join("\n"))));
    }
    for (what, log) in &logs[1..] {
        let diff = unified_diff(&logs[0].0, &logs[0].1, what, log);
        assert!(diff.is_empty(), "SPEC \"Parity\": the server logs differ:\n{diff}");
    }
}

/// `socat -d -d TCP-LISTEN:0,bind=127.0.0.1 ADDRESS`, one connection, and
/// the port it says it listens on.
fn socat_server(address: &str) -> (KillOnDrop, u16) {
    let mut child = KillOnDrop(
        Command::new("socat")
            .args(["-d", "-d", "TCP-LISTEN:0,bind=127.0.0.1", address])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start socat"),
    );
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = line.split("listening on AF=2 127.0.0.1:").nth(1) {
                let _ = tx.send(port.trim().parse::<u16>().expect("socat port"));
            }
        }
    });
    let port = rx.recv_timeout(DEADLINE).unwrap_or_else(|_| panic!("socat never said where it listens"));
    (child, port)
}

/// Runs each client against a fresh `socat` server for `address`, checks
/// what `expect` says, and that C and Rust printed the same.
fn check_clients_against_socat(address: &str, options: &[&str], stdin: &[u8], expect: impl Fn(&Output)) {
    let mut shown = Vec::new();
    for lang in LANGS {
        let (mut socat, port) = socat_server(address);
        let out = run_client(lang, options, port, stdin);
        expect(&out);
        shown.push(format!(
            "exit {:?}\n{}{}",
            out.code(),
            normalise_ports(&out.stdout()),
            normalise_ports(&out.stderr())
        ));
        // socat ends with its one connection; bounded, and by its pid.
        wait_bounded(&mut socat, DEADLINE);
    }
    let diff = unified_diff("C client", &shown[0], "Rust client", &shown[1]);
    assert!(diff.is_empty(), "SPEC \"Parity\": the clients differ against socat {address}:\n{diff}");
}

/// SPEC "Client behaviour": both clients against a third-party echo server
/// (`socat ... PIPE`, which echoes bytes, not lines; the client's `quit`
/// is echoed back after it has gone).
#[test]
fn peers_clients_against_socat_pipe() {
    if !have("socat", "-V") {
        return;
    }
    let stdin = b"hello\n\x00\xff\\\t\r\n\nlast";
    check_clients_against_socat("PIPE", &[], stdin, |out| {
        assert_eq!(
            normalise_ports(&out.stdout()),
            "connected to 127.0.0.1:PORT\necho: hello\necho: \\x00\\xff\\\\\\t\\r\necho: \necho: last\nclosing connection\n"
        );
        assert_eq!(out.stderr(), "");
        assert_eq!(out.code(), Some(0));
    });
}

/// SPEC "Client behaviour": echoed bytes that differ from the bytes sent are
/// an error (a third-party server that changes them: `sed -u`).
#[test]
fn peers_clients_detect_echo_mismatch() {
    if !have("socat", "-V") {
        return;
    }
    check_clients_against_socat("SYSTEM:sed -u s/a/b/", &[], b"abc\n", |out| {
        assert_eq!(out.stderr(), "client: echo mismatch\n");
        assert_eq!(out.code(), Some(1));
    });
}

/// SPEC "Client behaviour": a server that never answers: `no reply within
/// N s`, exit 1.
#[test]
fn peers_clients_no_reply_within_timeout() {
    if !have("socat", "-V") {
        return;
    }
    check_clients_against_socat("SYSTEM:cat >/dev/null", &["-t", "1"], b"hello\n", |out| {
        assert_eq!(normalise_ports(&out.stdout()), "connected to 127.0.0.1:PORT\nno reply within 1 s\n");
        assert_eq!(out.code(), Some(1));
    });
}
