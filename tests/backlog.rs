//! SPEC "The protocol" 9: the listen backlog is `SOMAXCONN`, so a burst of
//! clients never waits for a SYN retransmit (1 s, then 3 s...). With a
//! backlog of 128, clients connecting one after another met full accept
//! queues (TcpExt ListenOverflows counts each dropped SYN) and waited a
//! second each time.
//!
//! Every TCP server, C and Rust: 4,000 connects one after another
//! and 1,000 at once (non-blocking, from one thread, all left open until the
//! last one completes, so for `server_single` they all sit in the backlog).
//! No connect may take 1 s or more (what a retransmit takes; a loopback
//! handshake takes well under 1 ms), and ListenOverflows, read from
//! /proc/net/netstat before and after, must not rise.
//!
//! ListenOverflows counts for the whole network namespace, so the tests of
//! this file run one at a time (the `heavy()` lock), in a file of their own
//! (cargo runs test binaries one after another): nothing else of the tests
//! fills a backlog meanwhile.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::*;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::socket::{connect, getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};

/// A connect this slow met a dropped SYN: the kernel sends it again after
/// its initial retransmission timeout, 1 s, so such a connect takes at least
/// that, and one that was not dropped takes well under a millisecond on
/// loopback. The whole second is the slack a loaded 2-core machine gets (with
/// 200 ms, a test thread kept off the CPU under a load average of 30 was
/// taken for a retransmit).
const SLOW: Duration = Duration::from_secs(1);

/// Just under the backlog: a burst that SOMAXCONN holds whatever the
/// server's speed. Issue 11 asked for 5,000, which measures the server's
/// accept rate as well: a process per client forks more slowly than a
/// client loop connects (25,000 a second here), and `server_fork`, C and
/// Rust, fell 4,097 behind in most runs of 5,000 (one overflow, one 1 s
/// wait). With a backlog of 128, 4,000 overflowed 10 to 26 times on the C
/// `server` and `server_fork`; `server_single`, the fastest to accept,
/// 0 or 1 times: the 1,000 at once, and `backlog_is_somaxconn`, catch it.
const SEQUENTIAL: usize = 4000;
const CONCURRENT: usize = 1000;

/// TcpExt ListenOverflows of /proc/net/netstat: SYNs dropped because an
/// accept queue was full, in this network namespace since boot.
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").expect("read /proc/net/netstat");
    let mut tcp_ext = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next().expect("TcpExt names"), tcp_ext.next().expect("TcpExt values"));
    let column =
        names.split_whitespace().position(|name| name == "ListenOverflows").expect("ListenOverflows");
    values.split_whitespace().nth(column).and_then(|v| v.parse().ok()).expect("a ListenOverflows count")
}

/// What one burst of connects showed.
struct Burst {
    took: Duration,
    slowest: Duration,
    slow: usize,
    overflows: u64,
}

impl Burst {
    fn show(&self, what: &str, server: &Server) -> String {
        format!(
            "{:?} {}: {what} in {:.2} s, slowest {:.1} ms, {} of them {} ms or more, ListenOverflows +{}",
            server.lang,
            server.program,
            self.took.as_secs_f64(),
            self.slowest.as_secs_f64() * 1000.0,
            self.slow,
            SLOW.as_millis(),
            self.overflows
        )
    }

    fn ok(&self) -> bool {
        self.slow == 0 && self.overflows == 0
    }
}

/// Connects `count` times one after another, closing each connection at
/// once; a connect that takes 3 s counts as slow too.
fn sequential_connects(server: &Server, count: usize) -> Burst {
    let overflows = listen_overflows();
    let start = Instant::now();
    let (mut slowest, mut slow) = (Duration::ZERO, 0);
    for _ in 0..count {
        let began = Instant::now();
        let connected = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(3));
        let took = began.elapsed();
        connected.unwrap_or_else(|e| panic!("connect to {}: {e}", server.addr()));
        slowest = slowest.max(took);
        slow += usize::from(took >= SLOW);
    }
    Burst { took: start.elapsed(), slowest, slow, overflows: listen_overflows() - overflows }
}

