//! The sandbox: where the program under test runs, and all that the grader
//! asks of it (its output, its exit, its processes, a kill of everything).
//!
//! As root on Linux, from what the kernel gives without a daemon:
//!
//! ```text
//! grade ── helper (`grade __helper`: joins the cgroups, unshare(NEWNET|NEWPID), lo up)
//!            └── init (`grade __init`, PID 1 of the new PID namespace; reaps)
//!                  └── the program (uid 65534, no new privileges, rlimits)
//! ```
//!
//! The grader setns()s its own thread into the helper's network namespace,
//! so its sockets are made there. When init dies the kernel kills every
//! process of the namespace, whatever it does. Without root (or with
//! `--no-sandbox`) the program is a plain child in a process group of its own.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::sys;

/// The unprivileged user the program runs as: `nobody`.
pub const NOBODY: u32 = 65534;
pub const MAX_TASKS: u32 = 512;
pub const MAX_MEMORY: u64 = 512 << 20;
pub const MAX_FILES: u64 = 1024;
pub const MAX_CPU_SECONDS: u64 = 120;
/// The program's share of the CPU (cgroup v1 cpu controller): at most one
/// core (cfs quota), and under contention the weight of one ordinary task
/// for all its processes and threads together (cpu.shares), so that a
/// fork bomb or a spinning loop leaves the grader and the machine on time.
pub const CPU_QUOTA_US: u64 = 100_000;
pub const CPU_SHARES: u64 = 1024;
/// The program's nice value: the grader's own threads, which measure the
/// times of the exchange, come first.
pub const PROGRAM_NICE: i32 = 10;
/// Output kept: the first half and the last half of this.
pub const OUTPUT_KEPT: usize = 64 << 10;
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_PREFIX: &str = "sockets-grade-";

/// What the grader could build of the sandbox, probed at run time.
#[derive(Clone, Debug, Default)]
pub struct Abilities {
    pub namespaces: bool,
    pub pids_cgroup: bool,
    pub memory_cgroup: bool,
    pub cpu_cgroup: bool,
    /// What is missing, in words, for the report.
    pub missing: Vec<String>,
}

impl Abilities {
    pub fn probe(no_sandbox: bool) -> Abilities {
        let mut a = Abilities::default();
        if no_sandbox {
            a.missing.push("the sandbox (--no-sandbox)".into());
            return a;
        }
        if !nix::unistd::geteuid().is_root() {
            a.missing.push("the sandbox: not root (no namespaces, cgroups or other user)".into());
            return a;
        }
        a.namespaces = Path::new("/proc/self/ns/net").exists() && Path::new("/proc/self/ns/pid").exists();
        if !a.namespaces {
            a.missing.push("network and PID namespaces (no /proc/self/ns)".into());
        }
        a.pids_cgroup = writable_dir(&format!("{CGROUP_ROOT}/pids"));
        if !a.pids_cgroup {
            a.missing.push(format!("the process limit (no cgroup v1 pids controller at {CGROUP_ROOT}/pids)"));
        }
        a.memory_cgroup = writable_dir(&format!("{CGROUP_ROOT}/memory"));
        if !a.memory_cgroup {
            a.missing
                .push(format!("the memory limit (no cgroup v1 memory controller at {CGROUP_ROOT}/memory)"));
        }
        a.cpu_cgroup = writable_dir(&format!("{CGROUP_ROOT}/cpu"));
        if !a.cpu_cgroup {
            a.missing.push(format!("the CPU share (no cgroup v1 cpu controller at {CGROUP_ROOT}/cpu)"));
        }
        a
    }
    pub fn sandboxed(&self) -> bool {
        self.namespaces
    }
}

fn writable_dir(path: &str) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The grader's cgroups (pids, memory) for one run of a program, named
/// after the project and the grader's PID so that stale ones can be told.
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

static CGROUP_COUNT: AtomicUsize = AtomicUsize::new(0);

