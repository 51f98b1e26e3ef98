//! Every server that waits with epoll (`server_epoll`; programs.txt says
//! which) holds as many clients at once as its descriptor limit
//! allows (SPEC "The servers": what a wake-up costs grows with the
//! ready clients, not the connected ones, and a client costs its 1.1 KiB).
//! One server at a time (the `heavy()` lock): each needs nearly every
//! descriptor this process may have.
//!
//! The soft RLIMIT_NOFILE is raised to the hard one, and the hard one too
//! where the system allows it (CAP_SYS_RESOURCE); the server inherits them.
//! Each client connects and does one verified round trip; then all are idle
//! and the server's resident memory is measured; then each does one more
//! verified round trip; then all leave. The threads never change, and the
//! descriptors go back to where they were. One source address has about
//! 28,000 ephemeral ports (`ip_local_port_range`), so the clients are spread
//! over 127.0.0.2, 127.0.0.3, ... (bound before connect, the port chosen at
//! connect: IP_BIND_ADDRESS_NO_PORT). This process holds every client's
//! socket, and its limit is the server's (the server inherits it), so one
//! client process is enough: both bounds are the same number less a few
//! descriptors of each process's own. With the limits here (20,000, not
//! raisable without CAP_SYS_RESOURCE) that is 19,928 clients, in about 2 s.
//!
//! `cargo test --release --test held -- --nocapture` prints the figures.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::thread;
use std::time::Instant;

use common::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use sockets::sys::{self, in_addr, SockAddr};

/// Descriptors left over for this process's own use (pipes, the server's
/// output, the test harness) and for the server's (stdio, the listener, the
/// epoll instance).
const SPARE_FDS: u64 = 64;
/// Clients per source address: well under its ephemeral ports.
const PER_SOURCE: usize = 10_000;
/// Threads of this process that drive the clients, each a share.
const DRIVERS: usize = 4;
/// Clients a driver connects before their first round trips (DRIVERS x
/// BATCH stay under the listen backlog).
const BATCH: usize = 25;
/// The RSS one idle client may cost (release builds).
const MAX_KIB_PER_CLIENT: f64 = 1.25;

/// The soft limit raised to the hard one, and the hard one as far as the
/// system lets it go; returns the soft limit now in force.
fn raise_nofile_to_max() -> u64 {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    // Raising the hard limit needs CAP_SYS_RESOURCE, and the kernel's
    // nr_open caps it; without them the hard limit stays where it is.
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, nr_open, nr_open).is_err() {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise the soft RLIMIT_NOFILE to the hard one");
    }
    getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit").0
}

/// A client of `addr`'s port from 127.0.0.(2 + id / PER_SOURCE).
fn connect_from(id: usize, port: u16) -> TcpStream {
    let host = |last: u8| in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, last]) };
    let source = SockAddr::v4(host(2 + (id / PER_SOURCE) as u8), 0);
    let fd = sys::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
        .unwrap_or_else(|err| panic!("client {id}: socket: {err}"));
    let on: libc::c_int = 1;
    sys::setsockopt(fd.as_fd(), libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, &on)
        .unwrap_or_else(|err| panic!("client {id}: IP_BIND_ADDRESS_NO_PORT: {err}"));
    sys::bind(fd.as_fd(), &source).unwrap_or_else(|err| panic!("client {id}: bind: {err}"));
    sys::connect(fd.as_fd(), &SockAddr::v4(host(1), port))
        .unwrap_or_else(|err| panic!("client {id}: connect: {err}"));
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// A 32-byte line, `\n` included, that differs per client and round.
fn line_for(id: usize, round: usize) -> Vec<u8> {
    format!("client {id:05} round {round} {:09}\n", id * 7919 % 1_000_000_007).into_bytes()
}

/// Round `round` on each of `streams`: every line sent, then every echo read
/// and checked.
fn verified_round_trips(streams: &mut [(usize, TcpStream)], round: usize) {
    for (id, stream) in streams.iter_mut() {
        stream.write_all(&line_for(*id, round)).unwrap_or_else(|err| panic!("client {id}: send: {err}"));
    }
    for (id, stream) in streams.iter_mut() {
        let line = line_for(*id, round);
        let mut echo = vec![0; line.len()];
        stream.read_exact(&mut echo).unwrap_or_else(|err| panic!("client {id}: echo: {err}"));
        assert_eq!(echo, line, "client {id}, round {round}");
    }
}

