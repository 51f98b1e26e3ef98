//! SPEC "Escaping": text shows as text, every other byte is made visible,
//! the same in the server's `recv:` log and the client's `echo:` line, C and
//! Rust alike.
//!
//! A table of edge cases, each written out by hand from SPEC's text: every
//! boundary of the UTF-8 ranges (one byte, two, three, four; C1 controls;
//! the invisible characters; surrogates; the end of Unicode), overlong and
//! truncated sequences, lone continuation bytes, bytes that never occur in
//! UTF-8, and terminal escape sequences that must never reach a terminal
//! raw. The table is testkit's `EDGE_CASES` (its unit tests check the oracle
//! `spec_escape`, which tests/property.rs uses, against it); here it is sent
//! line by line through every client to every server.

mod common;

use common::*;

/// The server's `recv:` texts in `log`, in order.
fn recv_texts(log: &[String]) -> Vec<String> {
    log.iter().filter_map(|line| line.split_once("] recv: ").map(|(_, text)| text.to_string())).collect()
}

/// Sends `lines` (each without its `\n`) through the client of `client` to
/// `program` of `server`, and asserts the client's `echo:` lines are
/// `echoes` and the server's `recv:` lines `logged`, byte for byte.
fn check_session(
    client: Lang,
    server: Lang,
    program: &str,
    lines: &[&[u8]],
    echoes: &[String],
    logged: &[String],
) {
    let who = format!("{client:?} client -> {server:?} {program}");
    let mut server = Server::start(server, program, &[]);
    let mut input = Vec::new();
    for line in lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.extend_from_slice(b"quit\n");
    let out = run_client(client, &[], server.port, &input);
    assert_eq!(out.code(), Some(0), "{who}: {}", out.stderr());
    let mut want = format!("connected to 127.0.0.1:{}\n", server.port);
    for echo in echoes {
        want.push_str(&format!("echo: {echo}\n"));
    }
    want.push_str("closing connection\n");
    let show = |text: &str| wrap_long_lines(text, 120);
    let diff = unified_diff("SPEC", &show(&want), &who, &show(&String::from_utf8_lossy(&out.stdout)));
    assert!(out.stdout == want.as_bytes(), "{who}: the client's echo lines differ:\n{diff}");
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b), "{who}: an ESC reached the terminal");
    server.wait_for("] quit");
    let (_, log) = server.stop();
    let got = recv_texts(&log).join("\n");
    let diff = unified_diff("SPEC", &show(&logged.join("\n")), &who, &show(&got));
    assert!(diff.is_empty(), "{who}: the server's recv lines differ:\n{diff}");
    assert!(!log.iter().any(|line| line.contains('\u{1b}')), "{who}: an ESC reached the server's log");
}

/// SPEC "Escaping": every line of the table, through every client and
/// every server, C and Rust: the `echo:` and the `recv:` text as SPEC says.
#[test]
fn escaping_table_through_every_client_and_server() {
    let lines: Vec<&[u8]> = EDGE_CASES.iter().map(|(_, bytes, _)| *bytes).collect();
    let shown: Vec<String> = EDGE_CASES.iter().map(|(_, _, shown)| shown.to_string()).collect();
    every_pairing(|client, server, program| check_session(client, server, program, &lines, &shown, &shown));
}

/// SPEC "Escaping" and "The protocol" 3: a character cut by a 1024-byte
/// piece. 1023 `a` and `é` (2 bytes): the server logs the first piece
/// ending in `\xc3` and the second as `\xa9` (each piece escaped on its
/// own); the client, which prints the whole line, shows `é`.
#[test]
fn escaping_a_character_cut_by_a_piece() {
    let mut line = vec![b'a'; 1023];
    line.extend_from_slice("é".as_bytes());
    let a = "a".repeat(1023);
    let echoes = [format!("{a}é")];
    let logged = [format!("{a}\\xc3"), "\\xa9".to_string()];
    every_pairing(|client, server, program| {
        check_session(client, server, program, &[&line], &echoes, &logged)
    });
}
