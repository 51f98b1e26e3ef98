"""server_epoll: server_poll with the watched set kept in the kernel
(epoll(7)) and the deadlines in lists in the order they fall due.

Written against the epoll branch's sources (c-reference/server_epoll.c,
src/bin/server_epoll.rs, src/event_loop.rs): its step names are their
markers. It takes server_poll's steps where the text holds for both.
"""
from . import poll
from .table import Table, pick_steps, steps

INTRO = (
    "The poll loop with epoll(7): `c-reference/server_epoll.c` and `src/bin/server_epoll.rs` (the "
    "client and the step that moves it on are `src/event_loop.rs`, shared with `server_poll`). poll(2) "
    "is handed every socket on every call; here `epoll_ctl` tells the kernel once when a socket comes, "
    "goes, or changes what it waits for, and `epoll_wait` returns only the sockets that are ready. So "
    "that nothing else visits every client either, the deadlines are kept in two lists in the order "
    "they fall due: the nearest is at the head."
)

# The steps up to getsockname and the non-blocking listener are
# server_poll's; then the kernel's watched set, the wait, and the clients.
STEPS = pick_steps(poll.STEPS, ("signals", "shutdown thread", "socket", "setsockopt", "bind", "listen",
                                "getsockname", "non-blocking")) + steps([
    ("epoll_create1", "epoll_create1 and EPOLL_CTL_ADD: the kernel's watched set, the listener in it",
     [(r"^epoll_create1\(", None), (r"^epoll_ctl\(.*EPOLL_CTL_ADD, \d+<TCP:\[[^\]>-]*\]>", 0)],
     "`epoll_create1` makes an epoll instance, a descriptor (`anon_inode:[eventpoll]`) for the set of "
     "sockets the kernel watches for this process; EPOLL_CLOEXEC keeps a program this one might start "
     "from inheriting it. `epoll_ctl(EPOLL_CTL_ADD)` puts the listener in the set, waiting for EPOLLIN, "
     "with the data each of its events will carry: NULL in C (a client's events carry its `struct "
     "client *`), `u64::MAX` in Rust (a client's carry its slot number). Either failing (out of "
     "descriptors or memory) exits 1 with `server_epoll: epoll_create1: STRERROR` or `server_epoll: "
     "epoll_ctl: STRERROR`."),
    ("timeout", "the timeout: the heads of the deadline lists",
     [],
     "No system call. All clients share one idle timeout, so a client whose deadline moves (progress) "
     "goes to the tail of its list and each list stays in the order its deadlines fall due: the "
     "nearest deadline is the head of the idle list or of the draining list (the drain has a length "
     "of its own), "
     "found without a look at any other client (libev's technique for many identical timeouts). "
     "`epoll_wait` waits at most until the nearer of the two, or the end of the listener's pause, or "
     "forever (-1) with none; the trace writes that timeout as MS, as for poll."),
    ("epoll_wait", "epoll_wait: only the sockets that are ready",
     [(r"^epoll_p?wait2?\(", None)],
     "One call, however many clients: the kernel fills `events` with at most MAX_EVENTS (128) ready "
     "sockets and returns how many (0 when the timeout passed). Level-triggered, as poll is: a socket "
     "is reported for as long as it is readable (or writable), so a read that leaves bytes behind is "
     "simply reported again. Before it, the listener goes back into the set (EPOLL_CTL_ADD) once its "
     "pause after EMFILE is over. EINTR is retried; any other error exits 1 with "
     "`server_epoll: epoll_wait: STRERROR`."),
    ("events", "events: who can go on",
     [],
     "No system call: each event carries what `epoll_ctl` was given, the listener's mark or the "
     "client (C: its pointer; Rust: its slot), and the events that happened, EPOLLHUP or EPOLLERR "
     "included even when not asked for (the recv or send they lead to reports what happened). A "
     "client appears at most once among them and only its own turn can end it, so every pointer or "
     "slot is still valid when its turn comes. After the events, the heads of the deadline lists that "
     "have passed are expired (the deadline step)."),
    ("accept", "accept until EAGAIN",
     [(r"^accept4?\(", None)],
     "As in `server_poll`: `accept` until EAGAIN, EINTR retried. EMFILE or ENFILE prints "
     "`server_epoll: accept: Too many open files` on stderr and takes the listener out of the set "
     "(EPOLL_CTL_DEL) for 100 ms: the connection stays queued and the listener readable, and watching "
     "it would wake `epoll_wait` at once, again and again."),
    ("configure", "the new client: non-blocking, TCP_NODELAY, EPOLL_CTL_ADD",
     [(r"^fcntl\(.*->", None), (r"^setsockopt\(.*TCP_NODELAY", None), (r"^epoll_ctl\(.*EPOLL_CTL_ADD.*->", None)],
     "O_NONBLOCK (two `fcntl` calls) and TCP_NODELAY as in `server_poll`, then `epoll_ctl(EPOLL_CTL_ADD)` "
     "with EPOLLIN and what its events will carry: C a `malloc`'d `struct client`, Rust the number of "
     "its slot in a `Vec` (room reserved with `try_reserve` first). Then it goes to the tail of the "
     "idle list. If a call fails or there is no memory, that one connection gets `[PEER] error: "
     "STRERROR` and is closed."),
    ("recv", "recv: what has arrived, up to 16 full reads",
     [(r"^recvfrom\(", None)],
     "Into the free end of the client's buffer. A read that filled all the room it was given most "
     "likely left more behind: the client reads again at once rather than wait for the kernel to say "
     "so, at most READS_PER_WAKEUP (16) times, so that one fast client cannot keep the others waiting; "
     "a short read ends its turn."),
    ("recv result", "what recv returned: data, end of stream, not now, error",
     [],
     "EAGAIN is \"not now\" (the bytes epoll reported are gone, or a read again found none): the "
     "client waits for the next `epoll_wait`; EINTR likewise. 0 is the client's end of stream: the "
     "pending bytes are echoed, then `disconnected`. Any other error (ECONNRESET) is `error: STRERROR` "
     "and the client is closed. Data moves the deadline, and the client to the tail of the idle list."),
]) + pick_steps(poll.STEPS, ("framing",)) + steps([
    ("send", "send: as much as the socket takes; the rest on EPOLLOUT",
     [(r"^sendto\(", None), (r"^epoll_ctl\(.*EPOLL_CTL_MOD", None)],
     "A non-blocking `send` takes what fits in the socket's buffer; EAGAIN means the buffer is full: "
     "the client now waits to send, and `epoll_ctl(EPOLL_CTL_MOD)` tells the kernel so (EPOLLOUT, no "
     "EPOLLIN: the server stops reading a client that does not read its echoes), and back to EPOLLIN "
     "once the echo is out. Only a change of what the client waits for costs a system call. Progress "
     "moves the deadline, and the client to the tail of its list; EPIPE or ECONNRESET is "
     "`error: STRERROR`."),
    ("shutdown", "shutdown after quit: the FIN first, then a lingering read",
     [(r"^shutdown\(", None)],
     "As in `server_poll`: `shutdown(SHUT_WR)` sends a FIN after the last echo, and the deadline "
     "becomes the end of the drain (2 s, at most the idle timeout): the client moves to the tail of "
     "the draining list, which stays in order because every drain is as long."),
]) + pick_steps(poll.STEPS, ("drain",)) + steps([
    ("deadline", "a deadline that has passed: the heads of the lists",
     [],
     "No system call of its own: after the events, each list is expired from its head until a "
     "deadline that has not passed, so only the clients that are due are visited. The log line is "
     "`server_poll`'s: `idle for N s, closing` while it reads, `error: Resource temporarily "
     "unavailable` while its echo waits for EPOLLOUT, nothing at the end of a drain."),
    ("close", "close: out of the set and the list, then close",
     [(r"^epoll_ctl\(.*EPOLL_CTL_DEL", None), (r"^close\(.*TCP", None)],
     "The client leaves its deadline list, then `epoll_ctl(EPOLL_CTL_DEL)` takes its socket out of the "
     "watched set (its error is not checked: closing the socket would take it out anyway, once no "
     "other descriptor refers to it), then `close`. C frees the `struct client`; Rust empties the "
     "slot, lists it as free for the next client, and drops the client, whose `OwnedFd` is `close`."),
])

FAILURES = {
    "deadline": ("epoll-idle-timeout", r"^epoll_p?wait2?\(|^epoll_ctl\(.*DEL|^close\("),
}

TABLE = Table(INTRO, STEPS, FAILURES)
