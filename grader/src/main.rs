//! grade: checks a student's own echo server or client against the
//! assignment, stage by stage (SPEC "The grader").

mod class;
mod exchange;
mod report;
mod sandbox;
mod stages;
mod sys;

use std::path::PathBuf;
use std::process::exit;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use report::{Report, StageResult};
use sandbox::{Abilities, Launch};
use stages::{Ctx, Model, Role};

const USAGE: &str = "usage: grade server [-m MODEL] [-t SECONDS] [--strict] [--format FORMAT] [--out DIR] [--no-sandbox] -- COMMAND [ARG...]
       grade client [-t SECONDS] [--strict] [--format FORMAT] [--out DIR] [--no-sandbox] -- COMMAND [ARG...]
       grade class DIR [--out DIR] [-j N] [-t SECONDS] [--strict] [--no-sandbox]
MODEL: concurrent (default) or single; FORMAT: text (default), json, junit";

fn usage_error(what: &str) -> ! {
    eprintln!("grade: {what}\n{USAGE}");
    exit(2);
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Junit,
}

pub struct Options {
    pub role: Role,
    pub model: Model,
    pub timeout: u32,
    pub strict: bool,
    pub format: Format,
    pub out: Option<PathBuf>,
    pub no_sandbox: bool,
    pub command: Vec<String>,
    pub jobs: usize,
    pub class_dir: Option<PathBuf>,
}

fn parse(args: &[String]) -> Options {
    let mut o = Options {
        role: Role::Server,
        model: Model::Concurrent,
        timeout: 5,
        strict: false,
        format: Format::Text,
        out: None,
        no_sandbox: false,
        command: Vec::new(),
        jobs: 1,
        class_dir: None,
    };
    let mut it = args.iter();
    let class = match it.next().map(String::as_str) {
        Some("server") => false,
        Some("client") => {
            o.role = Role::Client;
            false
        }
        Some("class") => true,
        Some("-h" | "--help") => {
            println!("{USAGE}\n\n{}", stages::table());
            exit(0);
        }
        Some(other) => usage_error(&format!("unknown command: {other}")),
        None => usage_error("a command is needed"),
    };
    let value = |it: &mut std::slice::Iter<String>, name: &str| -> String {
        it.next().cloned().unwrap_or_else(|| usage_error(&format!("{name} needs a value")))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--" if !class => {
                o.command = it.by_ref().cloned().collect();
            }
            "-m" if o.role == Role::Server && !class => {
                o.model = match value(&mut it, "-m").as_str() {
                    "concurrent" => Model::Concurrent,
                    "single" => Model::Single,
                    m => usage_error(&format!("bad model: {m}")),
                }
            }
            "-t" => {
                let v = value(&mut it, "-t");
                o.timeout = v
                    .parse()
                    .ok()
                    .filter(|t| (1..=3600).contains(t))
                    .unwrap_or_else(|| usage_error(&format!("bad timeout: {v}")))
            }
            "-j" if class => {
                let v = value(&mut it, "-j");
                o.jobs = v
                    .parse()
                    .ok()
                    .filter(|j| (1..=64).contains(j))
                    .unwrap_or_else(|| usage_error(&format!("bad -j: {v}")))
            }
            "--strict" => o.strict = true,
            "--no-sandbox" => o.no_sandbox = true,
            "--out" => o.out = Some(PathBuf::from(value(&mut it, "--out"))),
            "--format" if !class => {
                o.format = match value(&mut it, "--format").as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "junit" => Format::Junit,
                    f => usage_error(&format!("bad format: {f}")),
                }
            }
            d if class && o.class_dir.is_none() && !d.starts_with('-') => {
                o.class_dir = Some(PathBuf::from(d))
            }
            other => usage_error(&format!("unknown option: {other}")),
        }
    }
    if class {
        if o.class_dir.is_none() {
            usage_error("class needs a DIR");
        }
    } else if o.command.is_empty() {
        usage_error("a COMMAND after -- is needed");
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("__helper") => sandbox::helper_main(&args[1..]),
        Some("__init") => sandbox::init_main(&args[1..]),
        _ => {}
    }
    let o = parse(&args);
    sandbox::remove_stale_cgroups();
    if o.class_dir.is_some() {
        exit(class::run(&o));
    }
    let (report, unstartable) = grade(&o);
    if let Some(dir) = &o.out {
        if let Err(e) = write_out(dir, &report) {
            eprintln!("grade: write {}: {e}", dir.display());
        }
    }
    let shown = match o.format {
        Format::Text => report.text(),
        Format::Json => report.json(),
        Format::Junit => report.junit(),
    };
    print!("{shown}");
    if let Some(why) = unstartable {
        eprintln!("grade: the program could not be started: {why}");
        exit(2);
    }
    exit(if report.failed() == 0 { 0 } else { 1 });
}

