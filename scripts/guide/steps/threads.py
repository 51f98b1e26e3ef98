"""server: a thread per client. Its steps are the blocking servers' steps:
server_single and server_fork take most of theirs from here, server_poll
those up to getsockname.
"""
from .table import Table, steps

INTRO = (
    "The echo server with one thread per client: `c-reference/server.c` and "
    "`src/bin/server.rs` (its `main` is `run_server` in `src/server.rs`, shared with "
    "`server_single`)."
)

# For each step: the marker name, a title, which strace lines show it (regex,
# and which match: None for all, or an index), and what can fail there and
# how each twin handles it.
STEPS = steps([
    ("signals", "block SIGINT and SIGTERM",
     [(r"^rt_sigprocmask\(SIG_BLOCK, \[INT TERM\]", None)],
     "Both twins block SIGINT and SIGTERM (`pthread_sigmask`, the `rt_sigprocmask` line) before any "
     "other thread exists, so every thread started later inherits the mask and no `recv` or `accept` "
     "is ever interrupted by Ctrl-C. `pthread_sigmask` fails only for an invalid argument; it returns "
     "the error number instead of setting errno, so C stores it in errno for `die` and Rust's wrapper "
     "turns it into an `Errno`; either way the server exits 1 with `server: pthread_sigmask: STRERROR`."),
    ("shutdown thread", "one thread waits for the signals",
     [(r"^clone3?\(", 0), (r"^rt_sigtimedwait\(", None)],
     "The thread sleeps in `sigwait` (`rt_sigtimedwait`) until SIGINT or SIGTERM comes, then prints "
     "`shutting down` and exits 0: no handler, no flag, no race. If it cannot be started (EAGAIN), "
     "C calls `die(\"pthread_create\")` and Rust returns a `Failure` that `run_server` turns into the "
     "same `server: pthread_create: STRERROR` line and exit 1. Its stack is the default one of each "
     "runtime: 8 MiB for glibc (`stack_size=0x7fff80`), 2 MiB for Rust's `std::thread` "
     "(`stack_size=0x1fff40`)."),
    ("socket", "socket: a TCP endpoint",
     [(r"^socket\(", None)],
     "`socket` fails when the process or the system is out of descriptors (EMFILE, ENFILE) or memory "
     "(ENOBUFS, ENOMEM). C: `die(\"socket\")` prints `server: socket: STRERROR` and exits 1. Rust: "
     "`map_err(|e| Failure::new(\"socket\", e))?` hands the errno up to `run_server`, whose "
     "`failure.exit(prog)` prints the same line and exits 1. The Rust descriptor is an `OwnedFd`: "
     "dropping it is `close`."),
    ("setsockopt", "setsockopt SO_REUSEADDR: restart at once",
     [(r"SO_REUSEADDR", None)],
     "Without SO_REUSEADDR a server restarted while old connections of the port are in TIME_WAIT gets "
     "EADDRINUSE from `bind`. The call itself fails only for a bad descriptor or option (EBADF, "
     "ENOPROTOOPT, EINVAL); both twins then exit 1 with `server: setsockopt SO_REUSEADDR: STRERROR`."),
    ("bind", "bind: the address and port to listen on",
     [(r"^bind\(", None)],
     "The usual failures: EADDRINUSE (another socket listens on that port), EADDRNOTAVAIL (`-b` names an "
     "address this host does not have), EACCES (a port below 1024 without the privilege). Both twins put "
     "the address in the message, `server: bind 0.0.0.0:8080: Address already in use`, and exit 1. "
     "`-p 0` lets the kernel pick a free port: `bind` shows `htons(0)`. In the failure below the Rust "
     "trace has a `close` after the failed `bind` and the C trace has none: `?` returns the error and "
     "drops the `OwnedFd` on the way out, while C's `die` exits with the descriptor open and the "
     "kernel closes it at exit. That failure asks for `-b ::`, so it also shows the IPv6 path: an "
     "AF_INET6 socket, IPV6_V6ONLY set to 0 (IPv4 clients welcome, whatever the system's default), "
     "and a 28-byte `sockaddr_in6` where IPv4's `sockaddr_in` is 16 bytes. The C keeps either in a "
     "`struct sockaddr_storage` and passes the size of the family's struct (`addr_len`); the Rust "
     "`sys::SockAddr` is an enum of the two structs, and its `as_ptr` gives the same pointer and "
     "size. `[::]` conflicts with the other server's `127.0.0.1`: an IPv6 socket that takes IPv4 "
     "clients takes their port too."),
    ("listen", "listen: accept connections, queue up to BACKLOG",
     [(r"^listen\(", None)],
     "`listen` fails only for a bad descriptor or an unsupported socket (EBADF, ENOTSOCK, EOPNOTSUPP) or "
     "when another socket took the port in between (EADDRINUSE); both twins exit 1 with "
     "`server: listen: STRERROR`. From here the kernel completes handshakes on its own and queues up to "
     "BACKLOG connections for `accept`: that queue is where `server_single`'s second client waits. "
     "BACKLOG is SOMAXCONN (4096 with glibc; the kernel caps it at net.core.somaxconn): with 128, "
     "1,000 clients connecting one after another met 1-second SYN retransmits whenever the queue was "
     "full (TcpExt ListenOverflows counts them)."),
    ("getsockname", "getsockname: which port the kernel chose",
     [(r"^getsockname\(", None)],
     "Needed for `-p 0`: the `listening` line shows the real port. Fails only for a bad descriptor; "
     "both twins exit 1 with `server: getsockname: STRERROR`."),
    ("accept", "accept: the next connection",
     [(r"^accept4?\(", None)],
     "`accept` blocks until a handshake has completed. EINTR (a signal) is retried in both twins. Any "
     "other error, typically EMFILE when the process is out of descriptors, is printed "
     "(`server: accept: Too many open files`) and both twins pause 100 ms and try again, so a server "
     "that runs out of descriptors neither exits nor spins; the pending connection stays queued. The "
     "second `accept` line in the trace is the one the main thread was blocked in when SIGTERM came: "
     "it never returns (`= ?`)."),
    ("configure", "setsockopt on the connection: timeouts and TCP_NODELAY",
     # The session runs with the default idle timeout, 5 s ("\5..."); the
     # 2 s receive timeout ("\2...") is the lingering close's, shown at shutdown.
     [(r'^setsockopt\(.*SO_RCVTIMEO_OLD, "\\5', None), (r"^setsockopt\(.*(SNDTIMEO|TCP_NODELAY)", None)],
     "SO_RCVTIMEO makes a silent client's `recv` fail with EAGAIN after the idle timeout; SO_SNDTIMEO "
     "does the same for a `send` to a client that never reads; TCP_NODELAY sends each echo at once "
     "instead of holding small pieces for Nagle's algorithm. strace names the timeouts `SO_RCVTIMEO_OLD` "
     "and `SO_SNDTIMEO_OLD` (the `struct timeval` form) and shows the timeval's bytes (5 s). If one "
     "fails, both twins log `[PEER] error: STRERROR` and close that connection only (C: `close(fd)`; "
     "Rust: `continue` drops the `OwnedFd`); the server goes on."),
    ("thread", "a thread per client",
     [(r"^clone3?\(", 1)],
     "`pthread_create` in C and `thread::Builder::spawn` in Rust are the same `clone3` call, with a "
     "64 KiB stack (THREAD_STACK_SIZE; the `stack_size` strace shows is what reaches the kernel, a "
     "little less, and 64 bytes apart between the two binaries). When threads run out (EAGAIN) both twins log "
     "`[PEER] error: Resource temporarily unavailable` and close that one connection: C frees the "
     "`struct client` and calls `close(fd)`; in Rust the closure that owned `fd` is dropped, which "
     "closes it. The C thread gets a malloc'd copy of fd and peer, the Rust closure owns moved copies: "
     "either way the next `accept` cannot overwrite them."),
    ("recv", "recv: the bytes that have arrived",
     [(r"^recvfrom\(", None)],
     "glibc's `recv` is the `recvfrom` system call with no address. It returns as soon as some bytes are "
     "there, not a whole line, up to the 1024 the buffer has room for. EINTR (a signal) is retried in "
     "both twins (`recv_retry`); every other result goes back to the caller."),
    ("recv result", "what recv returned: data, end of stream, timeout, error",
     [],
     "No system call of its own: this is how the echo loop reads `recv`'s answer. 0 is the client's "
     "end of stream (FIN): pending bytes are echoed, then `disconnected`. EAGAIN (EWOULDBLOCK is the same "
     "number on Linux) is the idle timeout from SO_RCVTIMEO: `idle for N s, closing`. Anything else, "
     "such as ECONNRESET, is logged as `error: STRERROR` (`Connection reset by peer`). In each case the "
     "loop returns and the caller closes the socket. C compares `n` and `errno`; Rust matches on "
     "`Ok(0)`, `Ok(n)`, `Err(Errno::EAGAIN)`, `Err(err)`."),
    ("framing", "framing the stream into lines",
     [],
     "No system call: TCP delivers a byte stream, so one `recv` may hold half a line or several lines. "
     "Each complete line is echoed; a line that is exactly `quit` or `quit\\r` ends the session without "
     "an echo. What is left is moved to the front of the buffer for the next `recv` (C `memmove`, Rust "
     "`copy_within`). An `echo_piece` that fails (its `send_all` failed) logs `error:` and ends the "
     "session."),
    ("send", "send: until every byte is written",
     [(r"^sendto\(", None)],
     "glibc's `send` is the `sendto` system call with no address. It may write fewer bytes than asked: "
     "both twins loop until all are written. MSG_NOSIGNAL turns the SIGPIPE a vanished client would "
     "raise into an EPIPE error, so it cannot kill the server. EINTR is retried; EPIPE, ECONNRESET or "
     "EAGAIN (SO_SNDTIMEO expired: the client does not read) return -1 in C and `Err(errno)` in Rust, "
     "and the echo loop logs `error: STRERROR` and ends that session."),
    ("shutdown", "shutdown after quit: the FIN first, then a lingering read",
     [(r"^shutdown\(", None), (r'^setsockopt\(.*SO_RCVTIMEO_OLD, "\\2', None)],
     "After `quit` the server does not close at once: bytes the client still sends (or sent after "
     "`quit`) would then be unread, the kernel would answer them with RST, and an RST throws away "
     "every echo still on its way to the client. So `lingering_close` calls `shutdown(SHUT_WR)` (a FIN "
     "after the last echo: the client reads every echo, then end of stream), sets the receive timeout "
     "to the drain time (2 s, at most the idle timeout), and reads and drops what comes until the "
     "client's FIN (`recv` returns 0), an error, or the drain time has passed; then the caller closes. "
     "A failed `shutdown` or `setsockopt` (the client already reset the connection) skips the rest: "
     "there is nothing left to protect."),
    ("close", "close: the end of the connection",
     [(r"^close\(.*TCP", None)],
     "`close` sends FIN (the client sees end of stream) and frees the descriptor. Its errors are not "
     "checked in either twin: the descriptor is gone whatever it returns. In C each path calls "
     "`close(fd)` itself; in Rust the connection is an `OwnedFd` whose drop calls `close`, so no path, "
     "early return or error can leak it."),
])

# The steps shown failing on purpose (docs/strace/LANG-failures.txt), as in
# every blocking server.
FAILURES = {
    "bind": ("bind-in-use", r"^socket\(|^setsockopt\(.*IPV6_V6ONLY|^bind\(|^close\(|^\+\+\+"),
    "recv result": ("idle-timeout", r"^recvfrom\(.*= -1|^close\("),
}

TABLE = Table(INTRO, STEPS, FAILURES)
