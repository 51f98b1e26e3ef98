//! server_fork: TCP echo server, one process per client.
//!
//! The Rust twin of `c-reference/server_fork.c`. After accept the server
//! forks: the child serves the client and exits, the parent goes back to
//! accept. The listening socket, the accept and the echo loop come from the
//! library, as in `server.rs`; the C calls are in `src/sys.rs`. What a
//! process per client adds is this file: the fork, a close in each process,
//! the reaping, and a shutdown that ends the children first. It has its own
//! `main` (the C `main`, translated) because the child must close the
//! listening socket and the signal thread does more than in `server.rs`.
//!
//! Every log line reaches stdout through one thread of the parent: the
//! server's stdout, the parent's and every child's, is a socket that keeps
//! each write(2) one message, and the relay thread writes each message to
//! the real stdout (see [`CHILDREN_LOG`]).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

use libc::pid_t;
use nix::errno::Errno;
use sockets::sys::{self, strerror};
use sockets::{
    args, errno_of, next_client, open_listener, parse_server_options, print_listening, serve_client,
    start_signal_thread, Failure, ServerOptions, SignalThread,
};

const PROG: &str = "server_fork";
/// The relay's buffer: more than the longest log line (a piece escaped, 4096
/// bytes), as the C's stdout buffer of the same name.
const STDOUT_SIZE: usize = 8192;

/// The server's children by PID, the ones not reaped yet: what it ends at
/// shutdown. `main` adds a child (fork), the signal thread removes it
/// (reap), both with the lock held. A PID stays in the list until waitpid
/// has reaped it, and until then the kernel keeps it for the child (a zombie
/// if it has exited): kill never reaches a stranger that got the PID later.
static CHILDREN: Mutex<Vec<pid_t>> = Mutex::new(Vec::new());

fn lock_children() -> MutexGuard<'static, Vec<pid_t>> {
    // Poisoned only if a thread panicked with the lock held; the list is
    // still whole (no step leaves it half-changed).
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// SIGINT, SIGTERM and SIGCHLD: blocked in the server, taken by the signal
/// thread.
fn server_signals() -> sys::sigset_t {
    sys::sigset(SIGNAL_THREAD.signals)
}

/// The log. The children share the parent's stdout, and one write(2) of a
/// line is not enough to keep it whole there: a pipe takes a write whole
/// only up to PIPE_BUF (4096 bytes), a `recv:` line of 1024 undisplayable
/// bytes is 4,117, and when the pipe is full a longer write goes in parts,
/// with another child's line between them. A lock shared by the processes,
/// held around each write, would keep the lines apart, but not whole: a
/// child killed while it waits, its line half written into a full pipe,
/// leaves the half there. So no child writes stdout. The server's stdout (fd
/// 1, which the children inherit) is one end of a socketpair of type
/// SOCK_SEQPACKET, which keeps message boundaries: each write(2) is one
/// message, queued whole or not at all (a child killed while it waits for
/// room queues nothing), and each read(2) takes one message. One thread of
/// the parent, the relay, reads the other end and copies each message to the
/// real stdout: one writer, at any line length, pipe, file or terminal. The
/// parent's own lines (`connected`) take the same way, so the log keeps the
/// order of the events: a session's `quit`, written by its child before it
/// closes the connection, comes before the `connected` of a client that came
/// after. This is fd 1's socket, and what `shut_down` ends the log on; the
/// other end and the real stdout belong to the relay thread.
static CHILDREN_LOG: OnceLock<OwnedFd> = OnceLock::new();

fn children_log() -> BorrowedFd<'static> {
    CHILDREN_LOG.get().expect("open_log runs before the first fork and the signal thread").as_fd()
}

