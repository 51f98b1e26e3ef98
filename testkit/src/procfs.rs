//! What a process holds and what a socket has queued, read from `/proc`.

use std::thread;
use std::time::{Duration, Instant};

use crate::wait::DEADLINE;

/// A number field of `/proc/PID/status`, such as `Threads` or `VmRSS` (kB).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let prefix = format!("{field}:");
    let line =
        status.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {field} in status"));
    line[prefix.len()..].split_whitespace().next().and_then(|n| n.parse().ok()).expect("a number")
}

/// How many descriptors the process has open (`/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd").count()
}

/// How many descriptors a child process has open: none once it is exiting
/// (a zombie's `/proc/PID/fd` cannot be read), as a server_fork's client
/// may be between the listing of the children and this read.
pub fn open_fds_of_child(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |fds| fds.count())
}

/// The child processes of `pid` (of each of its threads), by PID: a
/// server_fork's clients, and its zombies until it reaps them.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new(); // the process is gone
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

/// Descriptors, threads and child processes of a process, to see that it
/// gives back what a burst of clients took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub fds: usize,
    pub threads: u64,
    pub children: usize,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        Usage { fds: open_fds(pid), threads: proc_status(pid, "Threads"), children: children_of(pid).len() }
    }

    /// Polls until the process is back at `self`, within `within`; panics
    /// with the last usage seen otherwise.
    pub fn wait_back(self, pid: u32, within: Duration) {
        let end = Instant::now() + within;
        loop {
            let now = Usage::of(pid);
            if now == self {
                return;
            }
            assert!(Instant::now() < end, "pid {pid} did not return to {self:?} within {within:?}: {now:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The bytes the server listening on `port` has left unread, over all its
/// connections (`/proc/net/tcp`: local port, ESTABLISHED, rx_queue).
pub fn unread_bytes(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let rx_queue = fields[4].rsplit(':').next().and_then(|q| u64::from_str_radix(q, 16).ok());
            (local_port == Some(port) && fields[3] == "01").then_some(rx_queue).flatten()
        })
        .sum()
}

/// Waits until the server on `port` has stopped reading: bytes wait unread
/// and their count has not moved for 200 ms (a server that still reads a
/// client that is still sending would move it every millisecond).
pub fn wait_stopped_reading(what: &str, port: u16) {
    let start = Instant::now();
    let (mut unread, mut since) = (unread_bytes(port), Instant::now());
    loop {
        thread::sleep(Duration::from_millis(10));
        let now = unread_bytes(port);
        if now != unread {
            (unread, since) = (now, Instant::now());
        } else if unread > 0 && since.elapsed() >= Duration::from_millis(200) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "not within {DEADLINE:?}: {what} (unread: {unread})");
    }
}
