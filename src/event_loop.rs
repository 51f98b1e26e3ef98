//! The event loops' client, written once for `server_poll` and
//! `server_epoll`: what a thread of `server` keeps on its stack (the
//! framing, the echo not yet sent, the idle timeout) kept in a [`Client`]
//! per connection, and the step that moves it on when its socket is ready.
//! Each loop's binary holds only its way of waiting for the sockets (poll(2)
//! or epoll(7)), as Redis keeps `ae.c` apart from `ae_epoll.c`; the C files
//! each carry their own copy of this (`server_poll.c`, `server_epoll.c`).

use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::cli::ServerOptions;
use crate::framing::{Framing, Piece, BUF_SIZE};
use crate::net::format_addr;
use crate::server::{log_recv, DRAIN_SECONDS};
use crate::sys::{self, strerror};

/// Out of descriptors: stop watching the listener this long.
pub const ACCEPT_PAUSE_MS: i64 = 100;
/// Full reads of one client before the other clients' turn.
pub const READS_PER_WAKEUP: usize = 16;

/// What a client waits for next: each step of its session says it, and the
/// loop watches its socket for that (or closes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Waiting for bytes: POLLIN, EPOLLIN.
    Read,
    /// An echo not all sent: POLLOUT, EPOLLOUT, and no reading until it is.
    Send,
    /// After quit: FIN sent, reading and discarding until EOF (SPEC rule 5).
    Linger,
    /// The session has ended (logged): close the socket.
    Close,
}

impl Next {
    /// The socket waits to be writable (an echo is unsent), not readable.
    pub fn sends(self) -> bool {
        self == Next::Send
    }
}

/// What the server keeps of one client between two waits: what a thread of
/// `server` keeps on its stack. About 1.1 KiB, most of it the framing
/// buffer; the echo is sent straight from it, so there is no second one.
pub struct Client {
    pub fd: OwnedFd,
    /// What the client waits for; never `Close` (a closed client is gone).
    pub next: Next,
    /// The client's end of stream came: close after this echo.
    at_eof: bool,
    framing: Framing,
    /// The echo not yet sent: bytes of the framing buffer.
    unsent: Range<usize>,
    /// Monotonic ms: the idle timeout, or the end of the drain.
    pub deadline: i64,
    pub peer: String,
}

/// O_NONBLOCK: from now on a call that would wait fails with EAGAIN instead.
pub fn set_nonblocking(fd: BorrowedFd) -> Result<(), Errno> {
    let flags = sys::fcntl_getfl(fd)?;
    sys::fcntl_setfl(fd, flags | libc::O_NONBLOCK)
}

/// Milliseconds on the monotonic clock, which never jumps when the date is set.
pub fn monotonic_ms() -> i64 {
    // clock_gettime fails only for a clock that does not exist.
    let now = sys::clock_gettime(libc::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// The deadline `seconds` from now.
fn after(now: i64, seconds: u32) -> i64 {
    now + 1000 * i64::from(seconds)
}

/// Non-blocking, and no Nagle delay on the echo (the C's `configure_client`
/// of the event loops; the idle timeout is the client's deadline).
fn configure_nonblocking(fd: BorrowedFd) -> Result<(), Errno> {
    // step: configure
    let on: libc::c_int = 1;
    set_nonblocking(fd)?;
    sys::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &on)
}

/// A client the loop has no room for: logged, and closed (dropped).
pub fn refuse(client: Client, err: Errno) {
    println!("[{}] error: {}", client.peer, strerror(err));
}

/// accept(2) until the queue is empty (EAGAIN): several may wait at once.
/// Each configured client goes to `add`: the loop's own list and watch, or
/// [`refuse`].
/// Err: accept failed (logged): the caller stops watching the listener for
/// [`ACCEPT_PAUSE_MS`].
pub fn accept_clients(
    prog: &str,
    listener: BorrowedFd,
    opt: &ServerOptions,
    now: i64,
    mut add: impl FnMut(Client),
) -> Result<(), Errno> {
    loop {
        // step: accept
        let (fd, addr) = match sys::accept(listener) {
            Ok(accepted) => accepted,
            Err(Errno::EAGAIN) => return Ok(()), // not now: no connection is waiting
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("{prog}: accept: {}", strerror(err));
                // Out of descriptors: the pending connection stays queued and
                // the listener stays readable; not watching it for a while
                // keeps the loop from waking at once, again and again, while
                // clients still are.
                return Err(err);
            }
        };
        let peer = format_addr(&addr);
        println!("[{peer}] connected");
        if let Err(err) = configure_nonblocking(fd.as_fd()) {
            println!("[{peer}] error: {}", strerror(err));
            continue; // dropping fd closes it
        }
        let client = Client {
            fd,
            next: Next::Read,
            at_eof: false,
            framing: Framing::new(),
            unsent: 0..0,
            deadline: after(now, opt.idle_timeout),
            peer,
        };
        add(client);
    }
}

/// Log one line or piece (unless `-q`) and make it the echo to send (the
/// C's `echo_piece`).
fn queue_echo(client: &mut Client, piece: Range<usize>, opt: &ServerOptions) {
    log_recv(&client.peer, client.framing.bytes(piece.clone()), opt);
    client.unsent = piece;
}

