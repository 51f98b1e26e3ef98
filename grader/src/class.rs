//! `grade class DIR` (SPEC "The grader"): each submission built in the
//! sandbox (no network, 120 s), its programs graded, one row each in
//! `index.html` and `results.csv`, each submission's reports beside them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::report::xml;
use crate::sandbox::{Abilities, Launch, Running, NOBODY};
use crate::stages::{self, Model, Role};
use crate::Options;

/// How long a build may take.
const BUILD_SECONDS: u64 = 120;
/// How long one grading may take before the class gives up on it.
const GRADE_SECONDS: u64 = 600;

/// A program of the assignment: its file, how it is graded, its stages.
struct Program {
    name: &'static str,
    role: Role,
    model: Model,
}

const PROGRAMS: &[Program] = &[
    Program { name: "server", role: Role::Server, model: Model::Concurrent },
    Program { name: "server_single", role: Role::Server, model: Model::Single },
    Program { name: "client", role: Role::Client, model: Model::Concurrent },
];

/// One cell of the table.
#[derive(Clone)]
enum Cell {
    Pass(String),
    Fail(String),
    /// The program is missing, or the build failed: the link says why.
    None(String),
}

struct Row {
    name: String,
    /// What went wrong before any stage ran, if anything.
    note: Option<String>,
    cells: Vec<Cell>,
    passed: usize,
    total: usize,
    seconds: f64,
}

fn columns(strict: bool) -> Vec<(usize, &'static str)> {
    let mut cols = Vec::new();
    for (i, p) in PROGRAMS.iter().enumerate() {
        for s in stages::selected(p.role, p.model, strict) {
            cols.push((i, s.slug));
        }
    }
    cols
}