/// The port to use: in the sandbox the assignment's 8080 (its own network
/// namespace); else a free one, if the command takes `{port}`.
fn choose_port(o: &Options, ab: &Abilities) -> u16 {
    let takes_port = o.command.iter().any(|a| a.contains("{port}"));
    if ab.sandboxed() || !takes_port {
        return 8080;
    }
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(8080)
}

/// Runs every stage of the options' role and model; the report, and why
/// the program could not be started if it could not.
pub fn grade(o: &Options) -> (Report, Option<String>) {
    let begun = Instant::now();
    let ab = Abilities::probe(o.no_sandbox);
    let port = choose_port(o, &ab);
    let argv: Vec<String> = o
        .command
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()).replace("{host}", "127.0.0.1"))
        .collect();
    let mut notes = Vec::new();
    if ab.sandboxed() {
        notes.push(format!(
            "sandbox: own network and PID namespaces, uid {}, no new privileges, {} open files, {} s CPU, nice {}{}{}{}",
            sandbox::NOBODY,
            sandbox::MAX_FILES,
            sandbox::MAX_CPU_SECONDS,
            sandbox::PROGRAM_NICE,
            if ab.pids_cgroup {
                format!(", {} processes and threads", sandbox::MAX_TASKS)
            } else {
                String::new()
            },
            if ab.memory_cgroup { format!(", {} MiB", sandbox::MAX_MEMORY >> 20) } else { String::new() },
            if ab.cpu_cgroup { ", at most one core" } else { "" },
        ));
    }
    for m in &ab.missing {
        notes.push(format!("missing: {m}; running with what is available"));
    }
    let what = match o.role {
        Role::Server => format!(
            "server -m {} -t {}: {}",
            if o.model == Model::Single { "single" } else { "concurrent" },
            o.timeout,
            argv.join(" ")
        ),
        Role::Client => format!("client -t {}: {}", o.timeout, argv.join(" ")),
    };
    let launch = Launch { argv, dir: None, stdin: o.role == Role::Client };
    let mut ctx = Ctx::new(launch, ab, o.model, o.timeout, port);
    let mut results = Vec::new();
    let mut stopped: Option<String> = None;
    for stage in stages::selected(o.role, o.model, o.strict) {
        let started = Instant::now();
        let gone = if stage.fresh { None } else { ctx.exited() };
        let not_run = stopped.clone().or_else(|| {
            if ctx.unstartable.is_some() {
                Some("the program could not be started".into())
            } else {
                gone.map(|e| format!("the program exited ({e})"))
            }
        });
        if let Some(why) = not_run {
            results.push(StageResult {
                slug: stage.slug,
                title: stage.title,
                strict: stage.strict,
                seconds: 0.0,
                fail: None,
                not_run: Some(why),
                steps: Vec::new(),
                program: Vec::new(),
            });
            continue;
        }
        ctx.log = exchange::Log::new();
        let limits_before = ctx.program.as_ref().map(|p| p.limit_counters()).unwrap_or_default();
        let limit = stage.limit.of(o.timeout);
        let mut outcome = run_bounded(&mut ctx, stage.run, limit);
        if let Some(p) = &ctx.program {
            let (pids, failcnt, oom) = p.limit_counters();
            let named = if pids > limits_before.0 {
                Some(format!("the program reached its limit of {} processes and threads (cgroup pids.max; pids.events max {pids})", sandbox::MAX_TASKS))
            } else if oom > limits_before.2 || failcnt > limits_before.1 {
                Some(format!("the program reached its memory limit of {} MiB (cgroup memory.limit_in_bytes; oom_kill {oom}, failcnt {failcnt})", sandbox::MAX_MEMORY >> 20))
            } else {
                None
            };
            if let Some(named) = named {
                let f =
                    outcome.err().unwrap_or_else(|| exchange::Fail::new("the program within its limits", ""));
                outcome = Err(exchange::Fail {
                    got: if f.got.is_empty() { named.clone() } else { format!("{}; {named}", f.got) },
                    hint: Some("a fork bomb or a memory hog: perhaps fork or malloc in a loop that never ends (the program was stopped)".into()),
                    ..f
                });
                stopped = Some(format!("the program was stopped: {named}"));
                if let Some(p) = ctx.program.as_mut() {
                    p.kill_all();
                }
            }
        }
        if outcome.is_ok() && stage.slug != "shutdown" && stage.role == Role::Server {
            if let Some(exit) = ctx.exited() {
                outcome = Err(exchange::Fail::new(
                    "the program still running after the stage",
                    format!("it exited ({exit})"),
                ));
            }
        }
        let program = ctx
            .program
            .as_ref()
            .map(|p| {
                p.output
                    .lock()
                    .unwrap()
                    .lines()
                    .into_iter()
                    .filter(|l| l.at >= started)
                    .map(|l| if l.stderr { format!("(stderr) {}", l.text) } else { l.text })
                    .collect()
            })
            .unwrap_or_default();
        results.push(StageResult {
            slug: stage.slug,
            title: stage.title,
            strict: stage.strict,
            seconds: started.elapsed().as_secs_f64(),
            fail: outcome.err(),
            not_run: None,
            steps: ctx.log.steps(),
            program,
        });
    }
    if let Some(mut p) = ctx.program.take() {
        p.kill_all();
    }
    let report = Report { what, notes, results, seconds: begun.elapsed().as_secs_f64() };
    (report, ctx.unstartable.clone())
}