/// After quit: FIN now (after the last echo), close later (SPEC rule 5).
fn start_lingering_close(client: &mut Client, opt: &ServerOptions, now: i64) -> Next {
    // step: shutdown
    // Closing with bytes unread would send RST, which throws away the echoes
    // still queued; so only the sending side is closed, and whatever the
    // client still sends is read and discarded until its EOF or the deadline.
    // An error here (the client is gone) shows in the next recv.
    let _ = sys::shutdown(client.fd.as_fd(), libc::SHUT_WR);
    client.deadline = after(now, opt.idle_timeout.min(DRAIN_SECONDS));
    Next::Linger
}

/// Sends what is unsent, then frames the next line or piece and sends it,
/// until the buffer holds no whole line or the socket takes no more. Says
/// what comes next; at `Close` the session has ended (logged).
fn echo_lines(client: &mut Client, opt: &ServerOptions, now: i64) -> Next {
    loop {
        if !client.unsent.is_empty() {
            // step: send
            // MSG_NOSIGNAL: a vanished peer gives EPIPE, not a process-killing SIGPIPE.
            let unsent = client.framing.bytes(client.unsent.clone());
            match sys::send(client.fd.as_fd(), unsent, libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    client.unsent.start += n;
                    client.deadline = after(now, opt.idle_timeout); // progress
                }
                // Not now: the socket buffer is full; the loop says when it has room.
                Err(Errno::EAGAIN) => return Next::Send,
                Err(Errno::EINTR) => {}
                Err(err) => {
                    println!("[{}] error: {}", client.peer, strerror(err));
                    return Next::Close;
                }
            }
            continue;
        }

        // step: framing
        match client.framing.next_piece() {
            Some(Piece::Quit) => {
                println!("[{}] quit", client.peer);
                return start_lingering_close(client, opt, now);
            }
            // A whole line, or a full buffer without '\n' as a piece.
            Some(Piece::Echo(piece)) => queue_echo(client, piece, opt),
            // EOF: echo what is pending, then close.
            None if client.at_eof => match client.framing.pending() {
                Some(piece) => queue_echo(client, piece, opt),
                None => {
                    println!("[{}] disconnected", client.peer);
                    return Next::Close;
                }
            },
            // No whole line: the next recv goes on with it.
            None => return Next::Read,
        }
    }
}

/// Reads what has arrived and echoes its lines. A read that filled all the
/// room it was given most likely left more behind: read again now rather
/// than ask the kernel again first (nginx, libuv and tokio do so too), at
/// most [`READS_PER_WAKEUP`] times, so that one fast client cannot keep the
/// others waiting. A short read ends the turn.
fn read_lines(client: &mut Client, opt: &ServerOptions, now: i64) -> Next {
    for _ in 0..READS_PER_WAKEUP {
        // step: recv
        // framing.spare() moves the unframed bytes to the front first.
        let room = client.framing.spare();
        let room_len = room.len();
        let received = sys::recv(client.fd.as_fd(), room, 0);

        // step: recv result
        let n = match received {
            // Not now, after all: wait again.
            Err(Errno::EAGAIN | Errno::EINTR) => return Next::Read,
            Err(err) => {
                println!("[{}] error: {}", client.peer, strerror(err));
                return Next::Close;
            }
            Ok(n) => n,
        };
        client.deadline = after(now, opt.idle_timeout); // progress
        if n == 0 {
            client.at_eof = true;
        }
        client.framing.filled(n);
        let next = echo_lines(client, opt, now);
        if n < room_len || next != Next::Read {
            return next;
        }
    }
    Next::Read
}

/// After quit, the lingering close: reads and discards; only the client's
/// EOF (or an error) ends it before the deadline.
fn linger(client: &mut Client) -> Next {
    // step: drain
    let mut discard = [0u8; BUF_SIZE];
    match sys::recv(client.fd.as_fd(), &mut discard, 0) {
        Err(Errno::EAGAIN | Errno::EINTR) => Next::Linger, // not now
        Ok(1..) => Next::Linger,
        Ok(0) | Err(_) => Next::Close,
    }
}

/// A client whose socket the loop says can go on: the call it waited for.
/// Says what comes next (and keeps it in `client.next`, but for `Close`); at `Close` the
/// session has ended (logged) and the caller closes the socket.
pub fn serve_ready_client(client: &mut Client, opt: &ServerOptions, now: i64) -> Next {
    let next = match client.next {
        Next::Send => echo_lines(client, opt, now),
        Next::Linger => linger(client),
        Next::Read | Next::Close => read_lines(client, opt, now),
    };
    // A client that ends keeps what it waited for: the loop may still need
    // to know (server_epoll: which deadline list it is in).
    if next != Next::Close {
        client.next = next;
    }
    next
}

/// A client whose deadline has passed: what it was waiting for decides the
/// log line. The caller closes it.
pub fn expire_client(client: &Client, opt: &ServerOptions) {
    // step: deadline
    match client.next {
        // The blocking servers' recv fails with EAGAIN after SO_RCVTIMEO...
        Next::Read => println!("[{}] idle for {} s, closing", client.peer, opt.idle_timeout),
        // ...and their send after SO_SNDTIMEO without progress.
        Next::Send => println!("[{}] error: {}", client.peer, strerror(Errno::EAGAIN)),
        // The lingering close is over: close quietly.
        Next::Linger | Next::Close => {}
    }
}

/// Milliseconds from `now` to `deadline` as the wait's timeout: 0 if it has
/// passed, -1 (forever) if there is none.
pub fn timeout_until(deadline: Option<i64>, now: i64) -> i32 {
    // step: timeout
    match deadline {
        None => -1,
        Some(deadline) => (deadline - now).clamp(0, i64::from(i32::MAX)) as i32,
    }
}
