//! Each C program is one self-contained file (a student reads one file, top
//! to bottom), so the files repeat their shared helpers. The copies must stay
//! byte-identical: a fix made in one file and not the others would make the
//! C programs drift apart (and from their Rust twins, which share one copy in
//! the library). This test takes each function of `SHARED` out of every C
//! file that must hold it, with the comment block above it, and compares the
//! copies; a change to one copy fails, naming the function and the files,
//! with a diff.
//!
//! A function's text: the comment lines right above its definition, then
//! from the line at column 0 that names it (`static void die(...)`) to the
//! first `}` at column 0.
//!
//! To extend it:
//! - a new C file: add its name to the groups (`EVERY_PROGRAM`, `SERVERS`,
//!   ...) whose functions it copies, or give it a row of its own in
//!   `SHARED` (`(&["die", ...], &["server_tls", "client_tls"])`);
//! - a new shared helper: a row, or its name in an existing row;
//! - a file that needs its own version of a function of the table (an event
//!   loop's `configure_client`): a line in `OWN_VERSIONS`.
//!
//! A C file that defines a function of the table and is in neither its row
//! nor `OWN_VERSIONS` fails too, so a new file is checked from its first
//! copy on (c-reference/ is read whole, not only the files named here).

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;

/// The programs (c-reference/NAME.c) that copy a group of helpers.
const EVERY_PROGRAM: &[&str] = &[
    "client",
    "server",
    "server_single",
    "server_fork",
    "server_poll",
    "server_epoll",
    "server_tls",
    "client_tls",
    "server_udp",
    "client_udp",
    "server_pool",
    "server_prefork",
    "server_reuseport",
];
/// Every program of a stream: `quit` means nothing to a datagram server.
const STREAMS: &[&str] = &[
    "client",
    "server",
    "server_single",
    "server_fork",
    "server_poll",
    "server_epoll",
    "server_tls",
    "client_tls",
    "client_udp",
    "server_pool",
    "server_prefork",
    "server_reuseport",
];
/// The TCP servers, which parse the same options.
const TCP_SERVERS: &[&str] = &["server", "server_single", "server_fork", "server_poll", "server_epoll"];
/// Every server: `-b` and the address it binds.
const SERVERS: &[&str] = &[
    "server",
    "server_single",
    "server_fork",
    "server_poll",
    "server_epoll",
    "server_tls",
    "server_udp",
    "server_pool",
    "server_prefork",
    "server_reuseport",
];
/// The servers that listen: the TCP servers and the TLS one.
const LISTENERS: &[&str] = &[
    "server",
    "server_single",
    "server_fork",
    "server_poll",
    "server_epoll",
    "server_tls",
    "server_pool",
    "server_prefork",
];
/// The servers that serve a client with blocking calls (thread, process or
/// one at a time): one `serve_client` for the three.
const BLOCKING_SERVERS: &[&str] =
    &["server", "server_single", "server_fork", "server_pool", "server_prefork"];
/// Those and the TLS server: the same accept, options and close after quit
/// (TLS changes only what is read and written between them).
const ACCEPTING_BLOCKING: &[&str] =
    &["server", "server_single", "server_fork", "server_tls", "server_pool", "server_prefork"];
/// Blocking send: the client and the blocking servers.
const BLOCKING_SEND: &[&str] =
    &["client", "server", "server_single", "server_fork", "server_pool", "server_prefork"];
/// Blocking recv, retried on EINTR: those, the TLS server (its handshake's
/// drain) and the UDP client.
const BLOCKING_RECV: &[&str] = &[
    "client",
    "server",
    "server_single",
    "server_fork",
    "server_tls",
    "client_udp",
    "server_pool",
    "server_prefork",
];
/// The servers that take `-n N` (children, threads or loops): one
/// `parse_options` of their own for the three.
const COUNTED_SERVERS: &[&str] = &["server_pool", "server_prefork", "server_reuseport"];
/// The servers whose children serve: the same list of children, shutdown,
/// signal thread and log relay.
const FORKING: &[&str] = &["server_fork", "server_prefork"];
/// server_epoll's loop, which server_reuseport runs once per thread.
const EPOLL_LOOPS: &[&str] = &["server_epoll", "server_reuseport"];
/// The event loops: non-blocking sockets, their own echo and configuration.
const EVENT_LOOPS: &[&str] = &["server_poll", "server_epoll", "server_reuseport"];
/// The line clients: stdin read a line at a time, into a buffer of their own.
const CLIENTS: &[&str] = &["client", "client_tls", "client_udp"];
/// The stream clients: the same connect loop (`client_udp.c` has its own,
/// `connect_udp`, which also picks the largest datagram).
const STREAM_CLIENTS: &[&str] = &["client", "client_tls"];
/// A thread that waits for SIGINT and SIGTERM and ends the process
/// (server_fork's signal thread also reaps its children: its own).
const SHUTDOWN_THREAD: &[&str] = &[
    "server",
    "server_single",
    "server_poll",
    "server_epoll",
    "server_tls",
    "server_udp",
    "server_pool",
    "server_reuseport",
];