fn hold_every_client(lang: Lang, program: &str) {
    let _serial = heavy();
    let what = format!("{lang:?} {program}");
    let limit = raise_nofile_to_max();
    let start = Instant::now();
    // -q: 40,000 `recv:` lines are not the point; -t 120: no client is idle
    // that long, however slowly a loaded machine connects them all.
    let mut server = Server::start(lang, program, &["-q", "-t", "120"]);
    let pid = server.pid();
    let baseline = Usage::of(pid);
    // One session first, so that one-time costs (the stdout buffer, the
    // first slots) are not counted as the clients'.
    assert_eq!(exchange(&server, b"warm up\n"), b"warm up\n");
    server.wait_for("] disconnected");
    baseline.wait_back(pid, DEADLINE);
    let rss = proc_status(pid, "VmRSS");

    // The server's limit is this process's (inherited); this process holds
    // the other end of every client.
    let own_fds = open_fds(std::process::id()) as u64;
    let count = (limit - SPARE_FDS).min(limit - own_fds - SPARE_FDS) as usize;

    let port = server.port;
    let mut shares: Vec<Vec<(usize, TcpStream)>> = thread::scope(|scope| {
        let drivers: Vec<_> = (0..DRIVERS)
            .map(|driver| {
                scope.spawn(move || {
                    let ids: Vec<usize> = (driver..count).step_by(DRIVERS).collect();
                    let mut share = Vec::with_capacity(ids.len());
                    for batch in ids.chunks(BATCH) {
                        let first = share.len();
                        share.extend(batch.iter().map(|&id| (id, connect_from(id, port))));
                        verified_round_trips(&mut share[first..], 0);
                    }
                    share
                })
            })
            .collect();
        drivers.into_iter().map(|driver| driver.join().expect("driver")).collect()
    });
    let connected = start.elapsed();

    // All idle: a descriptor more per client in the server, not one thread.
    let peak = Usage { fds: baseline.fds + count, ..baseline };
    peak.wait_back(pid, DEADLINE);
    let per_client = (proc_status(pid, "VmRSS") - rss) as f64 / count as f64;

    thread::scope(|scope| {
        for share in &mut shares {
            scope.spawn(move || verified_round_trips(share, 1));
        }
    });
    assert_eq!(Usage::of(pid), peak, "{what}: after the second round trips");
    drop(shares);
    baseline.wait_back(pid, DEADLINE);
    let (status, log) = server.stop();
    assert!(status.success(), "{what}: {status}");
    let ended = log.iter().filter(|line| line.ends_with("] disconnected")).count();
    assert_eq!(ended, count + 1, "{what}: every client's session ends with its EOF");
    println!(
        "{what}: {count} clients at once (RLIMIT_NOFILE {limit}), connected with a round trip each in \
         {:.1} s; idle: VmRSS +{per_client:.2} KiB per client, {} threads; one more round trip each; back \
         to {} fds; {:.1} s in all",
        connected.as_secs_f64(),
        peak.threads,
        baseline.fds,
        start.elapsed().as_secs_f64()
    );
    // The bound is for the release builds: a sanitizer build of the C
    // (SOCKETS_C_DIR=build/asan) has shadow memory and red zones.
    let release_build = lang == Lang::Rust || std::env::var_os("SOCKETS_C_DIR").is_none();
    if release_build {
        assert!(
            per_client <= MAX_KIB_PER_CLIENT,
            "{what}: {per_client:.2} KiB resident per idle client, more than {MAX_KIB_PER_CLIENT}"
        );
    }
}

/// Every server that waits with epoll (programs.txt: `waits_with_epoll`),
/// in C and Rust, one after another; the others hold a thread or a process
/// per client, at most N clients, or scan every client at each wake-up.
#[test]
fn held_every_epoll_server() {
    let servers = every_server_where(|p| p.waits_with_epoll() && p.serves_every_client_at_once());
    assert!(!servers.is_empty(), "programs.txt has no server that waits with epoll");
    for (lang, program) in servers {
        hold_every_client(lang, program);
    }
}
