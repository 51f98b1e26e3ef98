//! server_single: TCP echo server, one client at a time.
//!
//! The Rust twin of `c-reference/server_single.c`. While one client is
//! served, the next ones wait in the listen backlog. Everything but how a
//! connection is served is shared with `server.rs` through the library
//! (`run_server`, the C `main`; the echo loop `serve_client`); the C calls are
//! in `src/sys.rs`.

use std::os::fd::AsFd;

use sockets::{run_server, serve_client};

const PROG: &str = "server_single";

fn main() {
    run_server(PROG, "one client at a time", |fd, peer, opt| {
        // Serve this client to the end; the next one waits in the backlog.
        serve_client(fd.as_fd(), &peer, opt);
        // step: close
        // fd is dropped here: close(2)
    })
}
