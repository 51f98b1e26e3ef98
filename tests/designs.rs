//! What the designs of UNP ch. 30 add (SPEC v4 "The servers"), C and Rust,
//! each test over the programs of its model in programs.txt:
//! `server_pool`'s bounded queue (the clients past it wait), a
//! `server_prefork` child that dies is replaced and logged, and a shutdown
//! leaves no child; `server_reuseport`'s N sockets on one port, the
//! connections spread over its loops, and a shutdown that ends every loop.
//! Everything else they must do, they do in every other suite.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;
use programs::Model;

/// One line sent and its echo read back.
fn echo_once(stream: &mut TcpStream, line: &str) {
    stream.write_all(line.as_bytes()).unwrap();
    let mut echo = vec![0; line.len()];
    stream.read_exact(&mut echo).unwrap_or_else(|e| panic!("the echo of {line:?}: {e}"));
    assert_eq!(echo, line.as_bytes());
}

/// Whether the process `pid` still exists (a zombie included).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// SPEC: "a queue of at most N connections; while the queue is full the
/// main thread stops accepting, and the next clients wait in the backlog";
/// `connected` when a thread takes the connection. With 2 threads, 2
/// clients in session hold them: the 3rd is not served (no echo, no
/// `connected`) until one of the 2 ends, and then it is.
#[test]
fn pool_full_the_next_client_waits_until_a_thread_is_free() {
    for_each(
        |p| p.model == Model::Pool,
        |lang, program| {
            let mut server = Server::start(lang, program, &["-n", "2"]);
            let mut first = server.connect();
            echo_once(&mut first, "first\n");
            let mut second = server.connect();
            echo_once(&mut second, "second\n");
            server.wait_for("] recv: second");

            let mut third = server.connect();
            third.write_all(b"third\n").unwrap();
            third.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            let mut byte = [0u8; 1];
            let waited = third.read(&mut byte);
            assert!(
                matches!(&waited, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
                "{lang:?} {program}: the 3rd client was answered while both threads were busy: {waited:?}"
            );
            let connected = server.drain(Duration::from_millis(100));
            assert!(connected.is_empty(), "{lang:?} {program}: logged while full: {connected:?}");

            // One session ends: its thread takes the 3rd client.
            first.write_all(b"quit\n").unwrap();
            third.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut echo = [0u8; 6];
            third.read_exact(&mut echo).expect("the 3rd client's echo once a thread is free");
            assert_eq!(&echo, b"third\n");
            let quit = server.wait_for("] quit");
            let taken = server.wait_for("] connected");
            assert!(server.log.iter().position(|l| *l == quit) < server.log.iter().position(|l| *l == taken));
            echo_once(&mut second, "still served\n");
            let (status, log) = server.stop();
            assert_eq!(status.code(), Some(0), "{lang:?} {program}: {log:?}");
            assert_eq!(log.last().map(String::as_str), Some("shutting down"));
        },
    );
}

/// SPEC: "A child that dies is replaced at once (and logged)". A child
/// killed with SIGKILL: a line names it and its replacement, the server
/// has N children again, and the replacement serves.
#[test]
fn prefork_a_killed_child_is_replaced_and_logged() {
    for_each(
        |p| p.model == Model::Prefork,
        |lang, program| {
            let mut server = Server::start(lang, program, &["-n", "3"]);
            let pid = server.pid();
            wait_until("3 children", || children_of(pid).len() == 3);
            let before = children_of(pid);
            let victim = before[0];
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
            let line = server.wait_for(&format!("child {victim} killed by signal 9, replaced by "));
            let replacement: u32 = line.rsplit(' ').next().unwrap().parse().expect("the replacement's PID");
            wait_until("the killed child reaped", || !exists(victim));
            let after = children_of(pid);
            assert_eq!(after.len(), 3, "{lang:?} {program}: children after the kill: {after:?}");
            assert!(after.contains(&replacement), "{lang:?} {program}: {replacement} not among {after:?}");
            // Every child serves, the replacement among them: 3 at once.
            let mut clients: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
            for (i, client) in clients.iter_mut().enumerate() {
                echo_once(client, &format!("client {i}\n"));
            }
            let (status, _) = server.stop();
            assert_eq!(status.code(), Some(0));
        },
    );
}

/// SPEC: "SIGINT or SIGTERM end every child and then the server": with
/// clients in session, `shutting down`, exit 0, every child gone (reaped,
/// not even a zombie), and every client's connection closed.
#[test]
fn prefork_shutdown_leaves_no_process() {
    for_each(
        |p| p.model == Model::Prefork,
        |lang, program| {
            let server = Server::start(lang, program, &["-n", "4"]);
            let pid = server.pid();
            wait_until("4 children", || children_of(pid).len() == 4);
            let children = children_of(pid);
            let mut clients: Vec<TcpStream> = (0..2).map(|_| server.connect()).collect();
            for client in &mut clients {
                echo_once(client, "hello\n");
            }
            let (status, log) = server.stop();
            assert_eq!(status.code(), Some(0), "{lang:?} {program}: {log:?}");
            assert_eq!(log.last().map(String::as_str), Some("shutting down"));
            for child in children {
                assert!(!exists(child), "{lang:?} {program}: child {child} outlived the server");
            }
            assert_closed(clients);
        },
    );
}

/// SPEC "The servers": a child whose parent was killed with SIGKILL ends
/// as well (PR_SET_PDEATHSIG), as server_fork's do: with -n 3 and 2 clients
/// in session, no child outlives a server killed with SIGKILL (reparented,
/// a child may stay a zombie for a moment: it must not run), and both
/// clients see the close.
#[test]
fn prefork_children_end_when_the_server_is_killed() {
    for_each(
        |p| p.model == Model::Prefork,
        |lang, program| {
            let server = Server::start(lang, program, &["-n", "3", "-t", "60"]);
            let pid = server.pid();
            wait_until("3 children", || children_of(pid).len() == 3);
            let children = children_of(pid);
            let mut clients: Vec<TcpStream> = (0..2).map(|_| server.connect()).collect();
            for client in &mut clients {
                echo_once(client, "hello\n");
            }
            server.signal(Signal::SIGKILL);
            let _ = server.wait_exit();
            for child in children {
                wait_until(&format!("{lang:?} {program}: child {child} ends"), || !runs(child));
            }
            assert_closed(clients);
        },
    );
}

/// Every client sees its connection end: its end of stream with nothing
/// before it, or a reset.
fn assert_closed(clients: Vec<TcpStream>) {
    for mut client in clients {
        let mut rest = Vec::new();
        match client.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty()),
            Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset),
        }
    }
}

