//! server: TCP echo server, one thread per client.
//!
//! The Rust twin of `c-reference/server.c`. Everything but how a connection
//! is served is shared with `server_single.rs` through the library
//! (`run_server`, the C `main`; the echo loop `serve_client`); the C calls are
//! in `src/sys.rs`. What a thread per client adds is this file.

use std::os::fd::AsFd;
use std::thread;

use sockets::sys::strerror;
use sockets::{errno_of, run_server, serve_client, THREAD_STACK_SIZE};

const PROG: &str = "server";

fn main() {
    run_server(PROG, "thread per client", |fd, peer, opt| {
        // step: thread
        // The thread owns its copy of fd, peer and the options (moved into
        // the closure): the next accept cannot overwrite them. fd is closed
        // when the closure ends, or at once if the thread cannot be started.
        let opt = *opt;
        let thread_peer = peer.clone();
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || serve_client(fd.as_fd(), &thread_peer, &opt));
        if let Err(err) = spawned {
            // EAGAIN (too many threads): lose this one connection, not the server.
            println!("[{peer}] error: {}", strerror(errno_of(&err)));
        }
        // step: close
        // fd was moved into the thread's closure: dropping it there, when
        // serve_client returns, is close(2).
    })
}
