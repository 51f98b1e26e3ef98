//! `server_epoll`'s loop, written once for `server_epoll` (one loop) and
//! `server_reuseport` (one per thread, each with its own listening socket):
//! the set of watched sockets kept in the kernel, the idle deadlines in
//! lists in the order they fall due, and the loop that waits with
//! epoll_wait and moves each ready client on with the library's
//! `event_loop`. As Redis runs `aeMain` over one `aeEventLoop` per thread,
//! everything a loop keeps is in its own `Clients`: two loops share nothing
//! but stdout. The C files each carry their own copy of it
//! (`server_epoll.c`, `server_reuseport.c`), byte for byte the same.
//!
//! Why epoll and these lists: poll(2) is handed every socket on every call;
//! here epoll_ctl(2) tells the kernel once when a socket comes, goes, or
//! changes what it waits for, and epoll_wait(2) returns only the sockets
//! that are ready. So that nothing else visits every client either, the idle
//! deadlines are kept in lists in the order they fall due: all clients share
//! one idle timeout, so a client that makes progress moves to the tail of
//! its list and the nearest deadline is always at the head (libev's
//! technique for many identical timeouts).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::cli::ServerOptions;
use crate::event_loop::{
    accept_clients, expire_client, monotonic_ms, refuse, serve_ready_client, set_nonblocking, timeout_until,
    Client, Next, ACCEPT_PAUSE_MS,
};
use crate::sys::{self, epoll_event, strerror};
use crate::Failure;

/// Ready sockets one epoll_wait returns at most.
const MAX_EVENTS: usize = 128;
/// What the listening socket's events carry; a client's carry its slot.
const LISTENER: u64 = u64::MAX;

/// A client in its slot, with its neighbours in its deadline list (slots).
struct Entry {
    client: Client,
    older: Option<usize>,
    newer: Option<usize>,
}

/// Clients in the order their deadlines fall due: the nearest at the head.
#[derive(Default)]
struct Deadlines {
    head: Option<usize>,
    tail: Option<usize>,
}

/// The two deadline lists, one per length of timeout, so that each stays in order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum List {
    /// Reading and sending: the idle timeout.
    Idle,
    /// Lingering after quit: the drain.
    Draining,
}

/// Every client: the epoll instance that watches their sockets, the clients
/// by slot (the number their events carry), and the deadline lists.
struct Clients {
    epfd: OwnedFd,
    /// None: a free slot, listed in `free` for the next client.
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    idle: Deadlines,
    draining: Deadlines,
}

/// The deadline list a client is in: what it waits for says which timeout runs.
fn deadlines_of(next: Next) -> List {
    if next == Next::Linger {
        List::Draining
    } else {
        List::Idle
    }
}

fn list(all: &mut Clients, which: List) -> &mut Deadlines {
    match which {
        List::Idle => &mut all.idle,
        List::Draining => &mut all.draining,
    }
}

fn entry(all: &mut Clients, slot: usize) -> &mut Entry {
    all.slots[slot].as_mut().expect("a client in every listed slot")
}

fn client(all: &Clients, slot: usize) -> &Client {
    &all.slots[slot].as_ref().expect("a client in every listed slot").client
}

/// A client whose deadline was just set goes to the tail: it falls due last.
fn append(all: &mut Clients, which: List, slot: usize) {
    let tail = list(all, which).tail;
    let added = entry(all, slot);
    added.older = tail;
    added.newer = None;
    match tail {
        Some(tail) => entry(all, tail).newer = Some(slot),
        None => list(all, which).head = Some(slot),
    }
    list(all, which).tail = Some(slot);
}

fn unlink_client(all: &mut Clients, which: List, slot: usize) {
    let (older, newer) = {
        let unlinked = entry(all, slot);
        (unlinked.older, unlinked.newer)
    };
    match older {
        Some(older) => entry(all, older).newer = newer,
        None => list(all, which).head = newer,
    }
    match newer {
        Some(newer) => entry(all, newer).older = older,
        None => list(all, which).tail = older,
    }
}

