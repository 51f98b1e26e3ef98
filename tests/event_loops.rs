//! The event loops, `server_poll` and `server_epoll` (SPEC "The
//! servers"): one thread, every client, C and Rust; every test runs for
//! each program of programs.txt that is an event loop. What the other suites
//! cannot see because the blocking servers have a thread or the backlog for
//! it: that no client delays another, that the idle rule holds with
//! deadlines instead of socket timeouts, what happens when accept runs out
//! of descriptors, and ten thousand clients at once (also for the threaded
//! `server`), with the memory each costs.
//!
//! The figures in the book (book/src/poll.md) come from
//! `cargo test --release --test event_loops ten_thousand -- --nocapture`.
//! Every test takes the `heavy()` lock, so they run one at a time: the timing
//! bounds below are for a loaded 2-core machine, not for one that also
//! drives ten thousand clients in the next test.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The event loops of programs.txt (poll, epoll, reuseport).
fn event_loops() -> Vec<&'static str> {
    servers().into_iter().filter(|program| programs::get(program).is_event_loop()).collect()
}

/// What a round trip may take while the server serves others: far under the
/// idle timeout, with room for a loaded machine (it takes about a
/// millisecond).
const PROMPT: Duration = Duration::from_secs(1);

/// One verified round trip of `line` on `stream`; how long it took.
fn round_trip(stream: &mut TcpStream, line: &[u8]) -> Duration {
    let start = Instant::now();
    stream.write_all(line).expect("send");
    let mut echo = vec![0; line.len()];
    stream.read_exact(&mut echo).expect("echo");
    assert_eq!(echo, line);
    start.elapsed()
}

/// A fresh client: connects, one round trip, closes; how long it all took.
fn fresh_client(server: &Server, line: &[u8]) -> Duration {
    let start = Instant::now();
    let mut stream = server.connect();
    round_trip(&mut stream, line);
    start.elapsed()
}

/// The send and receive queues of the server's connection on `port`
/// (`/proc/net/tcp`, ESTABLISHED), if there is one.
fn queues_of(port: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
        let (tx, rx) = fields[4].split_once(':')?;
        (local_port == Some(port) && fields[3] == "01")
            .then(|| Some((u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?)))
            .flatten()
    })
}

/// CPU time (user + system) the process has used, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // pid (comm) state ppid ... : utime and stime are fields 14 and 15,
    // the 12th and 13th after the ')'.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// SPEC "The servers", the event loops: "No client can delay
/// another's echo by sending nothing, trickling, or never reading." 1,000
/// silent clients, 100 that trickle a byte a second, and 10 that send 8 MiB
/// and never read its echo are all connected. Each of them still gets its
/// echo promptly (under [`PROMPT`]; it takes about a millisecond): a fresh
/// client's round trip, from connect to echo, three times over three
/// seconds; every trickler's line once it ends it; and each hog's echo once
/// it starts reading. The thread count never moves. One server after
/// another: run at once beside the sanitizers, the 60 hogs kept the six
/// servers' unread bytes moving for over 10 s. The idle timeout (60 s) is
/// far past one server's check (4 s; a run beside the sanitizers took one
/// past 20 s, and its silent clients were closed before the end).
#[test]
fn no_client_delays_another() {
    let _serial = heavy();
    raise_nofile(4096);
    for program in event_loops() {
        for lang in LANGS {
            no_client_delays_another_in(lang, program);
        }
    }
}

