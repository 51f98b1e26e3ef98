//! Each C program is one self-contained file (a student reads one file, top
//! to bottom), so the files repeat their shared helpers. The copies must stay
//! byte-identical: a fix made in one file and not the others would make the
//! C programs drift apart (and from their Rust twins, which share one copy in
//! the library).
//!
//! The check finds the copies itself: it reads every c-reference/*.c, cuts
//! each into its functions (a function's text: the comment lines right above
//! its definition, then from the line at column 0 that names it, `static
//! void die(...)`, to the first `}` at column 0), and groups them by name.
//! A function defined in two or more files must be the same text in all of
//! them; a copy that differs fails, naming it and the files whose copy it
//! left, with a diff. A new file, or a helper newly copied, is checked from
//! its first copy on, with no edit here.
//!
//! The one exception is `OWN_VERSIONS`: a name that is, on purpose, more
//! than one function (the event loops' `echo_piece` is not the blocking
//! servers'), with how many versions it has and why. Each version is still
//! compared wherever it is copied: a copy that drifts makes one version
//! more than the table allows, and fails the same way.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;

/// The names that are more than one function, on purpose: how many
/// versions, and why. Every other function is one text wherever it is.
const OWN_VERSIONS: &[(&str, usize, &str)] = &[
    ("main", usize::MAX, "every program's own story"),
    (
        "parse_options",
        3,
        "the servers' options, the counted servers' (-n N too), and the clients' (a host, no -b)",
    ),
    (
        "reap_children",
        2,
        "server_fork forgets a child that ended, server_prefork logs it and forks its replacement",
    ),
    (
        "serve_in_child",
        2,
        "server_fork's child serves one client and exits, a prefork child serves client after client",
    ),
    (
        "default_count",
        3,
        "-n's default: 16 threads (pool), 16 children (prefork), a loop per CPU (reuseport)",
    ),
    ("echo_piece", 2, "blocking (the servers that block) and non-blocking (the event loops)"),
    ("configure_client", 2, "blocking with a receive timeout, or the event loops' non-blocking"),
    ("parse_tls_options", 2, "the TLS server's options (-b), and the TLS client's (a host)"),
    // The event loops' steps: the same story over poll's array and epoll's
    // events (a client's slot or its pointer, POLLOUT or EPOLLOUT).
    ("accept_clients", 2, "poll stops watching the listener by its slot, epoll with EPOLL_CTL_DEL"),
    ("echo_lines", 2, "the comments name POLLOUT or EPOLLOUT"),
    ("remove_client", 2, "a slot of poll's array, or epoll's client and its registration"),
    ("serve_ready_client", 2, "poll's revents, or epoll's events"),
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

/// The function whose definition or declaration `line` opens: at column 0,
/// the identifier right before the first `(` (after a space or the `*` of a
/// pointer return type); None for any other line.
fn named_by(line: &str) -> Option<&str> {
    if !line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') || line.starts_with("typedef") {
        return None;
    }
    let paren = line.find('(')?;
    let before = &line[..paren];
    let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    let name = &before[start..];
    let after_type = start > 0 && matches!(before.as_bytes()[start - 1], b' ' | b'*');
    (after_type && !name.is_empty()).then_some(name)
}

/// Every function `source` defines, in order: its name and its text (the
/// comment block right above the definition, and the definition to the
/// first `}` at column 0). A declaration ending in `;` is skipped.
fn functions(source: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let Some(name) = named_by(lines[at]) else {
            at += 1;
            continue;
        };
        // The signature may run over lines: up to `{` (a definition) or `;`.
        let Some(open) =
            lines[at..].iter().position(|l| *l == "{" || l.trim_end().ends_with(';')).map(|i| at + i)
        else {
            break;
        };
        if lines[open] != "{" {
            at = open + 1;
            continue;
        }
        let Some(close) = lines[open..].iter().position(|line| *line == "}").map(|i| open + i) else {
            break;
        };
        let comment = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("/*") || l.starts_with(" *") || l.starts_with("//"));
        let first = at - comment.count();
        found.push((name.to_string(), lines[first..=close].join("\n") + "\n"));
        at = close + 1;
    }
    found
}

