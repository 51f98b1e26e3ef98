//! server: TCP echo server, one thread per client.
//!
//! The Rust twin of `c-reference/server.c`, step for step; `server_single.rs`
//! is the same program without the thread. The echo loop and the other shared
//! steps are in the library (`src/lib.rs`), the C calls in `src/sys.rs`.

use std::os::fd::AsFd;
use std::thread;

use sockets::sys::{self, strerror};
use sockets::{
    accept_client, args, configure_client, errno_of, format_addr, open_listener, parse_server_options,
    serve_client, start_shutdown_thread, THREAD_STACK_SIZE,
};

const PROG: &str = "server";

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(PROG, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    start_shutdown_thread().unwrap_or_else(|failure| failure.exit(PROG));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    println!(
        "listening on {} (thread per client, idle timeout {} s)",
        format_addr(&listen_addr),
        opt.idle_timeout
    );

    loop {
        let (fd, peer) = accept_client(PROG, listener.as_fd());
        println!("[{peer}] connected");
        if let Err(err) = configure_client(fd.as_fd(), opt.idle_timeout) {
            println!("[{peer}] error: {}", strerror(err));
            continue; // dropping fd closes it
        }

        // The thread owns its copy of fd and peer (moved into the closure): the
        // next accept cannot overwrite them. fd is closed when the closure ends,
        // or at once if the thread cannot be started.
        let thread_peer = peer.clone();
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || serve_client(fd.as_fd(), &thread_peer, &opt));
        if let Err(err) = spawned {
            // EAGAIN (too many threads): lose this one connection, not the server.
            println!("[{peer}] error: {}", strerror(errno_of(&err)));
        }
    }
}