/// Which functions which files share, byte for byte. A function may have
/// two rows: two versions, each shared by its own files.
const SHARED: &[(&[&str], &[&str])] = &[
    (&["die", "usage_error", "parse_number", "format_addr", "printable_utf8", "escape"], EVERY_PROGRAM),
    (&["is_quit"], STREAMS),
    (&["parse_options"], TCP_SERVERS),
    (&["parse_options"], COUNTED_SERVERS),
    (
        &[
            "reserve_child",
            "shut_down",
            "wait_for_signals",
            "start_signal_thread",
            "open_log",
            "write_all",
            "relay_log",
            "start_log_relay",
        ],
        FORKING,
    ),
    (&["parse_bind_addr", "port_of", "addr_len"], SERVERS),
    (&["open_listener"], LISTENERS),
    (&["send_all"], BLOCKING_SEND),
    (&["recv_retry"], BLOCKING_RECV),
    (&["lingering_close", "accept_client", "configure_client"], ACCEPTING_BLOCKING),
    (&["echo_piece", "serve_client"], BLOCKING_SERVERS),
    (&["echo_piece", "configure_client"], EVENT_LOOPS),
    (&["set_nonblocking", "monotonic_ms", "start_lingering_close", "drain", "expire_client"], EVENT_LOOPS),
    (
        &[
            "deadlines_of",
            "append",
            "unlink_client",
            "watch",
            "remove_client",
            "watch_listener",
            "accept_clients",
            "echo_lines",
            "serve_ready_client",
            "update_client",
            "expire_clients",
            "wait_timeout",
            "open_loop",
            "run_loop",
        ],
        EPOLL_LOOPS,
    ),
    (&["wait_for_shutdown", "start_shutdown_thread"], SHUTDOWN_THREAD),
    (&["find_line", "read_input", "consume"], CLIENTS),
    (&["connect_to"], STREAM_CLIENTS),
];

/// A file that defines a function of `SHARED` but is in none of its rows:
/// its own version, on purpose (the client parses other options).
const OWN_VERSIONS: &[(&str, &[&str])] = &[
    ("parse_options", &["client"]),
    // poll(2)'s own: a pollfd array instead of the kernel's set.
    ("remove_client", &["server_poll"]),
    ("accept_clients", &["server_poll"]),
    ("echo_lines", &["server_poll"]),
    ("serve_ready_client", &["server_poll"]),
];

/// The C files of c-reference/, by program name, and their text.
fn c_files() -> BTreeMap<String, String> {
    let dir = root().join("c-reference");
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        })
        .collect()
}

/// Whether `line` opens the definition or a declaration of `function`: at
/// column 0, its name right before `(` (after a space or the `*` of a
/// pointer return type).
fn names(line: &str, function: &str) -> bool {
    let at_column_0 = line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    let call = format!("{function}(");
    at_column_0
        && line.match_indices(&call).any(|(i, _)| i > 0 && matches!(line.as_bytes()[i - 1], b' ' | b'*'))
}

/// The text of `function` in `source`: the comment block right above its
/// definition, and the definition to the first `}` at column 0; None if the
/// file does not define it (a declaration ending in `;` is skipped).
fn function_text(source: &str, function: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let mut start = 0;
    loop {
        let at = start + lines[start..].iter().position(|line| names(line, function))?;
        // The signature may run over lines: up to `{` (a definition) or `;`.
        let open = at + lines[at..].iter().position(|l| *l == "{" || l.trim_end().ends_with(';'))?;
        if lines[open] != "{" {
            start = open + 1;
            continue;
        }
        let close = open + lines[open..].iter().position(|line| *line == "}")?;
        let comment = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("/*") || l.starts_with(" *") || l.starts_with("//"));
        let first = at - comment.count();
        return Some(lines[first..=close].join("\n") + "\n");
    }
}

