//! The twins side by side (SPEC "Parity"): every client (C, Rust) against
//! every server (C and Rust, `server`, `server_single` and `server_fork`),
//! 12 pairings, runs the same scripted sessions, and what each pairing shows
//! is compared byte for byte with the C client against the C server, after
//! replacing ephemeral port numbers.
//!
//! - `matrix_*`: client stdout, stderr and exit status, and server stdout.
//! - `wire_*`: the same session through a recording relay (client -> relay
//!   -> server): the bytes each side sent, and how each direction ended.
//!
//! A drift prints a unified diff of the two pairings' transcripts.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// One scripted session: what the user types, and how the programs run.
struct Session {
    /// Client stdin, written whole, then closed (unless `hold_stdin`).
    input: Vec<u8>,
    /// Extra server options.
    server_args: &'static [&'static str],
    /// Keep the client's stdin open and silent after `input`: the session
    /// then ends when the server closes it (idle timeout).
    hold_stdin: bool,
    /// The server's `-b` address, and the HOST the client connects to.
    bind: &'static str,
    host: &'static str,
    /// Lines the transcript of every pairing must contain (ports and the
    /// server's mode replaced): what the session is about, beyond parity.
    expect: &'static [&'static str],
}

impl Session {
    fn lines(input: &[u8]) -> Session {
        Session {
            input: input.to_vec(),
            server_args: &[],
            hold_stdin: false,
            bind: "127.0.0.1",
            host: "127.0.0.1",
            expect: &[],
        }
    }

    /// `input` with the server bound to `bind` and the client at `host`.
    fn addresses(
        input: &[u8],
        bind: &'static str,
        host: &'static str,
        expect: &'static [&'static str],
    ) -> Session {
        Session { bind, host, expect, ..Session::lines(input) }
    }
}

/// A client language against a server (language and program).
#[derive(Clone, Copy)]
struct Pairing {
    client: Lang,
    server: Lang,
    program: &'static str,
}

impl Pairing {
    fn name(self) -> String {
        format!("{:?} client -> {:?} {}", self.client, self.server, self.program)
    }
}

/// Every pairing (16: four servers, each language against each); the first
/// (C client, C server) is the reference.
fn pairings() -> Vec<Pairing> {
    let mut all = Vec::new();
    for program in servers() {
        for server in LANGS {
            for client in LANGS {
                all.push(Pairing { client, server, program });
            }
        }
    }
    all
}

/// The one place the server programs may differ in their output.
fn normalise_mode(text: &str) -> String {
    programs::all()
        .iter()
        .filter(|program| program.is_server())
        .fold(text.to_string(), |text, server| text.replace(&format!("({},", server.label), "(MODE,"))
}

/// Runs the client of `pairing` on `session` against `port`.
fn run_session_client(pairing: Pairing, session: &Session, port: u16) -> Output {
    if session.hold_stdin {
        let mut client = RunningClient::start_at(pairing.client, &[], session.host, port);
        client.send(&session.input);
        client.wait_exit() // stdin still open: the server must end it
    } else {
        run_client_at(pairing.client, &[], session.host, port, &session.input)
    }
}

/// Stops the server once it logged the end of the session, and returns its
/// whole stdout, ports replaced. A missing end line is not a panic here: the
/// diff against the reference shows it better.
fn finish_server(mut server: Server) -> String {
    wait_for_session_end(&mut server, "] ", Duration::from_secs(3));
    let (status, log) = server.stop();
    let mut text = normalise_ports(&log.join("\n"));
    text.push_str(&format!("\n(server exit status {:?})\n", status.code()));
    text
}

/// What one pairing showed for a session, as comparable text.
fn matrix_transcript(pairing: Pairing, session: &Session) -> String {
    let server = Server::start_bound(pairing.server, pairing.program, session.bind, session.server_args);
    let out = run_session_client(pairing, session, server.port);
    let server_stdout = finish_server(server);
    format!(
        "client exit status: {:?}\n--- client stdout:\n{}--- client stderr:\n{}--- server stdout:\n{}",
        out.code(),
        normalise_ports(&out.stdout()),
        normalise_ports(&out.stderr()),
        server_stdout
    )
}

