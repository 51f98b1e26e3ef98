//! Deadlines and polling: a wait is for a condition, bounded in time.

use std::sync::{Mutex, MutexGuard};
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
/// while it runs, so that the heavy tests of one test binary run one at a
/// time (cargo runs the binaries one after another). A test that panicked
/// holding it does not fail the next.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
