//! A check that cannot run on this machine (a tool missing, not root) is
//! recorded, never passed in silence: `make test` lists it at the end, and
//! under CI (`CI=true`) it fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;

use crate::process::{root, scratch, test_binary};

/// Whether `tool` runs at all (`tool probe_arg`, e.g. `--version`). If not,
/// the check cannot run here: see [`skip`], with the Debian package to
/// install. .ci/run installs every tool the tests use.
pub fn have(tool: &str, probe_arg: &str) -> bool {
    let found = Command::new(tool).arg(probe_arg).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if found.is_err() {
        skip(&format!("{tool} is not installed"), &format!("apt-get install {}", debian_package(tool)));
    }
    found.is_ok()
}

/// The Debian package that has `tool` (the names .ci/run installs).
fn debian_package(tool: &str) -> &str {
    match tool {
        "nc" => "netcat-openbsd",
        "ip" | "ss" => "iproute2",
        "nft" => "nftables",
        "ps" => "procps",
        "rsvg-convert" => "librsvg2-bin",
        "unshare" => "util-linux",
        other => other, // strace, socat, python3, tcpdump, valgrind
    }
}

/// The file `make test` reads for its summary of skipped checks (it empties
/// the file first): one line per skip, `CHECK<tab>WHY<tab>REMEDY`.
/// `SOCKETS_SKIP_LOG` puts it elsewhere.
pub fn skip_log() -> PathBuf {
    std::env::var_os("SOCKETS_SKIP_LOG")
        .map_or_else(|| root().join("build/skipped-checks.txt"), PathBuf::from)
}

/// A check that cannot run on this machine (a tool is missing, it needs
/// root), and what would make it run (`apt-get install socat`). A skipped
/// check must never look like a passing one: under CI (`CI=true`) it fails;
/// otherwise it is written to [`skip_log`] for the summary that ends
/// `make test`, and the caller returns.
pub fn skip(why: &str, remedy: &str) {
    // libtest runs each test on a thread named after it.
    let test = thread::current().name().filter(|name| *name != "main").map(String::from);
    let check = match test {
        Some(test) => format!("{}::{test}", test_binary()),
        None => test_binary(),
    };
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{check} cannot run: {why}. Under CI every check must run: {remedy} (or run .ci/run)");
    }
    eprintln!("SKIPPED: {why} ({remedy})");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // One write of a short line with O_APPEND: lines from tests running at
    // the same time never mix.
    let line = format!("{check}\t{why}\t{remedy}\n");
    let appended = std::fs::OpenOptions::new().create(true).append(true).open(&log);
    appended.and_then(|mut file| file.write_all(line.as_bytes())).unwrap_or_else(|e| {
        panic!("{check} skipped ({why}), and the skip cannot be recorded in {}: {e}", log.display())
    });
}

/// A hosts file in which `sbs-dual` has both families, IPv6 first, seen by
/// one command only: it runs in a mount namespace of its own (`unshare -m`,
/// which needs root) with the file bound over /etc/hosts. Nothing else on
/// the machine sees it.
pub struct DualHost {
    hosts: PathBuf,
}

impl DualHost {
    pub const NAME: &'static str = "sbs-dual";

    /// None (and the check recorded as skipped) where it cannot be had.
    pub fn new() -> Option<DualHost> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout == b"0\n");
        if !root {
            skip(
                "a private /etc/hosts for one command needs root (unshare -m)",
                "run make test as root (.ci/run does)",
            );
            return None;
        }
        if !have("unshare", "--version") {
            return None;
        }
        let test = thread::current().name().unwrap_or("main").replace("::", "-");
        let hosts = scratch(&format!("hosts-{test}")).join("hosts");
        std::fs::write(&hosts, format!("::1 {0}\n127.0.0.1 {0}\n", DualHost::NAME))
            .expect("write the hosts file");
        Some(DualHost { hosts })
    }

    /// `program ARGS` with the hosts file over /etc/hosts.
    pub fn command(&self, program: &std::ffi::OsStr, args: &[&std::ffi::OsStr]) -> Command {
        let mut command = Command::new("unshare");
        command.args(["-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\""]).arg(&self.hosts);
        command.arg(program).args(args);
        command
    }
}

impl Drop for DualHost {
    fn drop(&mut self) {
        if let Some(dir) = self.hosts.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
