//! server_reuseport: TCP echo server, N epoll loops on one port (SO_REUSEPORT).
//!
//! The Rust twin of `c-reference/server_reuseport.c`: `server_epoll` once
//! per core. N threads (`-n`, default the number of online CPUs), each with
//! its own listening socket and its own epoll loop, as nginx does with
//! `listen ... reuseport`. Every socket sets SO_REUSEPORT before bind
//! (Linux 3.9), so all N bind the same address and port, and the kernel
//! spreads the new connections over them (by a hash of the client's address
//! and port): each connection belongs to one loop from its accept to its
//! close, and the loops share nothing but stdout. One epoll loop is one core
//! at most; N of them use N. The loop is `server_epoll`'s, the library's
//! `epoll_loop` (no copy), as Redis runs one `aeMain` per event loop; this
//! file opens the sockets and starts the threads. The C calls are in
//! `src/sys.rs`.

use std::os::fd::{AsFd, OwnedFd};
use std::thread;

use sockets::epoll_loop::{open_loop, run_loop};
use sockets::sys;
use sockets::{
    args, errno_of, open_listener_at, parse_counted_server_options, print_listening, start_signal_thread,
    Failure, ServerOptions, SHUTDOWN_THREAD,
};

const PROG: &str = "server_reuseport";

/// -n's default: a loop per online CPU (at least 1, at most 1024).
fn default_count() -> u32 {
    let cpus = sys::sysconf(libc::_SC_NPROCESSORS_ONLN);
    cpus.clamp(1, sockets::cli::MAX_COUNT.into()) as u32
}

/// One loop: its listening socket and its epoll instance.
struct Loop {
    listener: OwnedFd,
    epfd: OwnedFd,
}

fn run(lp: Loop, opt: &ServerOptions) -> ! {
    run_loop(PROG, lp.listener.as_fd(), lp.epfd, opt)
}

fn main() {
    sys::restore_default_sigpipe();
    let (opt, count) = parse_counted_server_options(PROG, &args(), default_count());
    // Rust's stdout is line-buffered already, also into a pipe (the C's
    // setvbuf); the library writes each log line with one write(2).

    start_signal_thread(SHUTDOWN_THREAD).unwrap_or_else(|failure| failure.exit(PROG));

    // step: listeners
    // Every socket and its loop before the listening line, so that an error
    // (bind: Address already in use) comes before it. With -p 0 the first
    // socket gets the kernel's port, and the others bind that one:
    // listen_addr holds it from the first on.
    let mut loops = Vec::with_capacity(count as usize);
    let mut listen_addr = opt.bind_addr;
    for _ in 0..count {
        let (listener, addr) =
            open_listener_at(listen_addr, true).unwrap_or_else(|failure| failure.exit(PROG));
        listen_addr = addr;
        let epfd = open_loop(listener.as_fd()).unwrap_or_else(|failure| failure.exit(PROG));
        loops.push(Loop { listener, epfd });
    }

    // step: loop threads
    // A thread for each loop but the first, which main runs; all of them
    // before the listening line, which says the server is ready.
    let mut loops = loops.into_iter();
    let first = loops.next().expect("-n is at least 1");
    for lp in loops {
        // std::thread::spawn is pthread_create underneath; the C names the call.
        thread::Builder::new()
            .spawn(move || run(lp, &opt))
            .map_err(|e| Failure::new("pthread_create", errno_of(&e)))
            .unwrap_or_else(|failure| failure.exit(PROG));
    }

    print_listening(&listen_addr, &format!("{count} epoll loops, SO_REUSEPORT"), &opt);
    run(first, &opt)
}