pub fn run(o: &Options) -> i32 {
    let dir = o.class_dir.clone().expect("class has a DIR");
    let out = o.out.clone().unwrap_or_else(|| {
        let name =
            dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "class".into());
        dir.with_file_name(format!("{name}-report"))
    });
    let mut subs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect(),
        Err(e) => {
            eprintln!("grade: class: {}: {e}", dir.display());
            return 2;
        }
    };
    subs.sort();
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("grade: class: {}: {e}", out.display());
        return 2;
    }
    // Absolute: each grading runs in its submission's folder.
    let out = std::fs::canonicalize(&out).unwrap_or(out);
    let began = Instant::now();
    let total = subs.len();
    // Popped from the end: reversed, so that the first comes first.
    let queue = Arc::new(Mutex::new(subs.into_iter().enumerate().rev().collect::<Vec<_>>()));
    let rows: Arc<Mutex<Vec<(usize, Row)>>> = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..o.jobs.min(total.max(1)) {
        let (queue, rows, done, out) = (queue.clone(), rows.clone(), done.clone(), out.clone());
        let (strict, no_sandbox, timeout) = (o.strict, o.no_sandbox, o.timeout);
        workers.push(thread::spawn(move || loop {
            let Some((i, sub)) = queue.lock().unwrap().pop() else { break };
            let row = submission(&sub, &out, strict, no_sandbox, timeout);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!(
                "class: [{n}/{total}] {}: {}{} passed of {} ({:.1} s)",
                row.name,
                row.note.as_ref().map(|w| format!("{w}; ")).unwrap_or_default(),
                row.passed,
                row.total,
                row.seconds
            );
            rows.lock().unwrap().push((i, row));
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let mut rows = std::mem::take(&mut *rows.lock().unwrap());
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    let cols = columns(o.strict);
    let written = std::fs::write(out.join("index.html"), html(&rows, &cols, &dir))
        .and_then(|_| std::fs::write(out.join("results.csv"), csv(&rows, &cols)));
    if let Err(e) = written {
        eprintln!("grade: class: write {}: {e}", out.display());
        return 2;
    }
    eprintln!(
        "class: {} submissions in {:.0} s: {}",
        rows.len(),
        began.elapsed().as_secs_f64(),
        out.join("index.html").display()
    );
    0
}

/// Builds and grades one submission; its reports under OUT/NAME/.
fn submission(sub: &Path, out: &Path, strict: bool, no_sandbox: bool, timeout: u32) -> Row {
    let began = Instant::now();
    let name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mine = out.join(&name);
    let _ = std::fs::remove_dir_all(&mine);
    let work = mine.join("work");
    let cols = columns(strict);
    let mut row =
        Row { name: name.clone(), note: None, cells: Vec::new(), passed: 0, total: cols.len(), seconds: 0.0 };
    let none_all = |row: &mut Row, why: &str, link: &str| {
        row.note = Some(why.to_string());
        row.cells = cols.iter().map(|_| Cell::None(link.to_string())).collect();
    };
    if let Err(e) = copy_tree(sub, &work) {
        none_all(&mut row, &format!("cannot copy the submission: {e}"), "");
        row.seconds = began.elapsed().as_secs_f64();
        return row;
    }
    let (built, log) = build(&work, no_sandbox);
    let _ = std::fs::write(mine.join("build.txt"), &log);
    if !built {
        none_all(&mut row, "the build failed", &format!("{name}/build.txt"));
        row.seconds = began.elapsed().as_secs_f64();
        return row;
    }
    for (pi, p) in PROGRAMS.iter().enumerate() {
        let slugs: Vec<&str> = cols.iter().filter(|(i, _)| *i == pi).map(|(_, s)| *s).collect();
        let exe = work.join(p.name);
        if !exe.is_file() {
            let why = format!("no {} after the build", p.name);
            let _ =
                std::fs::write(mine.join(format!("{}.txt", p.name)), format!("{why}\n\nthe build:\n{log}"));
            row.cells.extend(slugs.iter().map(|_| Cell::None(format!("{name}/{}.txt", p.name))));
            continue;
        }
        let rep = mine.join(p.name);
        let statuses = grade_one(p, &exe, &work, &rep, strict, no_sandbox, timeout);
        for (k, slug) in slugs.iter().enumerate() {
            let link = format!("{name}/{}/", p.name);
            row.cells.push(match statuses.get(k) {
                Some(true) => Cell::Pass(format!("{link}report.txt")),
                Some(false) => Cell::Fail(format!("{link}{slug}.txt")),
                None => Cell::None(format!("{link}report.txt")),
            });
        }
    }
    row.passed = row.cells.iter().filter(|c| matches!(c, Cell::Pass(_))).count();
    row.seconds = began.elapsed().as_secs_f64();
    row
}

/// `grade server|client ... --out REP -- EXE` as a process of its own (its
/// own sandbox); each stage's pass, in the order of the stage list.
fn grade_one(
    p: &Program,
    exe: &Path,
    work: &Path,
    rep: &Path,
    strict: bool,
    no_sandbox: bool,
    timeout: u32,
) -> Vec<bool> {
    let mut cmd = Command::new(std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into()));
    match p.role {
        Role::Server => {
            cmd.args(["server", "-m", if p.model == Model::Single { "single" } else { "concurrent" }]);
        }
        Role::Client => {
            cmd.arg("client");
        }
    }
    cmd.args(["-t", &timeout.to_string(), "--format", "json"]);
    if strict {
        cmd.arg("--strict");
    }
    if no_sandbox {
        cmd.arg("--no-sandbox");
    }
    cmd.arg("--out").arg(rep).arg("--").arg(exe).current_dir(work);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
    let Ok(mut child) = cmd.spawn() else { return Vec::new() };
    let mut stdout = child.stdout.take().expect("piped");
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(GRADE_SECONDS);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let json = reader.join().unwrap_or_default();
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&json) else { return Vec::new() };
    doc["tests"]
        .as_array()
        .map(|tests| tests.iter().map(|t| t["status"].as_str() == Some("passed")).collect())
        .unwrap_or_default()
}

/// Builds in the sandbox: `make` with a Makefile, else `cc -O2 -pthread`
/// for each of the programs' sources found. (ok, the build's output).
fn build(work: &Path, no_sandbox: bool) -> (bool, String) {
    let has_makefile = ["Makefile", "makefile", "GNUmakefile"].iter().any(|m| work.join(m).is_file());
    let script = if has_makefile {
        "make 2>&1".to_string()
    } else {
        let mut s = String::from("status=0; found=0\n");
        for p in PROGRAMS {
            let _ = writeln!(
                s,
                "if [ -f {n}.c ]; then found=1; echo '$ cc -O2 -pthread {n}.c -o {n}'; cc -O2 -pthread {n}.c -o {n} 2>&1 || status=1; fi",
                n = p.name
            );
        }
        s.push_str("[ $found = 1 ] || { echo 'no Makefile and none of server.c, server_single.c, client.c'; status=1; }\nexit $status\n");
        s
    };
    let ab = Abilities::probe(no_sandbox);
    let launch = Launch {
        argv: vec!["/bin/sh".into(), "-c".into(), script.clone()],
        dir: Some(work.to_path_buf()),
        stdin: false,
    };
    let mut running = match Running::start(&launch, &ab, || {}) {
        Ok(r) => r,
        Err(e) => return (false, format!("the build could not be started: {e}\n")),
    };
    let deadline = Instant::now() + Duration::from_secs(BUILD_SECONDS);
    while running.exit().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let exit = running.exit();
    running.kill_all();
    thread::sleep(Duration::from_millis(50));
    let mut log = format!("$ {}\n", if has_makefile { "make" } else { "sh (cc for each source)" });
    for l in running.output.lock().unwrap().lines() {
        log.push_str(&l.text);
        log.push('\n');
    }
    match exit {
        Some(crate::sandbox::Exit::Code(0)) => (true, log),
        Some(e) => {
            let _ = writeln!(log, "the build ended: {e}");
            (false, log)
        }
        None => {
            let _ = writeln!(log, "the build took longer than {BUILD_SECONDS} s and was stopped");
            (false, log)
        }
    }
}

/// Copies a submission to the build's own folder, owned by the sandbox's
/// user (the build writes there, the teacher's copy stays as it was).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let _ = std::os::unix::fs::chown(to, Some(NOBODY), Some(NOBODY));
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest)?;
            let _ = std::os::unix::fs::chown(&dest, Some(NOBODY), Some(NOBODY));
        }
    }
    Ok(())
}

