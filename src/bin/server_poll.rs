//! server_poll: TCP echo server, every client in one thread with poll(2).
//!
//! The Rust twin of `c-reference/server_poll.c`. Every socket is
//! non-blocking: a call that would have to wait fails with EAGAIN instead,
//! which here means "not now". One poll(2) waits for all the sockets at once
//! and says which can go on. What a thread of `server` keeps on its stack
//! (the framing, the echo not yet sent) is kept in a [`Client`] per
//! connection, and the idle timeout is a deadline per client on the monotonic
//! clock: poll waits at most until the nearest one. The framing is the
//! library's [`Framing`], the one every Rust server uses; the steps before the
//! loop (`open_listener`, `start_shutdown_thread`) are the library's too. The
//! C calls are in `src/sys.rs`.

use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use sockets::sys::{self, pollfd, strerror};
use sockets::{args, format_addr, log_recv, open_listener, parse_server_options, start_shutdown_thread};
use sockets::{Failure, Framing, Piece, ServerOptions, BUF_SIZE, DRAIN_SECONDS};

const PROG: &str = "server_poll";
/// Out of descriptors: stop watching the listener this long.
const ACCEPT_PAUSE_MS: i64 = 100;

/// Where a client is in its session; it says what poll waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for bytes: POLLIN.
    Reading,
    /// An echo not all sent: POLLOUT, and no POLLIN until it is.
    Sending,
    /// After quit: FIN sent, reading and discarding until EOF (SPEC rule 5).
    Draining,
}

/// What the server keeps of one client between two polls: what a thread of
/// `server` keeps on its stack. About 1.1 KiB, most of it the framing
/// buffer; the echo is sent straight from it, so there is no second one.
struct Client {
    fd: OwnedFd,
    phase: Phase,
    /// The client's end of stream came: close after this echo.
    at_eof: bool,
    framing: Framing,
    /// The echo not yet sent: bytes of the framing buffer.
    unsent: Range<usize>,
    /// Monotonic ms: the idle timeout, or the end of the drain.
    deadline: i64,
    peer: String,
}

/// O_NONBLOCK: from now on a call that would wait fails with EAGAIN instead.
fn set_nonblocking(fd: BorrowedFd) -> Result<(), Errno> {
    let flags = sys::fcntl_getfl(fd)?;
    sys::fcntl_setfl(fd, flags | libc::O_NONBLOCK)
}

/// Milliseconds on the monotonic clock, which never jumps when the date is set.
fn monotonic_ms() -> i64 {
    // clock_gettime fails only for a clock that does not exist.
    let now = sys::clock_gettime(libc::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// Non-blocking, and no Nagle delay on the echo.
fn configure_client(fd: BorrowedFd) -> Result<(), Errno> {
    // step: configure
    let on: libc::c_int = 1;
    set_nonblocking(fd)?;
    sys::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &on)
}

/// Room for one more client: the Vec doubles when full; ENOMEM if it cannot.
fn make_room(clients: &mut Vec<Client>) -> Result<(), Errno> {
    clients.try_reserve(1).map_err(|_| Errno::ENOMEM)
}

/// accept(2) until the queue is empty (EAGAIN): several may wait at once.
fn accept_clients(
    listener: BorrowedFd,
    clients: &mut Vec<Client>,
    opt: &ServerOptions,
    now: i64,
    listener_paused_until: &mut i64,
) {
    loop {
        // step: accept
        let (fd, addr) = match sys::accept(listener) {
            Ok(accepted) => accepted,
            Err(Errno::EAGAIN) => return, // not now: no connection is waiting
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("{PROG}: accept: {}", strerror(err));
                // Out of descriptors: the pending connection stays queued and
                // the listener stays readable; not watching it for a while
                // keeps poll from waking at once, again and again, while
                // clients still are.
                *listener_paused_until = now + ACCEPT_PAUSE_MS;
                return;
            }
        };
        let peer = format_addr(&addr);
        println!("[{peer}] connected");
        if let Err(err) = configure_client(fd.as_fd()).and_then(|()| make_room(clients)) {
            println!("[{peer}] error: {}", strerror(err));
            continue; // dropping fd closes it
        }
        let deadline = now + 1000 * i64::from(opt.idle_timeout);
        let framing = Framing::new();
        clients.push(Client {
            fd,
            phase: Phase::Reading,
            at_eof: false,
            framing,
            unsent: 0..0,
            deadline,
            peer,
        });
    }
}