/// Runs `transcript` for all 12 pairings at once (the idle session waits out a
/// timeout in each) and asserts they all equal the reference pairing's.
fn assert_all_pairings_agree(rule: &str, transcript: impl Fn(Pairing) -> String + Sync) {
    let pairings = pairings();
    let results: Vec<String> = thread::scope(|scope| {
        let transcript = &transcript;
        let handles: Vec<_> = pairings.iter().map(|&p| scope.spawn(move || transcript(p))).collect();
        handles.into_iter().map(|h| h.join().expect("pairing thread")).collect()
    });
    // Long lines (a 5,000-byte line, escaped) in rows, so a diff points at
    // the part that differs; one diff for each distinct transcript.
    let show = |result: &String| wrap_long_lines(&normalise_mode(result), 120);
    let reference = show(&results[0]);
    let mut drifts: Vec<(String, Vec<String>)> = Vec::new();
    for (pairing, result) in pairings.iter().zip(&results).skip(1) {
        if normalise_mode(result) == normalise_mode(&results[0]) {
            continue; // compared whole; the rows are only for showing
        }
        let shown = show(result);
        match drifts.iter_mut().find(|(other, _)| *other == shown) {
            Some((_, names)) => names.push(pairing.name()),
            None => drifts.push((shown, vec![pairing.name()])),
        }
    }
    let report: String = drifts
        .iter()
        .map(|(shown, names)| unified_diff(&pairings[0].name(), &reference, &names.join(", "), shown))
        .collect();
    assert!(report.is_empty(), "{rule}: the pairings differ:\n{report}\nreference transcript:\n{reference}");
}

fn check_matrix(rule: &str, session: Session) {
    let rule = rule.trim();
    assert_all_pairings_agree(rule, |pairing| {
        let transcript = matrix_transcript(pairing, &session);
        let shown = normalise_mode(&transcript);
        for line in session.expect {
            let name = pairing.name();
            assert!(shown.lines().any(|l| l == *line), "{rule}, {name}: no line {line:?} in:\n{shown}");
        }
        transcript
    });
}

// ---------------------------------------------------------------------------
// The wire: a relay between client and server records both byte streams.

/// How one direction of the relayed connection went.
struct Direction {
    bytes: Vec<u8>,
    end: String,
}

/// Copies `from` to `to` until EOF or an error, recording the bytes; EOF is
/// passed on as a half-close, as the relay must be invisible.
fn pump(mut from: TcpStream, to: TcpStream) -> Direction {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        match from.read(&mut chunk) {
            Ok(0) => break "EOF".to_string(),
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                // The far side may be gone already (it quit): keep recording.
                let _ = (&to).write_all(&chunk[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break format!("error: {:?}", e.kind()),
        }
    };
    let _ = to.shutdown(Shutdown::Write);
    Direction { bytes, end }
}

/// The bytes as text a diff can show: one escaped line per `\n`.
fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        out.push_str(&format!("  |{}\n", spec_escape(line)));
    }
    out
}

/// Accepts one connection on `listener` within the deadline.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(start.elapsed() < DEADLINE, "the client never connected to the relay");
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("relay accept: {e}"),
        }
    }
}

/// What went over the wire for one pairing, as comparable text.
fn wire_transcript(pairing: Pairing, session: &Session) -> String {
    let server = Server::start_bound(pairing.server, pairing.program, session.bind, session.server_args);
    // The relay takes the server's place at the address the client uses.
    let relay = TcpListener::bind((session.host, 0)).unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let server_at = (session.host, server.port);
    let recorder = thread::spawn(move || {
        let client_side = accept_within(&relay);
        let server_side = TcpStream::connect(server_at).expect("relay connects to server");
        for stream in [&client_side, &server_side] {
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            stream.set_nodelay(true).unwrap();
        }
        let (c, s) = (client_side.try_clone().unwrap(), server_side.try_clone().unwrap());
        let upstream = thread::spawn(move || pump(c, s));
        let downstream = pump(server_side, client_side);
        (upstream.join().expect("upstream pump"), downstream)
    });
    let out = run_session_client(pairing, session, relay_port);
    let (up, down) = recorder.join().expect("relay");
    finish_server(server);
    format!(
        "client -> server ({} bytes, then {}):\n{}server -> client ({} bytes, then {}):\n{}client exit status: {:?}\n",
        up.bytes.len(),
        up.end,
        show_bytes(&up.bytes),
        down.bytes.len(),
        down.end,
        show_bytes(&down.bytes),
        out.code()
    )
}

fn check_wire(rule: &str, session: Session) {
    assert_all_pairings_agree(rule.trim(), |pairing| wire_transcript(pairing, &session));
}

// ---------------------------------------------------------------------------
// The sessions. Each generates `matrix::NAME` and `wire::NAME`.

/// A line of a full piece and then `quit`: the `quit\n` continues the line
/// (the rule SPEC leaves implicit: after a 1024-byte piece without `\n`,
/// the rest of that line is a continuation), so it is data.
fn full_piece_then_quit() -> Vec<u8> {
    let mut input = vec![b'x'; 1024];
    input.extend_from_slice(b"quit\nafter\nquit\n");
    input
}

