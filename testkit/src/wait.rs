//! Deadlines and polling: a wait is for a condition, bounded in time.

use std::thread;
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core CI machine; a passing test never waits it out.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `done` until it holds, within `within`; returns how long it took.
pub fn wait_until_within(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

/// Polls `done` until it holds, within [`DEADLINE`]; returns how long it took.
pub fn wait_until(what: &str, done: impl FnMut() -> bool) -> Duration {
    wait_until_within(what, DEADLINE, done)
}

/// The lock a heavy test (hundreds of connections, a timing window) holds
/// while it runs, so that no two heavy tests run at once anywhere in the
/// run: not in one test binary, not in two test processes side by side
/// (nextest runs every test in a process of its own, and `make sanitize`
/// runs the suites against the sanitizer builds beside the main suite). A
/// file lock, `flock(2)` on `target/heavy.lock`: the kernel drops it when
/// its holder exits, so a test that panicked or was killed holding it does
/// not fail the next. The nextest test group `quiet` (.config/nextest.toml)
/// keeps nextest from starting two of them at once; this lock is what holds
/// whatever runs the tests.
pub fn heavy() -> Heavy {
    // nextest names the group of the test it runs; a heavy test outside
    // `quiet` would wait for the lock holding a slot, beside other heavy
    // tests' load in the light tests' slots: it belongs in the group.
    if let Ok(group) = std::env::var("NEXTEST_TEST_GROUP") {
        assert_eq!(
            group, "quiet",
            "this test takes heavy(): add it to the quiet group's filter in .config/nextest.toml"
        );
    }
    let path = crate::process::root().join("target").join("heavy.lock");
    let _ = std::fs::create_dir_all(path.parent().expect("target/"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.lock().unwrap_or_else(|e| panic!("flock {}: {e}", path.display()));
    Heavy { _file: file }
}

/// Held while a heavy test runs: [`heavy`]'s lock, released on drop.
pub struct Heavy {
    _file: std::fs::File,
}
