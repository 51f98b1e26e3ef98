//! server_single: TCP echo server, one client at a time.
//!
//! The Rust twin of `c-reference/server_single.c`, step for step. While one
//! client is served, the next ones wait in the listen backlog; `server.rs` is
//! the same program with a thread per client. The echo loop and the other
//! shared steps are in the library (`src/lib.rs`), the C calls in `src/sys.rs`.

use std::os::fd::AsFd;

use sockets::sys::{self, strerror};
use sockets::{
    accept_client, args, configure_client, format_addr, open_listener, parse_server_options, serve_client,
    start_shutdown_thread,
};

const PROG: &str = "server_single";

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(PROG, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    start_shutdown_thread().unwrap_or_else(|failure| failure.exit(PROG));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    println!(
        "listening on {} (one client at a time, idle timeout {} s)",
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

        // Serve this client to the end; the next one waits in the backlog.
        serve_client(fd.as_fd(), &peer, &opt);
        // fd is dropped here: close(2)
    }
}