fn no_client_delays_another_in(lang: Lang, program: &str) {
    let what = format!("{lang:?} {program}");
    let mut server = Server::start(lang, program, &["-q", "-t", "60"]);
    let pid = server.pid();
    let threads = proc_status(pid, "Threads");

    let connect = |server: &mut Server| {
        let stream = server.connect();
        server.wait_for(&format!("{}connected", peer_of(&stream)));
        stream
    };
    let silent: Vec<TcpStream> = (0..1000).map(|_| connect(&mut server)).collect();
    let mut tricklers: Vec<TcpStream> = (0..100).map(|_| connect(&mut server)).collect();
    let hogs: Vec<TcpStream> = (0..10).map(|_| connect(&mut server)).collect();
    let senders: Vec<_> = hogs
        .iter()
        .map(|hog| {
            let mut hog = hog.try_clone().unwrap();
            // Ends with an error when the hog is shut down below.
            thread::spawn(move || {
                let _ = hog.write_all(&vec![b'x'; 8 << 20]);
            })
        })
        .collect();
    // The server stops reading a hog whose echo it cannot send: its
    // bytes wait unread.
    wait_stopped_reading(&format!("{what}: the server stops reading the hogs"), server.port);

    for second in 0..3 {
        for trickler in &mut tricklers {
            trickler.write_all(b"t").unwrap();
        }
        let took = fresh_client(&server, format!("fresh client {second}\n").as_bytes());
        assert!(took < PROMPT, "{what}: a fresh client's round trip took {took:?}");
        thread::sleep(Duration::from_secs(1));
    }
    for trickler in &mut tricklers {
        let start = Instant::now();
        trickler.write_all(b"\n").unwrap();
        let mut echo = [0; 4];
        trickler.read_exact(&mut echo).expect("the trickler's echo");
        assert_eq!(&echo, b"ttt\n", "{what}");
        let took = start.elapsed();
        assert!(took < PROMPT, "{what}: a trickler's echo took {took:?}");
    }
    // A hog that starts reading gets its echo at once: the server sends
    // again as soon as there is room, whatever the other hogs do.
    for hog in &hogs {
        let start = Instant::now();
        let mut echo = vec![0; 64 << 10];
        (&*hog).read_exact(&mut echo).expect("the hog's echo");
        assert!(echo.iter().all(|&b| b == b'x'), "{what}: the hog's echo is not its bytes");
        let took = start.elapsed();
        assert!(took < PROMPT, "{what}: 64 KiB of a hog's echo took {took:?}");
    }
    assert_eq!(proc_status(pid, "Threads"), threads, "{what}: the thread count moved");

    for hog in &hogs {
        let _ = hog.shutdown(Shutdown::Both);
    }
    for sender in senders {
        sender.join().unwrap();
    }
    drop(silent);
    let (status, log) = server.stop();
    assert!(status.success(), "{what}: {status}");
    // No client waited out the idle timeout: the test took far less.
    assert!(log.iter().all(|l| !l.contains("] idle for")), "{what}: {log:?}");
}

/// SPEC "The protocol" 7 and 8 with deadlines instead of socket timeouts:
/// silent clients are closed after `-t`, each with its `idle` line; a
/// client that never reads is closed with `error: Resource temporarily
/// unavailable` once its echo has made no progress for `-t`. The slack is
/// what the rule allows: never early (less a few milliseconds: the test's
/// clock starts before the server's), and late by at most [`LATE`], the
/// time a loaded machine may take to wake the server and let it close 20
/// sockets (the heavy tests do not run beside this one). The event loops
/// at once: each mostly waits for its deadlines.
#[test]
fn deadlines_keep_the_idle_rule() {
    let _serial = heavy();
    for_every_server_where(|p| p.is_event_loop(), deadlines_keep_the_idle_rule_in);
}

/// How late a deadline may fire on a loaded machine.
const LATE: Duration = Duration::from_millis(1500);
/// How early: the test's clock starts before the server's, and the
/// server's counts whole milliseconds.
const EARLY: Duration = Duration::from_millis(50);

fn deadlines_keep_the_idle_rule_in(lang: Lang, program: &str) {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let mut server = Server::start(lang, program, &["-q", "-t", "3"]);
    let start = Instant::now();
    let silent: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
    let connected = start.elapsed();
    let closed: Vec<Duration> = silent
        .into_iter()
        .map(|mut stream| {
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).expect("closed by the server");
            assert!(rest.is_empty());
            start.elapsed()
        })
        .collect();
    for took in closed {
        assert!(
            took + EARLY >= TIMEOUT && took <= TIMEOUT + LATE + connected,
            "{lang:?} {program}: a silent client was closed after {took:?}, not {TIMEOUT:?}"
        );
    }
    for _ in 0..20 {
        let end = wait_for_session_end(&mut server, "] ", DEADLINE).expect("an idle line");
        assert!(end.ends_with("] idle for 3 s, closing"), "{lang:?}: {end}");
    }

    // The hog: its echo stops when its receive buffer is full, and the
    // server's deadline runs from its last send that made progress. That
    // moment is not visible from here, but it is between the connect and
    // the last change of the connection's queues (a send that makes
    // progress adds to the send queue), which bounds the close on both
    // sides.
    let hog = server.connect();
    let connected = Instant::now();
    let peer = peer_of(&hog);
    let mut writer = hog.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let _ = writer.write_all(&vec![b'x'; 8 << 20]);
    });
    let timed_out = format!("{peer}error: Resource temporarily unavailable");
    let (mut queues, mut last_change) = (queues_of(server.port), Instant::now());
    while server.wait_for_within(&timed_out, Duration::from_millis(5)).is_none() {
        assert!(connected.elapsed() < DEADLINE, "{lang:?}: the hog was never closed: {:?}", server.log);
        let now = queues_of(server.port);
        if now != queues {
            (queues, last_change) = (now, Instant::now());
        }
    }
    let (since_connect, since_change) = (connected.elapsed(), last_change.elapsed());
    assert!(
        since_connect + EARLY >= TIMEOUT && since_change <= TIMEOUT + LATE,
        "{lang:?}: the hog was closed {since_connect:?} after it connected and {since_change:?} after \
         its queues last moved: the deadline is {TIMEOUT:?} after the last progress"
    );
    let _ = hog.shutdown(Shutdown::Both);
    sender.join().unwrap();
}