/// The copies of `function` in `files` that differ from the one most files
/// hold (so the message names the copy that was changed, not its
/// siblings), each as a diff; also a file that lacks it.
fn differences(function: &str, files: &[&str], sources: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut copies: Vec<(&str, String)> = Vec::new();
    for file in files {
        match sources.get(*file).and_then(|source| function_text(source, function)) {
            Some(text) => copies.push((file, text)),
            None => found.push(format!("{function}: not in c-reference/{file}.c")),
        }
    }
    let holders = |text: &String| copies.iter().filter(|(_, t)| t == text).count();
    let Some((usual_file, usual)) = copies.iter().rev().max_by_key(|(_, text)| holders(text)).cloned() else {
        return found;
    };
    let shared_by: Vec<&str> = copies.iter().filter(|(_, t)| *t == usual).map(|(f, _)| *f).collect();
    for (file, text) in copies.iter().filter(|(_, t)| *t != usual) {
        found.push(format!(
            "{function}: c-reference/{file}.c differs from the copy in {}:\n{}",
            shared_by.iter().map(|f| format!("{f}.c")).collect::<Vec<_>>().join(", "),
            unified_diff(&format!("{usual_file}.c"), &usual, &format!("{file}.c"), text)
        ));
    }
    found
}

/// The files that define `function` outside its rows and without a line in
/// `OWN_VERSIONS`: copies no one compares.
fn unlisted<'a>(function: &str, sources: &'a BTreeMap<String, String>) -> Vec<&'a str> {
    let rows = SHARED
        .iter()
        .filter(|(functions, _)| functions.contains(&function))
        .flat_map(|(_, files)| files.iter());
    let own = OWN_VERSIONS.iter().filter(|(f, _)| *f == function).flat_map(|(_, files)| files.iter());
    let listed: Vec<&str> = rows.chain(own).copied().collect();
    sources
        .iter()
        .filter(|(file, source)| {
            !listed.contains(&file.as_str()) && function_text(source, function).is_some()
        })
        .map(|(file, _)| file.as_str())
        .collect()
}

/// Brief "The project": the C files' shared helpers are byte-identical copies.
#[test]
fn c_files_share_their_helpers_byte_for_byte() {
    let sources = c_files();
    for program in SHARED.iter().flat_map(|(_, files)| files.iter()) {
        assert!(
            sources.contains_key(*program),
            "SHARED names {program}, and there is no c-reference/{program}.c"
        );
    }
    let mut problems = Vec::new();
    let mut stray: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (functions, files) in SHARED {
        for function in *functions {
            problems.extend(differences(function, files, &sources));
            for file in unlisted(function, &sources) {
                if !stray.get(file).is_some_and(|seen| seen.contains(function)) {
                    stray.entry(file).or_default().push(function);
                }
            }
        }
    }
    problems.extend(stray.iter().map(|(file, functions)| {
        format!(
            "c-reference/{file}.c defines {} and is not in their rows of SHARED: add {file} to the \
             rows (or groups) whose copies it holds, or to OWN_VERSIONS where it differs on purpose",
            functions.join(", ")
        )
    }));
    assert!(problems.is_empty(), "the C files' shared helpers drifted:\n\n{}", problems.join("\n\n"));
}

/// The extraction itself, on a file made up here: the comment above, a
/// signature over two lines, a declaration skipped, the first `}` at column
/// 0 ends it; a function that is not there is None.
#[test]
fn function_text_takes_the_comment_and_the_body() {
    let source = "static int *f(int x, int y);\n\n/* f: one more.\n * Really.\n */\nstatic int *f(int x,\n              int y)\n{\n    if (x) {\n        return g(y);\n    }\n}\n\nstatic int g(void)\n{\n}\n";
    let want = "/* f: one more.\n * Really.\n */\nstatic int *f(int x,\n              int y)\n{\n    if (x) {\n        return g(y);\n    }\n}\n";
    assert_eq!(function_text(source, "f").as_deref(), Some(want));
    assert_eq!(function_text(source, "g").as_deref(), Some("static int g(void)\n{\n}\n"));
    assert_eq!(function_text(source, "h"), None);
}
