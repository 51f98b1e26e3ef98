//! The grader and the project's programs check each other; the faulty
//! programs of tests/faulty/ fail exactly the stages they should, with the
//! explanations recorded in tests/expected/ (GRADE_RECORD=1 rewrites them);
//! the formats hold what Gradescope and JUnit readers expect.
//!
//! Every grading is its own `grade` process with its own sandbox, so the
//! gradings run in parallel threads; the project's servers and the grader
//! both get `-t 2`, so that the timeout stage is short and its windows
//! (0.8 T to 1.5 T) still wide enough for a loaded machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread;

use programs::{Model, Role, Transport};

const GRADE: &str = env!("CARGO_BIN_EXE_grade");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The faulty programs, built once into the test's temporary directory.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grader-faulty");
        std::fs::create_dir_all(&dir).unwrap();
        let src = root().join("grader/tests/faulty");
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "c") {
                let out = dir.join(path.file_stem().unwrap());
                let status = Command::new("cc")
                    .args(["-O2", "-pthread", "-w"])
                    .arg(&path)
                    .arg("-o")
                    .arg(&out)
                    .status()
                    .unwrap();
                assert!(status.success(), "cc {}", path.display());
            }
        }
        dir
    })
}

fn grade(args: &[&str]) -> Output {
    Command::new(GRADE).args(args).output().expect("run grade")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The slugs of the stages a text report failed.
fn failed(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// A built program of the project, which `make` must have built.
fn built(lang: &str, name: &str) -> String {
    let path = root().join("build").join(lang).join(name);
    assert!(path.exists(), "{} is missing: run make first", path.display());
    path.to_string_lossy().into_owned()
}

#[test]
fn every_tcp_program_of_the_list_passes_every_stage_strict_included() {
    let mut jobs = Vec::new();
    for p in programs::all().iter().filter(|p| p.transport == Transport::Tcp) {
        for lang in ["c", "rust"] {
            let path = built(lang, p.name);
            let name = format!("{lang}/{}", p.name);
            let role = p.role;
            let model = if p.model == Model::Single { "single" } else { "concurrent" };
            jobs.push(thread::spawn(move || {
                let out = match role {
                    Role::Server => grade(&[
                        "server", "-m", model, "-t", "2", "--strict", "--", &path, "-p", "{port}", "-t", "2",
                    ]),
                    Role::Client => {
                        grade(&["client", "-t", "2", "--strict", "--", &path, "{host}", "{port}"])
                    }
                };
                (name, out)
            }));
        }
    }
    let mut bad = Vec::new();
    for job in jobs {
        let (name, out) = job.join().unwrap();
        let report = text(&out);
        assert!(report.trim_end().ends_with(" 0 failed"), "{name}:\n{report}");
        if out.status.code() != Some(0) || !failed(&report).is_empty() {
            bad.push(format!("{name}:\n{report}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A faulty program, how it is graded, and the stages it must fail.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    fails: &'static [&'static str],
}

const SERVER: &[&str] = &["server", "-t", "2"];
const STRICT: &[&str] = &["server", "-t", "2", "--strict"];
const NOT_RUN_AFTER_SIGPIPE: &[&str] = &["sigpipe", "hog", "many", "leaks", "idle-cpu"];
const STOPPED: &[&str] = &[
    "echo",
    "lines",
    "split",
    "long",
    "quit",
    "concurrent",
    "timeout",
    "reset",
    "sigpipe",
    "hog",
    "many",
    "leaks",
    "idle-cpu",
];

const CASES: &[Case] = &[
    Case { name: "quit_strcmp", args: SERVER, fails: &["quit", "many"] },
    Case { name: "no_framing", args: SERVER, fails: &["many"] },
    Case { name: "single_threaded", args: SERVER, fails: &["concurrent", "hog"] },
    Case { name: "no_timeout", args: SERVER, fails: &["timeout"] },
    Case { name: "no_linger", args: STRICT, fails: &["no-loss", "log", "shutdown"] },
    Case { name: "sigpipe", args: SERVER, fails: NOT_RUN_AFTER_SIGPIPE },
    Case { name: "fd_leak", args: SERVER, fails: &["many", "leaks", "idle-cpu"] },
    Case { name: "busy_idle", args: SERVER, fails: &["idle-cpu"] },
    Case { name: "select_loop", args: SERVER, fails: &[] },
    Case { name: "port8080", args: SERVER, fails: &[] },
    Case { name: "fork_bomb", args: SERVER, fails: STOPPED },
    Case { name: "memory_hog", args: SERVER, fails: STOPPED },
    Case { name: "setsid_child", args: SERVER, fails: &[] },
    Case { name: "client_pieces", args: &["client", "-t", "2"], fails: &["pieces"] },
];

/// Times, ports and counts that change from run to run, made constant.
fn normalise(report: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = report.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        // A window's two lines (after "first difference"), when what came
        // is a prefix cut short (a reset): where the cut falls depends on
        // the kernel's timing, so only their shape is compared.
        let in_window = line.starts_with("    expected ") || line.starts_with("    got      ");
        let cut_short = in_window && {
            let got_line =
                if line.starts_with("    got") { line } else { lines.get(at + 1).copied().unwrap_or("") };
            got_line.ends_with("(nothing more)")
        };
        // And the got line above such a window: its quoted tail is where
        // the cut fell.
        let got_cut = t.starts_with("got ")
            && lines.get(at + 1).is_some_and(|l| l.trim_start().starts_with("first difference"))
            && lines.get(at + 3).is_some_and(|l| l.ends_with("(nothing more)"));
        if got_cut {
            let tail = line.rsplit_once("\" ").map(|(_, t)| t).unwrap_or("");
            let tail: String = tail.chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).collect();
            let tail = tail.split("N").filter(|p| !p.is_empty()).collect::<Vec<_>>().join("N");
            out.push_str(&format!("  got      \"...\" {tail}\n"));
            continue;
        }
        if cut_short {
            out.push_str(if line.starts_with("    got") {
                "    got      ...(cut)\n"
            } else {
                "    expected ...(cut)\n"
            });
            continue;
        }
        // The steps and the program's lines depend on how the kernel split
        // the bytes; the stage, expected, got, the window and the hint do not.
        let kept = t.starts_with("FAIL ")
            || t.starts_with("expected ")
            || t.starts_with("got ")
            || t.starts_with("hint ")
            || t.starts_with("not run: ")
            || t.starts_with("first difference");
        if !kept {
            continue;
        }
        // The counts of leaks' snapshot before many (a thread of an earlier
        // session may still be ending), and the session many's descriptors
        // ran out at.
        let counts_vary = t.starts_with("got ")
            || t.starts_with("first difference")
            || t.starts_with("not run: ")
            || t.starts_with("expected as before many")
            || t.starts_with("expected \"session ");
        // A memory hog is stopped wherever the limit met it: the limit
        // named is what is compared, not what the stage's client saw.
        let line = match line.split_once("; the program reached its") {
            Some((head, rest)) if t.starts_with("got ") => {
                format!(
                    "{}got      ...; the program reached its{rest}",
                    &head[..head.find("got").unwrap_or(0)]
                )
            }
            _ => line.to_string(),
        };
        let line = line.as_str();
        let mut norm = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                let mut num = String::from(c);
                while let Some(d) = chars.peek().copied().filter(|d| d.is_ascii_digit() || *d == '.') {
                    num.push(d);
                    chars.next();
                }
                let rest: String = chars.clone().take(2).collect();
                let is_time = num.contains('.') && rest == " s";
                let is_port = norm.ends_with("127.0.0.1:") || norm.ends_with("port ");
                norm.push_str(if is_time {
                    "T"
                } else if is_port || counts_vary {
                    "N"
                } else {
                    &num
                });
            } else {
                norm.push(c);
            }
        }
        // The stage's own duration at the end of its line.
        if let Some(cut) = norm.rfind(" (T s)") {
            norm.truncate(cut);
        }
        out.push_str(&norm);
        out.push('\n');
    }
    out
}

fn uid_65534_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        if status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("65534")) {
            found.push(format!(
                "{name}: {}",
                std::fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default()
            ));
        }
    }
    found
}

