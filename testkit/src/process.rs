//! The languages, the binaries `make` built, and commands run to their end.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::wait::DEADLINE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Rust,
}

pub const LANGS: [Lang; 2] = [Lang::C, Lang::Rust];

impl Lang {
    pub fn dir(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Rust => "rust",
        }
    }
}

/// The project's root (this crate is `testkit/` in it).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit/ is in the project root")
}

/// `build/{c,rust}/PROGRAM`; the tests run what `make` built.
/// `SOCKETS_C_DIR=build/asan` (relative to the root, or absolute) points the C
/// side at another build, such as the sanitizer builds of `make sanitize`.
pub fn bin(lang: Lang, program: &str) -> PathBuf {
    let dir = match (lang, std::env::var_os("SOCKETS_C_DIR")) {
        (Lang::C, Some(dir)) => root().join(dir),
        _ => root().join("build").join(lang.dir()),
    };
    let path = dir.join(program);
    assert!(path.exists(), "{} is missing: run `make test`, which builds it first", path.display());
    path
}

/// A fresh directory for one test's files (removed first if it exists),
/// named after the test binary, `name` and this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockets-{}-{name}-{}", test_binary(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// The name of the running test binary, `conformance` for
/// `target/release/deps/conformance-0123abcd`.
pub fn test_binary() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

/// What a finished process left: exit status, stdout, stderr.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A pipe read to its end by a thread, so the child never blocks on a full
/// pipe; what has arrived so far can be looked at while it runs.
pub(crate) struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
}

impl Collector {
    pub(crate) fn new(mut pipe: impl Read + Send + 'static) -> Collector {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let reader = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Collector { buf, reader }
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    /// Everything, once the pipe's writer is gone (the child has exited).
    pub(crate) fn finish(self) -> Vec<u8> {
        let _ = self.reader.join();
        Arc::try_unwrap(self.buf).map(|m| m.into_inner().unwrap()).unwrap_or_default()
    }
}

/// Waits for `child` until `deadline`; kills it (by PID, it is ours) if it
/// is still running then, and says so.
pub fn wait_bounded(child: &mut Child, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} still running after {:?}: killed", child.id(), deadline);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a command to its end with `stdin` as its input, within `deadline`.
pub fn run(mut command: Command, stdin: &[u8], deadline: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = Collector::new(child.stdout.take().unwrap());
    let stderr = Collector::new(child.stderr.take().unwrap());
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // A client that exits early closes its stdin: a failed write is fine.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let status = wait_bounded(&mut child, deadline);
    let _ = writer.join();
    Output { status, stdout: stdout.finish(), stderr: stderr.finish() }
}

/// Runs `build/LANG/PROGRAM ARGS` to its end, within [`DEADLINE`]; see [`run`].
pub fn run_program(lang: Lang, program: &str, args: &[&str], stdin: &[u8]) -> Output {
    run_program_within(lang, program, args, stdin, DEADLINE)
}

/// [`run_program`] with a deadline of its own, for a run that is long by
/// design.
pub fn run_program_within(
    lang: Lang,
    program: &str,
    args: &[&str],
    stdin: &[u8],
    within: Duration,
) -> Output {
    let mut command = Command::new(bin(lang, program));
    command.args(args);
    run(command, stdin, within)
}

/// A peer process a test started (`socat`, `python3`), ended by its PID
/// (SIGKILL) and reaped when the guard goes: also when the test panics
/// first, so a failing test leaves no process behind holding its output.
/// Derefs to the [`Child`].
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// The name of a network namespace (or other named system state) a test
/// makes: `sbs-PID-WHAT`, the project's prefix (sockets, side by side) and
/// the PID of the test process that made it, the same form as
/// scripts/demo-netns.sh's. scripts/test.sh removes, before a run, every
/// `sbs-PID-*` namespace whose PID is dead: what a killed test left.
pub fn namespace_name(what: &str) -> String {
    format!("sbs-{}-{what}", std::process::id())
}
