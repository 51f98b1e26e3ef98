//! server_prefork: TCP echo server, N processes forked before any client.
//!
//! The Rust twin of `c-reference/server_prefork.c`. Before any client the
//! server forks N children (`-n`, default 16), as UNP ch. 30's serv02 and
//! Apache's prefork: each blocks in accept(2) on the listening socket they
//! all inherited and serves one client at a time with `server_single`'s
//! echo loop (the library's `next_client` and `serve_client`), so no process
//! is forked per client. The parent only watches: a child that dies is
//! replaced at once (and logged), SIGINT or SIGTERM end every child and then
//! the server. The children's list, the shutdown and the log relay are
//! `server_fork`'s (the library's `children`); the C calls are in
//! `src/sys.rs`.
//!
//! No accept lock: Linux wakes one blocked accept per connection (see the
//! C file's comment and docs for the measurement).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use libc::pid_t;
use nix::errno::Errno;
use sockets::children::{
    handle_signals, lock_children, open_log, server_signals, start_log_relay, CHILDREN_SIGNALS,
};
use sockets::sys::{self, strerror};
use sockets::{
    args, next_client, open_listener, parse_counted_server_options, print_listening, serve_client,
    start_signal_thread, Failure, ServerOptions, SignalThread,
};

const PROG: &str = "server_prefork";
/// -n's default: 16 children, each serving one client at a time.
const DEFAULT_COUNT: u32 = 16;

/// What a child needs to serve, set by main before the first fork: the
/// signal thread forks the children that replace the dead ones.
struct Serving {
    listener: OwnedFd,
    opt: ServerOptions,
    server_pid: pid_t,
}

static SERVING: OnceLock<Serving> = OnceLock::new();

/// The child: a copy of the server made by fork, with one thread, the one
/// that called fork (main, or the signal thread for a replacement); the
/// others are not copied. It serves one client after another, each to its
/// end, as `server_single`'s main loop does, until it is killed; it never
/// returns.
///
/// In the child of a process with threads POSIX allows only
/// async-signal-safe calls, because a lock that another thread held at the
/// fork stays locked in the child. `serve_client` prints (stdout's lock)
/// and allocates (malloc's locks); that is safe here because at the fork
/// the other threads hold no lock: a fork is made with the `CHILDREN` lock
/// held, by main (which then only waits in pause) or by the signal thread
/// (which does all its work with that lock); the relay takes no lock.
fn serve_in_child(serving: &Serving) -> ! {
    // step: child
    // If the server dies, even by SIGKILL, the kernel sends this child SIGKILL.
    // If it died before that was asked, this child's parent is already another.
    if sys::prctl_set_pdeathsig(libc::SIGKILL).is_err() || sys::getppid() != serving.server_pid {
        sys::_exit(1);
    }
    // As any program: Ctrl-C (sent to the whole process group) or kill ends it.
    let _ = sys::unblock_signals(&server_signals());

    loop {
        // Every child blocks here, in accept on the one listening socket.
        let (fd, peer) = next_client(PROG, serving.listener.as_fd(), serving.opt.idle_timeout);
        // Serve this client to the end; the next one waits in the backlog
        // (or in another child's accept).
        serve_client(fd.as_fd(), &peer, &serving.opt);
        // step: close
        drop(fd);
    }
}

/// One more child, its PID in `children`; the errno if it cannot be forked.
/// With the `CHILDREN` lock held: the PID is in the list before the signal
/// thread can reap it.
fn fork_child(children: &mut Vec<pid_t>) -> Result<pid_t, Errno> {
    // step: fork
    let serving = SERVING.get().expect("main sets SERVING before the first fork");
    let pid = children.try_reserve(1).map_err(|_| Errno::ENOMEM).and_then(|()| sys::fork())?;
    if pid == 0 {
        serve_in_child(serving);
    }
    children.push(pid); // room reserved: no allocation after the fork
    Ok(pid)
}

/// Reaps every child that has exited and forks one in its place, so that N
/// children wait in accept; logged: which child, how it ended, which one
/// replaced it. One SIGCHLD may stand for several exits (a pending signal
/// is not counted), so waitpid until none is left to reap.
fn reap_children(children: &mut Vec<pid_t>) {
    // step: reap
    while let Ok((pid @ 1.., status)) = sys::waitpid_status(-1, libc::WNOHANG) {
        let Some(i) = children.iter().position(|&child| child == pid) else {
            continue; // not one of the server's (a process it did not fork)
        };
        children.swap_remove(i);
        let how = if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exited with status {}", libc::WEXITSTATUS(status))
        };
        match fork_child(children) {
            Ok(replacement) => println!("child {pid} {how}, replaced by {replacement}"),
            Err(err) => println!("child {pid} {how}, not replaced: {}", strerror(err)),
        }
    }
}

fn wait_for_signals(signals: sys::sigset_t) -> ! {
    handle_signals(signals, reap_children)
}

// step: signal thread
/// SIGINT and SIGTERM end the server and its children, SIGCHLD reaps and
/// replaces them: taken by one thread with sigwait, as in `server_fork`.
const SIGNAL_THREAD: SignalThread = SignalThread { signals: CHILDREN_SIGNALS, run: wait_for_signals };

fn main() {
    sys::restore_default_sigpipe();
    let (opt, count) = parse_counted_server_options(PROG, &args(), DEFAULT_COUNT);
    // Rust's stdout is line-buffered already, also into a pipe (the C's
    // setvbuf); the library writes each log line with one write(2).

    let relay = open_log().unwrap_or_else(|failure| failure.exit(PROG));
    start_signal_thread(SIGNAL_THREAD).unwrap_or_else(|failure| failure.exit(PROG));
    start_log_relay(PROG, relay).unwrap_or_else(|failure| failure.exit(PROG));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    let _ = SERVING.set(Serving { listener, opt, server_pid: sys::getpid() });

    // step: prefork
    // Every child before any client: the listening socket is open, so a
    // client that comes now waits in the backlog for the first child's accept.
    let mut children = lock_children();
    for _ in 0..count {
        if let Err(err) = fork_child(&mut children) {
            Failure::new("fork", err).exit(PROG);
        }
    }
    drop(children);

    print_listening(&listen_addr, &format!("{count} prefork processes"), &opt);
    // The children serve; the signal thread replaces them and ends them.
    loop {
        sys::pause();
    }
}
