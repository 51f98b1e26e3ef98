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
//! the real stdout (see `CHILDREN_LOG` in the library's `children`, which
//! `server_prefork` shares).

use std::os::fd::{AsFd, OwnedFd};

use libc::pid_t;
use nix::errno::Errno;
use sockets::children::{
    handle_signals, lock_children, open_log, server_signals, start_log_relay, CHILDREN_SIGNALS,
};
use sockets::sys::{self, strerror};
use sockets::{
    args, next_client, open_listener, parse_server_options, print_listening, serve_client,
    start_signal_thread, ServerOptions, SignalThread,
};

const PROG: &str = "server_fork";

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

fn wait_for_signals(signals: sys::sigset_t) -> ! {
    handle_signals(signals, reap_children)
}

// step: signal thread
/// SIGINT and SIGTERM end the server and its children, SIGCHLD reaps them:
/// taken by one thread with sigwait, started by the library's
/// `start_signal_thread` as in every server.
const SIGNAL_THREAD: SignalThread = SignalThread { signals: CHILDREN_SIGNALS, run: wait_for_signals };

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(PROG, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's
    // setvbuf); the library writes each log line with one write(2).

    let relay = open_log().unwrap_or_else(|failure| failure.exit(PROG));
    start_signal_thread(SIGNAL_THREAD).unwrap_or_else(|failure| failure.exit(PROG));
    start_log_relay(PROG, relay).unwrap_or_else(|failure| failure.exit(PROG));

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