/// Runs a stage (on this thread: the program's helper must outlive the
/// thread that started it, PR_SET_PDEATHSIG) with a watchdog: past its
/// limit (plus a margin) the program is killed, which ends every wait.
fn run_bounded(ctx: &mut Ctx, run: stages::StageFn, limit: Duration) -> Result<(), exchange::Fail> {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let pid = ctx.program.as_ref().map(|p| p.pid);
    let watchdog = thread::spawn(move || {
        let late = done_rx.recv_timeout(limit + Duration::from_secs(3)).is_err();
        if late {
            if let Some(pid) = pid {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        late
    });
    let result = run(ctx);
    let _ = done_tx.send(());
    if watchdog.join().unwrap_or(false) {
        return Err(exchange::Fail::new(
            format!("the stage done within {:.0} s", limit.as_secs_f64()),
            "it took longer (the program was killed)",
        ));
    }
    result
}

/// --out DIR: results.json, junit.xml, report.txt, and per failed stage its
/// transcript and its ladder.
pub fn write_out(dir: &std::path::Path, report: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("results.json"), report.json())?;
    std::fs::write(dir.join("junit.xml"), report.junit())?;
    std::fs::write(dir.join("report.txt"), report.text())?;
    for r in report.results.iter().filter(|r| !r.passed()) {
        std::fs::write(
            dir.join(format!("{}.txt", r.slug)),
            format!("{} {}\n{}", r.slug, r.title, r.explanation()),
        )?;
        if r.not_run.is_none() {
            std::fs::write(dir.join(format!("{}.svg", r.slug)), report::ladder_svg(r))?;
        }
    }
    Ok(())
}
