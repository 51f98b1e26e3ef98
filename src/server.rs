//! The server steps: what `server.c` and `server_single.c` do between
//! `main` and the echo, in the same order and under the same names, shared
//! here by every Rust server (each C file carries its own copy).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cli::{args, parse_server_options, ServerOptions};
use crate::framing::{escape, Framing, Piece, BUF_SIZE};
use crate::net::{format_addr, recv_retry, send_all};
use crate::sys::{self, strerror, SockAddr};
use crate::{errno_of, Failure};

/// Connections the kernel queues before `accept`: the most it allows (4096
/// with glibc; the kernel caps it at net.core.somaxconn).
pub const BACKLOG: i32 = libc::SOMAXCONN;
/// How long to read what a client sends after `quit`.
pub const DRAIN_SECONDS: u32 = 2;
/// The echo loop needs ~6 KiB; a small stack keeps idle clients cheap.
pub const THREAD_STACK_SIZE: usize = 64 * 1024;

/// After `quit`: a FIN after the last echo (shutdown), then read and drop
/// what the client still sends until its end of stream, or DRAIN_SECONDS (at
/// most the idle timeout). Closing at once while the client's bytes are
/// unread, or still coming, makes the kernel answer with RST, and an RST
/// throws away every echo not yet delivered (nginx calls this a lingering
/// close). The caller closes the socket.
pub fn lingering_close(fd: BorrowedFd, idle_timeout: u32) {
    // step: shutdown
    let drain = idle_timeout.min(DRAIN_SECONDS);
    let timeout = sys::timeval { tv_sec: drain.into(), tv_usec: 0 };
    if sys::shutdown(fd, libc::SHUT_WR).is_err()
        || sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout).is_err()
    {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(drain.into());
    let mut discard = [0u8; BUF_SIZE];
    // The client's FIN, an error, or drain seconds of silence end it; so does
    // a client that is still sending when the deadline has passed.
    while matches!(recv_retry(fd, &mut discard), Ok(n) if n > 0) && Instant::now() < deadline {}
}

/// The `recv:` line of one line or piece, unless `-q`.
pub fn log_recv(peer: &str, data: &[u8], opt: &ServerOptions) {
    if !opt.quiet {
        let text = data.strip_suffix(b"\n").unwrap_or(data);
        // The whole line first, then one print: println! would hand stdout's
        // buffer (1024 bytes) the escaped text, up to 4096 bytes, as a piece
        // of its own, written by a write(2) of its own, and in server_fork
        // another process's line could come in between.
        let line = format!("[{peer}] recv: {}\n", escape(text));
        print!("{line}");
    }
}

/// Log one line or piece (unless `-q`), then echo it.
fn echo_piece(fd: BorrowedFd, peer: &str, data: &[u8], opt: &ServerOptions) -> Result<(), Errno> {
    log_recv(peer, data, opt);
    send_all(fd, data)
}

/// The echo loop: a function of one connected socket, as Stevens' `str_echo`.
/// Frames the stream into lines and echoes each; returns when the session
/// ends, logging why. The caller closes the socket.
pub fn serve_client(fd: BorrowedFd, peer: &str, opt: &ServerOptions) {
    let mut framing = Framing::new();

    loop {
        // step: recv result
        match recv_retry(fd, framing.spare()) {
            Ok(0) => {
                // EOF: echo what is pending, then close.
                let pending = match framing.pending() {
                    Some(piece) => echo_piece(fd, peer, framing.bytes(piece), opt),
                    None => Ok(()),
                };
                match pending {
                    Ok(()) => println!("[{peer}] disconnected"),
                    Err(err) => println!("[{peer}] error: {}", strerror(err)),
                }
                return;
            }
            Ok(n) => framing.filled(n),
            // SO_RCVTIMEO expired (EAGAIN and EWOULDBLOCK are one number on Linux).
            Err(Errno::EAGAIN) => {
                println!("[{peer}] idle for {} s, closing", opt.idle_timeout);
                return;
            }
            Err(err) => {
                println!("[{peer}] error: {}", strerror(err));
                return;
            }
        }

        // step: framing
        // Each whole line, and each full buffer without '\n' (nothing is dropped).
        while let Some(piece) = framing.next_piece() {
            let Piece::Echo(piece) = piece else {
                println!("[{peer}] quit");
                lingering_close(fd, opt.idle_timeout);
                return;
            };
            if let Err(err) = echo_piece(fd, peer, framing.bytes(piece), opt) {
                println!("[{peer}] error: {}", strerror(err));
                return;
            }
        }
    }
}

/// socket, SO_REUSEADDR, bind, listen; returns the socket and where it listens.
pub fn open_listener(opt: &ServerOptions) -> Result<(OwnedFd, SockAddr), Failure> {
    open_listener_at(opt.bind_addr, false)
}

/// [`open_listener`] on `addr`, and with `reuseport` SO_REUSEPORT too
/// (server_reuseport's N sockets on one port; the C's
/// `open_reuseport_listener`): every socket with it set before bind may
/// bind the same address and port (of the same user), and the kernel
/// spreads the new connections over them.
pub fn open_listener_at(addr: SockAddr, reuseport: bool) -> Result<(OwnedFd, SockAddr), Failure> {
    // step: socket
    let fd = sys::socket(addr.family(), libc::SOCK_STREAM, 0).map_err(|e| Failure::new("socket", e))?;

    // step: setsockopt
    // Restart at once on the same port, even with old connections in TIME_WAIT.
    let on: libc::c_int = 1;
    sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &on)
        .map_err(|e| Failure::new("setsockopt SO_REUSEADDR", e))?;
    if reuseport {
        sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, &on)
            .map_err(|e| Failure::new("setsockopt SO_REUSEPORT", e))?;
    }
    // An IPv6 socket takes IPv4 clients too (as ::ffff:a.b.c.d) when
    // IPV6_V6ONLY is 0; say so, whatever the system's default.
    let off: libc::c_int = 0;
    if let SockAddr::V6(_) = addr {
        sys::setsockopt(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &off)
            .map_err(|e| Failure::new("setsockopt IPV6_V6ONLY", e))?;
    }

    // step: bind
    sys::bind(fd.as_fd(), &addr).map_err(|e| Failure::new(format!("bind {}", format_addr(&addr)), e))?;
    // step: listen
    sys::listen(fd.as_fd(), BACKLOG).map_err(|e| Failure::new("listen", e))?;

    // step: getsockname
    // With -p 0 the kernel chose the port: ask which.
    let addr = sys::getsockname(fd.as_fd()).map_err(|e| Failure::new("getsockname", e))?;
    Ok((fd, addr))
}