/// Log one line or piece (unless `-q`) and make it the echo to send.
fn echo_piece(client: &mut Client, piece: Range<usize>, opt: &ServerOptions) {
    log_recv(&client.peer, client.framing.bytes(piece.clone()), opt);
    client.unsent = piece;
}

/// After quit: FIN now (after the last echo), close later (SPEC rule 5).
fn start_lingering_close(client: &mut Client, opt: &ServerOptions, now: i64) {
    // step: shutdown
    // Closing with bytes unread would send RST, which throws away the echoes
    // still queued; so only the sending side is closed, and whatever the
    // client still sends is read and discarded until its EOF or the deadline.
    // An error here (the client is gone) shows in the next recv.
    let _ = sys::shutdown(client.fd.as_fd(), libc::SHUT_WR);
    let seconds = opt.idle_timeout.min(DRAIN_SECONDS);
    client.deadline = now + 1000 * i64::from(seconds);
    client.phase = Phase::Draining;
}

/// Sends what is unsent, then frames the next line or piece and sends it,
/// until the buffer holds no whole line or the socket takes no more. Returns
/// false when the session has ended (logged); the caller closes the socket.
fn echo_lines(client: &mut Client, opt: &ServerOptions, now: i64) -> bool {
    loop {
        if !client.unsent.is_empty() {
            // step: send
            // MSG_NOSIGNAL: a vanished peer gives EPIPE, not a process-killing SIGPIPE.
            let unsent = client.framing.bytes(client.unsent.clone());
            match sys::send(client.fd.as_fd(), unsent, libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    client.unsent.start += n;
                    client.deadline = now + 1000 * i64::from(opt.idle_timeout); // progress
                }
                Err(Errno::EAGAIN) => {
                    client.phase = Phase::Sending; // not now: the socket buffer is full; POLLOUT says when
                    return true;
                }
                Err(Errno::EINTR) => {}
                Err(err) => {
                    println!("[{}] error: {}", client.peer, strerror(err));
                    return false;
                }
            }
            continue;
        }

        // step: framing
        match client.framing.next_piece() {
            Some(Piece::Quit) => {
                println!("[{}] quit", client.peer);
                start_lingering_close(client, opt, now);
                return true;
            }
            // A whole line, or a full buffer without '\n' as a piece.
            Some(Piece::Echo(piece)) => echo_piece(client, piece, opt),
            // EOF: echo what is pending, then close.
            None if client.at_eof => match client.framing.pending() {
                Some(piece) => echo_piece(client, piece, opt),
                None => {
                    println!("[{}] disconnected", client.peer);
                    return false;
                }
            },
            // No whole line: the next recv goes on with it.
            None => {
                client.phase = Phase::Reading;
                return true;
            }
        }
    }
}

/// A client poll says can go on (revents): the call it waited for. Returns
/// false when the session has ended.
fn serve_ready_client(client: &mut Client, opt: &ServerOptions, now: i64) -> bool {
    match client.phase {
        Phase::Sending => echo_lines(client, opt, now),
        Phase::Draining => drain(client),
        Phase::Reading => {
            // step: recv
            // framing.spare() moves the unframed bytes to the front first.
            let received = sys::recv(client.fd.as_fd(), client.framing.spare(), 0);

            // step: recv result
            let n = match received {
                // Not now, after all: poll again.
                Err(Errno::EAGAIN | Errno::EINTR) => return true,
                Err(err) => {
                    println!("[{}] error: {}", client.peer, strerror(err));
                    return false;
                }
                Ok(n) => n,
            };
            client.deadline = now + 1000 * i64::from(opt.idle_timeout); // progress
            if n == 0 {
                client.at_eof = true;
            }
            client.framing.filled(n);
            echo_lines(client, opt, now)
        }
    }
}

