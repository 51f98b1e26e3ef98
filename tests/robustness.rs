//! Faults and hostile input (issue 4): a classmate's buggy client must not
//! bring a server down, and nothing a client sends is ever lost. Each fault
//! is followed by a fresh client that must be served correctly
//! (`assert_still_serves`); every test talks only to 127.0.0.1 and ends what
//! it started, by PID.
//!
//! The tests with hundreds of connections take the `HEAVY` lock, so they run
//! one at a time (the 2,000-client load is in tests/load.rs).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use sockets::sys;

/// The `[PEER] ` prefix of a log line.
fn peer_in(line: &str) -> String {
    let end = line.find("] ").unwrap_or_else(|| panic!("no peer in {line:?}"));
    line[..end + 2].to_string()
}

/// A process this test started, SIGKILLed by its PID if the test ends early.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The lines of the server's log so far about `peer` (`[PEER] `).
fn lines_of(server: &Server, peer: &str) -> Vec<String> {
    server.log.iter().filter(|line| line.starts_with(peer)).cloned().collect()
}

/// After a fault: a fresh client sends a line and gets it back byte for byte,
/// and the server logs the end of its session. Returns how long the echo
/// took.
fn assert_still_serves(server: &mut Server, after: &str) -> Duration {
    let what = format!("{:?} {} after {after}", server.lang, server.program);
    let line = format!("fresh client after {after}\n");
    let start = Instant::now();
    let mut stream = server.connect();
    let peer = peer_of(&stream);
    stream.write_all(line.as_bytes()).unwrap();
    let mut echo = vec![0; line.len()];
    stream.read_exact(&mut echo).unwrap_or_else(|err| panic!("{what}: no echo: {err}"));
    let took = start.elapsed();
    assert_eq!(echo, line.as_bytes(), "{what}");
    drop(stream);
    let end = wait_for_session_end(server, &peer, DEADLINE);
    assert_eq!(end, Some(format!("{peer}disconnected")), "{what}");
    took
}

/// Sends `data` from one thread while reading the echo in this one (so a
/// large input never deadlocks on full socket buffers), half-closes, and
/// returns everything the server sent back until it closed.
fn echo_concurrently(server: &Server, data: &[u8]) -> Vec<u8> {
    let stream = server.connect();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let data = data.to_vec();
    let sender = thread::spawn(move || {
        writer.write_all(&data).expect("send");
        writer.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut echoed = Vec::new();
    (&stream).read_to_end(&mut echoed).expect("read the echo");
    sender.join().expect("sender");
    echoed
}

/// `got` is `want`, or a message that says where they part (not the bytes).
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    let first_difference = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got.len() == want.len() && first_difference.is_none(),
        "{what}: sent {} bytes, got {} back, first difference at {first_difference:?}",
        want.len(),
        got.len()
    );
}

/// Whether a thread of `pid` or of one of its child processes (server_fork
/// serves each client in a child) is in send(2) (glibc's send is the sendto
/// system call), which for the echo of a client that never reads means
/// blocked on a full socket buffer. `/proc/PID/task/TID/syscall` starts with
/// the number of the call a thread is blocked in.
fn blocked_in_send(pid: u32) -> bool {
    let sendto = libc::SYS_sendto.to_string();
    std::iter::once(pid).chain(children_of(pid)).any(|pid| {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false; // a child that has just exited
        };
        tasks.flatten().any(|task| {
            let syscall = std::fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
            syscall.split_whitespace().next() == Some(sendto.as_str())
        })
    })
}

/// The state letter in a `/proc/.../stat` file (R, S, T, Z...), None once
/// the process is gone.
fn state_in(stat_path: &str) -> Option<char> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // pid (comm) STATE ...: comm may hold spaces, so look after the last ')'.
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Whether process `pid` has exited (a zombie, not yet reaped, or gone).
fn exited(pid: u32) -> bool {
    matches!(state_in(&format!("/proc/{pid}/stat")), None | Some('Z') | Some('X'))
}

/// Whether every thread of `pid` is stopped: SIGSTOP takes effect in each
/// thread on its own time, and until then one may still take a line.
fn all_threads_stopped(pid: u32) -> bool {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    tasks.flatten().all(|task| state_in(&task.path().join("stat").to_string_lossy()) == Some('T'))
}