impl Cgroup {
    fn create(ab: &Abilities) -> Result<Cgroup, String> {
        let name =
            format!("{CGROUP_PREFIX}{}-{}", std::process::id(), CGROUP_COUNT.fetch_add(1, Ordering::Relaxed));
        let mut dirs = Vec::new();
        let mut make = |controller: &str, settings: &[(&str, String)]| -> Result<(), String> {
            let dir = Path::new(CGROUP_ROOT).join(controller).join(&name);
            fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            dirs.push(dir.clone());
            for (file, value) in settings {
                let path = dir.join(file);
                if path.exists() {
                    fs::write(&path, value).map_err(|e| format!("write {}: {e}", path.display()))?;
                }
            }
            Ok(())
        };
        if ab.pids_cgroup {
            make("pids", &[("pids.max", MAX_TASKS.to_string())])?;
        }
        if ab.memory_cgroup {
            make(
                "memory",
                &[
                    ("memory.limit_in_bytes", MAX_MEMORY.to_string()),
                    ("memory.memsw.limit_in_bytes", MAX_MEMORY.to_string()),
                ],
            )?;
        }
        if ab.cpu_cgroup {
            make(
                "cpu",
                &[
                    ("cpu.cfs_period_us", "100000".into()),
                    ("cpu.cfs_quota_us", CPU_QUOTA_US.to_string()),
                    ("cpu.shares", CPU_SHARES.to_string()),
                ],
            )?;
        }
        Ok(Cgroup { dirs })
    }

    fn procs_files(&self) -> Vec<String> {
        self.dirs.iter().map(|d| d.join("cgroup.procs").to_string_lossy().into_owned()).collect()
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        let dir = self.dirs.iter().find(|d| d.parent().is_some_and(|p| p.ends_with(controller)))?;
        fs::read_to_string(dir.join(file)).ok()
    }

    /// Counters of the limits met so far: (pids.events max, memory failcnt, oom kills).
    pub fn limit_counters(&self) -> (u64, u64, u64) {
        let field = |text: Option<String>, key: &str| {
            text.and_then(|t| {
                t.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse::<u64>().ok()))
            })
            .unwrap_or(0)
        };
        let pids = field(self.read("pids", "pids.events"), "max ");
        let failcnt = self.read("memory", "memory.failcnt").and_then(|t| t.trim().parse().ok()).unwrap_or(0);
        let oom = field(self.read("memory", "memory.oom_control"), "oom_kill ");
        (pids, failcnt, oom)
    }

    /// rmdir, once the processes have left (they were killed).
    fn remove(&mut self) {
        for dir in self.dirs.drain(..) {
            remove_cgroup_dir(&dir);
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

fn remove_cgroup_dir(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        for pid in fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines() {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Removes the cgroups left by graders that died (their PID is gone).
pub fn remove_stale_cgroups() {
    for controller in ["pids", "memory", "cpu"] {
        let Ok(entries) = fs::read_dir(Path::new(CGROUP_ROOT).join(controller)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(CGROUP_PREFIX) else { continue };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                remove_cgroup_dir(&entry.path());
            }
        }
    }
}

/// One line the program wrote, when the grader got it.
#[derive(Clone, Debug)]
pub struct OutLine {
    pub at: Instant,
    pub stderr: bool,
    pub text: String,
}

/// The program's output, kept as head and tail (OUTPUT_KEPT in all).
#[derive(Default)]
pub struct Output {
    pub head: Vec<OutLine>,
    head_bytes: usize,
    pub tail: VecDeque<OutLine>,
    tail_bytes: usize,
    pub dropped_lines: usize,
    pub total_bytes: usize,
    /// Streams read to their end: 2 once stdout and stderr both are.
    streams_ended: u8,
}

pub const LINE_KEPT: usize = 2048;

impl Output {
    fn push(&mut self, line: OutLine) {
        let len = line.text.len() + 1;
        if self.tail.is_empty() && self.head_bytes + len <= OUTPUT_KEPT / 2 {
            self.head_bytes += len;
            self.head.push(line);
            return;
        }
        self.tail_bytes += len;
        self.tail.push_back(line);
        while self.tail_bytes > OUTPUT_KEPT / 2 {
            let old = self.tail.pop_front().expect("tail holds the bytes it counts");
            self.tail_bytes -= old.text.len() + 1;
            self.dropped_lines += 1;
        }
    }
    /// Every kept line, in order (with the gap of the dropped middle).
    pub fn lines(&self) -> Vec<OutLine> {
        self.head.iter().chain(self.tail.iter()).cloned().collect()
    }
}

fn read_lines(mut from: impl Read + Send + 'static, stderr: bool, output: Arc<Mutex<Output>>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 16 << 10];
        let mut line: Vec<u8> = Vec::new();
        let flush = |line: &mut Vec<u8>, output: &Mutex<Output>| {
            let text = sockets::escape(line.strip_suffix(b"\r").unwrap_or(line));
            output.lock().unwrap().push(OutLine { at: Instant::now(), stderr, text });
            line.clear();
        };
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            output.lock().unwrap().total_bytes += n;
            for &b in &buf[..n] {
                if b == b'\n' {
                    flush(&mut line, &output);
                } else if line.len() < LINE_KEPT {
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            flush(&mut line, &output);
        }
        output.lock().unwrap().streams_ended += 1;
    });
}

/// How the program ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => {
                let name = Signal::try_from(*s).map(|s| s.as_str()).unwrap_or("?");
                write!(f, "killed by signal {s}, {name}")
            }
        }
    }
}