/// After quit, the lingering close: reads and discards; only the client's
/// EOF (or an error) ends it before the deadline. Returns false at the end.
fn drain(client: &mut Client) -> bool {
    // step: drain
    let mut discard = [0u8; BUF_SIZE];
    match sys::recv(client.fd.as_fd(), &mut discard, 0) {
        Err(Errno::EAGAIN | Errno::EINTR) => true, // not now
        Ok(n) => n > 0,
        Err(_) => false,
    }
}

/// A client whose deadline has passed: what it was waiting for decides the
/// log line.
fn expire_client(client: &Client, opt: &ServerOptions) {
    // step: deadline
    match client.phase {
        // The blocking servers' recv fails with EAGAIN after SO_RCVTIMEO...
        Phase::Reading => println!("[{}] idle for {} s, closing", client.peer, opt.idle_timeout),
        // ...and their send after SO_SNDTIMEO without progress.
        Phase::Sending => println!("[{}] error: {}", client.peer, strerror(Errno::EAGAIN)),
        // The lingering close is over: close quietly.
        Phase::Draining => {}
    }
}

/// How long poll may wait: until the nearest deadline (-1: no deadline, forever).
fn poll_timeout(clients: &[Client], listener_paused_until: i64, now: i64) -> i32 {
    // step: timeout
    let paused = (listener_paused_until > now).then_some(listener_paused_until);
    let nearest = clients.iter().map(|client| client.deadline).chain(paused).min();
    match nearest {
        None => -1,
        Some(deadline) => (deadline - now).clamp(0, i64::from(i32::MAX)) as i32,
    }
}

fn main() {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(PROG, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    start_shutdown_thread().unwrap_or_else(|failure| failure.exit(PROG));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    // step: non-blocking
    set_nonblocking(listener.as_fd()).unwrap_or_else(|err| Failure::new("fcntl O_NONBLOCK", err).exit(PROG));

    println!("listening on {} (poll loop, idle timeout {} s)", format_addr(&listen_addr), opt.idle_timeout);

    // fds[0] is the listening socket, fds[i + 1] is clients[i]. A client that
    // ends is replaced by the last one (swap_remove), so there are no holes.
    let mut clients: Vec<Client> = Vec::new();
    let mut fds: Vec<pollfd> = Vec::new();
    let mut listener_paused_until = 0;

    loop {
        // step: poll
        // What each socket waits for: a client with an echo still to send
        // waits to be writable and is not read from meanwhile. A negative fd
        // is skipped by poll: the listener, while accepting is paused.
        let now = monotonic_ms();
        let listen_fd = if now >= listener_paused_until { listener.as_raw_fd() } else { -1 };
        fds.clear();
        fds.push(pollfd { fd: listen_fd, events: libc::POLLIN, revents: 0 });
        fds.extend(clients.iter().map(|client| {
            let events = if client.phase == Phase::Sending { libc::POLLOUT } else { libc::POLLIN };
            pollfd { fd: client.fd.as_raw_fd(), events, revents: 0 }
        }));
        let timeout = poll_timeout(&clients, listener_paused_until, now);
        match sys::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(err) => Failure::new("poll", err).exit(PROG),
        }

        // step: revents
        // revents says which sockets can go on, also POLLHUP or POLLERR when
        // not asked for: the recv or send it leads to then reports what
        // happened. From the last client down: one that ends is replaced by
        // the last one, which has been seen to already.
        let now = monotonic_ms();
        for i in (0..clients.len()).rev() {
            let client = &mut clients[i];
            let open = if fds[i + 1].revents != 0 {
                serve_ready_client(client, &opt, now)
            } else if client.deadline <= now {
                expire_client(client, &opt);
                false
            } else {
                true
            };
            if !open {
                // step: close
                // swap_remove hands the client back and it is dropped here:
                // its OwnedFd's drop is close(2).
                clients.swap_remove(i);
            }
        }
        if fds[0].revents != 0 {
            accept_clients(listener.as_fd(), &mut clients, &opt, now, &mut listener_paused_until);
        }
    }
}
