//! What the bench reads from /proc: a server's CPU time and memory (over
//! the server and its child processes, for the servers that fork), the
//! kernel's TCP counters, and what the machine is.

use std::fs;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The numbers of /proc/PID/stat after the command name: field 3 (state)
/// is index 0, field 14 (utime) index 11.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect())
}

/// Clock ticks of /proc/PID/stat (USER_HZ, 1/100 s) in µs.
const TICK_US: f64 = 10_000.0;

/// The process and every living descendant, from
/// /proc/PID/task/TID/children (a child is listed under the thread that
/// forked it).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    let mut next = 0;
    while next < pids.len() {
        let parent = pids[next];
        next += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.flatten() {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pids.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    pids
}

/// CPU time (user + system) of a server so far, in µs: its own, its reaped
/// children's (a forking server's finished clients, socat's), and its
/// living descendants'.
pub fn tree_cpu_us(pid: u32) -> Option<f64> {
    let own = stat_fields(pid)?;
    let mut ticks: u64 = own.get(11..15)?.iter().sum();
    for child in tree(pid).into_iter().skip(1) {
        ticks += stat_fields(child).and_then(|f| f.get(11..13).map(|t| t.iter().sum())).unwrap_or(0);
    }
    Some(ticks as f64 * TICK_US)
}

/// A server's CPU time from a moment on.
pub struct CpuMeter {
    pid: Option<u32>,
    /// The child processes the server keeps (pre-forked ones): the run is
    /// over when it has no more than these.
    kept: usize,
    before: Option<f64>,
}

impl CpuMeter {
    /// Reads the CPU time of the server `pid` (nothing without one); the
    /// children it has now are the ones it keeps.
    pub fn start(pid: Option<u32>) -> CpuMeter {
        let kept = pid.map_or(0, |pid| tree(pid).len() - 1);
        CpuMeter::keeping(pid, kept)
    }

    /// The same, for a server known to keep `kept` children.
    pub fn keeping(pid: Option<u32>, kept: usize) -> CpuMeter {
        CpuMeter { pid, kept, before: pid.and_then(tree_cpu_us) }
    }

    /// Waits (bounded) until the server has finished with the run's last
    /// connections: see `settle`.
    pub fn settle(&self) {
        if let Some(pid) = self.pid {
            settle(pid, self.kept);
        }
    }

    /// The CPU time since `start` per one of `n` things done, in µs.
    pub fn per(&self, n: u64) -> Option<f64> {
        let after = self.pid.and_then(tree_cpu_us)?;
        Some((after - self.before?) / n.max(1) as f64)
    }
}

/// How long a server may take to finish with the last closed connections
/// (a forking server's children exit and are reaped).
const SETTLE: Duration = Duration::from_secs(5);

/// Waits (bounded) until the server `pid` has no more child processes than
/// the `kept` ones (a pre-forking server's children live as long as it: the
/// children of a process per client end with their clients) and its threads
/// have had a moment to see their clients' EOF.
pub fn settle(pid: u32, kept: usize) {
    let deadline = Instant::now() + SETTLE;
    std::thread::sleep(Duration::from_millis(20));
    while tree(pid).len() > 1 + kept && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `Name: N kB` (or `Name: N`) line of a /proc file.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The memory of a server and its descendants, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub processes: u64,
    pub threads: u64,
    /// Resident pages, counted in full in every process that maps them.
    pub rss_kib: u64,
    /// Proportional set size: each resident page divided among the
    /// processes that share it (/proc/PID/smaps_rollup), so that a forking
    /// server's sum is the memory it really holds.
    pub pss_kib: u64,
}

pub fn tree_memory(pid: u32) -> Option<Memory> {
    let mut memory = Memory::default();
    for (i, p) in tree(pid).into_iter().enumerate() {
        let status = fs::read_to_string(format!("/proc/{p}/status"));
        let rollup = fs::read_to_string(format!("/proc/{p}/smaps_rollup"));
        let (Ok(status), Ok(rollup)) = (status, rollup) else {
            if i == 0 {
                return None; // the server itself is gone
            }
            continue; // a child that just ended
        };
        memory.processes += 1;
        memory.threads += field(&status, "Threads").unwrap_or(0);
        memory.rss_kib += field(&status, "VmRSS").unwrap_or(0);
        memory.pss_kib += field(&rollup, "Pss").unwrap_or(0);
    }
    Some(memory)
}

/// Two TcpExt counters of /proc/net/netstat (for the whole machine):
/// ListenOverflows (a SYN or a handshake's last ACK dropped because a
/// listen queue was full) and TCPSynRetrans (SYNs sent again).
pub fn listen_counters() -> (u64, u64) {
    let text = fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return (0, 0) };
    let get = |name: &str| {
        let at = names.split_whitespace().position(|n| n == name)?;
        values.split_whitespace().nth(at)?.parse().ok()
    };
    (get("ListenOverflows").unwrap_or(0), get("TCPSynRetrans").unwrap_or(0))
}