fn html(rows: &[Row], cols: &[(usize, &str)], dir: &Path) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>grade class {}</title>\n<style>\n\
         body {{ font-family: sans-serif; }} table {{ border-collapse: collapse; }}\n\
         td, th {{ border: 1px solid #ccc; padding: 2px 4px; text-align: center; font-size: 12px; }}\n\
         th.stage {{ writing-mode: vertical-rl; transform: rotate(180deg); }}\n\
         td.pass {{ background: #d8f0d8; }} td.fail {{ background: #f4caca; }} td.none {{ background: #eee; }}\n\
         td.name, td.note {{ text-align: left; }}\n</style></head><body>\n<h1>grade class {}</h1>\n\
         <p>A row per submission, a column per stage; each cell links to its explanation (a failed stage) or its report.</p>\n<table>\n<tr><th>submission</th>",
        xml(&dir.display().to_string()),
        xml(&dir.display().to_string())
    );
    for (i, slug) in cols {
        let _ = write!(h, "<th class=\"stage\">{}: {}</th>", PROGRAMS[*i].name, xml(slug));
    }
    h.push_str("<th>score</th><th>note</th></tr>\n");
    for r in rows {
        let _ = write!(h, "<tr><td class=\"name\">{}</td>", xml(&r.name));
        for c in &r.cells {
            let (class, word, link) = match c {
                Cell::Pass(l) => ("pass", "pass", l),
                Cell::Fail(l) => ("fail", "FAIL", l),
                Cell::None(l) => ("none", "—", l),
            };
            if link.is_empty() {
                let _ = write!(h, "<td class=\"{class}\">{word}</td>");
            } else {
                let _ = write!(h, "<td class=\"{class}\"><a href=\"{}\">{word}</a></td>", xml(link));
            }
        }
        let _ = writeln!(
            h,
            "<td>{}/{}</td><td class=\"note\">{}</td></tr>",
            r.passed,
            r.total,
            xml(r.note.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(rows: &[Row], cols: &[(usize, &str)]) -> String {
    let mut c = String::from("submission");
    for (i, slug) in cols {
        let _ = write!(c, ",{}:{slug}", PROGRAMS[*i].name);
    }
    c.push_str(",passed,total,note\n");
    for r in rows {
        c.push_str(&csv_field(&r.name));
        for cell in &r.cells {
            c.push_str(match cell {
                Cell::Pass(_) => ",pass",
                Cell::Fail(_) => ",fail",
                Cell::None(_) => ",",
            });
        }
        let _ = writeln!(c, ",{},{},{}", r.passed, r.total, csv_field(r.note.as_deref().unwrap_or("")));
    }
    c
}
