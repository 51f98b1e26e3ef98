//! The twins side by side (SPEC "Parity"): every client (C, Rust) against
//! every TCP server of programs.txt (C and Rust), all pairings at once, runs
//! the same scripted sessions, and what each pairing shows is compared byte
//! for byte with the C client against the C server, after replacing
//! ephemeral port numbers and the server's label.
//!
//! - `matrix::*`: client stdout, stderr and exit status, and server stdout,
//!   each also compared whole with what the contract says the session shows
//!   (a change both twins share fails there, not only a drift between them).
//! - `wire::*`: the same session through a recording relay (client -> relay
//!   -> server): the bytes each side sent, and how each direction ended.
//!
//! A drift prints a unified diff of the two pairings' transcripts.

mod common;

use std::thread;
use std::time::Duration;

use common::*;

/// One scripted session: what the user types, how the programs run, and
/// what the contract says every pairing shows.
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
    /// The client's exit status, its stdout after `connected to`, and the
    /// server's events after `[PEER] connected` (without `[PEER] `), as
    /// SPEC "Client behaviour" and "Server output" write them.
    exit: i32,
    client: Vec<String>,
    server: Vec<String>,
}

impl Session {
    fn lines(input: &[u8]) -> Session {
        Session {
            input: input.to_vec(),
            server_args: &[],
            hold_stdin: false,
            bind: "127.0.0.1",
            host: "127.0.0.1",
            exit: 0,
            client: Vec::new(),
            server: Vec::new(),
        }
    }

    /// `input` with the server bound to `bind` and the client at `host`.
    fn addresses(input: &[u8], bind: &'static str, host: &'static str) -> Session {
        Session { bind, host, ..Session::lines(input) }
    }

    /// What the session shows: see the fields.
    fn shows(self, exit: i32, client: &[&str], server: &[&str]) -> Session {
        let owned = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect();
        Session { exit, client: owned(client), server: owned(server), ..self }
    }