/// Starts `count` non-blocking connects at once and waits (3 s at most)
/// until each completed, keeping every connection open until the last one
/// did; one not complete by then counts as slow.
fn concurrent_connects(server: &Server, count: usize) -> Burst {
    let SocketAddr::V4(v4) = server.addr() else { panic!("IPv4 servers only") };
    let address = SockaddrIn::from(v4);
    let overflows = listen_overflows();
    let start = Instant::now();
    let mut pending: Vec<(OwnedFd, Instant)> = Vec::with_capacity(count);
    let mut connected: Vec<OwnedFd> = Vec::with_capacity(count);
    let (mut slowest, mut slow) = (Duration::ZERO, 0);
    for _ in 0..count {
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let fd = socket(AddressFamily::Inet, SockType::Stream, flags, None).expect("socket");
        let began = Instant::now();
        match connect(fd.as_raw_fd(), &address) {
            Ok(()) => connected.push(fd),
            Err(Errno::EINPROGRESS) => pending.push((fd, began)),
            Err(e) => panic!("connect to {}: {e}", server.addr()),
        }
    }
    while !pending.is_empty() && start.elapsed() < Duration::from_secs(3) {
        let mut fds: Vec<PollFd> =
            pending.iter().map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLOUT)).collect();
        poll(&mut fds, 10u16).expect("poll");
        let done: Vec<bool> = fds.iter().map(|p| p.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        let mut i = 0;
        pending.retain(|(fd, began)| {
            let finished = done[i];
            i += 1;
            if finished {
                let error = getsockopt(fd, sockopt::SocketError).expect("SO_ERROR");
                assert_eq!(error, 0, "connect to {}: {}", server.addr(), Errno::from_raw(error));
                let took = began.elapsed();
                slowest = slowest.max(took);
                slow += usize::from(took >= SLOW);
            }
            !finished
        });
    }
    slow += pending.len();
    let took = start.elapsed();
    drop(pending);
    drop(connected);
    Burst { took, slowest, slow, overflows: listen_overflows() - overflows }
}

/// Runs `burst` against every server and asserts each one is clean; the
/// figures of all of them are in the message.
///
/// A burst can also fail because the machine is overloaded: at a load
/// average of 17 on the 2-core machine one connect took 268 ms with no
/// overflow (this process was not scheduled), and at 40 the C `server_fork`
/// once fell 4,096 accepts behind (one overflow, one 1 s wait). So a burst
/// that fails is measured once more, and only a second failure fails the
/// test. The backlog itself is checked without timing by
/// `backlog_is_somaxconn` (and by the `listen` call in tests/syscalls.rs).
fn check_every_server(what: &str, burst: impl Fn(&Server) -> Burst) {
    let _one_at_a_time = heavy();
    raise_nofile(4 * CONCURRENT as u64);
    let mut shown = Vec::new();
    let mut ok = true;
    for (lang, program) in every_server() {
        let server = Server::start(lang, program, &["-q"]);
        let mut result = burst(&server);
        if !result.ok() {
            shown.push(format!("{} (measured again:)", result.show(what, &server)));
            result = burst(&server);
        }
        ok &= result.ok();
        shown.push(result.show(what, &server));
        server.stop();
    }
    let shown = shown.join("\n");
    println!("{shown}");
    assert!(ok, "SPEC \"The protocol\" 9: the backlog made clients wait:\n{shown}");
}

/// SPEC "The protocol" 9: 4,000 clients one after another, none slow, no
/// accept queue overflow.
#[test]
fn backlog_4000_sequential_connects_none_slow() {
    check_every_server(&format!("{SEQUENTIAL} sequential connects"), |server| {
        sequential_connects(server, SEQUENTIAL)
    });
}

/// SPEC "The protocol" 9: 1,000 clients at once, none slow, no accept
/// queue overflow (for `server_single`: all 1,000 wait in the backlog).
#[test]
fn backlog_1000_concurrent_connects_none_slow() {
    check_every_server(&format!("{CONCURRENT} concurrent connects"), |server| {
        concurrent_connects(server, CONCURRENT)
    });
}

/// SPEC "The protocol" 9, seen from outside: `ss` shows a listening
/// socket's backlog as its Send-Q: SOMAXCONN, or net.core.somaxconn if the
/// kernel caps it lower.
#[test]
fn backlog_is_somaxconn() {
    if !have("ss", "-V") {
        return;
    }
    let sysctl = std::fs::read_to_string("/proc/sys/net/core/somaxconn").expect("read net.core.somaxconn");
    let cap: i32 = sysctl.trim().parse().expect("a number");
    let want = libc::SOMAXCONN.min(cap).to_string();
    for (lang, program) in every_server() {
        let server = Server::start(lang, program, &[]);
        let filter = format!("sport = :{}", server.port);
        let out = std::process::Command::new("ss").args(["-Hltn", &filter]).output().expect("run ss");
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        // State, Recv-Q, Send-Q (the backlog), local address, peer.
        let backlog = table.split_whitespace().nth(2).unwrap_or("none").to_string();
        assert_eq!(backlog, want, "{lang:?} {program}: ss -ltn says\n{table}");
    }
}