/// SPEC "The servers", the event loops: when accept fails with EMFILE
/// it prints `PROG: accept: Too many open files`, stops watching the
/// listener for 100 ms (so it neither spins nor floods stderr: about ten
/// lines a second a loop, and little CPU), and goes on serving its clients. Once a
/// client leaves, a waiting connection is accepted. The server runs with 12
/// descriptors (`prlimit`): stdin, stdout, stderr, the listener (and the
/// epoll instance), and the clients. The bounds have the slack the rule
/// allows on a loaded machine: a round trip under [`PROMPT`] is "serving its
/// clients"; a spinning loop would use all of the second, so "little CPU" is
/// under half of it.
#[test]
fn out_of_descriptors_pauses_accept_and_serves_the_clients() {
    if !have("prlimit", "--version") {
        return;
    }
    let _serial = heavy();
    for program in event_loops() {
        for lang in LANGS {
            out_of_descriptors_in(lang, program);
        }
    }
}

fn out_of_descriptors_in(lang: Lang, program: &str) {
    let mut command = Command::new("prlimit");
    command.arg("--nofile=12:12").arg(bin(lang, program)).args(["-b", "127.0.0.1", "-p", "0"]);
    // server_reuseport: two loops, each with its own listener, each pausing
    // its own accept: twice the lines of one loop.
    let loops = if programs::get(program).takes_count() {
        command.args(["-n", "2"]);
        2
    } else {
        1
    };
    let server = Server::start_command(lang, program, command);
    let pid = server.pid(); // prlimit execs the server in its own process
    let room = 12 - open_fds(pid);
    let mut served: Vec<TcpStream> = (0..room)
        .map(|i| {
            let mut stream = server.connect();
            round_trip(&mut stream, format!("client {i}\n").as_bytes());
            stream
        })
        .collect();
    // These wait in the backlog: the handshake is done, accept fails.
    let mut waiting: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    wait_until(&format!("{lang:?}: the accept error on stderr"), || {
        server.stderr_text().contains(&format!("{program}: accept: Too many open files\n"))
    });

    let (lines_before, cpu_before, start) =
        (server.stderr_text().lines().count(), cpu_time(pid), Instant::now());
    for (i, stream) in served.iter_mut().enumerate() {
        let took = round_trip(stream, format!("still served {i}\n").as_bytes());
        assert!(took < PROMPT, "{lang:?} {program}: a round trip took {took:?}");
    }
    thread::sleep(Duration::from_secs(1));
    let elapsed = start.elapsed();
    let lines = server.stderr_text().lines().count() - lines_before;
    let cpu = cpu_time(pid) - cpu_before;
    let most = loops * ((elapsed.as_millis() / 100) as usize + 2);
    assert!(lines <= most, "{lang:?}: {lines} accept errors in {elapsed:?}: not paused 100 ms each");
    assert!(lines >= 2, "{lang:?}: {lines} accept errors in {elapsed:?}: accept not retried");
    assert!(cpu < elapsed / 2, "{lang:?} {program}: {cpu:?} of CPU in {elapsed:?}: spinning");
    let error = format!("{program}: accept: Too many open files");
    assert!(server.stderr_text().lines().all(|l| l == error));

    // Three leave; the three waiting are accepted and served.
    served.truncate(room - 3);
    for (i, stream) in waiting.iter_mut().enumerate() {
        round_trip(stream, format!("accepted at last {i}\n").as_bytes());
    }
    let (status, _) = server.stop();
    assert!(status.success(), "{lang:?}: {status}");
}

/// Clients of the ten-thousand test, and the threads of this process that
/// drive them, each a share.
const CLIENTS: usize = 10_000;
const DRIVERS: usize = 4;
/// Clients a driver connects before it does their first round trips.
const BATCH: usize = 25;

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

