//! The command line (lexopt: options in any order, `-c 16` or `-c16`).

use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::churn::Churn;
use crate::line::MAX_SIZE;
use crate::load::Workload;

pub const USAGE: &str = "\
usage: echo-bench [-c CLIENTS] [-n ROUNDS] [-s SIZE] [-t SECONDS] [--tls CAFILE | --udp] [--json] [HOST] PORT
       echo-bench --floor [-c CLIENTS] [-n ROUNDS] [-s SIZE] [--json]
       echo-bench --idle N [--active CLIENTS -n ROUNDS -s SIZE] [--per-process N] [--pid PID] [--hold SECONDS] [--json] [HOST] PORT
       echo-bench --storm N [--json] [HOST] PORT
       echo-bench --churn N [-c CLIENTS] [-s SIZE] [--tls CAFILE] [--pid PID] [--json] [HOST] PORT
       (--churn: N connections, CLIENTS clients at once each making its share one after another,
        one line each (SIZE bytes, or a short one), the client closing first; UNP's Figure 30.1
        client: --churn 10000 -c 5 -s 4000)
       (--tls CAFILE: over TLS, the server's certificate verified against CAFILE; --udp: one datagram
        a line, an echo not back within 1 s counted as lost)
       echo-bench --bound N [--json] [HOST] PORT   (N clients served and held, then one more: does it wait?)
       echo-bench suite [--build DIR] [--reps N] [--out DIR] [--quick | --smoke] [--rows TEXT]
       (--quick: a tenth of the counts, one run each; --smoke: a hundredth; --rows TEXT: only the
        rows whose name contains TEXT)
       echo-bench report RESULTS.json     (the suite's tables again, from its saved results)
       echo-bench chart RESULTS.json [--out DIR]   (its two SVG charts again)
       echo-bench --echo-loop       (the floor's echo peer: prints its port, runs until killed)
       echo-bench --helper N --first ID [-t SECONDS] HOST PORT   (holds idle clients for --idle)
";

/// What one run against one peer does.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Load,
    /// `per_process`: clients held in this process at most; past it, in
    /// helper processes.
    Idle {
        connections: usize,
        active: Option<usize>,
        per_process: Option<usize>,
    },
    /// A helper of an idle run: holds the clients `first..first + clients`.
    Helper {
        clients: usize,
        first: usize,
    },
    Storm {
        clients: usize,
    },
    Churn(Churn),
    /// The probe of a design that serves at most `at_once` clients at once.
    Bound {
        at_once: usize,
    },
}

/// The options of a run against one peer.
#[derive(Debug)]
pub struct RunOptions {
    pub mode: Mode,
    pub workload: Workload,
    pub timeout: Duration,
    pub json: bool,
    pub floor: bool,
    pub pid: Option<u32>,
    pub hold: Duration,
    /// `--tls CAFILE`: TLS to the server, whose certificate CAFILE vouches for.
    pub tls: Option<PathBuf>,
    /// `--udp`: a datagram a line.
    pub udp: bool,
    /// `[HOST] PORT`
    pub operands: Vec<String>,
}

#[derive(Debug)]
pub struct SuiteOptions {
    pub build: PathBuf,
    pub reps: usize,
    pub out: PathBuf,
    pub scale: Scale,
    /// `--rows TEXT`: only the rows whose name contains TEXT.
    pub rows: Option<String>,
}

/// How much of the suite's work a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `make bench`: every count in full, `--reps` runs.
    Full,
    /// `--quick`, `make bench-quick`: a student's first look, every row and
    /// server with a tenth of the counts, one run each.
    Quick,
    /// `--smoke`: a hundredth, one run each: a check that the suite works
    /// (tests/bench_smoke.rs), not a measurement.
    Smoke,
}

#[derive(Debug)]
pub enum Command {
    Run(RunOptions),
    Suite(SuiteOptions),
    Report { results: PathBuf },
    Chart { results: PathBuf, out: PathBuf },
    EchoLoop,
    Help,
}

/// The command line, or a message for a usage error.
pub fn parse() -> Result<Command, String> {
    let mut parser = lexopt::Parser::from_env();
    parse_from(&mut parser).map_err(|e| e.to_string())
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            mode: Mode::Load,
            workload: Workload { clients: 1, rounds: 1000, size: 64 },
            timeout: Duration::from_secs(60),
            json: false,
            floor: false,
            pid: None,
            hold: Duration::ZERO,
            tls: None,
            udp: false,
            operands: Vec::new(),
        }
    }
}

/// `suite`, `report` or `chart` and what follows it.
fn parse_command(word: &str, parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    match word {
        "suite" => parse_suite(parser),
        "report" => Ok(Command::Report { results: parse_results(parser)?.0 }),
        _ => parse_results(parser).map(|(results, out)| Command::Chart { results, out }),
    }
}