/// Whether the server listening on `port` has unread bytes on an accepted
/// connection (`/proc/net/tcp`: local port, state ESTABLISHED, rx_queue).
fn server_has_unread_bytes(port: u16) -> bool {
    unread_bytes(port) > 0
}

/// Issue 4 "Faults": a client killed with SIGKILL mid-line. The kernel closes
/// its socket; the server echoes the pending bytes (SPEC "The protocol" 5)
/// into the void, logs the EOF (`disconnected`), and serves the next client.
/// The raw client is bash's /dev/tcp, which puts half a line on the wire; the
/// real clients (C, Rust) are killed with half a line typed, which they
/// hold until its `\n`.
#[test]
fn fault_client_killed_mid_line() {
    for (lang, program) in every_server() {
        let mut server = Server::start(lang, program, &[]);
        let script = "exec 3<>/dev/tcp/127.0.0.1/$0 && printf 'half a li' >&3 && echo sent && exec sleep 60";
        let mut shell = Started(
            Command::new("bash")
                .args(["-c", script, &server.port.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start bash"),
        );
        let mut said = String::new();
        BufReader::new(shell.0.stdout.take().unwrap()).read_line(&mut said).unwrap();
        assert_eq!(said, "sent\n", "{lang:?} {program}: bash could not connect");
        let peer = peer_in(&server.wait_for("] connected"));
        shell.0.kill().unwrap(); // SIGKILL
        shell.0.wait().unwrap();
        let end = wait_for_session_end(&mut server, &peer, DEADLINE);
        let session =
            [format!("{peer}connected"), format!("{peer}recv: half a li"), format!("{peer}disconnected")];
        assert_eq!(end.as_ref(), Some(&session[2]), "{lang:?} {program}");
        assert_eq!(lines_of(&server, &peer), session, "{lang:?} {program}: the half line echoed at EOF");

        for client_lang in LANGS {
            let mut client = RunningClient::start(client_lang, &[], server.port);
            client.send(b"first\n");
            client.wait_for_stdout("echo: first");
            client.send(b"half a li");
            let peer = peer_in(&server.wait_for("] recv: first"));
            client.child.kill().unwrap(); // SIGKILL
            let end = wait_for_session_end(&mut server, &peer, DEADLINE);
            let what = format!("{client_lang:?} client, {lang:?} {program}");
            assert_eq!(end, Some(format!("{peer}disconnected")), "{what}");
            // The client held the half line (no `\n` typed): it never went out.
            let session =
                [format!("{peer}connected"), format!("{peer}recv: first"), format!("{peer}disconnected")];
            assert_eq!(lines_of(&server, &peer), session, "{what}: the client sent its half line");
        }
        assert_still_serves(&mut server, "clients killed mid-line");
    }
}

/// Issue 4 "Faults": a client that resets the connection (SO_LINGER 0, so
/// close sends RST) right after sending, 20 times in a row. However the RST
/// races the echo, the session ends with an `error:` line (SPEC "Server
/// output") and the server goes on.
#[test]
fn fault_client_resets_right_after_sending() {
    let reset = libc::linger { l_onoff: 1, l_linger: 0 };
    for (lang, program) in every_server() {
        let mut server = Server::start(lang, program, &["-q"]);
        for _ in 0..20 {
            let mut stream = server.connect();
            let peer = peer_of(&stream);
            stream.write_all(b"line one\nline two\npart").unwrap();
            sys::setsockopt(stream.as_fd(), libc::SOL_SOCKET, libc::SO_LINGER, &reset).unwrap();
            drop(stream); // RST
            let end = wait_for_session_end(&mut server, &peer, DEADLINE).expect("the session ends");
            let event = &end[peer.len()..];
            assert!(
                event == "error: Connection reset by peer" || event == "error: Broken pipe",
                "{lang:?} {program}: {end}"
            );
        }
        assert_still_serves(&mut server, "20 resets");
    }
}

/// Issue 4 "Faults" and SPEC "The protocol" 7: a client that sends 8 MiB and
/// never reads. Its echo fills the socket buffers and the server's send
/// blocks; SO_SNDTIMEO (`-t 5`) ends that after 5 seconds with an `error:`
/// line and frees the thread (or ends the child). Meanwhile the threaded and
/// the forking server serve a fresh client, before that `error:` line;
/// `server_single` serves the waiting one right after. An event loop never
/// blocks: its send fails with EAGAIN, it stops reading that client (the
/// bytes pile up unread in the kernel), serves a fresh client, and its
/// deadline ends the hog with the same line.
///
/// Timing: the fresh client is allowed 2 s (an echo on loopback takes a
/// millisecond), and the hog's timeout is 5 s from its last progress, so
/// that what decides is "served while the hog is held": the log must not
/// show the hog's end before the fresh client's. Every server at once (each
/// waits out its 5 s), and alone in this file (the `heavy()` lock): the
/// other heavy tests' thousands of connections would eat the slack.
#[test]
fn fault_client_that_sends_8_mib_and_never_reads() {
    let _alone = heavy();
    for_every_server(|lang, program| {
        let mut server = Server::start(lang, program, &["-q", "-t", "5"]);
        let pid = server.pid();
        let baseline = Usage::of(pid);
        let model = programs::get(program);
        let hog = server.connect();
        let peer = peer_of(&hog);
        // The default buffers: a receive buffer grows only as the
        // application reads, so the echo backs up long before 8 MiB.
        // (Shrinking SO_RCVBUF after connect stalls the connection in
        // zero-window probes instead, and the server sees an idle client.)
        hog.set_write_timeout(Some(DEADLINE)).unwrap();
        let sender = thread::spawn(move || {
            // Ends with an error once the server closes (or completes into
            // the buffers); either way the echo is never read.
            let _ = (&hog).write_all(&vec![b'x'; 8 << 20]);
            hog
        });
        let timed_out = format!("{peer}error: Resource temporarily unavailable");
        // The hog's end: its send timeout runs from the send's last
        // progress, which a loaded machine puts later than the usual
        // deadline allows (seen under stress: no end line within 10 s, for
        // the Rust threaded and forking servers). That it ends, with this
        // line, is the check, not how soon.
        let wait_for_the_hogs_end = |server: &mut Server| {
            let end = server.wait_for_within(&timed_out, DEADLINE * 3);
            assert!(end.is_some(), "{lang:?} {program}: the hog never ended: {:?}", server.log);
        };
        let fresh_in_time = |server: &mut Server| {
            let took = assert_still_serves(server, "a client that never reads");
            assert!(took < Duration::from_secs(2), "{lang:?} {program}: the fresh client waited {took:?}");
            assert!(
                !server.log.contains(&timed_out),
                "{lang:?} {program}: served only once the hog was gone"
            );
        };
        // Every server stops reading the hog once its echo backs up (an
        // event loop asks for no POLLIN while an echo is unsent, SPEC
        // "server_poll"; the others block in send), so the client's bytes
        // wait unread in the server's socket, and their count stops moving
        // (it moves every millisecond while the server reads). A blocked
        // send alone is no sign: under load the send also blocks for a
        // moment, again and again, while the buffers are still filling.
        wait_stopped_reading(&format!("{lang:?} {program} stops reading the hog"), server.port);
        if model.is_event_loop() {
            fresh_in_time(&mut server);
            assert!(!blocked_in_send(pid), "{lang:?} {program}: an event loop must never block in send");
            wait_for_the_hogs_end(&mut server);
        } else if model.model != Model::Single {
            wait_until(&format!("{lang:?} {program} blocks in send"), || blocked_in_send(pid));
            fresh_in_time(&mut server);
            assert!(blocked_in_send(pid), "{lang:?} {program}: served while the other one is still blocked");
            wait_for_the_hogs_end(&mut server);
        } else {
            wait_until(&format!("{lang:?} {program} blocks in send"), || blocked_in_send(pid));
            let mut next = server.connect();
            // It waits for the hog's end first, as long as the others may
            // (the 5 s send timeout runs from the send's last progress: seen
            // past 15 s in a CI run beside the sanitizers): the order of the
            // log lines below is the check, not how soon it comes.
            next.set_read_timeout(Some(DEADLINE * 3)).unwrap();
            let next_peer = peer_of(&next);
            next.write_all(b"next\n").unwrap();
            let mut echo = [0; 5];
            next.read_exact(&mut echo).expect("served once the hog is dropped");
            assert_eq!(&echo, b"next\n");
            server.wait_for(&format!("{next_peer}connected"));
            let order: Vec<&String> =
                server.log.iter().filter(|l| l.starts_with(&peer) || l.starts_with(&next_peer)).collect();
            assert_eq!(order, [&format!("{peer}connected"), &timed_out, &format!("{next_peer}connected")]);
        }
        let hog = sender.join().expect("sender");
        drop(hog);
        assert!(!blocked_in_send(pid));
        baseline.wait_back(pid, DEADLINE);
        assert_still_serves(&mut server, "a client that never reads");
    });
}

/// Issue 4 "Faults" and SPEC "The protocol" 7, 10: 500 silent clients, each
/// closed by the idle timeout, while a fresh client is served; the server
/// gives back every thread, process and descriptor. Every server that serves
/// every client at once (programs.txt: not `server_single`, which would
/// serve one of the 500, nor prefork and pool, which serve N and keep the
/// rest in the backlog until a session ends: designs.rs checks that).
///
/// Timing: 500 connects one at a time, then the fresh client, must all come
/// before the first idle timeout; they take about 0.3 s (1 s for
/// server_fork's 500 processes) on a quiet machine. The servers run all at
/// once (each mostly waits for its timeouts), so `-t 10` leaves the loaded
/// 2-core machine ten times that, and the fresh client gets 2 s.
#[test]
fn fault_500_silent_clients_closed_by_the_idle_timeout() {
    let _serial = heavy();
    // 500 clients of each server at once, and their fresh ones.
    raise_nofile(8192);
    for_every_server_where(
        |p| p.serves_every_client_at_once(),
        |lang, program| {
            let mut server = Server::start(lang, program, &["-q", "-t", "10"]);
            let pid = server.pid();
            let baseline = Usage::of(pid);
            // One at a time, each seen accepted: a burst would overflow the
            // listen backlog (128) into SYN retransmits a second apart.
            let silent: Vec<TcpStream> = (0..500)
                .map(|_| {
                    let stream = server.connect();
                    server.wait_for(&format!("{}connected", peer_of(&stream)));
                    stream
                })
                .collect();
            let took = assert_still_serves(&mut server, "500 silent clients connected");
            assert!(took < Duration::from_secs(2), "{lang:?} {program}: the fresh client waited {took:?}");
            assert!(
                !server.log.iter().any(|l| l.contains("] idle for ")),
                "{lang:?} {program}: the fresh client was not served before the first idle timeout"
            );
            for mut stream in silent {
                // Closed at -t 10 from its connect: longer than connect()'s
                // read timeout (DEADLINE, 10 s) once 500 connects came first.
                stream.set_read_timeout(Some(DEADLINE + Duration::from_secs(10))).unwrap();
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).expect("closed by the server");
                assert!(rest.is_empty());
            }
            for _ in 0..500 {
                let end = wait_for_session_end(&mut server, "] ", DEADLINE).expect("an idle timeout");
                assert!(end.ends_with("] idle for 10 s, closing"), "{lang:?} {program}: {end}");
            }
            baseline.wait_back(pid, DEADLINE);
            assert_still_serves(&mut server, "500 idle timeouts");
        },
    );
}

/// Issue 4 "Faults": a flood of 1,000 connect-and-close from 4 threads. Each
/// is logged as a whole session (`connected`, `disconnected`), the server
/// gives back every thread and descriptor, and the next client is served.
#[test]
fn fault_flood_of_connect_and_close() {
    const FLOOD: usize = 1000;
    let _serial = heavy();
    for (lang, program) in every_server() {
        let mut server = Server::start(lang, program, &["-q"]);
        let pid = server.pid();
        let baseline = Usage::of(pid);
        let addr = server.addr();
        let failed: usize = thread::scope(|scope| {
            let floods: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(move || {
                        (0..FLOOD / 4)
                            .filter(|_| TcpStream::connect_timeout(&addr, DEADLINE).is_err())
                            .count()
                    })
                })
                .collect();
            floods.into_iter().map(|flood| flood.join().unwrap()).sum()
        });
        assert_eq!(failed, 0, "{lang:?} {program}: connects failed");
        for _ in 0..FLOOD {
            let end = wait_for_session_end(&mut server, "] ", DEADLINE).expect("every session ends");
            assert!(end.ends_with("] disconnected"), "{lang:?} {program}: {end}");
        }
        let connected = server.log.iter().filter(|l| l.ends_with("] connected")).count();
        assert_eq!(connected, FLOOD, "{lang:?} {program}");
        baseline.wait_back(pid, DEADLINE);
        assert_still_serves(&mut server, "a flood of connect-and-close");
    }
}