/// The text of `function` in `source`, if the file defines it.
fn function_text(source: &str, function: &str) -> Option<String> {
    functions(source).into_iter().find(|(name, _)| name == function).map(|(_, text)| text)
}

/// What is wrong with the copies of `function` (file and text each): more
/// versions than `OWN_VERSIONS` allows (one for every other name). Each
/// copy of a version held by fewer files than the most common one is shown
/// against it, so the message names the copy that was changed.
fn differences(function: &str, copies: &[(&str, &str)]) -> Vec<String> {
    let allowed = OWN_VERSIONS.iter().find(|(name, ..)| *name == function).map_or(1, |(_, n, _)| *n);
    let mut versions: Vec<(&str, Vec<&str>)> = Vec::new();
    for (file, text) in copies {
        match versions.iter_mut().find(|(t, _)| t == text) {
            Some((_, files)) => files.push(file),
            None => versions.push((text, vec![file])),
        }
    }
    if versions.len() < allowed && allowed != usize::MAX {
        // A version allowed and no longer there would let a copy drift unseen.
        return vec![format!(
            "{function}: OWN_VERSIONS allows {allowed} versions and the C files hold {}: lower it (or remove its line)",
            versions.len()
        )];
    }
    if versions.len() <= allowed {
        return Vec::new();
    }
    // The most held version first (the first file's, on a tie).
    versions.sort_by_key(|(_, files)| std::cmp::Reverse(files.len()));
    let (usual, holders) = &versions[0];
    let held = holders.iter().map(|f| format!("{f}.c")).collect::<Vec<_>>().join(", ");
    let why = match allowed {
        1 => "one function in every file that defines it".to_string(),
        n => format!("{n} versions in OWN_VERSIONS"),
    };
    versions[allowed.max(1)..]
        .iter()
        .flat_map(|(text, files)| files.iter().map(move |file| (text, file)))
        .map(|(text, file)| {
            format!(
                "{function}: c-reference/{file}.c differs from the copy in {held} ({} versions, {why}):\n{}",
                versions.len(),
                unified_diff(&format!("{}.c", holders[0]), usual, &format!("{file}.c"), text)
            )
        })
        .collect()
}

/// Brief "The project": the C files' shared helpers are byte-identical copies.
#[test]
fn c_files_share_their_helpers_byte_for_byte() {
    let sources = c_files();
    let mut copies: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for (file, source) in &sources {
        for (name, text) in functions(source) {
            copies.entry(name).or_default().push((file.as_str(), text));
        }
    }
    for (name, ..) in OWN_VERSIONS {
        assert!(
            copies.get(*name).is_some_and(|c| c.len() > 1),
            "OWN_VERSIONS names {name}, which no two C files define: its line goes"
        );
    }
    let mut problems = Vec::new();
    let mut shared = 0;
    for (function, held) in &copies {
        if held.len() > 1 {
            shared += 1;
            let held: Vec<(&str, &str)> = held.iter().map(|(f, t)| (*f, t.as_str())).collect();
            problems.extend(differences(function, &held));
        }
    }
    assert!(problems.is_empty(), "the C files' shared helpers drifted:\n\n{}", problems.join("\n\n"));
    println!("{shared} functions defined in more than one C file, each checked");
}

/// A copy changed in one file fails, naming that file and the files whose
/// copy it left; a name of OWN_VERSIONS may have its versions, not one more.
#[test]
fn a_drifted_copy_is_named() {
    let a = "static void f(void)\n{\n}\n";
    let b = "static void f(void)\n{\n    g();\n}\n";
    let found = differences("f", &[("one", a), ("two", a), ("three", b)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("f: c-reference/three.c differs from the copy in one.c, two.c"),
        "{found:?}"
    );
    assert!(differences("echo_piece", &[("one", a), ("two", b)]).is_empty());
    assert_eq!(differences("echo_piece", &[("one", a), ("two", b), ("three", "x")]).len(), 1);
    assert!(differences("echo_piece", &[("one", a), ("two", a)])[0].contains("lower it"));
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
    let names: Vec<String> = functions(source).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["f", "g"]);
}
