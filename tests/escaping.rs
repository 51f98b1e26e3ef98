//! SPEC "Escaping": text shows as text, every other byte is made visible,
//! the same in the server's `recv:` log and the client's `echo:` line, C and
//! Rust alike.
//!
//! A table of edge cases, each written out by hand from SPEC's text: every
//! boundary of the UTF-8 ranges (one byte, two, three, four; C1 controls;
//! the invisible characters; surrogates; the end of Unicode), overlong and
//! truncated sequences, lone continuation bytes, bytes that never occur in
//! UTF-8, and terminal escape sequences that must never reach a terminal
//! raw. The table is checked against `spec_escape` (the oracle the other
//! tests use), then sent line by line through every client to every server.

mod common;

use common::*;

/// (what it is, the line's bytes, how SPEC says it is shown). Raw strings
/// (`r"\xc2\x80"`) hold the escaped text as it is printed.
const TABLE: &[(&str, &[u8], &str)] = &[
    // One byte: printable ASCII as is, `\` `\t` `\r` doubled or named, the rest hex.
    ("printable ASCII, space to ~", b" !09AZaz~", " !09AZaz~"),
    ("backslash", b"a\\b", r"a\\b"),
    ("tab and CR", b"a\tb\rc", r"a\tb\rc"),
    ("NUL", b"a\x00b", r"a\x00b"),
    ("C0 control U+0001", b"\x01", r"\x01"),
    ("C0 control U+001F", b"\x1f", r"\x1f"),
    ("backspace", b"ab\x08c", r"ab\x08c"),
    ("BEL", b"\x07", r"\x07"),
    ("DEL U+007F", b"\x7f", r"\x7f"),
    // Two bytes: C1 controls (U+0080..U+009F) byte by byte, U+00A0 up as is.
    ("U+0080, first C1 control", b"\xc2\x80", r"\xc2\x80"),
    ("U+0085 NEL", b"\xc2\x85", r"\xc2\x85"),
    ("U+009B CSI, the one-byte ANSI introducer", b"\xc2\x9b31m", r"\xc2\x9b31m"),
    ("U+009F, last C1 control", b"\xc2\x9f", r"\xc2\x9f"),
    ("U+00A0, first shown (no-break space)", b"<\xc2\xa0>", "<\u{a0}>"),
    ("U+00AC, before the soft hyphen", b"\xc2\xac", "\u{ac}"),
    ("U+00AD soft hyphen, invisible", b"\xc2\xad", r"\xc2\xad"),
    ("U+00AE, after the soft hyphen", b"\xc2\xae", "\u{ae}"),
    ("e acute, in a word", b"caf\xc3\xa9", "caf\u{e9}"),
    ("U+07FF, last of two bytes", b"\xdf\xbf", "\u{7ff}"),
    // Three bytes.
    ("U+0800, first of three bytes", b"\xe0\xa0\x80", "\u{800}"),
    ("U+200A, before the zero-width ones", b"\xe2\x80\x8a", "\u{200a}"),
    ("U+200B zero-width space", b"\xe2\x80\x8b", r"\xe2\x80\x8b"),
    ("U+200E left-to-right mark", b"\xe2\x80\x8e", r"\xe2\x80\x8e"),
    ("U+200F right-to-left mark", b"\xe2\x80\x8f", r"\xe2\x80\x8f"),
    ("U+2010, after them", b"\xe2\x80\x90", "\u{2010}"),
    ("U+2027, before the separators", b"\xe2\x80\xa7", "\u{2027}"),
    ("U+2028 line separator", b"\xe2\x80\xa8", r"\xe2\x80\xa8"),
    ("U+2029 paragraph separator", b"\xe2\x80\xa9", r"\xe2\x80\xa9"),
    ("U+202A left-to-right embedding", b"\xe2\x80\xaa", r"\xe2\x80\xaa"),
    ("U+202E right-to-left override", b"abc\xe2\x80\xaedef", r"abc\xe2\x80\xaedef"),
    ("U+202F, after the overrides", b"\xe2\x80\xaf", "\u{202f}"),
    ("U+205F, before the invisible operators", b"\xe2\x81\x9f", "\u{205f}"),
    ("U+2060 word joiner", b"\xe2\x81\xa0", r"\xe2\x81\xa0"),
    ("U+2066 left-to-right isolate", b"\xe2\x81\xa6", r"\xe2\x81\xa6"),
    ("U+206F, last of them", b"\xe2\x81\xaf", r"\xe2\x81\xaf"),
    ("U+2070, after them", b"\xe2\x81\xb0", "\u{2070}"),
    ("U+20AC euro sign", b"\xe2\x82\xac", "\u{20ac}"),
    ("U+D7FF, last before the surrogates", b"\xed\x9f\xbf", "\u{d7ff}"),
    ("U+D800, first surrogate", b"\xed\xa0\x80", r"\xed\xa0\x80"),
    ("U+DBFF..U+DC00, a surrogate pair in CESU-8", b"\xed\xaf\xbf\xed\xb0\x80", r"\xed\xaf\xbf\xed\xb0\x80"),
    ("U+DFFF, last surrogate", b"\xed\xbf\xbf", r"\xed\xbf\xbf"),
    ("U+E000, first after the surrogates", b"\xee\x80\x80", "\u{e000}"),
    ("U+FEFE, before the BOM", b"\xef\xbb\xbe", "\u{fefe}"),
    ("U+FEFF byte order mark, invisible", b"\xef\xbb\xbfx", r"\xef\xbb\xbfx"),
    ("U+FFFD replacement character", b"\xef\xbf\xbd", "\u{fffd}"),
    ("U+FFFF, last of three bytes", b"\xef\xbf\xbf", "\u{ffff}"),
    // Four bytes.
    ("U+10000, first of four bytes", b"\xf0\x90\x80\x80", "\u{10000}"),
    ("waving hand, with text", b"caf\xc3\xa9 \xf0\x9f\x91\x8b", "caf\u{e9} \u{1f44b}"),
    ("U+10FFFF, the last code point", b"\xf4\x8f\xbf\xbf", "\u{10ffff}"),
    ("F4 90 80 80, above U+10FFFF", b"\xf4\x90\x80\x80", r"\xf4\x90\x80\x80"),
    // Overlong forms: every byte escaped.
    ("C0 80, overlong NUL", b"\xc0\x80", r"\xc0\x80"),
    ("C1 BF, overlong U+007F", b"\xc1\xbf", r"\xc1\xbf"),
    ("E0 80 80, overlong NUL", b"\xe0\x80\x80", r"\xe0\x80\x80"),
    ("E0 9F BF, overlong U+07FF", b"\xe0\x9f\xbf", r"\xe0\x9f\xbf"),
    ("F0 80 80 80, overlong NUL", b"\xf0\x80\x80\x80", r"\xf0\x80\x80\x80"),
    ("F0 8F BF BF, overlong U+FFFF", b"\xf0\x8f\xbf\xbf", r"\xf0\x8f\xbf\xbf"),
    ("C0 AF, overlong slash", b"\xc0\xaf", r"\xc0\xaf"),
    // Continuation bytes without a lead byte.
    ("lone continuation 80", b"a\x80b", r"a\x80b"),
    ("lone continuation BF", b"\xbf", r"\xbf"),
    ("continuations after a whole character", b"\xc3\xa9\xa9\xa9", "\u{e9}\\xa9\\xa9"),
    // Truncated sequences: each byte escaped, what follows read afresh.
    ("two-byte lead at the end", b"caf\xc3", r"caf\xc3"),
    ("two-byte lead, then ASCII", b"\xc3a", r"\xc3a"),
    ("two-byte lead, then a whole e acute", b"\xc3\xc3\xa9", "\\xc3\u{e9}"),
    ("three-byte lead and one continuation, at the end", b"\xe2\x82", r"\xe2\x82"),
    ("three-byte lead and one continuation, then a space", b"\xe2\x82 ", r"\xe2\x82 "),
    (
        "four-byte lead and two continuations, then the euro sign",
        b"\xf0\x9f\x91\xe2\x82\xac",
        "\\xf0\\x9f\\x91\u{20ac}",
    ),
    ("four-byte lead alone", b"\xf0", r"\xf0"),
    // Bytes that never occur in UTF-8.
    ("F5, first lead byte past U+10FFFF", b"\xf5\x80\x80\x80", r"\xf5\x80\x80\x80"),
    ("F7 BF BF BF", b"\xf7\xbf\xbf\xbf", r"\xf7\xbf\xbf\xbf"),
    ("F8, an old five-byte lead", b"\xf8\x88\x80\x80\x80", r"\xf8\x88\x80\x80\x80"),
    ("FE", b"\xfe", r"\xfe"),
    ("FF", b"\xff", r"\xff"),
    // What a hostile peer sends to a terminal: never raw.
    ("ANSI colour", b"\x1b[31mred", r"\x1b[31mred"),
    ("ANSI clear screen and cursor home", b"\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),
    ("OSC window title", b"\x1b]0;pwned\x07", r"\x1b]0;pwned\x07"),
    ("ESC alone", b"\x1b", r"\x1b"),
];

/// The table agrees with the oracle written from SPEC's text: two readings
/// of the rule, one by hand, one as code.
#[test]
fn escaping_table_agrees_with_spec_escape() {
    for (what, bytes, shown) in TABLE {
        assert_eq!(spec_escape(bytes), *shown, "{what}");
        assert!(!bytes.contains(&b'\n'), "{what}: a line of the table holds a newline");
    }
    println!("{} edge cases", TABLE.len());
}

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
    let lines: Vec<&[u8]> = TABLE.iter().map(|(_, bytes, _)| *bytes).collect();
    let shown: Vec<String> = TABLE.iter().map(|(_, _, shown)| shown.to_string()).collect();
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