/// Tell the kernel what the client waits for (`EPOLL_CTL_ADD`, or `_MOD`
/// when it changes): to read, or, with an echo unsent, to send.
/// Level-triggered, as poll is: epoll_wait reports the socket for as long as
/// it is readable (or writable), so a read that leaves bytes behind is simply
/// reported again. Edge-triggered (EPOLLET) would report only the change,
/// once: every ready socket would have to be read or written until EAGAIN
/// before waiting again, or its remaining bytes would never be reported, and
/// the bounded re-reads that keep one client from starving the others would
/// need a list of their own of the sockets left unfinished.
fn watch(epfd: BorrowedFd, client: &Client, slot: usize, op: i32) -> Result<(), Errno> {
    let events = if client.next.sends() { libc::EPOLLOUT } else { libc::EPOLLIN };
    let event = epoll_event { events: events as u32, u64: slot as u64 };
    sys::epoll_ctl(epfd, op, client.fd.as_fd(), Some(event))
}

/// Stops watching the client and closes its socket; its slot is free again.
fn remove_client(all: &mut Clients, slot: usize) {
    // step: close
    let which = deadlines_of(client(all, slot).next);
    unlink_client(all, which, slot);
    let removed = all.slots[slot].take().expect("a client in every listed slot");
    let _ = sys::epoll_ctl(all.epfd.as_fd(), libc::EPOLL_CTL_DEL, removed.client.fd.as_fd(), None);
    all.free.push(slot); // room reserved when the slot was taken
    drop(removed); // its OwnedFd's drop is close(2)
}

/// The listening socket in the watched set again (op `EPOLL_CTL_ADD`), or out of it (`_DEL`).
fn watch_listener(epfd: BorrowedFd, listener: BorrowedFd, op: i32) -> Result<(), Errno> {
    let event = epoll_event { events: libc::EPOLLIN as u32, u64: LISTENER };
    sys::epoll_ctl(epfd, op, listener, Some(event))
}

/// A new client: a slot, the kernel's watch, the tail of the idle list; or
/// refused (ENOMEM: no room for the slot).
fn add_client(all: &mut Clients, client: Client) {
    // Room for one slot more, and for each slot in the free list.
    let room =
        all.slots.try_reserve(1).and_then(|()| all.free.try_reserve(all.slots.len() + 1 - all.free.len()));
    if room.is_err() {
        return refuse(client, Errno::ENOMEM);
    }
    let slot = all.free.last().copied().unwrap_or(all.slots.len());
    if let Err(err) = watch(all.epfd.as_fd(), &client, slot, libc::EPOLL_CTL_ADD) {
        return refuse(client, err);
    }
    let added = Some(Entry { client, older: None, newer: None });
    if all.free.pop().is_some() {
        all.slots[slot] = added;
    } else {
        all.slots.push(added);
    }
    append(all, List::Idle, slot);
}

/// After a client's turn: what it waits for, and its deadline, as they now are.
fn update_client(all: &mut Clients, slot: usize, was: Next, deadline: i64) {
    let (next, moved) = (client(all, slot).next, client(all, slot).deadline != deadline);
    if was.sends() != next.sends() {
        if let Err(err) = watch(all.epfd.as_fd(), client(all, slot), slot, libc::EPOLL_CTL_MOD) {
            println!("[{}] error: {}", client(all, slot).peer, strerror(err));
            entry(all, slot).client.next = was; // it is still in the list of this one
            remove_client(all, slot);
            return;
        }
    }
    // Progress, or the drain begun: the client now falls due last.
    if moved || deadlines_of(was) != deadlines_of(next) {
        unlink_client(all, deadlines_of(was), slot);
        append(all, deadlines_of(next), slot);
    }
}

/// Every client whose deadline has passed: the heads of the list, up to the first that has not.
fn expire_clients(all: &mut Clients, which: List, opt: &ServerOptions, now: i64) {
    while let Some(head) = list(all, which).head {
        if client(all, head).deadline > now {
            return;
        }
        expire_client(client(all, head), opt);
        remove_client(all, head);
    }
}