/// Issue 4 "Faults" and SPEC "Server output": SIGINT and SIGTERM with ten
/// clients connected (one of them mid-line; `server_single` serving one, the
/// others in its backlog; `server_fork` a child for each): `shutting down`,
/// exit 0 at once (under 3 s, less than the 5 s idle timeout a server that
/// waited for its clients would take), and every client sees its connection end.
#[test]
fn fault_shutdown_signal_with_clients_connected() {
    for (lang, program) in every_server() {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let what = format!("{lang:?} {program} {signal}");
            let mut server = Server::start(lang, program, &[]);
            let mut clients: Vec<TcpStream> = (0..10).map(|_| server.connect()).collect();
            clients[0].write_all(b"half a li").unwrap();
            let accepted = if programs::get(program).model == Model::Single { 1 } else { 10 };
            for _ in 0..accepted {
                server.wait_for("] connected");
            }
            let pid = server.pid();
            server.signal(signal);
            let took = wait_until(&format!("{what}: exit"), || exited(pid));
            let (status, log) = server.wait_exit();
            assert_eq!(status.code(), Some(0), "{what}");
            // Prompt: a server that waited for its silent clients would
            // take the idle timeout (5 s); 3 s is slack for a loaded machine.
            assert!(took < Duration::from_secs(3), "{what}: exit took {took:?}");
            assert_eq!(log.last().map(String::as_str), Some("shutting down"), "{what}");
            for client in &mut clients {
                let mut rest = Vec::new();
                match client.read_to_end(&mut rest) {
                    Ok(_) => assert!(rest.is_empty(), "{what}"),
                    Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{what}"),
                }
            }
        }
    }
}

