//! sockets, side by side: the Rust port of a C socket assignment.
//!
//! [`sys`] wraps the C calls, one function per call, and is the only place
//! with `unsafe`. The other modules hold what the Rust twins share, named for
//! what they hold: [`cli`] the command line, [`framing`] the protocol's
//! framing and escaping, [`net`] the send and recv loops and addresses,
//! [`server`] the server steps (the start-up of every server among them),
//! [`children`] what the forking servers share (their children, their log),
//! [`client`] what the line clients share (the connect loop, stdin a line at
//! a time), [`event_loop`] the client of `server_poll` and `server_epoll` and
//! the step that moves it on, [`epoll_loop`] the loop of `server_epoll`,
//! which `server_reuseport` runs once per thread. The C files each carry
//! their own copy of it (they must build alone, as in the assignment),
//! under the same names, so
//! `server.c` and `src/bin/server.rs` plus these files read as a translation
//! of each other. The contract is `SPEC.md`.

pub mod children;
pub mod cli;
pub mod client;
pub mod epoll_loop;
pub mod event_loop;
pub mod framing;
pub mod net;
pub mod server;
pub mod sys;

use std::io;

use nix::errno::Errno;

pub use cli::{
    args, parse_client_options, parse_counted_server_options, parse_number, parse_server_options,
    parse_server_options_with, usage_error, ClientOptions, Getopt, Opt, ServerOptions,
};
pub use client::{connect_to, consume, find_line, read_input, Input};
pub use framing::{escape, is_quit, Framing, Piece, BUF_SIZE};
pub use net::{format_addr, recv_retry, send_all};
pub use server::{
    accept_client, configure_client, lingering_close, log_recv, next_client, open_listener, open_listener_at,
    print_listening, run_server, serve_client, start_server, start_signal_thread, SignalThread, BACKLOG,
    DRAIN_SECONDS, SHUTDOWN_THREAD, THREAD_STACK_SIZE,
};

/// A failed call: what was being done, and the errno it failed with.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub errno: Errno,
}

impl Failure {
    pub fn new(what: impl Into<String>, errno: Errno) -> Failure {
        Failure { what: what.into(), errno }
    }

    /// `prog: what: strerror(errno)` and exit 1, as netcat does (the C `die`).
    pub fn exit(&self, prog: &str) -> ! {
        eprintln!("{prog}: {}: {}", self.what, sys::strerror(self.errno));
        std::process::exit(1);
    }
}

/// The errno behind an `io::Error` from the standard library (a thread spawn).
pub fn errno_of(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}