/// How long epoll_wait may wait: until the nearest deadline (-1: no deadline, forever).
fn wait_timeout(all: &Clients, listener_paused_until: i64, now: i64) -> i32 {
    // The heads of the lists: the nearest deadlines, without a look at any other client.
    let paused = (listener_paused_until != 0).then_some(listener_paused_until);
    let idle = all.idle.head.map(|head| client(all, head).deadline);
    let draining = all.draining.head.map(|head| client(all, head).deadline);
    timeout_until([paused, idle, draining].into_iter().flatten().min(), now)
}

/// A listening socket made ready for its loop: non-blocking, and watched
/// by a new epoll instance, which is returned (the C's `open_loop`).
pub fn open_loop(listener: BorrowedFd) -> Result<OwnedFd, Failure> {
    // step: non-blocking
    set_nonblocking(listener).map_err(|err| Failure::new("fcntl O_NONBLOCK", err))?;

    // step: epoll_create1
    // CLOEXEC: a program this one might start does not inherit the instance.
    let epfd = sys::epoll_create1(libc::EPOLL_CLOEXEC).map_err(|err| Failure::new("epoll_create1", err))?;
    watch_listener(epfd.as_fd(), listener, libc::EPOLL_CTL_ADD)
        .map_err(|err| Failure::new("epoll_ctl", err))?;
    Ok(epfd)
}

/// The loop of one epoll instance `epfd` (from [`open_loop`]) over
/// `listener` and the clients it accepts, for as long as the server runs
/// (the C's `run_loop`). A failure of the loop itself exits 1 (`prog:
/// what: strerror`).
pub fn run_loop(prog: &str, listener: BorrowedFd, epfd: OwnedFd, opt: &ServerOptions) -> ! {
    let mut all = Clients {
        epfd,
        slots: Vec::new(),
        free: Vec::new(),
        idle: Deadlines::default(),
        draining: Deadlines::default(),
    };
    let mut listener_paused_until = 0; // 0: the listener is watched
    let mut events = vec![epoll_event { events: 0, u64: 0 }; MAX_EVENTS];

    loop {
        // step: epoll_wait
        // The kernel knows what each socket waits for (watch says it when it
        // changes): one call, however many clients, returns the ready ones.
        // The listener comes back after its pause.
        let now = monotonic_ms();
        if listener_paused_until != 0 && now >= listener_paused_until {
            watch_listener(all.epfd.as_fd(), listener, libc::EPOLL_CTL_ADD)
                .unwrap_or_else(|err| Failure::new("epoll_ctl", err).exit(prog));
            listener_paused_until = 0;
        }
        let timeout = wait_timeout(&all, listener_paused_until, now);
        let ready = match sys::epoll_wait(all.epfd.as_fd(), &mut events, timeout) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => continue,
            Err(err) => Failure::new("epoll_wait", err).exit(prog),
        };

        // step: events
        // Each event says a socket can go on, also EPOLLHUP or EPOLLERR when
        // not asked for: the recv or send it leads to then reports what
        // happened. A client appears at most once among them, and only its
        // own turn can end it, so every slot here still holds its client.
        let now = monotonic_ms();
        for event in &events[..ready] {
            let token = event.u64;
            if token == LISTENER {
                let accepted =
                    accept_clients(prog, listener, opt, now, |client| add_client(&mut all, client));
                if accepted.is_err() {
                    let _ = watch_listener(all.epfd.as_fd(), listener, libc::EPOLL_CTL_DEL);
                    listener_paused_until = now + ACCEPT_PAUSE_MS;
                }
                continue;
            }
            let slot = token as usize;
            let client = &mut entry(&mut all, slot).client;
            let (was, deadline) = (client.next, client.deadline);
            match serve_ready_client(client, opt, now) {
                Next::Close => remove_client(&mut all, slot),
                _ => update_client(&mut all, slot, was, deadline),
            }
        }
        expire_clients(&mut all, List::Idle, opt, now);
        expire_clients(&mut all, List::Draining, opt, now);
    }
}