/// The 1-minute load average.
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().unwrap_or("?").to_string()
}

/// `2 x AMD EPYC`: the number of CPUs and their model.
pub fn cpu_name() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|r| r.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{} x {}", cores, model.unwrap_or("unknown CPU"))
}

/// This process's soft and hard limits on open descriptors (`Max open
/// files`, RLIMIT_NOFILE); `unlimited` as u64::MAX.
pub fn open_files_limits() -> Option<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..].split_whitespace().map(|v| {
        if v == "unlimited" {
            Some(u64::MAX)
        } else {
            v.parse().ok()
        }
    });
    Some((values.next()??, values.next()??))
}

/// This process's soft limit on open descriptors.
pub fn open_files_limit() -> Option<u64> {
    open_files_limits().map(|(soft, _)| soft)
}

/// The pids the bench leaves free for the rest of the machine: a quarter
/// of kernel.pid_max (every thread and process takes one).
const PID_SHARE_KEPT: u64 = 4;
/// The memory it leaves: a fifth of MemTotal.
const MEMORY_SHARE_KEPT: u64 = 5;

/// Why no more clients should be opened, if there is a reason: the pids or
/// the memory left on the machine (a server with a thread or a process
/// per client takes a pid and memory for each; the bench stops before the
/// machine runs out, for the sake of everything else on it).
pub fn no_room() -> Option<String> {
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    let pid_max: u64 = read("/proc/sys/kernel/pid_max").trim().parse().ok()?;
    // /proc/loadavg: `0.15 0.19 0.09 1/101 9568`: 101 threads and processes.
    let tasks: u64 = read("/proc/loadavg").split_whitespace().nth(3)?.split_once('/')?.1.parse().ok()?;
    let meminfo = read("/proc/meminfo");
    room((tasks, pid_max), (field(&meminfo, "MemAvailable")?, field(&meminfo, "MemTotal")?))
}

/// `no_room` from its figures: tasks of pid_max, KiB available of total.
fn room((tasks, pid_max): (u64, u64), (available, total): (u64, u64)) -> Option<String> {
    if pid_max.saturating_sub(tasks) < pid_max / PID_SHARE_KEPT {
        return Some(format!(
            "pids: {tasks} threads and processes of kernel.pid_max {pid_max}, a quarter kept free"
        ));
    }
    (available < total / MEMORY_SHARE_KEPT).then(|| {
        format!("memory: {} MiB available of {} MiB, a fifth kept free", available / 1024, total / 1024)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's CPU time counts its living descendants (a pre-forked
    /// child that never exits until shutdown) and its reaped ones (a child
    /// per client): here a shell whose grandchild spins for a second
    /// under `timeout`, read while it spins and after it is reaped.
    #[test]
    fn cpu_time_counts_living_and_reaped_descendants() {
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "timeout 1 sh -c 'while :; do :; done'; sleep 3"])
            .spawn()
            .expect("start sh");
        let pid = shell.id();
        std::thread::sleep(Duration::from_millis(700));
        let living = tree(pid);
        let spinner = *living.last().expect("a process");
        let own = |p| stat_fields(p).map_or(0, |f| f[11] + f[12]) as f64 * TICK_US;
        let (while_spinning, spinner_cpu) = (tree_cpu_us(pid).unwrap(), own(spinner));
        assert!(living.len() >= 3, "sh, timeout, the spinning sh: {living:?}");
        assert!(spinner_cpu > 0.0, "the spinner ran");
        assert!(
            while_spinning >= spinner_cpu,
            "{while_spinning} < {spinner_cpu}: a living grandchild not counted"
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while tree(pid).len() > 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20)); // until only sh and sleep are left
        }
        let reaped = tree_cpu_us(pid).unwrap();
        let _ = shell.kill();
        let _ = shell.wait();
        assert!(reaped >= while_spinning, "{reaped} < {while_spinning}: the reaped grandchild's time lost");
    }

    #[test]
    fn opening_stops_with_a_quarter_of_the_pids_or_a_fifth_of_the_memory_left() {
        let memory = (20 << 20, 24 << 20);
        assert_eq!(room((101, 32_768), memory), None);
        assert_eq!(room((24_576, 32_768), memory), None);
        let pids = room((24_577, 32_768), memory).expect("too few pids left");
        assert!(pids.contains("24577 threads and processes of kernel.pid_max 32768"), "{pids}");
        let low = room((101, 32_768), (4 << 20, 24 << 20)).expect("too little memory left");
        assert!(low.starts_with("memory: 4096 MiB available of 24576 MiB"), "{low}");
    }
}