#[test]
fn faulty_programs_fail_exactly_their_stages_with_the_recorded_explanations() {
    let dir = fixtures();
    let record = std::env::var_os("GRADE_RECORD").is_some();
    let jobs: Vec<_> = CASES
        .iter()
        .map(|case| {
            let program = dir.join(case.name).to_string_lossy().into_owned();
            thread::spawn(move || {
                let mut args: Vec<&str> = case.args.to_vec();
                args.push("--");
                args.push(&program);
                match case.name {
                    "port8080" => args.extend(["-t", "2"]),
                    "client_pieces" => args.extend(["{host}", "{port}"]),
                    _ => args.extend(["-p", "{port}", "-t", "2"]),
                }
                let mut child =
                    Command::new(GRADE).args(&args).stdout(std::process::Stdio::piped()).spawn().unwrap();
                let pid = child.id();
                let mut report = String::new();
                std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut report).unwrap();
                let status = child.wait().unwrap();
                let signal = std::os::unix::process::ExitStatusExt::signal(&status);
                (case, pid, status.code(), signal, report)
            })
        })
        .collect();
    let mut problems = Vec::new();
    for job in jobs {
        let (case, pid, code, signal, report) = job.join().unwrap();
        let want: BTreeSet<String> = case.fails.iter().map(|s| s.to_string()).collect();
        let got = failed(&report);
        if got != want {
            problems.push(format!("{}: failed {got:?}, expected {want:?}\n{report}", case.name));
        }
        let code_wanted = if want.is_empty() { 0 } else { 1 };
        if code != Some(code_wanted) {
            problems.push(format!(
                "{}: exit status {code:?} (signal {signal:?}), expected {code_wanted}",
                case.name
            ));
        }
        // Nothing of the sandbox is left: no cgroup of that grader.
        for controller in ["pids", "memory", "cpu"] {
            let prefix = format!("sockets-grade-{pid}-");
            if let Ok(entries) = std::fs::read_dir(format!("/sys/fs/cgroup/{controller}")) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        problems.push(format!("{}: cgroup left: {}", case.name, e.path().display()));
                    }
                }
            }
        }
        let expected_file = root().join("grader/tests/expected").join(format!("{}.txt", case.name));
        // A hostile program is stopped at its limit in whichever stage it
        // reaches it (the memory hog: in echo, or in lines when the machine
        // is loaded): its recorded text is each stage's verdict, and the
        // limit must be named.
        let explained = if case.fails == STOPPED {
            if !report.contains("limit") {
                problems.push(format!("{}: no limit named:\n{report}", case.name));
            }
            normalise(&report)
                .lines()
                .filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
                .map(|l| format!("{l}\n"))
                .collect()
        } else {
            normalise(&report)
        };
        if record {
            std::fs::create_dir_all(expected_file.parent().unwrap()).unwrap();
            std::fs::write(&expected_file, &explained).unwrap();
        } else {
            let recorded = std::fs::read_to_string(&expected_file)
                .unwrap_or_else(|_| panic!("{} missing: run with GRADE_RECORD=1", expected_file.display()));
            if recorded != explained {
                problems.push(format!(
                    "{}: explanation differs from {}:\n--- recorded\n{recorded}--- now\n{explained}",
                    case.name,
                    expected_file.display()
                ));
            }
        }
    }
    // The other tests run graders of their own at the same time: look for
    // what only this one runs.
    let left: Vec<String> = uid_65534_processes()
        .into_iter()
        .filter(|p| {
            CASES
                .iter()
                .any(|c| p.contains(&format!("grader-faulty/{}\0", c.name)) && c.name != "quit_strcmp")
        })
        .collect();
    assert!(left.is_empty(), "processes of the sandbox's user left: {left:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The formats, `grade class` and Gradescope's entry point, side by side:
/// each is a grading or two that mostly waits (the stages' timeouts), so
/// together they take as long as the longest, about 15 s instead of 40 s,
/// on make test's longest path (the quiet group runs one test at a time).
#[test]
fn formats_class_and_gradescope_side_by_side() {
    let checks: [(&str, fn()); 3] = [
        ("formats, exit status and --out", formats_exit_status_and_out_dir),
        ("a class of four with a broken build", class_of_four_with_a_broken_build),
        ("Gradescope's run_autograder", gradescope_run_autograder_writes_results_json),
    ];
    let failed: Vec<&str> = thread::scope(|scope| {
        let running = checks.map(|(name, check)| (name, scope.spawn(check)));
        running.into_iter().filter_map(|(name, check)| check.join().is_err().then_some(name)).collect()
    });
    assert!(failed.is_empty(), "failed: {failed:?} (each one's message is printed above)");
}

/// `--format json` (Gradescope's fields) and `--out` (the text, the JUnit,
/// a transcript and a ladder per failed stage) for the quit_strcmp fixture,
/// `--help` as recorded, and exit status 2 for a bad command line.
fn formats_exit_status_and_out_dir() {
    let dir = fixtures();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grader-out-quit");
    let _ = std::fs::remove_dir_all(&out_dir);
    let program = dir.join("quit_strcmp").to_string_lossy().into_owned();
    let out_arg = out_dir.to_string_lossy().into_owned();
    let out = grade(&[
        "server", "-t", "2", "--format", "json", "--out", &out_arg, "--", &program, "-p", "{port}", "-t", "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Gradescope's documented fields (results.json).
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    for field in ["score", "execution_time", "output", "tests", "visibility", "stdout_visibility"] {
        assert!(json.get(field).is_some(), "no {field} in {json}");
    }
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 14, "one test per stage of the concurrent model");
    for t in tests {
        for field in ["name", "score", "max_score", "status", "output"] {
            assert!(t.get(field).is_some(), "no {field} in {t}");
        }
        assert!(matches!(t["status"].as_str(), Some("passed" | "failed")));
    }
    let quit = tests.iter().find(|t| t["name"].as_str().unwrap().starts_with("quit:")).unwrap();
    assert_eq!(quit["score"], 0.0);
    assert!(quit["output"].as_str().unwrap().contains("strcmp(buf, \"quit\")"));
    assert_eq!(json["score"], 12.0);
    // The JUnit: XML, one test case per stage, a failure for each failed one.
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).expect("junit.xml is XML");
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 14);
    assert_eq!(cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).count(), 2);
    // The text, the transcripts and the ladders of the failed stages.
    let report = std::fs::read_to_string(out_dir.join("report.txt")).unwrap();
    assert!(report.trim_end().ends_with("12 passed, 2 failed"), "{report}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("results.json")).unwrap().as_bytes(),
        out.stdout.as_slice()
    );
    let quit_txt = std::fs::read_to_string(out_dir.join("quit.txt")).unwrap();
    // The book shows a recorded one (book/src/grading.md includes it): it
    // is still what the grader writes, digits (times, ports) aside.
    let digits = |s: &str| s.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect::<String>();
    let recorded = std::fs::read_to_string(root().join("grader/tests/reports/quit_strcmp-quit.txt")).unwrap();
    assert_eq!(digits(&recorded), digits(&quit_txt), "grader/tests/reports/quit_strcmp-quit.txt is stale");
    let help = grade(&["--help"]);
    assert_eq!(
        text(&help),
        std::fs::read_to_string(root().join("grader/tests/reports/help.txt")).unwrap(),
        "grader/tests/reports/help.txt is stale: ./grade --help > grader/tests/reports/help.txt"
    );
    assert!(quit_txt.contains("A -> sent \"quit\\n\""), "{quit_txt}");
    let svg = std::fs::read_to_string(out_dir.join("quit.svg")).unwrap();
    let svg = roxmltree::Document::parse(&svg).expect("quit.svg is XML");
    assert!(svg.descendants().filter(|n| n.has_tag_name("line")).count() >= 4);
    assert!(!out_dir.join("echo.svg").exists(), "a ladder only for a failed stage");
    // Exit status 2: a bad command line, a program that cannot be started.
    assert_eq!(grade(&["server", "--bogus"]).status.code(), Some(2));
    assert_eq!(grade(&["server", "-m", "threads", "--", "x"]).status.code(), Some(2));
    let missing = grade(&["server", "--", "/nonexistent/server", "-p", "{port}"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).trim_end().ends_with("passed, 14 failed") || text(&missing).contains("failed"));
}

