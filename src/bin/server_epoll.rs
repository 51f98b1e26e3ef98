//! server_epoll: TCP echo server, every client in one thread with epoll(7).
//!
//! The Rust twin of `c-reference/server_epoll.c`: `server_poll` with the set
//! of watched sockets kept in the kernel. poll(2) is handed every socket on
//! every call; here epoll_ctl(2) tells the kernel once when a socket comes,
//! goes, or changes what it waits for, and epoll_wait(2) returns only the
//! sockets that are ready. So that nothing else visits every client either,
//! the idle deadlines are kept in lists in the order they fall due: all
//! clients share one idle timeout, so a client that makes progress moves to
//! the tail of its list and the nearest deadline is always at the head
//! (libev's technique for many identical timeouts). The loop is the
//! library's (`epoll_loop`, shared with `server_reuseport`, which runs one
//! per thread), the client and the step that moves it on too (`event_loop`,
//! shared with `server_poll`), and so is the start-up (`start_server`): this
//! file is the story of `main`. The C calls are in `src/sys.rs`.

use std::os::fd::AsFd;

use sockets::epoll_loop::{open_loop, run_loop};
use sockets::{print_listening, start_server, SHUTDOWN_THREAD};

const PROG: &str = "server_epoll";

fn main() {
    let (opt, listener, listen_addr) = start_server(PROG, SHUTDOWN_THREAD);
    let epfd = open_loop(listener.as_fd()).unwrap_or_else(|failure| failure.exit(PROG));
    print_listening(&listen_addr, "epoll loop", &opt);
    run_loop(PROG, listener.as_fd(), epfd, &opt)
}