/// Issue 10 "Ten thousand clients": the event loops and the threaded
/// `server`, C and Rust, hold 10,000 clients at once. Each connects and does one
/// verified round trip; then all are idle, and the server's descriptors are
/// 10,000 more (and its threads: 10,000 more for `server`, not one more for
/// an event loop); then each does one more verified round trip; then all
/// leave, and descriptors and threads are back where they were. Prints the
/// resident memory (VmRSS) each idle client costs, and asserts that of the
/// event loops: at most 1.25 KiB (their client is 1.1 KiB). The figures in
/// the book (book/src/poll.md) come from
/// `cargo test --release --test event_loops ten_thousand -- --nocapture`.
#[test]
fn ten_thousand_clients() {
    let _serial = heavy();
    raise_nofile(CLIENTS as u64 + 1024);
    let whole = Instant::now();
    // And the thread-per-client servers, whose 10,000 threads are the contrast.
    let threaded = servers().into_iter().filter(|program| programs::get(program).model == Model::Threads);
    for program in event_loops().into_iter().chain(threaded) {
        for lang in LANGS {
            ten_thousand(lang, program);
        }
    }
    println!("ten_thousand_clients: the runs took {:.1} s", whole.elapsed().as_secs_f64());
}

fn ten_thousand(lang: Lang, program: &str) {
    let what = format!("{lang:?} {program}");
    let start = Instant::now();
    // -q: 20,000 `recv:` lines are not the point; -t 120: no client is idle
    // that long, however slowly a loaded machine connects them all.
    let mut server = Server::start(lang, program, &["-q", "-t", "120"]);
    let pid = server.pid();
    let baseline = Usage::of(pid);
    // One session first, so that one-time costs (the stdout buffer, the
    // first thread) are not counted as the clients'.
    assert_eq!(exchange(&server, b"warm up\n"), b"warm up\n");
    server.wait_for("] disconnected");
    baseline.wait_back(pid, DEADLINE);
    let rss = proc_status(pid, "VmRSS");

    // Each driver connects its share BATCH at a time, then does a round
    // trip on each of the batch: waiting for the echoes paces the connects
    // to the server's accepts (DRIVERS x BATCH stay under the listen
    // backlog), and a poll server finds a batch ready in one wake-up.
    let addr = server.addr();
    let mut shares: Vec<Vec<(usize, TcpStream)>> = thread::scope(|scope| {
        let drivers: Vec<_> = (0..DRIVERS)
            .map(|driver| {
                scope.spawn(move || {
                    let ids: Vec<usize> = (driver..CLIENTS).step_by(DRIVERS).collect();
                    let mut share = Vec::with_capacity(ids.len());
                    for batch in ids.chunks(BATCH) {
                        let first = share.len();
                        for &id in batch {
                            let stream = TcpStream::connect_timeout(&addr, DEADLINE)
                                .unwrap_or_else(|err| panic!("client {id}: connect: {err}"));
                            stream.set_read_timeout(Some(DEADLINE)).unwrap();
                            share.push((id, stream));
                        }
                        verified_round_trips(&mut share[first..], 0);
                    }
                    share
                })
            })
            .collect();
        drivers.into_iter().map(|driver| driver.join().expect("driver")).collect()
    });
    let connected = start.elapsed();

    // All idle now: every client has its descriptor in the server; the poll
    // server has no more threads than before.
    let threaded = programs::get(program).model == programs::Model::Threads;
    let extra_threads = if threaded { CLIENTS as u64 } else { 0 };
    let peak = Usage { fds: baseline.fds + CLIENTS, threads: baseline.threads + extra_threads, ..baseline };
    peak.wait_back(pid, DEADLINE);
    let per_client = (proc_status(pid, "VmRSS") - rss) as f64 / CLIENTS as f64;

    // One more verified round trip each, all of a driver's share in flight
    // at once.
    thread::scope(|scope| {
        for share in &mut shares {
            scope.spawn(move || verified_round_trips(share, 1));
        }
    });
    assert_eq!(Usage::of(pid), peak, "{what}: after the second round trips");
    drop(shares);
    for _ in 0..CLIENTS {
        let end = wait_for_session_end(&mut server, "] ", DEADLINE);
        let end = end.unwrap_or_else(|| panic!("{what}: not every session ended"));
        assert!(end.ends_with("] disconnected"), "{what}: {end}");
    }
    baseline.wait_back(pid, DEADLINE);
    let (status, _) = server.stop();
    assert!(status.success(), "{what}: {status}");
    println!(
        "{what}: {CLIENTS} clients connected with a round trip each in {:.1} s; idle: VmRSS +{per_client:.2} KiB \
         per client, {} threads; one more round trip each; back to {} fds, {} threads; {:.1} s in all",
        connected.as_secs_f64(),
        peak.threads,
        baseline.fds,
        baseline.threads,
        start.elapsed().as_secs_f64()
    );
    // The bound is for the release builds: a sanitizer build of the C
    // (SOCKETS_C_DIR=build/asan) has shadow memory and red zones around
    // every allocation.
    let release_build = lang == Lang::Rust || std::env::var_os("SOCKETS_C_DIR").is_none();
    if programs::get(program).is_event_loop() && release_build {
        assert!(per_client <= 1.25, "{what}: {per_client:.2} KiB resident per idle client, more than 1.25");
    }
}