/// `grade class`: a generated class of four (a correct select(2) server, one
/// with the strcmp quit bug, one that does not compile, a client built by
/// its own Makefile), graded with -j 2: a row each, every cell linking to a
/// file that is there, the CSV's cells, a progress line per submission.
fn class_of_four_with_a_broken_build() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grader-class");
    let _ = std::fs::remove_dir_all(&base);
    let class = base.join("class");
    let faulty = root().join("grader/tests/faulty");
    let with_timeout_2 = |file: &str| {
        std::fs::read_to_string(faulty.join(file)).unwrap().replace("timeout = 5", "timeout = 2")
    };
    for (sub, file, text) in [
        ("alice", "server.c", with_timeout_2("select_loop.c")),
        ("bob", "server.c", with_timeout_2("quit_strcmp.c")),
        ("carol", "server.c", "int main(void) { return x; }\n".to_string()),
        ("dave", "client.c", std::fs::read_to_string(faulty.join("client_pieces.c")).unwrap()),
        ("dave", "Makefile", "client: client.c\n\tcc -O2 -o client client.c\n".to_string()),
    ] {
        std::fs::create_dir_all(class.join(sub)).unwrap();
        std::fs::write(class.join(sub).join(file), text).unwrap();
    }
    let out = Command::new(GRADE).arg("class").arg(&class).args(["-j", "2", "-t", "2"]).output().unwrap();
    let progress = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{progress}");
    let report = base.join("class-report");
    assert_eq!(progress.lines().filter(|l| l.starts_with("class: [")).count(), 4, "{progress}");
    // The CSV: a header of every stage of the three programs, a row each.
    let csv = std::fs::read_to_string(report.join("results.csv")).unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let header = &lines[0];
    assert_eq!(header.len(), 1 + 14 + 13 + 8 + 3, "{csv}");
    let cell = |row: &str, col: &str| -> String {
        let r = lines.iter().find(|l| l[0] == row).unwrap_or_else(|| panic!("no row {row} in {csv}"));
        r[header.iter().position(|h| *h == col).unwrap_or_else(|| panic!("no column {col}"))].to_string()
    };
    let server_cols: Vec<&str> = header.iter().filter(|h| h.starts_with("server:")).copied().collect();
    for col in &server_cols {
        assert_eq!(cell("alice", col), "pass", "alice {col}:\n{csv}");
        let bob = if *col == "server:quit" || *col == "server:many" { "fail" } else { "pass" };
        assert_eq!(cell("bob", col), bob, "bob {col}:\n{csv}");
        assert_eq!(cell("carol", col), "", "carol {col}:\n{csv}");
        assert_eq!(cell("dave", col), "", "dave has no server: {col}");
    }
    assert_eq!(cell("carol", "note"), "the build failed");
    assert_eq!(cell("dave", "client:pieces"), "fail");
    assert_eq!(cell("dave", "client:send"), "pass");
    assert_eq!(cell("alice", "passed"), "14");
    assert!(std::fs::read_to_string(report.join("carol/build.txt")).unwrap().contains("undeclared"));
    // The table: a row per submission, each cell a link to a file that is there.
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert_eq!(html.matches("<tr><td class=\"name\">").count(), 4);
    let links: Vec<&str> = html.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert_eq!(links.len(), 4 * 35, "every cell a link");
    for link in links {
        assert!(report.join(link).is_file(), "{link} is missing");
    }
    assert!(html.contains("href=\"bob/server/quit.txt\""));
    let quit = std::fs::read_to_string(report.join("bob/server/quit.txt")).unwrap();
    assert!(quit.contains("strcmp(buf, \"quit\")"), "{quit}");
}