    /// The transcript every pairing must show (as [`matrix_transcript`]
    /// writes it, the mode replaced): the whole client and server output.
    fn expected_transcript(&self) -> String {
        let at =
            |host: &str| if host.contains(':') { format!("[{host}]:PORT") } else { format!("{host}:PORT") };
        // SPEC "Addresses": an IPv4 client of a dual-stack server is written in IPv4 form.
        let peer = format!("[{}] ", at(self.host));
        let idle = self.server_args.iter().skip_while(|a| **a != "-t").nth(1).unwrap_or(&"5");
        let mut out = format!("client exit status: Some({})\n--- client stdout:\n", self.exit);
        out += &format!("connected to {}\n", at(self.host));
        self.client.iter().for_each(|line| out += &format!("{line}\n"));
        out += "--- client stderr:\n--- server stdout:\n";
        out += &format!("listening on {} (MODE, idle timeout {idle} s)\n", at(self.bind));
        out += &format!("{peer}connected\n");
        self.server.iter().for_each(|event| out += &format!("{peer}{event}\n"));
        out + "shutting down\n(server exit status Some(0))\n"
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

/// Every pairing of the shared helper's list; the first (C client, C
/// server) is the reference.
fn all_pairings() -> Vec<Pairing> {
    pairings().into_iter().map(|(client, server, program)| Pairing { client, server, program }).collect()
}

/// The one place the server programs may differ in their output.
/// (The label of each server in programs.txt, as its listening line says it.)
/// A label with `N` (server_pool's `pool of N threads`) matches any count.
fn normalise_mode(text: &str) -> String {
    let normalise_line = |line: &str| {
        let Some((before, rest)) = line.split_once('(') else { return line.to_string() };
        let Some((label, after)) = rest.split_once(", idle timeout") else { return line.to_string() };
        if servers().into_iter().any(|name| programs::get(name).label_matches(label)) {
            format!("{before}(MODE, idle timeout{after}")
        } else {
            line.to_string()
        }
    };
    text.split('\n')
        .map(|line| if line.starts_with("listening on ") { normalise_line(line) } else { line.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
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

/// Runs `transcript` for every pairing at once (the idle session waits out a
/// timeout in each), asserts they all equal the reference pairing's, and
/// returns it (the mode replaced).
fn assert_all_pairings_agree(rule: &str, transcript: impl Fn(Pairing) -> String + Sync) -> String {
    let pairings = all_pairings();
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
    normalise_mode(&results[0])
}

/// Every pairing shows the same, and that is what the contract says: a
/// change both twins share fails here too.
fn check_matrix(rule: &str, session: Session) {
    let rule = rule.trim();
    let shown = assert_all_pairings_agree(rule, |pairing| matrix_transcript(pairing, &session));
    let expected = session.expected_transcript();
    let diff = unified_diff(
        "the contract",
        &wrap_long_lines(&expected, 120),
        "every pairing",
        &wrap_long_lines(&shown, 120),
    );
    assert!(diff.is_empty(), "{rule}: the pairings agree, but not with the contract:\n{diff}");
}

// ---------------------------------------------------------------------------
// The wire: a relay between client and server records both byte streams.

/// The bytes as text a diff can show: one escaped line per `\n`.
fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        out.push_str(&format!("  |{}\n", spec_escape(line)));
    }
    out
}

/// What went over the wire for one pairing, as comparable text.
fn wire_transcript(pairing: Pairing, session: &Session) -> String {
    let server = Server::start_bound(pairing.server, pairing.program, session.bind, session.server_args);
    let relay = Relay::start(session.host, (session.host, server.port));
    let out = run_session_client(pairing, session, relay.port);
    let (up, down) = relay.finish();
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
    let _ = assert_all_pairings_agree(rule.trim(), |pairing| wire_transcript(pairing, &session));
}

// ---------------------------------------------------------------------------
// The sessions. Each generates `matrix::NAME` and `wire::NAME`.

/// A line of a full piece and then `quit`: the `quit\n` is the rest of that
/// line (SPEC "The protocol" 3: data, even when it reads `quit`).
fn full_piece_then_quit() -> Session {
    let piece = "x".repeat(1024);
    let input = format!("{piece}quit\nafter\nquit\n");
    Session::lines(input.as_bytes()).shows(
        0,
        &[&format!("echo: {piece}quit"), "echo: after", "closing connection"],
        &[&format!("recv: {piece}"), "recv: quit", "recv: after", "quit"],
    )
}

/// A 5,000-byte line, then `after`, then EOF (no `quit` typed).
fn long_line_session() -> Session {
    let line: String =
        (0..5000).map(|i| "abcdefghijklmnopqrstuvwxyz0123456789".as_bytes()[i % 36] as char).collect();
    let input = format!("{line}\nafter\n");
    let echo = format!("echo: {line}");
    let pieces: Vec<String> =
        line.as_bytes().chunks(1024).map(|p| format!("recv: {}", String::from_utf8_lossy(p))).collect();
    let mut server: Vec<&str> = pieces.iter().map(String::as_str).collect();
    server.extend(["recv: after", "quit"]);
    Session::lines(input.as_bytes()).shows(0, &[&echo, "echo: after", "closing connection"], &server)
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
    ordinary_lines: Session::lines(b"hello\nworld, and more words\nquit\n").shows(0,
        &["echo: hello", "echo: world, and more words", "closing connection"],
        &["recv: hello", "recv: world, and more words", "quit"]);
    /// SPEC "The protocol" 2: an empty line is a line (`\n` alone is echoed).
    empty_line: Session::lines(b"\nx\n\n\nquit\n").shows(0,
        &["echo: ", "echo: x", "echo: ", "echo: ", "closing connection"],
        &["recv: ", "recv: x", "recv: ", "recv: ", "quit"]);
    /// SPEC "The protocol" 3 and "Server output" escaping: CRLF lines keep their `\r`.
    crlf_lines: Session::lines(b"one\r\ntwo\r\n\r\nquit\r\n").shows(0,
        &[r"echo: one\r", r"echo: two\r", r"echo: \r", "closing connection"],
        &[r"recv: one\r", r"recv: two\r", r"recv: \r", "quit"]);
    /// SPEC "Server output" escaping: a tab is `\t` in `recv:` and `echo:`.
    tab: Session::lines(b"a\tb\t\n\t\nquit\n").shows(0,
        &[r"echo: a\tb\t", r"echo: \t", "closing connection"],
        &[r"recv: a\tb\t", r"recv: \t", "quit"]);
    /// SPEC "The protocol" 3: a 5,000-byte line is echoed whole, in pieces of
    /// 1024 (a `recv:` each); the client prints it once, whole.
    long_line_5000_bytes: long_line_session();
    /// SPEC "The protocol" 3 and escaping: NUL, 0xff, `\`, invalid UTF-8 come back as sent.
    binary_bytes: Session::lines(b"\x00\xff\x5c\n\xc3\x28 \xa0\xa1 \xed\xa0\x80 \xf8\x88\x80\x80\x80\n\x7f\x01\x1b[0m\nquit\n").shows(0,
        &[r"echo: \x00\xff\\", r"echo: \xc3( \xa0\xa1 \xed\xa0\x80 \xf8\x88\x80\x80\x80", r"echo: \x7f\x01\x1b[0m", "closing connection"],
        &[r"recv: \x00\xff\\", r"recv: \xc3( \xa0\xa1 \xed\xa0\x80 \xf8\x88\x80\x80\x80", r"recv: \x7f\x01\x1b[0m", "quit"]);
    /// SPEC "Client behaviour": `quit` ends the session; later lines are never sent.
    quit: Session::lines(b"a\nquit\nnever sent\n").shows(0,
        &["echo: a", "closing connection"],
        &["recv: a", "quit"]);
    /// SPEC "The protocol" 4, "Client behaviour": `quit\r` is `quit` too.
    quit_cr: Session::lines(b"a\nquit\r\nnever sent\n").shows(0,
        &["echo: a", "closing connection"],
        &["recv: a", "quit"]);
    /// SPEC "The protocol" 4: `quitx` is ordinary data.
    quitx_is_data: Session::lines(b"quitx\nquit\n").shows(0,
        &["echo: quitx", "closing connection"],
        &["recv: quitx", "quit"]);
    /// SPEC "The protocol" 4: ` quit` and `quit ` are ordinary data.
    space_quit_is_data: Session::lines(b" quit\nquit \nQUIT\nquit\n").shows(0,
        &["echo:  quit", "echo: quit ", "echo: QUIT", "closing connection"],
        &["recv:  quit", "recv: quit ", "recv: QUIT", "quit"]);
    /// SPEC "The protocol" 3 and 4: `quit` right after a full 1024-byte piece
    /// is data: the rest of that line, a `recv:` of its own.
    quit_after_full_piece: full_piece_then_quit();
    /// SPEC "Client behaviour": EOF on stdin without `quit` sends `quit`.
    stdin_eof_without_quit: Session::lines(b"a\nb\n").shows(0,
        &["echo: a", "echo: b", "closing connection"],
        &["recv: a", "recv: b", "quit"]);
    /// SPEC "Client behaviour": empty stdin: connect, send `quit`, exit 0.
    empty_stdin: Session::lines(b"").shows(0, &["closing connection"], &["quit"]);
    /// SPEC "Client behaviour": a last line without `\n` gets one.
    last_line_without_newline: Session::lines(b"x\nlast line").shows(0,
        &["echo: x", "echo: last line", "closing connection"],
        &["recv: x", "recv: last line", "quit"]);
    /// SPEC "Command line" `-q`: no `recv:` lines, connection events still logged.
    quiet_server: Session { server_args: &["-q"], ..Session::lines(b"a\nb\n") }.shows(0,
        &["echo: a", "echo: b", "closing connection"],
        &["quit"]);
    /// SPEC "The protocol" 7 and "Client behaviour": the idle timeout closes the
    /// connection; a client waiting for input notices at once.
    idle_timeout: Session { server_args: &["-t", "1"], hold_stdin: true, ..Session::lines(b"a\n") }.shows(1,
        &["echo: a", "server closed the connection"],
        &["recv: a", "idle for 1 s, closing"]);
    /// SPEC "Addresses": a server on `-b ::1`, the client at `::1`: IPv6
    /// addresses written `[::1]:PORT` in every line.
    ipv6_loopback: Session::addresses(b"hello\ncaf\xc3\xa9\nquit\n", "::1", "::1").shows(0,
        &["echo: hello", "echo: caf\u{e9}", "closing connection"],
        &["recv: hello", "recv: caf\u{e9}", "quit"]);
    /// SPEC "Addresses": a server on `-b ::` (IPV6_V6ONLY 0) takes a client
    /// at 127.0.0.1, whose IPv4-mapped address is written in IPv4 form.
    dual_stack_ipv4_client: Session::addresses(b"hello\nquit\n", "::", "127.0.0.1").shows(0,
        &["echo: hello", "closing connection"],
        &["recv: hello", "quit"]);
}