#[derive(Default)]
struct Status {
    init: Option<Pid>,
    exit: Option<Exit>,
    /// Processes of the program still alive when it exited.
    left: usize,
    spawn_error: Option<String>,
    helper_done: bool,
    /// The status pipe was read to its end (init and the helper are gone).
    status_closed: bool,
    /// Init has started the program (its exec succeeded).
    started: bool,
}

/// What to run, and how.
pub struct Launch {
    pub argv: Vec<String>,
    pub dir: Option<PathBuf>,
    pub stdin: bool,
}

/// The program under test, running.
pub struct Running {
    pub pid: Pid,
    pub output: Arc<Mutex<Output>>,
    pub stdin: Option<std::process::ChildStdin>,
    status: Arc<Mutex<Status>>,
    cgroup: Option<Cgroup>,
    pub sandboxed: bool,
    killed: bool,
}

fn self_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"))
}

impl Running {
    /// Starts the program; Err if it could not be started at all. `ready`
    /// runs first, in the program's network namespace (the grader's
    /// listening socket for a client).
    pub fn start(launch: &Launch, ab: &Abilities, ready: impl FnOnce()) -> Result<Running, String> {
        let output = Arc::new(Mutex::new(Output::default()));
        let status = Arc::new(Mutex::new(Status::default()));
        if !ab.sandboxed() {
            ready();
            return Self::start_plain(launch, output, status);
        }
        let cgroup = Cgroup::create(ab)?;
        let (status_read, status_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let (go_read, go_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let mut cmd = Command::new(self_exe());
        cmd.arg("__helper");
        for file in cgroup.procs_files() {
            cmd.arg(file);
        }
        cmd.arg("--");
        if let Some(dir) = &launch.dir {
            cmd.arg(dir);
        } else {
            cmd.arg(".");
        }
        cmd.args(&launch.argv);
        cmd.stdin(if launch.stdin { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        sys::pass_fds(&mut cmd, status_write.as_fd(), go_read.as_fd());
        let mut helper = cmd.spawn().map_err(|e| format!("start the sandbox helper: {e}"))?;
        drop(status_write);
        drop(go_read);
        read_lines(helper.stdout.take().unwrap(), false, output.clone());
        read_lines(helper.stderr.take().unwrap(), true, output.clone());
        let stdin = helper.stdin.take();
        let helper_pid = Pid::from_raw(helper.id() as i32);
        watch_status(status_read, status.clone());
        wait_helper(helper, status.clone());
        // The helper says where init is once the namespaces are up.
        let deadline = Instant::now() + Duration::from_secs(5);
        let init = loop {
            {
                let s = status.lock().unwrap();
                if let Some(e) = &s.spawn_error {
                    return Err(e.clone());
                }
                if let Some(init) = s.init {
                    break init;
                }
                if s.helper_done || Instant::now() > deadline {
                    return Err("the sandbox helper ended before the program started".into());
                }
            }
            thread::sleep(Duration::from_millis(5));
        };
        let netns =
            File::open(format!("/proc/{helper_pid}/ns/net")).map_err(|e| format!("open netns: {e}"))?;
        if let Err(e) = nix::sched::setns(netns.as_fd(), CloneFlags::CLONE_NEWNET) {
            return Err(format!("setns: {e}"));
        }
        ready();
        let _ = File::from(go_write).write_all(b"g");
        // The program is init's one child; wait until init says it started
        // (a child seen before that may be one whose exec is failing).
        let pid = loop {
            if status.lock().unwrap().started {
                if let Some(pid) = children(init).first() {
                    break *pid;
                }
            }
            {
                let s = status.lock().unwrap();
                if let Some(e) = &s.spawn_error {
                    return Err(e.clone());
                }
                if s.helper_done {
                    if let Some(e) = &s.spawn_error {
                        return Err(e.clone());
                    }
                }
                if s.exit.is_some() || s.helper_done || Instant::now() > deadline {
                    break init;
                }
            }
            thread::sleep(Duration::from_millis(2));
        };
        let running =
            Running { pid, output, stdin, status, cgroup: Some(cgroup), sandboxed: true, killed: false };
        Ok(running)
    }

    fn start_plain(
        launch: &Launch,
        output: Arc<Mutex<Output>>,
        status: Arc<Mutex<Status>>,
    ) -> Result<Running, String> {
        let mut cmd = Command::new(&launch.argv[0]);
        cmd.args(&launch.argv[1..]).process_group(0);
        if let Some(dir) = &launch.dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(if launch.stdin { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", launch.argv[0]))?;
        read_lines(child.stdout.take().unwrap(), false, output.clone());
        read_lines(child.stderr.take().unwrap(), true, output.clone());
        let stdin = child.stdin.take();
        let pid = Pid::from_raw(child.id() as i32);
        let st = status.clone();
        thread::spawn(move || {
            let exit = child.wait().map(exit_of).unwrap_or(Exit::Code(-1));
            let mut s = st.lock().unwrap();
            s.exit = Some(exit);
            s.helper_done = true;
        });
        Ok(Running { pid, output, stdin, status, cgroup: None, sandboxed: false, killed: false })
    }

    pub fn exit(&self) -> Option<Exit> {
        self.status.lock().unwrap().exit.clone()
    }

    /// Waits, at most `within`, until the program's stdout and stderr are
    /// read to their end. In the sandbox the end comes as soon as the
    /// namespace is gone; outside it something the program left running
    /// may hold the pipes, hence the bound.
    pub fn wait_output_end(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.output.lock().unwrap().streams_ended < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Processes of the program still running when it exited (sandbox only).
    pub fn left_behind(&self) -> usize {
        self.status.lock().unwrap().left
    }

    /// The program's processes: its tree (in the sandbox, everything under
    /// init, so that a double fork is still counted).
    pub fn processes(&self) -> Vec<Pid> {
        let root = if self.sandboxed { self.status.lock().unwrap().init } else { Some(self.pid) };
        let Some(root) = root else { return Vec::new() };
        let tree = process_tree();
        let mut out = if self.sandboxed { Vec::new() } else { vec![root] };
        let mut todo = vec![root];
        while let Some(p) = todo.pop() {
            if let Some(kids) = tree.get(&p) {
                for k in kids {
                    out.push(*k);
                    todo.push(*k);
                }
            }
        }
        out
    }

    pub fn signal(&self, sig: Signal) {
        let _ = kill(self.pid, sig);
    }

    /// The limits met so far, as counters, to compare stage by stage.
    pub fn limit_counters(&self) -> (u64, u64, u64) {
        self.cgroup.as_ref().map(|c| c.limit_counters()).unwrap_or_default()
    }

    /// Ends the program and everything it started.
    pub fn kill_all(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        self.stdin = None;
        if self.sandboxed {
            let init = self.status.lock().unwrap().init;
            if let Some(init) = init {
                let _ = kill(init, Signal::SIGKILL);
            }
        } else {
            for p in self.processes() {
                let _ = kill(p, Signal::SIGKILL);
            }
            let _ = killpg(self.pid, Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.status.lock().unwrap().helper_done && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if let Some(mut cg) = self.cgroup.take() {
            cg.remove();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    match status.code() {
        Some(c) => Exit::Code(c),
        None => Exit::Signal(status.signal().unwrap_or(0)),
    }
}

fn watch_status(read: OwnedFd, status: Arc<Mutex<Status>>) {
    thread::spawn(move || {
        for line in BufReader::new(File::from(read)).lines() {
            let Ok(line) = line else { break };
            let mut s = status.lock().unwrap();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("init") => s.init = words.next().and_then(|p| p.parse().ok()).map(Pid::from_raw),
                Some("exit") => {
                    let kind = words.next().unwrap_or("");
                    let n: i32 = words.next().and_then(|n| n.parse().ok()).unwrap_or(-1);
                    s.left = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                    s.exit = Some(if kind == "signal" { Exit::Signal(n) } else { Exit::Code(n) });
                }
                Some("started") => s.started = true,
                Some("error") => s.spawn_error = Some(line["error ".len()..].to_string()),
                _ => {}
            }
        }
        status.lock().unwrap().status_closed = true;
    });
}

fn wait_helper(mut helper: Child, status: Arc<Mutex<Status>>) {
    thread::spawn(move || {
        let _ = helper.wait();
        // The status pipe may still hold init's last word: wait until it
        // has been read to its end (a loaded machine can take a while).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !status.lock().unwrap().status_closed && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let mut s = status.lock().unwrap();
        if s.exit.is_none() {
            s.exit = Some(Exit::Signal(9));
        }
        s.helper_done = true;
    });
}

/// Children of `pid` (outer PIDs), from /proc.
fn children(pid: Pid) -> Vec<Pid> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

/// Parent to children, for every process on the machine.
fn process_tree() -> HashMap<Pid, Vec<Pid>> {
    let mut tree: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        if let Some(stat) = proc_stat(Pid::from_raw(pid)) {
            tree.entry(Pid::from_raw(stat.ppid)).or_default().push(Pid::from_raw(pid));
        }
    }
    tree
}

/// The fields of /proc/PID/stat the grader reads.
pub struct ProcStat {
    pub state: char,
    pub ppid: i32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub cpu_ticks: u64,
    pub threads: u64,
}

pub fn proc_stat(pid: Pid) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        cpu_ticks: num(11) + num(12) + num(13) + num(14),
        threads: num(17),
    })
}

/// Each thread of a process: its TID, and its schedstat's first two fields
/// (nanoseconds on a CPU, and waiting on a run queue).
pub fn thread_schedstats(pid: Pid) -> Vec<(i32, (u64, u64))> {
    let mut out = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(text) = fs::read_to_string(task.path().join("schedstat")) else { continue };
        let mut f = text.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
        out.push((tid, (f.next().unwrap_or(0), f.next().unwrap_or(0))));
    }
    out
}

pub fn open_fds(pid: Pid) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// `grade __helper CGROUP_PROCS... -- DIR ARGV...`: joins the cgroups,
/// makes the namespaces, and starts init. Runs as a fresh process (one
/// thread), with the status pipe as descriptor 3.
pub fn helper_main(args: &[String]) -> ! {
    let mut status = sys::take_fd(3, false);
    let go = sys::take_fd(4, false);
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let fail = |status: &mut File, what: String| -> ! {
        let _ = writeln!(status, "error {what}");
        std::process::exit(127);
    };
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    for procs in &args[..split] {
        if let Err(e) = fs::write(procs, "0") {
            fail(&mut status, format!("join {procs}: {e}"));
        }
    }
    // The memory limit's OOM killer is for the program, not for us.
    let _ = fs::write("/proc/self/oom_score_adj", "-1000");
    if let Err(e) = nix::sched::unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWPID) {
        fail(&mut status, format!("unshare: {e}"));
    }
    let up = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| e.to_string())
    .and_then(|s| sys::loopback_up(s.as_fd()).map_err(|e| e.to_string()));
    if let Err(e) = up {
        fail(&mut status, format!("loopback up: {e}"));
    }
    let mut init = Command::new(self_exe());
    init.arg("__init").args(&args[split + 1..]);
    let init = match init.spawn() {
        Ok(child) => child,
        Err(e) => fail(&mut status, format!("start init: {e}")),
    };
    let _ = writeln!(status, "init {}", init.id());
    drop(status);
    drop(go);
    let mut init = init;
    let _ = init.wait();
    std::process::exit(0);
}

/// `grade __init DIR ARGV...`: PID 1 of the program's namespace. Starts the
/// program with the limits and the user, reaps every process, and reports
/// the program's end on descriptor 3 (then exits, which ends the namespace).
pub fn init_main(args: &[String]) -> ! {
    let mut status = sys::take_fd(3, true);
    // The grader writes a byte (or closes) once its sockets are ready in
    // our network namespace (a client under test connects at once).
    let _ = sys::take_fd(4, true).read(&mut [0u8; 1]);
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let (dir, argv) = (&args[0], &args[1..]);
    use nix::sys::resource::{setrlimit, Resource};
    let _ = setrlimit(Resource::RLIMIT_NOFILE, MAX_FILES, MAX_FILES);
    let _ = setrlimit(Resource::RLIMIT_CPU, MAX_CPU_SECONDS, MAX_CPU_SECONDS);
    let _ = fs::write("/proc/self/oom_score_adj", "0");
    sys::set_nice(PROGRAM_NICE);
    if let Err(e) = nix::sys::prctl::set_no_new_privs() {
        let _ = writeln!(status, "error no_new_privs: {e}");
        std::process::exit(127);
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).current_dir(dir).uid(NOBODY).gid(NOBODY);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(status, "error cannot start {}: {e}", argv[0]);
            std::process::exit(127);
        }
    };
    // Init holds none of the program's descriptors: its end of stream is
    // the program's own.
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        sys::redirect_stdio(&null);
    }
    let _ = writeln!(status, "started");
    let program = Pid::from_raw(child.id() as i32);
    std::mem::forget(child);
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => {
                report_exit(&mut status, "code", code);
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == program => {
                report_exit(&mut status, "signal", sig as i32);
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::process::exit(0),
        }
    }
}

fn report_exit(status: &mut File, kind: &str, n: i32) -> ! {
    // What is still running of the program now that it ended: init's children.
    let me = Pid::from_raw(
        std::fs::read_link("/proc/self").ok().and_then(|p| p.to_str()?.parse().ok()).unwrap_or(0),
    );
    let left = children(me).len();
    let _ = writeln!(status, "exit {kind} {n} {left}");
    std::process::exit(0);
}