/// The child: a copy of the server made by fork, with one thread, the one
/// that called fork (main); the signal thread is not copied. It serves its
/// client and exits; it never goes back to accept. The signal thread and
/// the relay are not copied.
///
/// In the child of a process with threads POSIX allows only
/// async-signal-safe calls (recv, send, close, _exit, ...), because a lock
/// that another thread held at the fork stays locked in the child, with no
/// thread left to unlock it. `serve_client` also prints with `println!`
/// (stdout's lock) and allocates (`escape`, `strerror`: malloc's locks);
/// that is safe here because at the fork the other threads hold no lock:
/// main forks with the `CHILDREN` lock held, and it is the only thread that
/// prints; the signal thread does all its work with the `CHILDREN` lock, so
/// it is in sigwait or waiting for that lock; the relay takes no lock, it
/// reads and writes with read(2) and write(2). (Their start-up may still be
/// allocating at the first fork: glibc's fork takes malloc's locks around the
/// fork and resets them in the child. Nothing resets Rust's stdout lock.)
fn serve_in_child(listener: OwnedFd, fd: OwnedFd, peer: &str, opt: &ServerOptions, server_pid: pid_t) -> ! {
    // step: child
    // The listening socket is the parent's business.
    drop(listener);
    // If the server dies, even by SIGKILL, the kernel sends this child SIGKILL.
    // If it died before that was asked, this child's parent is already another.
    if sys::prctl_set_pdeathsig(libc::SIGKILL).is_err() || sys::getppid() != server_pid {
        sys::_exit(1);
    }
    // As any program: Ctrl-C (sent to the whole process group) or kill ends it.
    let _ = sys::unblock_signals(&server_signals());

    serve_client(fd.as_fd(), peer, opt);
    // step: close
    drop(fd);
    // _exit: stdout holds nothing (every line went out whole), and nothing
    // of the parent's that runs at exit has anything to do in the child.
    sys::_exit(0);
}

/// Reaps every child that has exited. One SIGCHLD may stand for several
/// exits (a pending signal is not counted), so waitpid until none is left to
/// reap: 0 (the others still run) or ECHILD (no child at all).
fn reap_children(children: &mut Vec<pid_t>) {
    // step: reap
    while let Ok(pid @ 1..) = sys::waitpid(-1, libc::WNOHANG) {
        if let Some(i) = children.iter().position(|&child| child == pid) {
            children.swap_remove(i);
        }
    }
}

/// Ends every child, waits for each, then ends the log: the relay writes
/// the lines still queued, then `shutting down`, and ends the server. The
/// `CHILDREN` lock stays held, for good: main cannot fork again. No signal
/// can interrupt waitpid here (EINTR): every signal the server takes is
/// blocked and has no handler. Each child is waited for by its PID, not
/// waitpid(-1) until ECHILD: a process may have children it did not fork
/// (`./server_fork > >(tee log)`: bash forks tee, then execs the server in
/// that child), and tee ends only when the server's stdout closes, after this.
fn shut_down(children: &[pid_t]) -> ! {
    // step: kill
    // SIGKILL: a child has nothing to clean up (the kernel closes its socket
    // either way), and no child can block, ignore or, stopped, hold it off.
    for &pid in children {
        let _ = sys::kill(pid, libc::SIGKILL);
    }
    for &pid in children {
        let _ = sys::waitpid(pid, 0);
    }
    // step: end log
    // Every child's lines are queued (the children are gone): an empty
    // message after them, for which the relay's read returns 0, as at the
    // end of a stream. Not shutdown(SHUT_WR): main may still print a
    // `connected`, and a write to a shut socket raises SIGPIPE.
    let _ = sys::send(children_log(), b"", libc::MSG_NOSIGNAL);
    loop {
        sys::pause(); // the relay ends the server
    }
}

fn wait_for_signals(signals: sys::sigset_t) -> ! {
    loop {
        let signal = sys::sigwait(&signals);
        let mut children = lock_children();
        // sigwait fails only for a bad set; either way the server stops.
        if signal != Ok(libc::SIGCHLD) {
            shut_down(&children);
        }
        reap_children(&mut children);
    }
}