/// The signals a server's signal thread takes, and what it does when one
/// comes (the thread's function: it never returns).
#[derive(Clone, Copy)]
pub struct SignalThread {
    pub signals: &'static [i32],
    pub run: fn(sys::sigset_t) -> !,
}

/// Every server but `server_fork`: SIGINT or SIGTERM ends it.
pub const SHUTDOWN_THREAD: SignalThread =
    SignalThread { signals: &[libc::SIGINT, libc::SIGTERM], run: wait_for_shutdown };

fn wait_for_shutdown(shutdown_signals: sys::sigset_t) -> ! {
    // sigwait fails only for a bad set; either way the server stops.
    let _ = sys::sigwait(&shutdown_signals);
    println!("shutting down");
    std::process::exit(0);
}

/// The signals are blocked in every thread (new threads inherit the mask)
/// and taken by one thread with sigwait: no handler, no flag, no race, and
/// no recv or accept is ever interrupted by them.
pub fn start_signal_thread(thread: SignalThread) -> Result<(), Failure> {
    // step: signals
    // A parent may have started the server with SIGCHLD ignored (that is
    // inherited across exec), and then the kernel reaps the children itself:
    // a server that waits for SIGCHLD would find none to reap.
    if thread.signals.contains(&libc::SIGCHLD) {
        sys::restore_default_sigchld();
    }
    let signals = sys::sigset(thread.signals);
    sys::block_signals(&signals).map_err(|e| Failure::new("pthread_sigmask", e))?;

    // step: shutdown thread
    // std::thread::spawn is pthread_create underneath; the C names the call.
    let run = thread.run;
    thread::Builder::new()
        .spawn(move || run(signals))
        .map_err(|e| Failure::new("pthread_create", errno_of(&e)))?;
    Ok(())
}

/// The start of every server's `main`, in the C's order: SIGPIPE as a C
/// program has it, the options, the signal thread, and the listener.
/// Returns the options, the listener and where it listens, for
/// [`print_listening`] once the server is ready. A failure exits 1 (`prog:
/// what: strerror`).
pub fn start_server(prog: &str, signal_thread: SignalThread) -> (ServerOptions, OwnedFd, SockAddr) {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(prog, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's
    // setvbuf); the library writes each log line with one write(2).

    start_signal_thread(signal_thread).unwrap_or_else(|failure| failure.exit(prog));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(prog));
    (opt, listener, listen_addr)
}

/// The `listening` line: the server is ready. `label` names its model.
pub fn print_listening(listen_addr: &SockAddr, label: &str, opt: &ServerOptions) {
    println!("listening on {} ({label}, idle timeout {} s)", format_addr(listen_addr), opt.idle_timeout);
}

/// accept(2), retried on EINTR; other errors (EMFILE...) are logged and paused on.
pub fn accept_client(prog: &str, listener: BorrowedFd) -> (OwnedFd, String) {
    // step: accept
    loop {
        match sys::accept(listener) {
            Ok((fd, addr)) => return (fd, format_addr(&addr)),
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("{prog}: accept: {}", strerror(err));
                // Out of descriptors: the pending connection stays queued; do not spin.
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The idle timeout on both directions, and no Nagle delay on the echo.
pub fn configure_client(fd: BorrowedFd, idle_timeout: u32) -> Result<(), Errno> {
    // step: configure
    let timeout = sys::timeval { tv_sec: idle_timeout.into(), tv_usec: 0 };
    let on: libc::c_int = 1;
    sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
    sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &timeout)?;
    sys::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &on)
}

/// The `main` of `server.c` and `server_single.c`, which differ only in how
/// they serve a connection: `serve` gets each accepted, configured socket
/// (and owns it: dropping it is `close`). `label` is how the `listening`
/// line names the difference.
pub fn run_server(prog: &str, label: &str, mut serve: impl FnMut(OwnedFd, String, &ServerOptions)) -> ! {
    let (opt, listener, listen_addr) = start_server(prog, SHUTDOWN_THREAD);
    print_listening(&listen_addr, label, &opt);
    loop {
        let (fd, peer) = next_client(prog, listener.as_fd(), opt.idle_timeout);
        serve(fd, peer, &opt);
    }
}

/// The top of the C `main` loop: accept, log `connected`, configure; a
/// connection that cannot be configured is logged and closed, and the next
/// one accepted. Returns the configured socket and its peer.
pub fn next_client(prog: &str, listener: BorrowedFd, idle_timeout: u32) -> (OwnedFd, String) {
    loop {
        let (fd, peer) = accept_client(prog, listener);
        println!("[{peer}] connected");
        match configure_client(fd.as_fd(), idle_timeout) {
            Ok(()) => return (fd, peer),
            // Dropping fd closes it.
            Err(err) => println!("[{peer}] error: {}", strerror(err)),
        }
    }
}
