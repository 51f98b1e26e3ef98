//! server_poll: TCP echo server, every client in one thread with poll(2).
//!
//! The Rust twin of `c-reference/server_poll.c`. Every socket is
//! non-blocking: a call that would have to wait fails with EAGAIN instead,
//! which here means "not now". One poll(2) waits for all the sockets at once
//! and says which can go on. What a thread of `server` keeps on its stack is
//! kept in a [`Client`] per connection, and the idle timeout is a deadline
//! per client on the monotonic clock: poll waits at most until the nearest
//! one. The client and the step that moves it on are the library's
//! (`event_loop`, shared with `server_epoll`), and so is the start-up
//! (`start_server`); this file is how poll waits. The C calls are in
//! `src/sys.rs`.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use sockets::event_loop::{
    accept_clients, expire_client, monotonic_ms, refuse, serve_ready_client, set_nonblocking, timeout_until,
    Client, Next, ACCEPT_PAUSE_MS,
};
use sockets::sys::{self, pollfd};
use sockets::{print_listening, start_server, Failure, SHUTDOWN_THREAD};

const PROG: &str = "server_poll";

/// Room for one more client: the Vec doubles when full; ENOMEM if it cannot.
fn make_room(clients: &mut Vec<Client>) -> Result<(), Errno> {
    clients.try_reserve(1).map_err(|_| Errno::ENOMEM)
}

/// How long poll may wait: until the nearest deadline (-1: no deadline, forever).
fn poll_timeout(clients: &[Client], listener_paused_until: i64, now: i64) -> i32 {
    let paused = (listener_paused_until > now).then_some(listener_paused_until);
    let nearest = clients.iter().map(|client| client.deadline).chain(paused).min();
    timeout_until(nearest, now)
}

fn main() {
    let (opt, listener, listen_addr) = start_server(PROG, SHUTDOWN_THREAD);
    // step: non-blocking
    set_nonblocking(listener.as_fd()).unwrap_or_else(|err| Failure::new("fcntl O_NONBLOCK", err).exit(PROG));
    print_listening(&listen_addr, "poll loop", &opt);

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
            let events = if client.next.sends() { libc::POLLOUT } else { libc::POLLIN };
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
            let next = if fds[i + 1].revents != 0 {
                serve_ready_client(client, &opt, now)
            } else if client.deadline <= now {
                expire_client(client, &opt);
                Next::Close
            } else {
                client.next
            };
            if next == Next::Close {
                // step: close
                // swap_remove hands the client back and it is dropped here:
                // its OwnedFd's drop is close(2).
                clients.swap_remove(i);
            }
        }
        if fds[0].revents != 0 {
            let accepted =
                accept_clients(PROG, listener.as_fd(), &opt, now, |client| match make_room(&mut clients) {
                    Ok(()) => clients.push(client),
                    Err(err) => refuse(client, err),
                });
            if accepted.is_err() {
                listener_paused_until = now + ACCEPT_PAUSE_MS;
            }
        }
    }
}