// step: signal thread
/// SIGINT and SIGTERM end the server and its children, SIGCHLD reaps them:
/// taken by one thread with sigwait, started by the library's
/// `start_signal_thread` as in every server.
const SIGNAL_THREAD: SignalThread =
    SignalThread { signals: &[libc::SIGINT, libc::SIGTERM, libc::SIGCHLD], run: wait_for_signals };

/// What the relay reads and where it writes: the log socket's other end,
/// and the real stdout.
struct Relay {
    relay_end: OwnedFd,
    stdout: File,
}

/// The log's socketpair (see [`CHILDREN_LOG`]), made the server's stdout;
/// before the signal thread, which ends the log. Returns the relay's ends.
fn open_log() -> Result<Relay, Failure> {
    // step: log socket
    // The real stdout first: with fd 1 closed, socketpair could take it.
    let stdout = sys::dup(io::stdout().as_fd()).map_err(|e| Failure::new("dup stdout", e))?;
    let (children_end, relay_end) =
        sys::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0).map_err(|e| Failure::new("socketpair", e))?;
    // Every line printed from here on, by main or a child, is one message to
    // the relay (the library prints each line with one write(2)).
    sys::dup2(children_end.as_fd(), libc::STDOUT_FILENO).map_err(|e| Failure::new("dup2", e))?;
    let _ = CHILDREN_LOG.set(children_end);
    Ok(Relay { relay_end, stdout: File::from(stdout) })
}

/// The relay: each line, one message, to the real stdout, until `shut_down`
/// ends the log; the only writer there, one write(2) per line (and the rest
/// of it after a short one: `write_all`). An error writing stdout is not the
/// relay's to report: a closed pipe raises SIGPIPE, which ends the server,
/// as any other.
fn relay_log(mut relay: Relay) -> ! {
    let mut line = [0u8; STDOUT_SIZE];
    // step: relay
    loop {
        match sys::read(relay.relay_end.as_fd(), &mut line) {
            Ok(0) => break,
            Ok(n) => drop(relay.stdout.write_all(&line[..n])),
            Err(err) => Failure::new("read", err).exit(PROG),
        }
    }
    let _ = relay.stdout.write_all(b"shutting down\n");
    std::process::exit(0);
}

/// After `start_signal_thread`: the relay inherits its blocked signals.
/// (So server_fork starts up in its own `main`, not the library's
/// `start_server`: the log comes before the signal thread, the relay after.)
fn start_log_relay(relay: Relay) -> Result<(), Failure> {
    // step: relay thread
    // std::thread::spawn is pthread_create underneath; the C names the call.
    thread::Builder::new()
        .spawn(move || relay_log(relay))
        .map_err(|e| Failure::new("pthread_create", errno_of(&e)))?;
    Ok(())
}

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(PROG, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's
    // setvbuf); the library writes each log line with one write(2).

    let relay = open_log().unwrap_or_else(|failure| failure.exit(PROG));
    start_signal_thread(SIGNAL_THREAD).unwrap_or_else(|failure| failure.exit(PROG));
    start_log_relay(relay).unwrap_or_else(|failure| failure.exit(PROG));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    print_listening(&listen_addr, "process per client", &opt);
    let server_pid = sys::getpid();

    loop {
        let (fd, peer) = next_client(PROG, listener.as_fd(), opt.idle_timeout);

        // step: fork
        // With the lock held: the child's PID is in the list before the
        // signal thread can reap it, and that thread holds no other lock.
        let mut children = lock_children();
        let forked = children.try_reserve(1).map_err(|_| Errno::ENOMEM).and_then(|()| sys::fork());
        if let Ok(pid @ 1..) = forked {
            children.push(pid); // room reserved: no allocation after the fork
        }
        drop(children);
        match forked {
            Ok(0) => serve_in_child(listener, fd, &peer, &opt, server_pid),
            Ok(_) => {}
            // EAGAIN (too many processes): lose this one connection, not the server.
            Err(err) => println!("[{peer}] error: {}", strerror(err)),
        }
        // step: parent close
        // The child has its own descriptor for the connection: the parent's
        // goes, and the connection stays open until the child closes its own.
        drop(fd);
    }
}