/// Gradescope's run_autograder, against a fake /autograder tree in a
/// temporary directory (GRADE_AUTOGRADER_ROOT): a submission with a
/// server.c, graded into results.json with Gradescope's fields.
fn gradescope_run_autograder_writes_results_json() {
    let ag = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grader-autograder");
    let _ = std::fs::remove_dir_all(&ag);
    for d in ["source", "submission"] {
        std::fs::create_dir_all(ag.join(d)).unwrap();
    }
    std::fs::copy(GRADE, ag.join("source/grade")).unwrap();
    let server = std::fs::read_to_string(root().join("grader/tests/faulty/quit_strcmp.c"))
        .unwrap()
        .replace("timeout = 5", "timeout = 2");
    std::fs::write(ag.join("submission/server.c"), server).unwrap();
    let out = Command::new(root().join("grader/scripts/gradescope/run_autograder"))
        .env("GRADE_AUTOGRADER_ROOT", &ag)
        .env("GRADE_ARGS", "-t 2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(ag.join("results/results.json")).expect("results/results.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("results.json is JSON");
    for field in ["score", "max_score", "output", "tests", "visibility", "stdout_visibility"] {
        assert!(json.get(field).is_some(), "no {field} in {json}");
    }
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 14, "the server's stages (no server_single, no client): {json}");
    assert_eq!(json["score"], 12.0, "{json}");
    let quit = tests.iter().find(|t| t["name"].as_str().unwrap().starts_with("server quit:")).unwrap();
    assert_eq!(quit["status"], "failed");
    assert!(quit["output"].as_str().unwrap().contains("strcmp"), "{quit}");
    let output = json["output"].as_str().unwrap();
    assert!(output.contains("server_single: no server_single after the build"), "{output}");
}
