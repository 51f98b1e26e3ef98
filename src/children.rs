//! What the forking servers share (`server_fork`, `server_prefork`): the
//! list of their children, the shutdown that ends them, and the log that
//! keeps every child's lines whole (a SOCK_SEQPACKET socketpair and a relay
//! thread). The C files each carry their own copy (`server_fork.c`,
//! `server_prefork.c`), under the same names.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

use libc::pid_t;

use crate::sys;
use crate::{errno_of, Failure};

/// The relay's buffer: more than the longest log line (a piece escaped, 4096
/// bytes), as the C's stdout buffer of the same name.
const STDOUT_SIZE: usize = 8192;

/// SIGINT and SIGTERM end the server and its children, SIGCHLD reaps them:
/// what a forking server's signal thread takes.
pub const CHILDREN_SIGNALS: &[i32] = &[libc::SIGINT, libc::SIGTERM, libc::SIGCHLD];

/// SIGINT, SIGTERM and SIGCHLD: blocked in the server, taken by the signal
/// thread (a child unblocks them).
pub fn server_signals() -> sys::sigset_t {
    sys::sigset(CHILDREN_SIGNALS)
}

/// The server's children by PID, the ones not reaped yet: what it ends at
/// shutdown. `main` adds a child (fork), the signal thread removes it
/// (reap), both with the lock held. A PID stays in the list until waitpid
/// has reaped it, and until then the kernel keeps it for the child (a zombie
/// if it has exited): kill never reaches a stranger that got the PID later.
pub static CHILDREN: Mutex<Vec<pid_t>> = Mutex::new(Vec::new());

pub fn lock_children() -> MutexGuard<'static, Vec<pid_t>> {
    // Poisoned only if a thread panicked with the lock held; the list is
    // still whole (no step leaves it half-changed).
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
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

pub fn children_log() -> BorrowedFd<'static> {
    CHILDREN_LOG.get().expect("open_log runs before the first fork and the signal thread").as_fd()
}

/// Ends every child, waits for each, then ends the log: the relay writes
/// the lines still queued, then `shutting down`, and ends the server. The
/// `CHILDREN` lock stays held, for good: main cannot fork again. No signal
/// can interrupt waitpid here (EINTR): every signal the server takes is
/// blocked and has no handler. Each child is waited for by its PID, not
/// waitpid(-1) until ECHILD: a process may have children it did not fork
/// (`./server_fork > >(tee log)`: bash forks tee, then execs the server in
/// that child), and tee ends only when the server's stdout closes, after this.
pub fn shut_down(children: &[pid_t]) -> ! {
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

/// The signal thread of a forking server: SIGCHLD reaps (and, in
/// server_prefork, replaces) the children with `reap`, SIGINT or SIGTERM
/// ends them all and the server; all of it with the `CHILDREN` lock held.
pub fn handle_signals(signals: sys::sigset_t, reap: fn(&mut Vec<pid_t>)) -> ! {
    loop {
        let signal = sys::sigwait(&signals);
        let mut children = lock_children();
        // sigwait fails only for a bad set; either way the server stops.
        if signal != Ok(libc::SIGCHLD) {
            shut_down(&children);
        }
        reap(&mut children);
    }
}

/// What the relay reads and where it writes: the log socket's other end,
/// and the real stdout.
pub struct Relay {
    relay_end: OwnedFd,
    stdout: File,
}

/// The log's socketpair (see [`CHILDREN_LOG`]), made the server's stdout;
/// before the signal thread, which ends the log. Returns the relay's ends.
pub fn open_log() -> Result<Relay, Failure> {
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
fn relay_log(prog: &'static str, mut relay: Relay) -> ! {
    let mut line = [0u8; STDOUT_SIZE];
    // step: relay
    loop {
        match sys::read(relay.relay_end.as_fd(), &mut line) {
            Ok(0) => break,
            Ok(n) => drop(relay.stdout.write_all(&line[..n])),
            Err(err) => Failure::new("read", err).exit(prog),
        }
    }
    let _ = relay.stdout.write_all(b"shutting down\n");
    std::process::exit(0);
}

/// After `start_signal_thread`: the relay inherits its blocked signals.
/// (So server_fork starts up in its own `main`, not the library's
/// `start_server`: the log comes before the signal thread, the relay after.)
pub fn start_log_relay(prog: &'static str, relay: Relay) -> Result<(), Failure> {
    // step: relay thread
    // std::thread::spawn is pthread_create underneath; the C names the call.
    thread::Builder::new()
        .spawn(move || relay_log(prog, relay))
        .map_err(|e| Failure::new("pthread_create", errno_of(&e)))?;
    Ok(())
}
