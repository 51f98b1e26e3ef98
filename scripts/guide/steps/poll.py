"""server_poll: every client in one thread, one poll(2) for all of them."""
from . import threads
from .table import Table, pick_steps, steps

INTRO = (
    "Every client in one thread: non-blocking sockets and one poll(2) for all of them "
    "(Stevens, UNP chapter 6). `c-reference/server_poll.c` and `src/bin/server_poll.rs`; "
    "the steps up to `getsockname` are the other servers' (the Rust ones from "
    "`src/server.rs`), then the loop: build the poll array, wait, serve who is ready. "
    "What a thread keeps on its stack is a `struct client` here (C) or a `Client` "
    "(Rust): the buffer, the echo not yet sent, the state, the deadline."
)

# server_poll: the same steps up to getsockname, then its own. Its main
# thread never blocks in recv, send or accept: it blocks in poll alone.
STEPS = pick_steps(threads.STEPS, ("signals", "shutdown thread", "socket", "setsockopt", "bind", "listen",
                                   "getsockname")) + steps([
    ("non-blocking", "fcntl O_NONBLOCK: a call that would wait fails with EAGAIN instead",
     [(r"^fcntl\(\d+<TCP:\[[^\]>-]*\]>", None)],
     "`fcntl(F_GETFL)` reads the descriptor's status flags and `fcntl(F_SETFL)` writes them back with "
     "O_NONBLOCK added: from now on `accept` on this socket returns at once, with EAGAIN when no "
     "connection is waiting, instead of blocking. That is what lets one thread serve everyone: it never "
     "waits in a call that concerns one client, only in `poll`, which concerns them all. Linux does not "
     "pass O_NONBLOCK on from the listener to accepted sockets, so each client gets its own `fcntl` "
     "pair (the configure step). A failure (EBADF only) exits 1 with "
     "`server_poll: fcntl O_NONBLOCK: STRERROR`."),
    ("timeout", "the poll timeout: until the nearest deadline",
     [],
     "No system call: each client has a deadline on the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`, "
     "in the vDSO, so strace does not show it; the wall clock could jump when the date is set). It is "
     "set to now + the idle timeout when the client connects and each time a `recv` or a `send` makes "
     "progress; after `quit` it is the end of the drain. poll waits at most until the nearest deadline "
     "(`nearest - now`, in milliseconds, 0 if it has passed), or forever (-1) with no client at all. "
     "The trace writes that timeout as MS, since it is 5000 or a millisecond or two less from run to "
     "run. Rounding down `now` to whole milliseconds cannot wake poll early: poll sleeps at least its "
     "timeout, so a deadline that poll waited for has passed when it returns."),
    ("poll", "poll: wait for every socket at once",
     [(r"^poll\(", None)],
     "The array is built again before each call, from what each client waits for: POLLIN while it "
     "reads, POLLOUT while an echo is still unsent (and then no POLLIN: the server stops reading a "
     "client that does not read its echoes, so it keeps at most one 1024-byte buffer for it whatever it "
     "sends; the kernel's buffers fill and TCP's flow control stops the client). The listener is "
     "entry 0, with fd -1 (which poll skips) for 100 ms after accept failed with EMFILE or ENFILE. "
     "poll returns how many entries have events, 0 when the timeout passed (`= 0 (Timeout)`), or -1: "
     "EINTR is retried (the signals are blocked in this thread anyway), anything else (ENOMEM) exits 1 "
     "with `server_poll: poll: STRERROR`."),
    ("revents", "revents: who can go on",
     [],
     "No system call: poll wrote `revents` in each entry (strace shows them after the `=`). A client "
     "with events gets the call it waits for; one without, whose deadline has passed, is expired; a "
     "client that ends is replaced by the last one (C assigns the struct, Rust's `Vec::swap_remove`), "
     "which is why the loop runs from the last client down. `revents` may hold POLLHUP or POLLERR that "
     "were not asked for (the client reset the connection, say): the `recv` or `send` then fails and "
     "says why, so the server needs no case of its own for them. The listener is seen to last: "
     "a client accepted now has no revents yet."),
    ("accept", "accept until EAGAIN",
     [(r"^accept4?\(", None)],
     "A readable listener means one connection or more is waiting, so `accept` runs until it fails "
     "with EAGAIN: the queue is empty, \"not now\" (the last `accept` line of each wake-up). EINTR is "
     "retried. EMFILE or ENFILE (out of descriptors) prints `server_poll: accept: Too many open files` "
     "on stderr and stops watching the listener for 100 ms: the connection stays queued and the "
     "listener stays readable, so watching it would wake poll at once, again and again, while the "
     "clients already connected still need serving."),
    ("configure", "the new client: non-blocking, TCP_NODELAY, a struct",
     [(r"^fcntl\(.*->", None), (r"^setsockopt\(.*TCP_NODELAY", None)],
     "No SO_RCVTIMEO or SO_SNDTIMEO here: the idle timeout is the client's deadline. The client gets "
     "O_NONBLOCK (two `fcntl` calls) and TCP_NODELAY, then its place in the arrays, which double when "
     "full (`realloc` in C, the Vec in Rust). If a call fails, or there is no memory for a bigger array "
     "(ENOMEM; Rust asks with `try_reserve` rather than abort), that one connection gets "
     "`[PEER] error: STRERROR` and is closed."),
    ("recv", "recv: what has arrived, without waiting",
     [(r"^recvfrom\(", None)],
     "One `recv` per wake-up, into the free end of the client's buffer (the unframed bytes are at its "
     "front): at most 1024 bytes, and poll comes back to the client while more is waiting "
     "(level-triggered), so a client that sends a lot cannot keep the others waiting."),
    ("recv result", "what recv returned: data, end of stream, not now, error",
     [],
     "EAGAIN is \"not now\" (poll said readable, but the bytes are gone: it can happen) and the client "
     "waits for the next poll; EINTR likewise. 0 is the client's end of stream: the pending bytes are "
     "echoed, then `disconnected`. Any other error (ECONNRESET) is `error: STRERROR` and the client is "
     "closed. Data moves the deadline: the client is not idle."),
    ("framing", "framing: the same rules, one piece at a time",
     [],
     "No system call. The C keeps its own copy of the rules; the Rust twin uses the library's "
     "`Framing`, the same code as the blocking servers' `serve_client`: `next_piece` hands out each "
     "whole line, a full 1024-byte buffer without `\\n` as a piece, or `Quit`. Each piece is logged "
     "(`recv:`) and becomes the echo to send, straight from the buffer, before the next is framed."),
    ("send", "send: as much as the socket takes; the rest on POLLOUT",
     [(r"^sendto\(", None)],
     "A non-blocking `send` takes what fits in the socket's buffer and returns how much; the rest stays "
     "unsent and the loop tries again. EAGAIN means the buffer is full, \"not now\": the client "
     "waits for POLLOUT, and gets no POLLIN meanwhile. Progress moves the deadline; a client whose echo "
     "makes no progress for the idle timeout gets `error: Resource temporarily unavailable`, the line "
     "the blocking servers print when SO_SNDTIMEO expires. EPIPE or ECONNRESET is `error: STRERROR`."),
    ("shutdown", "shutdown after quit: the FIN first, then a lingering read",
     [(r"^shutdown\(", None)],
     "What `lingering_close` does in the blocking servers, as a state of the client: `shutdown(SHUT_WR)` "
     "sends a FIN after the last echo, and the deadline becomes the end of the drain (2 s, at most the "
     "idle timeout). The client then waits for POLLIN like any other. An error (the client already "
     "reset the connection) shows in the next `recv`."),
    ("drain", "drain: read and drop until the client's end of stream",
     [(r"^recvfrom\(", -1)],
     "Each wake-up reads and drops up to 1024 bytes; the client's FIN (`recv` returns 0) or an error "
     "ends the drain and the client is closed, and so does its deadline. Nothing is logged: `quit` was."),
    ("deadline", "a deadline that has passed",
     [],
     "No system call of its own: after poll, a client without events whose deadline has passed is "
     "closed, with the line its state calls for: `idle for N s, closing` while it reads (the blocking "
     "servers' recv fails with EAGAIN after SO_RCVTIMEO), `error: Resource temporarily unavailable` "
     "while its echo waits for POLLOUT, nothing at the end of a drain."),
    ("close", "close: the end of the connection",
     [(r"^close\(.*TCP", None)],
     "As in the other servers: C calls `close(fd)` and moves the last client into the slot; in Rust "
     "`swap_remove` hands the client back and dropping it drops its `OwnedFd`, which is `close`."),
])

FAILURES = {
    "deadline": ("poll-idle-timeout", r"^poll\(|^close\("),
}

TABLE = Table(INTRO, STEPS, FAILURES)