fn long_line() -> Vec<u8> {
    let mut line: Vec<u8> = (0..5000).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]).collect();
    line.push(b'\n');
    line.extend_from_slice(b"after\n");
    line
}

macro_rules! sessions {
    ($( $(#[doc = $doc:literal])* $name:ident: $session:expr; )*) => {
        mod matrix {
            use super::*;
            $( $(#[doc = $doc])* #[test] fn $name() { check_matrix(concat!($($doc),*), $session) } )*
        }
        mod wire {
            use super::*;
            $( $(#[doc = $doc])* #[test] fn $name() { check_wire(concat!($($doc),*), $session) } )*
        }
    };
}

sessions! {
    /// SPEC "The protocol" 2, "Client behaviour": ordinary lines, then `quit`.
    ordinary_lines: Session::lines(b"hello\nworld, and more words\nquit\n");
    /// SPEC "The protocol" 2: an empty line is a line (`\n` alone is echoed).
    empty_line: Session::lines(b"\nx\n\n\nquit\n");
    /// SPEC "The protocol" 3 and "Server output" escaping: CRLF lines keep their `\r`.
    crlf_lines: Session::lines(b"one\r\ntwo\r\n\r\nquit\r\n");
    /// SPEC "Server output" escaping: a tab is `\t` in `recv:` and `echo:`.
    tab: Session::lines(b"a\tb\t\n\t\nquit\n");
    /// SPEC "The protocol" 3: a 5,000-byte line is echoed whole, in pieces of 1024.
    long_line_5000_bytes: Session::lines(&long_line());
    /// SPEC "The protocol" 3 and escaping: NUL, 0xff, `\`, invalid UTF-8 come back as sent.
    binary_bytes: Session::lines(b"\x00\xff\x5c\n\xc3\x28 \xa0\xa1 \xed\xa0\x80 \xf8\x88\x80\x80\x80\n\x7f\x01\x1b[0m\nquit\n");
    /// SPEC "Client behaviour": `quit` ends the session; later lines are never sent.
    quit: Session::lines(b"a\nquit\nnever sent\n");
    /// SPEC "The protocol" 4, "Client behaviour": `quit\r` is `quit` too.
    quit_cr: Session::lines(b"a\nquit\r\nnever sent\n");
    /// SPEC "The protocol" 4: `quitx` is ordinary data.
    quitx_is_data: Session::lines(b"quitx\nquit\n");
    /// SPEC "The protocol" 4: ` quit` and `quit ` are ordinary data.
    space_quit_is_data: Session::lines(b" quit\nquit \nQUIT\nquit\n");
    /// SPEC "The protocol" 3 and 4: `quit` right after a full 1024-byte piece is data.
    quit_after_full_piece: Session::lines(&full_piece_then_quit());
    /// SPEC "Client behaviour": EOF on stdin without `quit` sends `quit`.
    stdin_eof_without_quit: Session::lines(b"a\nb\n");
    /// SPEC "Client behaviour": empty stdin: connect, send `quit`, exit 0.
    empty_stdin: Session::lines(b"");
    /// SPEC "Client behaviour": a last line without `\n` gets one.
    last_line_without_newline: Session::lines(b"x\nlast line");
    /// SPEC "Command line" `-q`: no `recv:` lines, connection events still logged.
    quiet_server: Session { server_args: &["-q"], ..Session::lines(b"a\nb\n") };
    /// SPEC "The protocol" 6 and "Client behaviour": the idle timeout closes the
    /// connection; a client waiting for input notices at once.
    idle_timeout: Session { input: b"a\n".to_vec(), server_args: &["-t", "1"], hold_stdin: true, ..Session::lines(b"") };
    /// SPEC "Addresses": a server on `-b ::1`, the client at `::1`: IPv6
    /// addresses written `[::1]:PORT` in every line.
    ipv6_loopback: Session::addresses(b"hello\ncaf\xc3\xa9\nquit\n", "::1", "::1", &[
        "connected to [::1]:PORT",
        "listening on [::1]:PORT (MODE, idle timeout 5 s)",
        "[[::1]:PORT] connected",
        "[[::1]:PORT] recv: caf\u{e9}",
        "[[::1]:PORT] quit",
    ]);
    /// SPEC "Addresses": a server on `-b ::` (IPV6_V6ONLY 0) takes a client
    /// at 127.0.0.1, whose IPv4-mapped address is written in IPv4 form.
    dual_stack_ipv4_client: Session::addresses(b"hello\nquit\n", "::", "127.0.0.1", &[
        "connected to 127.0.0.1:PORT",
        "listening on [::]:PORT (MODE, idle timeout 5 s)",
        "[127.0.0.1:PORT] connected",
        "[127.0.0.1:PORT] recv: hello",
        "[127.0.0.1:PORT] quit",
    ]);
}