fn parse_from(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut run = RunOptions::default();
    let (mut active, mut per_process, mut first) = (None, None, None);
    let mut size_given = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Value(word)
                if run.operands.is_empty()
                    && ["suite", "report", "chart"].contains(&&*word.to_string_lossy()) =>
            {
                return parse_command(&word.string()?, parser)
            }
            Short('c') | Long("clients") => run.workload.clients = at_least(parser, 1)?,
            Short('n') | Long("rounds") => run.workload.rounds = at_least(parser, 1)?,
            Short('s') | Long("size") => {
                run.workload.size = at_least(parser, 1)?;
                size_given = true;
            }
            Short('t') | Long("timeout") => run.timeout = Duration::from_secs(at_least(parser, 1)?),
            Long("json") => run.json = true,
            Long("floor") => run.floor = true,
            Long("echo-loop") => return Ok(Command::EchoLoop),
            Long("idle") => {
                run.mode = Mode::Idle { connections: at_least(parser, 1)?, active: None, per_process: None }
            }
            Long("active") => active = Some(at_least(parser, 1)?),
            Long("per-process") => per_process = Some(at_least(parser, 1)?),
            Long("helper") => run.mode = Mode::Helper { clients: at_least(parser, 1)?, first: 0 },
            Long("first") => first = Some(at_least(parser, 0)?),
            Long("storm") => run.mode = Mode::Storm { clients: at_least(parser, 1)? },
            Long("churn") => {
                run.mode = Mode::Churn(Churn { connections: at_least(parser, 1)?, clients: 1, size: 0 })
            }
            Long("bound") => run.mode = Mode::Bound { at_once: at_least(parser, 1)? },
            Long("pid") => run.pid = Some(at_least(parser, 1)?),
            Long("hold") => run.hold = Duration::from_secs(at_least(parser, 0)?),
            Long("tls") => run.tls = Some(parser.value()?.into()),
            Long("udp") => run.udp = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            Value(word) => run.operands.push(word.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if let Mode::Churn(churn) = &mut run.mode {
        churn.clients = run.workload.clients;
        churn.size = if size_given { run.workload.size } else { 0 };
    }
    check(run, active, per_process, first).map(Command::Run)
}

/// The checks that span options.
fn check(
    mut run: RunOptions,
    active: Option<usize>,
    per_process: Option<usize>,
    first: Option<usize>,
) -> Result<RunOptions, lexopt::Error> {
    if run.workload.size > MAX_SIZE {
        return Err(format!("a line is at most {MAX_SIZE} bytes").into());
    }
    match &mut run.mode {
        Mode::Idle { active: a, per_process: p, .. } => (*a, *p) = (active, per_process),
        _ if active.is_some() || per_process.is_some() => {
            return Err("--active and --per-process go with --idle".into())
        }
        _ => {}
    }
    match (&mut run.mode, first) {
        (Mode::Helper { first: slot, .. }, Some(id)) => *slot = id,
        (_, Some(_)) => return Err("--first goes with --helper".into()),
        _ => {}
    }
    let plain = run.tls.is_none() && !run.udp;
    if !plain && (run.floor || !matches!(run.mode, Mode::Load | Mode::Churn(_))) {
        return Err("--tls and --udp go with a load or --churn, not with --floor".into());
    }
    if run.tls.is_some() && run.udp {
        return Err("--tls or --udp, not both".into());
    }
    let operands = run.operands.len();
    if run.floor && (operands > 0 || !matches!(run.mode, Mode::Load)) {
        return Err("--floor takes no HOST or PORT, and no other mode".into());
    }
    if !run.floor && !(1..=2).contains(&operands) {
        return Err("expected [HOST] PORT".into());
    }
    Ok(run)
}

/// The value of the option just read, a number at least `min`.
fn at_least<T>(parser: &mut lexopt::Parser, min: T) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let value: T = parser.value()?.parse()?;
    if value < min {
        return Err(format!("a value of at least {min} is needed, not {value}").into());
    }
    Ok(value)
}

fn parse_suite(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut suite = SuiteOptions {
        build: "build".into(),
        reps: 3,
        out: "build/bench".into(),
        scale: Scale::Full,
        rows: None,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("build") => suite.build = parser.value()?.into(),
            Long("reps") => suite.reps = at_least(parser, 1)?,
            Long("out") => suite.out = parser.value()?.into(),
            Long("quick") => suite.scale = Scale::Quick,
            Long("smoke") => suite.scale = Scale::Smoke,
            Long("rows") => suite.rows = Some(parser.value()?.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Suite(suite))
}

/// `RESULTS.json [--out DIR]` (DIR: where the charts go, default `.`).
fn parse_results(parser: &mut lexopt::Parser) -> Result<(PathBuf, PathBuf), lexopt::Error> {
    let (mut results, mut out) = (None, PathBuf::from("."));
    while let Some(arg) = parser.next()? {
        match arg {
            Long("out") => out = parser.value()?.into(),
            Value(path) if results.is_none() => results = Some(path.into()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((results.ok_or("expected RESULTS.json")?, out))
}