/// Whether the process `pid` exists and is not a zombie.
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// The listening sockets on `port` (IPv4, `/proc/net/tcp`, state 0A).
fn listeners_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "0A"
        })
        .count()
}

/// Voluntary context switches of each thread of `pid`: a loop's thread
/// counts one each time epoll_wait puts it to sleep.
fn switches_by_thread(pid: u32) -> Vec<(u32, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    let mut all: Vec<(u32, u64)> = tasks
        .flatten()
        .filter_map(|task| task.file_name().to_str()?.parse().ok())
        .map(|tid: u32| {
            let status =
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
            let switches = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            (tid, switches)
        })
        .collect();
    all.sort();
    all
}

/// SPEC: "N threads, each with its own listening socket bound to the same
/// address and port with SO_REUSEPORT, and its own epoll loop (the kernel
/// spreads new connections over the sockets)". With -n 2 and -p 0: 2
/// listening sockets on the one port of the listening line; 64 clients,
/// each on its own source port, are served by both loops (each loop's
/// thread wakes for its own clients: both threads' voluntary context
/// switches grow, the signal thread's do not); a shutdown with clients on
/// both loops ends them all.
#[test]
fn reuseport_spreads_connections_over_its_loops() {
    for_each(
        |p| p.model == Model::Reuseport,
        |lang, program| {
            let server = Server::start(lang, program, &["-n", "2"]);
            assert!(server.log[0].contains("(2 epoll loops, SO_REUSEPORT,"), "{:?}", server.log[0]);
            assert_eq!(listeners_on(server.port), 2, "{lang:?} {program}: listening sockets on the port");
            let pid = server.pid();
            let before = switches_by_thread(pid);
            assert_eq!(
                before.len(),
                3,
                "{lang:?} {program}: main (a loop), a loop thread, the signal thread"
            );
            let mut clients: Vec<TcpStream> = (0..64).map(|_| server.connect()).collect();
            for (i, client) in clients.iter_mut().enumerate() {
                echo_once(client, &format!("client {i}\n"));
            }
            let after = switches_by_thread(pid);
            let woke: Vec<u64> = before.iter().zip(&after).map(|((_, b), (_, a))| a - b).collect();
            // How the kernel's hash splits 64 source ports between the two
            // sockets is its own (33 and 2 wake-ups once, under make test's
            // load): each loop must have woken, the signal thread not.
            let busy = woke.iter().filter(|&&n| n >= 1).count();
            assert_eq!(busy, 2, "{lang:?} {program}: wake-ups by thread over 64 sessions: {woke:?}");
            let (status, log) = server.stop();
            assert_eq!(status.code(), Some(0), "{lang:?} {program}: {log:?}");
            assert_eq!(log.last().map(String::as_str), Some("shutting down"));
            assert_closed(clients);
        },
    );
}

/// `-n` as SPEC "Command line" says: 1..1024, a bad value named, the usage,
/// exit 2; and the listening line says the count.
#[test]
fn the_count_option_is_checked_and_shown() {
    for_each(
        |p| p.takes_count(),
        |lang, program| {
            for bad in ["0", "1025", "x", "-1", ""] {
                let out = run_program(lang, program, &["-n", bad], b"");
                assert_eq!(out.code(), Some(2), "{lang:?} {program} -n {bad:?}");
                let usage = format!("usage: {program} [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]\n");
                assert_eq!(out.stderr(), format!("{program}: bad number: {bad}\n{usage}"));
            }
            let server = Server::start(lang, program, &["-n", "3"]);
            let label = programs::get(program).label_with(3);
            assert!(server.log[0].contains(&format!("({label}, idle timeout 5 s)")), "{:?}", server.log[0]);
        },
    );
}

/// `check` for every twin of every server `keep` selects; fails if none.
fn for_each(keep: impl Fn(&programs::Program) -> bool, check: impl Fn(Lang, &str)) {
    let servers = every_server_where(keep);
    assert!(!servers.is_empty(), "programs.txt lists no such server");
    for (lang, program) in servers {
        check(lang, program);
    }
}