/// Issue 4 "server_single" and SPEC "The servers": a silent first client
/// holds `server_single` only until its idle timeout; then the client waiting
/// in the backlog is served. The log shows the order.
#[test]
fn server_single_silent_first_client_holds_it_until_the_idle_timeout() {
    for (lang, program) in every_server_where(|p| p.model == Model::Single) {
        let mut server = Server::start(lang, program, &["-t", "1"]);
        let mut silent = server.connect();
        let silent_peer = peer_of(&silent);
        server.wait_for(&format!("{silent_peer}connected"));
        let start = Instant::now();
        let mut waiting = server.connect();
        let waiting_peer = peer_of(&waiting);
        waiting.write_all(b"waiting\n").unwrap();
        let mut echo = [0; 8];
        waiting.read_exact(&mut echo).expect("served after the idle timeout");
        let waited = start.elapsed();
        assert_eq!(&echo, b"waiting\n");
        assert!(waited > Duration::from_millis(800), "{lang:?}: served after {waited:?}, before the timeout");
        let mut rest = Vec::new();
        silent.read_to_end(&mut rest).expect("closed by the server");
        server.wait_for(&format!("{waiting_peer}recv: waiting"));
        let order: Vec<&String> = server
            .log
            .iter()
            .filter(|l| l.starts_with(&silent_peer) || l.starts_with(&waiting_peer))
            .collect();
        let want = [
            format!("{silent_peer}connected"),
            format!("{silent_peer}idle for 1 s, closing"),
            format!("{waiting_peer}connected"),
            format!("{waiting_peer}recv: waiting"),
        ];
        assert_eq!(order, want.iter().collect::<Vec<_>>(), "{lang:?}");
    }
}

/// A line of `len` bytes, `\n` included.
fn line_of(len: usize) -> Vec<u8> {
    let mut line = vec![b'y'; len - 1];
    line.push(b'\n');
    line
}

/// Issue 4 "Bad input" and SPEC "The protocol" 2, 3: hostile bytes come back
/// byte-exact from every server, nothing lost, whatever the lines look like.
#[test]
fn bad_input_is_echoed_byte_exact() {
    let mut nul_runs = vec![0u8; 3000];
    nul_runs.extend_from_slice(b"\n");
    nul_runs.extend_from_slice(&[0; 2000]);
    let ff_runs: Vec<u8> = nul_runs.iter().map(|&b| if b == 0 { 0xff } else { b }).collect();
    let cases: [(&str, Vec<u8>); 6] = [
        ("1 MiB without a newline", (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect()),
        ("100,000 tiny lines in one go", (0..100_000).flat_map(|i| format!("{i}\n").into_bytes()).collect()),
        ("only \\r", vec![b'\r'; 5000]),
        ("NUL runs", nul_runs),
        ("0xff runs", ff_runs),
        ("lines of 1023, 1024 and 1025 bytes", [line_of(1023), line_of(1024), line_of(1025)].concat()),
    ];
    for (lang, program) in every_server() {
        let mut server = Server::start(lang, program, &["-q"]);
        for (name, data) in &cases {
            let echoed = echo_concurrently(&server, data);
            assert_same_bytes(&echoed, data, &format!("{lang:?} {program}: {name}"));
            let end = wait_for_session_end(&mut server, "] ", DEADLINE);
            assert!(end.is_some_and(|l| l.ends_with("] disconnected")), "{lang:?} {program}: {name}");
        }
    }
}

/// SPEC "The protocol" 3 and "Server output": lines of 1023 and 1024 bytes
/// (`\n` included) fit the 1024-byte buffer and are logged whole; one of 1025
/// is logged as a 1024-byte piece and then its `\n` alone.
#[test]
fn bad_input_lines_around_the_buffer_size_are_logged_as_pieces() {
    let data = [line_of(1023), line_of(1024), line_of(1025)].concat();
    let want: Vec<String> =
        [1022, 1023, 1024, 0].iter().map(|&n| format!("recv: {}", "y".repeat(n))).collect();
    for (lang, program) in every_server() {
        let mut server = Server::start(lang, program, &[]);
        assert_same_bytes(&echo_concurrently(&server, &data), &data, &format!("{lang:?} {program}"));
        server.wait_for("] disconnected");
        let got: Vec<&str> = server
            .log
            .iter()
            .filter_map(|l| l.split_once("] ").map(|(_, e)| e))
            .filter(|e| e.starts_with("recv:"))
            .collect();
        assert_eq!(got, want, "{lang:?} {program}");
    }
}

/// Issue 4 "Bad input" through the clients (SPEC "Client behaviour"): `\r`,
/// NUL and 0xff bytes, lines around the buffer size, and a last line of
/// 1 MiB without `\n` (the client adds it) are sent, checked and printed
/// escaped, by both clients against `server` in both languages.
#[test]
fn bad_input_through_the_clients() {
    let big = vec![b'z'; 1 << 20];
    let input = [&b"\r\r\r\n\0\0\0\n\xff\xff\n"[..], &line_of(1024), &line_of(1025), &big].concat();
    for server_lang in LANGS {
        let server = Server::start(server_lang, "server", &["-q"]);
        for client_lang in LANGS {
            let out = run_client(client_lang, &[], server.port, &input);
            let what = format!("{client_lang:?} client, {server_lang:?} server");
            assert_eq!(out.code(), Some(0), "{what}: {}", out.stderr());
            let want = format!(
                "connected to 127.0.0.1:{}\necho: \\r\\r\\r\necho: \\x00\\x00\\x00\necho: \\xff\\xff\n\
                 echo: {}\necho: {}\necho: {}\nclosing connection\n",
                server.port,
                "y".repeat(1023),
                "y".repeat(1024),
                "z".repeat(1 << 20)
            );
            assert!(
                out.stdout() == want,
                "{what}: stdout differs ({} bytes, want {})",
                out.stdout.len(),
                want.len()
            );
        }
    }
}

/// Issue 4 "Bad input" and SPEC "Client behaviour" ("a line of any
/// length"): a client reads a 32 MiB line from stdin 1024 bytes at a time and
/// must not search the whole line again after each read (which made the C
/// client take 11.5 s to send it, and the first Rust one, byte by byte, far
/// longer). The line goes through a real server and back in about a second
/// now; the bound is five times that, wide enough for a loaded machine and
/// far below the quadratic time.
#[test]
fn bad_input_a_32_mib_line_is_read_in_linear_time() {
    const LEN: usize = 32 << 20;
    let line = [vec![b'w'; LEN - 1], vec![b'\n']].concat();
    for lang in LANGS {
        let mut server = Server::start(Lang::C, "server", &["-q"]);
        let start = Instant::now();
        let out = run_client(lang, &[], server.port, &line);
        let took = start.elapsed();
        assert_eq!(out.code(), Some(0), "{lang:?} client: {}", out.stderr());
        assert!(took < Duration::from_secs(5), "{lang:?} client took {took:?} for a 32 MiB line");
        let echo = out.stdout().lines().nth(1).map(str::len);
        assert_eq!(echo, Some("echo: ".len() + LEN - 1), "{lang:?} client");
        server.wait_for("] quit");
    }
}

/// Issue 4 "Bad input" and SPEC "Command line", the cases tests/behaviour.rs
/// does not try: exit 2, the usage on stderr, and the same bytes from the C
/// and the Rust twin. The client has no `-p`: its port is the operand after
/// HOST.
#[test]
fn bad_command_lines_exit_2_with_the_same_usage() {
    let server_cases: &[&[&str]] = &[
        &["-t", "99999"],
        &["-p", "abc", "-q"],
        &["-p", "-1"],
        &["-b", "::1x"],
        &["-q", "-t"],
        &["-t", "0"],
        &["-b", "::1::"],
    ];
    let client_cases: &[&[&str]] = &[
        &["-p", "abc"],
        &["127.0.0.1", "abc"],
        &["127.0.0.1", "-1"],
        &["127.0.0.1", "70000"],
        &["-t", "3601", "127.0.0.1"],
    ];
    let tcp = programs::all().iter().filter(|p| p.transport == programs::Transport::Tcp);
    let cases = tcp.flat_map(|p| {
        let cases = if p.is_client() { client_cases } else { server_cases };
        cases.iter().map(move |args| (p.name, *args))
    });
    for (program, args) in cases {
        let [c, rust] = LANGS.map(|lang| run_program(lang, program, args, b""));
        assert_eq!(c.code(), Some(2), "{program} {args:?}: {}", c.stderr());
        assert!(c.stderr().contains(&format!("\nusage: {program} [")), "{program} {args:?}: {}", c.stderr());
        assert_eq!(
            (rust.code(), rust.stderr(), rust.stdout()),
            (c.code(), c.stderr(), c.stdout()),
            "{program} {args:?}"
        );
    }
}

/// Issue 4 "Bad input" and SPEC "Errors and exit status": exit 1 with one
/// clear line, the same in both clients, for a host name that does not
/// resolve (a label of 64 bytes, longer than DNS allows, so the resolver
/// fails before it sends a query: nothing leaves the machine) and for a
/// server that vanishes mid-session. A server killed while the client waits
/// for its next line: the kernel closes the connection (FIN), the client
/// notices at once and says `server closed the connection` on stdout, as the
/// SPEC words it. A server killed with the client's line unread: the kernel
/// resets the connection, and the client waiting for the echo says
/// `client: recv: Connection reset by peer` on stderr.
#[test]
fn client_errors_exit_1_with_one_clear_line() {
    let host = format!("{}.invalid", "a".repeat(64));
    for lang in LANGS {
        let out = run_program(lang, "client", &[&host, "8080"], b"hello\n");
        assert_eq!(out.code(), Some(1), "{lang:?}");
        assert_eq!(out.stderr(), format!("client: resolve {host}: Name or service not known\n"), "{lang:?}");
        assert_eq!(out.stdout(), "", "{lang:?}");

        for server_lang in LANGS {
            let what = format!("{lang:?} client, {server_lang:?} server");
            let mut server = Server::start(server_lang, "server", &[]);
            let client = RunningClient::start(lang, &[], server.port);
            client.wait_for_stdout("connected to");
            server.wait_for("] connected");
            server.signal(Signal::SIGKILL);
            let out = client.wait_exit();
            let want = format!("connected to 127.0.0.1:{}\nserver closed the connection\n", server.port);
            assert_eq!((out.code(), out.stdout(), out.stderr()), (Some(1), want, String::new()), "{what}");

            let mut server = Server::start(server_lang, "server", &[]);
            let mut client = RunningClient::start(lang, &[], server.port);
            client.wait_for_stdout("connected to");
            server.wait_for("] connected");
            server.signal(Signal::SIGSTOP);
            wait_until(&format!("{what}: SIGSTOP takes effect"), || all_threads_stopped(server.pid()));
            client.send(b"never echoed\n");
            wait_until(&format!("{what}: the line reaches the server"), || {
                server_has_unread_bytes(server.port)
            });
            server.signal(Signal::SIGKILL);
            let out = client.wait_exit();
            let want = format!("connected to 127.0.0.1:{}\n", server.port);
            let reset = "client: recv: Connection reset by peer\n".to_string();
            assert_eq!((out.code(), out.stdout(), out.stderr()), (Some(1), want, reset), "{what}");
        }
    }
}

/// Issue 4 "make sanitize": the C servers under `valgrind --track-fds=yes`
/// through sessions that end each way (quit, EOF, reset, idle timeout), then
/// SIGTERM: at exit the only socket left open is the listening one. Valgrind
/// follows fork by itself: each `server_fork` child writes its own report
/// (`%p` in the log name), and a child exits with no socket open, having
/// closed the listening one and its connection. server_reuseport keeps one
/// listening socket per loop.
#[test]
fn valgrind_c_servers_leak_no_descriptors() {
    if !have("valgrind", "--version") {
        return;
    }
    let reset = libc::linger { l_onoff: 1, l_linger: 0 };
    for program in servers() {
        let logs = scratch(&format!("valgrind-{program}"));
        let mut command = Command::new("valgrind");
        command
            .arg("--track-fds=yes")
            .arg(format!("--log-file={}/%p.log", logs.display()))
            .arg(root().join("build/c").join(program)) // not a sanitizer build
            .args(["-b", "127.0.0.1", "-p", "0", "-t", "1"]);
        // Two workers where the design has N: server_reuseport's two loops
        // each keep a listening socket on the one port to the end.
        let counted = programs::get(program).takes_count();
        if counted {
            command.args(["-n", "2"]);
        }
        let listeners = if programs::get(program).model == Model::Reuseport { 2 } else { 1 };
        let mut server = Server::start_command(Lang::C, program, command);
        let pid = server.pid(); // valgrind runs the program in its own process
        let baseline = Usage::of(pid);

        let out = run_client(Lang::C, &[], server.port, b"one\ntwo\n");
        assert_eq!(out.code(), Some(0), "{}", out.stderr());
        server.wait_for("] quit");
        assert_eq!(exchange(&server, b"eof\n"), b"eof\n");
        server.wait_for("] disconnected");
        let stream = server.connect();
        let peer = peer_of(&stream);
        sys::setsockopt(stream.as_fd(), libc::SOL_SOCKET, libc::SO_LINGER, &reset).unwrap();
        (&stream).write_all(b"reset\n").unwrap();
        drop(stream);
        assert!(wait_for_session_end(&mut server, &peer, DEADLINE).is_some());
        let _silent = server.connect();
        server.wait_for("] idle for 1 s, closing");
        // The log line comes just before close(2): let every session finish.
        baseline.wait_back(pid, DEADLINE);

        let port = server.port;
        let (status, _) = server.stop();
        assert!(status.success(), "{program} under valgrind: {status}");
        let mut children = 0;
        for entry in std::fs::read_dir(&logs).unwrap() {
            let path = entry.unwrap().path();
            let report = std::fs::read_to_string(&path).expect("valgrind log");
            let of_server = path.file_stem() == Some(pid.to_string().as_ref());
            // A prefork child serves until its server ends it with a signal,
            // and a process ended by a signal writes no descriptor report:
            // only the server's own is read (its children hold the
            // listening socket on purpose; designs.rs checks they end).
            if !of_server && !programs::get(program).forks_per_client() {
                continue;
            }
            assert!(report.contains("FILE DESCRIPTORS: "), "{program}: no descriptor report:\n{report}");
            let sockets: Vec<&str> = report.lines().filter(|l| l.contains("Open AF_INET socket")).collect();
            if of_server {
                assert_eq!(sockets.len(), listeners, "{program}: sockets open at exit:\n{report}");
                assert!(
                    sockets.iter().all(|s| s.ends_with(&format!("127.0.0.1:{port} <-> unbound"))),
                    "{program}: {report}"
                );
            } else {
                children += 1;
                assert_eq!(
                    sockets,
                    Vec::<&str>::new(),
                    "{program}: a child's sockets open at exit:\n{report}"
                );
            }
        }
        let sessions = if programs::get(program).forks_per_client() { 4 } else { 0 };
        assert_eq!(children, sessions, "{program}: a report from each child process, and only from those");
        let _ = std::fs::remove_dir_all(&logs);
    }
}
