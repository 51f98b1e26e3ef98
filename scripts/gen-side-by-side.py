#!/usr/bin/env python3
"""Generate docs/SIDE-BY-SIDE.md from the sources and from real strace runs.

    scripts/gen-side-by-side.py            write docs/SIDE-BY-SIDE.md (make docs)
    scripts/gen-side-by-side.py --strace   first run the six programs under strace and
                                           rewrite docs/strace/*.txt (make docs, when
                                           strace is installed)
    scripts/gen-side-by-side.py --check    exit 1 if the C and Rust step markers no
                                           longer match or the guide is stale
    scripts/gen-side-by-side.py --check-strace
                                           exit 1 if a fresh strace run differs from
                                           docs/strace/*.txt

The code excerpts come from step markers in both twins: a comment
`/* step: NAME */` in c-reference/*.c and `// step: NAME` in the library's
modules (src/*.rs) and src/bin/*.rs. An excerpt is the lines after the marker, up to a blank line,
the next marker, or the end of the enclosing block. The strace lines come from
docs/strace/*.txt, written by --strace from a real run (the command is at the
top of each file). Under each step, "On the wire" names the arrows of the
ladder diagrams (docs/session.svg, netns.svg, reset.svg, drawn from real
captures by scripts/ladder.py) whose packets the step sends or reads, as the
diagrams list them in their <desc>. Nothing here is typed in by hand but the
prose in STEPS.
"""
import difflib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = "docs/SIDE-BY-SIDE.md"
TRACES = "docs/strace"
PROGRAMS = ["server", "server_single", "server_fork", "server_poll", "client"]
LANGS = ["c", "rust"]
CLIENT_INPUT = b"hello\nworld\nquit\n"
TRACE_SET = "%network,poll,fcntl,clone,clone3,close,rt_sigprocmask,rt_sigtimedwait,wait4,kill,prctl,getppid"

# ---------------------------------------------------------------- the steps
# For each program, its steps in the order they run. Each step: the marker
# name, a title, which strace lines show it (regex, and which match: None for
# all, or an index), and what can fail there and how each twin handles it.

SERVER_STEPS = [
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
]

CLIENT_STEPS = [
    ("resolve", "getaddrinfo: the addresses of HOST",
     [],
     "`getaddrinfo` turns HOST (a name such as `localhost`, or a numeric IPv4 or IPv6 address) and the "
     "port into a list of addresses, of any family (AF_UNSPEC), each with the arguments `socket` needs. "
     "It reads /etc/hosts or asks DNS; for a numeric address it makes no system call. A HOST that does "
     "not resolve: `client: resolve HOST: TEXT` (TEXT from `gai_strerror`), exit 1. The C walks the "
     "`ai_next` list and frees it with `freeaddrinfo`; the Rust wrapper copies the list into a `Vec` "
     "of `AddrInfo` (each address a `SockAddr`, an enum that says its family) and frees it at once."),
    ("socket", "socket: a TCP endpoint for this address",
     [(r"^socket\(", None)],
     "The family comes from the address being tried (AF_INET or AF_INET6). A failure (EAFNOSUPPORT on "
     "a host without IPv6, EMFILE) moves on to the next address; if it was the last, "
     "`client: socket: STRERROR`, exit 1."),
    ("connect", "connect: the three-way handshake",
     [(r"^connect\(", None)],
     "`connect` returns when the handshake is complete (the SYN, SYN-ACK, ACK of `make capture`). "
     "ECONNREFUSED: nothing listens on that port (the peer answered with RST); ETIMEDOUT or "
     "EHOSTUNREACH: no answer or no route. Both twins print "
     "`client: connect 127.0.0.1:8080: Connection refused` and exit 1, naming the last address tried, "
     "after closing the socket of each address that failed. The client does not bind: the kernel picks "
     "its address and an ephemeral port."),
    ("setsockopt", "setsockopt SO_RCVTIMEO: how long to wait for an echo",
     [(r"SO_RCVTIMEO", None)],
     "With `-t N`, a `recv` that waits longer than N seconds fails with EAGAIN (`no reply within N s`, "
     "exit 1) instead of blocking forever. The call fails only for a bad descriptor or value; both twins "
     "exit 1 with `client: setsockopt SO_RCVTIMEO: STRERROR`."),
    ("poll", "poll: stdin and the socket at once",
     [(r"^poll\(", None)],
     "While waiting for the user the client also watches the socket, so a server that closes the "
     "connection (its idle timeout) is noticed at once: `server_gone` reads the 0 of end of stream and "
     "prints `server closed the connection`, exit 1. EINTR is retried; any other error: "
     "`client: poll: STRERROR`, exit 1. stdin is read with `read(2)`, not stdio or `std::io::stdin()`, "
     "whose buffers `poll` cannot see."),
    ("send", "send: the line, every byte",
     [(r"^sendto\(", None)],
     "The same `send_all` loop as the server's, with MSG_NOSIGNAL. `echo_line` hands it a line longer "
     "than 1024 bytes in pieces of 1024, reading each piece's echo before sending the next: sent whole, "
     "a line larger than the socket buffers would deadlock, both sides blocked in `send`. If it fails "
     "(EPIPE, ECONNRESET: the server is gone), both twins print `client: send: STRERROR` and exit 1."),
    ("recv", "recv: the echo",
     [(r"^recvfrom\(", None)],
     "The client asks for at most the bytes it still expects, so it never reads past its own echo. "
     "EINTR is retried (`recv_retry`); the other results are handled in the next step."),
    ("echo", "reading the echo back",
     [],
     "No system call of its own: the loop around `recv`. The echo may come back in several pieces, so "
     "the client reads until it has as many bytes as it sent. 0 (end of stream): "
     "`server closed the connection`, exit 1. EAGAIN (SO_RCVTIMEO expired): `no reply within N s`, exit "
     "1. Other errors: `client: recv: STRERROR`, exit 1. Bytes that differ from those sent: "
     "`client: echo mismatch`, exit 1."),
    ("close", "quit and close",
     [(r"^sendto\(.*quit", None), (r"^close\(.*TCP", None)],
     "At `quit` or the end of stdin the client sends `quit\\n` (the server closes its side without an "
     "echo), prints `closing connection` and closes the socket; C with `close(fd)`, Rust with "
     "`drop(fd)`. A failed send is `client: send: STRERROR`, exit 1."),
]

# server_poll: the same steps up to getsockname, then its own. Its main
# thread never blocks in recv, send or accept: it blocks in poll alone.
POLL_STEPS = [s for s in SERVER_STEPS if s[0] in
              ("signals", "shutdown thread", "socket", "setsockopt", "bind", "listen", "getsockname")] + [
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
]

# Steps shown failing, from docs/strace/LANG-failures.txt: the scenario and
# which of its trace lines to show (the program's output is always shown).
FAILURES = {
    ("server", "bind"): ("bind-in-use", r"^socket\(|^setsockopt\(.*IPV6_V6ONLY|^bind\(|^close\(|^\+\+\+"),
    ("server", "recv result"): ("idle-timeout", r"^recvfrom\(.*= -1|^close\("),
    ("client", "connect"): ("connect-refused", r"^connect\(|^\+\+\+"),
    ("client", "poll"): ("server-closed", r"^poll\(|^recvfrom\(|^\+\+\+"),
    ("server_poll", "deadline"): ("poll-idle-timeout", r"^poll\(|^close\("),
}

# server_fork: the server's steps, with a process per client instead of a
# thread, and a signal thread that also reaps the children.
FORK_STEPS = {
    "signals": ("signals", "block SIGINT, SIGTERM and SIGCHLD",
     [(r"^rt_sigprocmask\(SIG_BLOCK, \[INT TERM CHLD\]", None)],
     "As in `server`, the signals are blocked before any other thread exists and taken by one thread "
     "with `sigwait`; SIGCHLD, which the kernel sends the parent when a child exits, joins SIGINT and "
     "SIGTERM, so the reaping needs no handler either. First both twins set SIGCHLD back to its "
     "default (`signal(SIGCHLD, SIG_DFL)`): a program started with SIGCHLD ignored (that survives "
     "exec) would have its children reaped by the kernel, and `waitpid` would find none. "
     "`pthread_sigmask` fails only for an invalid argument: `server_fork: pthread_sigmask: STRERROR`, "
     "exit 1."),
    "signal thread": ("signal thread", "one thread takes the signals: reaping and shutdown",
     [(r"^clone3\(", 0), (r"^rt_sigtimedwait\(", None)],
     "The thread sleeps in `sigwait` (`rt_sigtimedwait`). SIGCHLD: it reaps (below) and waits again. "
     "SIGINT or SIGTERM: it ends the children, prints `shutting down` and exits 0. It does all of "
     "this with the lock of the children list held, and that is what makes the fork safe: while "
     "`main` forks (with the same lock), this thread is in `sigwait` or waiting for the lock, so it "
     "holds no other lock (stdio's, malloc's, Rust's stdout lock) that the child would find locked "
     "forever. If it cannot be started, `server_fork: pthread_create: STRERROR`, exit 1."),
    "accept": ("accept", "accept: the next connection",
     [(r"^accept4?\(", None)],
     "As in `server`: EINTR is retried, other errors (EMFILE) are printed and paused on for 100 ms. "
     "The parent holds no client socket once it has forked (it closes its copy), so descriptors run "
     "out only with the listen queue's connections, not with the clients being served. The last "
     "`accept` line is the one the main thread was blocked in when SIGTERM came (`= ?`)."),
    "fork": ("fork", "fork: a process per client",
     [(r"^clone\(child_stack=NULL", None)],
     "glibc's `fork` is the `clone` system call with SIGCHLD as the exit signal and no new stack: the "
     "child is a copy of the whole process (its memory copy-on-write, its descriptors, the connection "
     "included), with one thread, the caller; the signal thread is not copied. `fork` returns twice: "
     "the child's PID in the parent, 0 in the child. Both twins fork with the children list's lock "
     "held and, first, room reserved for one more PID (C: `realloc`, Rust: `try_reserve`), so the PID "
     "is stored before the signal thread can reap it and nothing can fail after the fork. When "
     "processes run out (EAGAIN, also from a pids cgroup), or the room cannot be reserved (ENOMEM), "
     "both twins log `[PEER] error: STRERROR` and close that one connection; the server goes on."),
    "parent close": ("parent close", "the parent closes its copy of the connection",
     [(r"^close\(.*->", 0)],
     "The child has its own descriptor for the connection. The parent's `close` does not end the "
     "connection (the kernel sends FIN when the last descriptor of a socket is closed, here the "
     "child's); it keeps the parent from holding one descriptor per client it ever served, and the "
     "next child from inheriting it. C: `close(fd)`; Rust: `drop(fd)`, the `OwnedFd` the child's "
     "branch did not take. Its errors are not checked: the descriptor is gone whatever it returns."),
    "child": ("child", "in the child: close the listening socket, die with the parent",
     [(r"^close\([^>]*<TCP:\[[^>]*\]>\) = 0$", 0), (r"^prctl\(", 0), (r"^getppid\(", 0),
      (r"^rt_sigprocmask\(SIG_UNBLOCK", 0)],
     "The child closes its copy of the listening socket: accepting is the parent's business, and a "
     "child that kept it would hold the port open after the server is gone. `prctl(PR_SET_PDEATHSIG, "
     "SIGKILL)` asks the kernel for SIGKILL when the server dies, even by SIGKILL; if the server died "
     "before that call, the child's parent is already another process (init, or a subreaper), so "
     "`getppid` is compared with the server's PID, taken before the fork, and the child exits at once "
     "if they differ (`prctl` itself fails only for a bad signal number: then too). Then it unblocks the signals it inherited blocked, so Ctrl-C (sent to the whole "
     "process group) or `kill` ends it as any program, and runs the same echo loop as every server. "
     "Between `fork` and exit, POSIX allows the child of a process with threads only "
     "async-signal-safe calls; the echo loop's `printf`/`println!` and allocations are safe here only "
     "because no other thread held a lock at the fork (the signal thread step)."),
    "close": ("close", "close and exit: the end of the connection and of the child",
     [(r"^close\(.*->", 2), (r"^\+\+\+ exited with", 2)],
     "The child's `close` is the last descriptor of the connection: the kernel sends FIN. Then "
     "`_exit(0)`: stdout holds nothing (every log line went out in one write), and `_exit` runs none "
     "of the parent's atexit handlers in the child. The exit makes the kernel send SIGCHLD to the "
     "server; the child stays a zombie, its PID and exit status kept, until the server reaps it. "
     "Neither can fail in a way the child could act on: `close` frees the descriptor whatever it "
     "returns, and `_exit` does not return."),
    "reap": ("reap", "reap: waitpid until no child is left to reap",
     [(r"^wait4\(-1, NULL, WNOHANG", None)],
     "glibc's `waitpid` is the `wait4` system call. One SIGCHLD may stand for several exits (a pending "
     "signal is not counted), so the signal thread calls `waitpid(-1, NULL, WNOHANG)` until it returns "
     "0 (the other children still run) or fails with ECHILD (no child at all), and takes each reaped "
     "PID out of the list. No zombie outlives its client by more than the time this takes. ECHILD is "
     "the only failure here, and it is the loop's normal end; EINTR cannot happen, since the thread "
     "has every signal it takes blocked and no handler exists."),
    "kill": ("kill", "shutdown: end every child, wait for each, then exit",
     [(r"^kill\(", None), (r"^wait4\(-1, NULL, 0", None), (r"^\+\+\+ killed by", None)],
     "On SIGINT or SIGTERM the signal thread sends SIGKILL to every PID in the list (a child has "
     "nothing to clean up, and no child can block, ignore or, stopped, hold off SIGKILL), then "
     "`waitpid(-1, NULL, 0)` until ECHILD: no process of the server is left when it prints `shutting "
     "down` and exits 0. The list holds only children not yet reaped, and the kernel keeps a PID for "
     "its process until it is reaped, so `kill` never reaches a stranger that got the PID later (and "
     "cannot fail with ESRCH: a zombie still has its PID). The "
     "lock stays held: `main` cannot fork again. The client of the killed child sees end of stream "
     "(or a reset, if it had sent bytes the child never read)."),
}
FORK_ORDER = ["signals", "signal thread", "socket", "setsockopt", "bind", "listen", "getsockname", "accept",
              "configure", "fork", "parent close", "child", "recv", "recv result", "framing", "send",
              "shutdown", "close", "reap", "kill"]

STEPS = {
    "server": SERVER_STEPS,
    "server_single": [s for s in SERVER_STEPS if s[0] != "thread"],
    "server_fork": [FORK_STEPS.get(name) or next(s for s in SERVER_STEPS if s[0] == name)
                    for name in FORK_ORDER],
    "server_poll": POLL_STEPS,
    "client": CLIENT_STEPS,
}

INTRO = {
    "server": "The echo server with one thread per client: `c-reference/server.c` and "
              "`src/bin/server.rs` (its `main` is `run_server` in `src/server.rs`, shared with "
              "`server_single`).",
    "server_single": "The same server without threads: each client is served to the end in the main "
                     "thread, the next ones wait in the listen backlog. `c-reference/server_single.c` "
                     "and `src/bin/server_single.rs`.",
    "server_fork": "The same server with a process per client: after `accept` it forks, the child "
                   "serves the client and exits, the parent closes its copy of the connection and "
                   "accepts again; the signal thread reaps the children and, at shutdown, ends them "
                   "first. `c-reference/server_fork.c` and `src/bin/server_fork.rs` (its own `main`, "
                   "the C `main` translated: the child must close the listening socket). The trace "
                   "has a section per process: the session's child, then a second client's child, "
                   "still connected when SIGTERM came.",
    "server_poll": "Every client in one thread: non-blocking sockets and one poll(2) for all of them "
                   "(Stevens, UNP chapter 6). `c-reference/server_poll.c` and `src/bin/server_poll.rs`; "
                   "the steps up to `getsockname` are the other servers' (the Rust ones from "
                   "`src/server.rs`), then the loop: build the poll array, wait, serve who is ready. "
                   "What a thread keeps on its stack is a `struct client` here (C) or a `Client` "
                   "(Rust): the buffer, the echo not yet sent, the state, the deadline.",
    "client": "The line client: `c-reference/client.c` and `src/bin/client.rs`.",
}

# ---------------------------------------------------------------- sources


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read().split("\n")


# The library's modules, where the Rust twins' shared steps live (all of
# src/ but the wrappers in sys.rs and the binaries).
LIB_FILES = sorted(os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "src", "*.rs"))
                   if not path.endswith("sys.rs"))

C_MARKER = re.compile(r"^(\s*)/\* step: (.+?) \*/\s*$")
RUST_MARKER = re.compile(r"^(\s*)// step: (.+?)\s*$")
C_FUNCTION = re.compile(r"^[a-z][\w \*]*?\b(\w+)\(")
RUST_FUNCTION = re.compile(r"^(?:pub(?:\([\w:]+\))? )?fn (\w+)")


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


class Marker:
    def __init__(self, path, index, step, function, lines):
        self.path, self.index, self.step, self.function, self.lines = path, index, step, function, lines


def markers(path, marker_re, function_re):
    """Every step marker of a file: its step, enclosing function and excerpt."""
    lines = read(path)
    found = []
    function = None
    for i, line in enumerate(lines):
        f = function_re.match(line)
        if f and not line.rstrip().endswith(";"):
            function = f.group(1)
        m = marker_re.match(line)
        if not m:
            continue
        depth = len(m.group(1))
        excerpt = []
        for following in lines[i + 1:]:
            if (following.strip() == "" or C_MARKER.match(following) or RUST_MARKER.match(following)
                    or indent_of(following) < depth):
                break
            excerpt.append(following[depth:])
        found.append(Marker(path, i + 1, m.group(2), function, excerpt))
    return found


def rust_functions(path):
    """Top-level functions of a Rust file: name -> body text."""
    lines = read(path)
    bodies, name, start = {}, None, 0
    for i, line in enumerate(lines):
        f = RUST_FUNCTION.match(line)
        if f:
            name, start = f.group(1), i
        elif name and line == "}":
            bodies[name] = "\n".join(lines[start:i + 1])
            name = None
    return bodies


def rust_markers(program):
    """The markers of a Rust twin: those in its bin file, and those in the
    library functions it reaches (calls, directly or through others)."""
    bin_path = f"src/bin/{program}.rs"
    bin_text = "\n".join(read(bin_path))
    lib = {name: body for path in LIB_FILES for name, body in rust_functions(path).items()}
    # A function the binary defines itself (server_poll's configure_client)
    # is its own, not the library's of the same name.
    own = set(rust_functions(bin_path))
    reached = {name for name in lib if name not in own and re.search(rf"\b{name}\b", bin_text)}
    while True:
        more = {name for name in lib for r in reached if name not in reached
                and re.search(rf"\b{name}\s*[(:]", lib[r].split("\n", 1)[1])}
        if not more:
            break
        reached |= more
    lib_markers = [m for path in LIB_FILES for m in markers(path, RUST_MARKER, RUST_FUNCTION)
                   if m.function in reached]
    return lib_markers + markers(bin_path, RUST_MARKER, RUST_FUNCTION)


def c_markers(program):
    return markers(f"c-reference/{program}.c", C_MARKER, C_FUNCTION)


def sys_wrapper(name):
    """`pub fn NAME` of src/sys.rs with its doc comment, or None."""
    lines = read("src/sys.rs")
    for i, line in enumerate(lines):
        if re.match(rf"^pub fn {name}\b", line):
            start = i
            while start > 0 and lines[start - 1].startswith("///"):
                start -= 1
            end = i
            while lines[end] != "}":
                end += 1
            return "\n".join(lines[start:end + 1])
    return None


def check_steps():
    """The C and Rust step sequences of each program, compared with each
    other and with STEPS. Returns a list of problems (empty: they match)."""
    problems = []
    for program in PROGRAMS:
        want = [s[0] for s in STEPS[program]]
        twins = {"C": c_markers(program), "Rust": rust_markers(program)}
        for lang, found in twins.items():
            names = [m.step for m in found]
            for name in sorted(set(names)):
                where = ", ".join(f"{m.path}:{m.index}" for m in found if m.step == name)
                if names.count(name) > 1:
                    problems.append(f"{program}: {lang} has step '{name}' more than once ({where})")
                if name not in want:
                    problems.append(f"{program}: {lang} has step '{name}' ({where}), which the guide does "
                                    f"not know (add it to STEPS in scripts/gen-side-by-side.py)")
            for name in want:
                if name not in names:
                    problems.append(f"{program}: {lang} has no marker for step '{name}'")
            for m in found:
                if not m.lines:
                    problems.append(f"{program}: the {lang} marker '{m.step}' at {m.path}:{m.index} "
                                    f"has no code after it")
        # Within a function both twins have, the steps come in the same order.
        by_function = {lang: {} for lang in twins}
        for lang, found in twins.items():
            for m in found:
                by_function[lang].setdefault(m.function, []).append(m.step)
        for function in sorted(set(by_function["C"]) & set(by_function["Rust"])):
            c, rust = by_function["C"][function], by_function["Rust"][function]
            c = [step for step in c if step in rust]
            rust = [step for step in rust if step in c]
            if c != rust:
                problems.append(f"{program}: the steps of {function}() differ: C {c}, Rust {rust}")
    # The steps the ladder diagrams name are steps of the guide.
    for (side, name), seen in sorted(wire_arrows().items()):
        if name not in [s[0] for s in STEPS[side]]:
            where = ", ".join(f"docs/{picture} arrow {n}" for picture, sent, read in seen for n in sent + read)
            problems.append(f"{side}: the diagrams name a step '{name}' ({where}), which the guide does not "
                            f"have (scripts/ladder.py names the steps)")
    return problems


# ---------------------------------------------------------------- the diagrams

# The ladder diagrams of docs/ and whose steps they show: the reset's client
# is scripts/reset-client.py, not the project's client.
DIAGRAMS = [("session.svg", ("client", "server")), ("netns.svg", ("client", "server")),
            ("reset.svg", ("server",))]
ARROW_LINE = re.compile(r"^(\d+)\. (client|server) -> (client|server)  ")
ARROW_STEP = re.compile(r"^(client|server): ([a-z][a-z ]*?)(?: \(.*\))?$")


def wire_arrows():
    """(side, step) -> [(diagram, arrows it sends, arrows it reads)], from the
    packet list each diagram holds in its <desc> (scripts/ladder.py --list)."""
    found = {}
    for picture, sides in DIAGRAMS:
        path = os.path.join(ROOT, "docs", picture)
        if not os.path.exists(path):
            continue
        desc = ElementTree.parse(path).getroot().find("{http://www.w3.org/2000/svg}desc")
        for line in (desc.text or "").split("\n"):
            arrow = ARROW_LINE.match(line)
            if not arrow:
                continue
            number, sender = int(arrow.group(1)), arrow.group(2)
            for part in line.split(" | ")[1:3]:
                step = ARROW_STEP.match(part)
                if not step or step.group(2) == "kernel" or step.group(1) not in sides:
                    continue
                entry = found.setdefault((step.group(1), step.group(2)), {})
                sent, read = entry.setdefault(picture, ([], []))
                (sent if step.group(1) == sender else read).append(number)
    return {key: [(picture, sent, read) for picture, (sent, read) in entry.items()]
            for key, entry in found.items()}


def numbers_text(numbers):
    text = [str(n) for n in numbers]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


def on_the_wire(program, name):
    """The guide's line that links a step to its arrows, or None."""
    side = "client" if program == "client" else "server"
    seen = wire_arrows().get((side, name))
    if not seen:
        return None
    parts = []
    for picture, sent, read in seen:
        what = []
        if sent:
            what.append(f"sends arrow{'s' if len(sent) > 1 else ''} {numbers_text(sent)}")
        if read:
            what.append(f"reads arrow{'s' if len(read) > 1 else ''} {numbers_text(read)}")
        parts.append(f"[{picture}]({picture}) {' and '.join(what)}")
    return f"**On the wire:** {'; '.join(parts)}."


# ---------------------------------------------------------------- strace runs


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def wait_until(what, predicate, deadline):
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"gen-side-by-side: gave up waiting for {what}")
        time.sleep(0.01)


def server_idle(pid, program="server"):
    """True when the server's main thread is blocked in accept (x86_64: 43)
    and no client thread or child process is left: the session is over in
    every thread and process. For server_poll: blocked in poll with no socket
    open but the listener."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        with open(f"/proc/{pid}/syscall") as f:
            number = f.read().split()[0]
        sockets = [fd for fd in os.listdir(f"/proc/{pid}/fd")
                   if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")]
    except OSError:
        return False
    if program == "server_poll":
        # poll and ppoll: 7 and 271 on x86_64; aarch64 has ppoll only, 73
        return len(tasks) == 2 and number in ("7", "271", "73") and len(sockets) == 1
    # accept and accept4: 43 and 288 on x86_64, 202 and 242 on aarch64
    return len(tasks) == 2 and number in ("43", "288", "202", "242") and not children(pid)


def child_in_recv(pid):
    """True when the server has a child process and it is blocked in recv
    (recvfrom: 45 on x86_64, 207 on aarch64)."""
    for child in children(pid):
        try:
            with open(f"/proc/{child}/syscall") as f:
                if f.read().split()[0] in ("45", "207"):
                    return True
        except OSError:
            pass
    return False


def strace_command(prefix, argv):
    return ["strace", "-ff", "-yy", "-e", f"trace={TRACE_SET}", "-o", prefix] + argv


def normalise(line, port):
    line = re.sub(r"\)\s+= ", ") = ", line)  # strace pads short lines
    line = re.sub(r"TCP(v6)?:\[\d+\]", r"TCP\1:[inode]", line)
    line = re.sub(r"pipe:\[\d+\]", "pipe:[inode]", line)
    line = re.sub(r"<[^<>]*/input>", "<input>", line)  # the client's stdin, a temporary file
    line = re.sub(rf"(:|htons\(){port}\b", r"\1PORT", line)
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:CPORT", line)
    line = re.sub(r"htons\([1-9]\d*\)", "htons(CPORT)", line)
    line = re.sub(r"\b(child_tid|parent_tid|stack|tls)=0x[0-9a-f]+", r"\1=0x...", line)
    line = re.sub(r"parent_tid=\[\d+\]", "parent_tid=[TID]", line)
    line = re.sub(r"^(clone\(child_stack=NULL.*) = \d+$", r"\1 = PID", line)  # fork: a process
    line = re.sub(r"^(clone3?\(.*) = \d+$", r"\1 = TID", line)
    line = re.sub(r"\bchild_tidptr=0x[0-9a-f]+", "child_tidptr=0x...", line)
    line = re.sub(r"^(wait4\(.*|getppid\(\)) = \d+$", r"\1 = PID", line)
    line = re.sub(r"^kill\(\d+,", "kill(PID,", line)
    line = re.sub(r"si_pid=\d+", "si_pid=PID", line)
    line = re.sub(r"^(recvfrom\([^,]*, )0x[0-9a-f]+", r"\g<1>0x...", line)  # a buffer nothing was read into
    line = re.sub(r"^(poll\(.*\], \d+, )[1-9]\d*\)", r"\1MS)", line)  # ms to the nearest deadline
    line = re.sub(r"^(accept4?\([^,]*, )0x[0-9a-f]+", r"\g<1>0x...", line)  # no address: EAGAIN
    return line


def keep(line):
    """Lines about sockets, the threads and the shutdown signals; not the
    loader's close calls or Rust's startup poll of fds 0-2."""
    return ("TCP" in line or re.match(r"(clone3?|rt_sigtimedwait|wait4|kill|prctl|getppid)\(", line) is not None
            or re.match(r"rt_sigprocmask\(SIG_(UN)?BLOCK, \[INT TERM( CHLD)?\]", line) is not None
            or line.startswith("+++"))


def read_trace(prefix, main_pid, port):
    directory, base = os.path.split(prefix)
    pids = sorted(int(name.split(".")[-1]) for name in os.listdir(directory) if name.startswith(base + "."))
    pids.remove(main_pid)
    # strace -ff writes a file per thread and per process: the processes are
    # the PIDs the main thread's forks returned (clone without a new stack).
    with open(f"{prefix}.{main_pid}") as f:
        forked = {int(pid) for pid in re.findall(r"^clone\(child_stack=NULL.* = (\d+)$", f.read(), re.M)}
    out = ["# main thread"]
    threads = processes = 0
    for pid in [main_pid] + pids:
        if pid in forked:
            processes += 1
            out.append(f"# child process {processes}")
        elif pid != main_pid:
            threads += 1
            out.append(f"# thread {threads + 1}")
        with open(f"{prefix}.{pid}") as f:
            out += [normalise(line.rstrip("\n"), port) for line in f if keep(normalise(line, port))]
    return out


def run_session(lang, program, workdir):
    """One scripted session: the server under strace, the client (under strace
    when the server is the threaded one) sends two lines and quit. Returns
    {program: transcript lines}."""
    build = os.path.join(ROOT, "build", lang)
    input_path = os.path.join(workdir, "input")
    with open(input_path, "wb") as f:
        f.write(CLIENT_INPUT)
    server_argv = [os.path.join(build, program), "-b", "127.0.0.1", "-p", "0"]
    server_prefix = os.path.join(workdir, f"{lang}-{program}")
    tracer = subprocess.Popen(strace_command(server_prefix, server_argv), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    held = None
    try:
        listening = tracer.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) ", listening)
        if not m:
            raise SystemExit(f"gen-side-by-side: {lang} {program} printed {listening!r}")
        port = m.group(1)
        wait_until("the traced server's pid", lambda: children(tracer.pid), 10)
        server_pid = children(tracer.pid)[0]
        client_argv = [os.path.join(build, "client"), "127.0.0.1", port]
        client_prefix = os.path.join(workdir, f"{lang}-client")
        traced_client = program == "server"
        command = strace_command(client_prefix, client_argv) if traced_client else client_argv
        with open(input_path, "rb") as stdin:
            client = subprocess.run(command, stdin=stdin, capture_output=True, timeout=10)
        if client.returncode != 0:
            raise SystemExit(f"gen-side-by-side: {lang} client failed: {client.stderr.decode()}")
        wait_until(f"{lang} {program} back in accept", lambda: server_idle(server_pid, program), 10)
        if program == "server_fork":
            # A second client that stays connected: SIGTERM finds a child to end.
            held = socket.create_connection(("127.0.0.1", int(port)))
            wait_until(f"{lang} {program}: a child waits in recv", lambda: child_in_recv(server_pid), 10)
        os.kill(server_pid, signal.SIGTERM)
        tracer.wait(timeout=10)
    finally:
        if held:
            held.close()
        kill_leftovers(tracer)
    traces = {program: read_trace(server_prefix, server_pid, port)}
    if traced_client:
        client_pids = sorted(int(n.split(".")[-1]) for n in os.listdir(workdir)
                             if n.startswith(f"{lang}-client."))
        traces["client"] = read_trace(client_prefix, client_pids[0], port)
    return traces


def start_server(build, program, args):
    """An untraced server on 127.0.0.1; returns (process, port)."""
    server = subprocess.Popen([os.path.join(build, program), "-b", "127.0.0.1"] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    listening = server.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+) ", listening)
    if not m:
        server.kill()
        server.wait()
        raise SystemExit(f"gen-side-by-side: {program} printed {listening!r}")
    return server, m.group(1)


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def kill_leftovers(tracer):
    """After a failed run: the traced server (our child's child) and strace
    itself, by PID, if still running."""
    if tracer.poll() is None:
        for pid in children(tracer.pid):
            os.kill(pid, signal.SIGKILL)
        tracer.kill()
        tracer.wait()


def outcome(argv, note, returncode, stdout, stderr, port):
    lines = [f"$ {' '.join(argv)}" + (f"    ({note})" if note else ""), f"exit status: {returncode}"]
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        for line in text.decode(errors="replace").splitlines():
            lines.append(f"{name}: {normalise(line, port)}")
    return lines


def run_failures(lang, workdir):
    """Failures seen on purpose: a port in use, a refused connection, an idle
    client. Returns {scenario: lines} for docs/strace/LANG-failures.txt."""
    build = os.path.join(ROOT, "build", lang)
    found = {}

    # bind: a second server on the port the first one listens on, asking
    # for every IPv6 and IPv4 address (-b ::): the trace shows the IPv6
    # socket, IPV6_V6ONLY set to 0, and the sockaddr_in6 bind is given.
    first, port = start_server(build, "server", ["-p", "0"])
    try:
        argv = ["server", "-b", "::", "-p", port]
        prefix = os.path.join(workdir, f"{lang}-bind")
        run = subprocess.run(strace_command(prefix, [os.path.join(build, argv[0])] + argv[1:]),
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    finally:
        stop(first)
    argv[-1] = "PORT"
    found["bind-in-use"] = (outcome(argv, "another server listens on 127.0.0.1:PORT; this one asks for "
                                    "every IPv6 and IPv4 address of the port", run.returncode,
                                    run.stdout, run.stderr, port)
                            + main_only(prefix, port))

    # connect: the port of a server that has just stopped.
    gone, port = start_server(build, "server", ["-p", "0"])
    stop(gone)
    argv = ["client", "127.0.0.1", port]
    prefix = os.path.join(workdir, f"{lang}-connect")
    run = subprocess.run(strace_command(prefix, [os.path.join(build, argv[0])] + argv[1:]),
                         stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    argv[-1] = "PORT"
    found["connect-refused"] = (outcome(argv, "nothing listens on PORT any more", run.returncode,
                                        run.stdout, run.stderr, port) + main_only(prefix, port))

    # The idle timeout: a client that connects and says nothing for 1 s.
    server_argv = ["server", "-b", "127.0.0.1", "-p", "0", "-t", "1"]
    server_prefix = os.path.join(workdir, f"{lang}-idle-server")
    tracer = subprocess.Popen(strace_command(server_prefix, [os.path.join(build, "server")] + server_argv[1:]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        listening = tracer.stdout.readline().decode()
        port = re.match(r"listening on 127\.0\.0\.1:(\d+) ", listening).group(1)
        wait_until("the traced server's pid", lambda: children(tracer.pid), 10)
        server_pid = children(tracer.pid)[0]
        client_argv = ["client", "127.0.0.1", port]
        client_prefix = os.path.join(workdir, f"{lang}-idle-client")
        client = subprocess.Popen(strace_command(client_prefix, [os.path.join(build, "client")] + client_argv[1:]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        client.wait(timeout=10)  # stdin stays open and silent: the client ends when the server closes
        client.stdin.close()
        client_out, client_err = client.stdout.read(), client.stderr.read()
        wait_until(f"{lang} server back in accept", lambda: server_idle(server_pid), 10)
        os.kill(server_pid, signal.SIGTERM)
        server_out, server_err = tracer.communicate(timeout=10)
    finally:
        kill_leftovers(tracer)
    found["idle-timeout"] = (outcome(server_argv, "a client connects and sends nothing", 0,
                                     listening.encode() + server_out, server_err, port)
                             + read_trace(server_prefix, server_pid, port))
    client_argv[-1] = "PORT"
    found["server-closed"] = (outcome(client_argv, "stdin open, nothing typed; the server has -t 1",
                                      client.returncode, client_out, client_err, port)
                              + main_only(client_prefix, port))

    # server_poll's idle timeout: a raw socket that connects, says nothing,
    # and reads until the server closes (the deadline, not SO_RCVTIMEO).
    server_argv = ["server_poll", "-b", "127.0.0.1", "-p", "0", "-t", "1"]
    server_prefix = os.path.join(workdir, f"{lang}-poll-idle")
    tracer = subprocess.Popen(strace_command(server_prefix, [os.path.join(build, "server_poll")] + server_argv[1:]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        listening = tracer.stdout.readline().decode()
        port = re.match(r"listening on 127\.0\.0\.1:(\d+) ", listening).group(1)
        wait_until("the traced server's pid", lambda: children(tracer.pid), 10)
        server_pid = children(tracer.pid)[0]
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as silent:
            while silent.recv(1024):
                pass
        wait_until(f"{lang} server_poll back in poll", lambda: server_idle(server_pid, "server_poll"), 10)
        os.kill(server_pid, signal.SIGTERM)
        server_out, server_err = tracer.communicate(timeout=10)
    finally:
        kill_leftovers(tracer)
    found["poll-idle-timeout"] = (outcome(server_argv, "a client connects and sends nothing", 0,
                                          listening.encode() + server_out, server_err, port)
                                  + main_only(server_prefix, port))
    return found


def main_only(prefix, port):
    """The main thread's trace (the oldest pid) of a run under strace -ff."""
    directory, base = os.path.split(prefix)
    pid = min(int(n.split(".")[-1]) for n in os.listdir(directory) if n.startswith(base + "."))
    with open(f"{prefix}.{pid}") as f:
        return ["# main thread"] + [normalise(line.rstrip("\n"), port) for line in f
                                    if keep(normalise(line, port))]


def transcript_header(lang, program):
    server = "server" if program == "client" else program
    lines = [
        f"# {lang}-{program}: build/{lang}/{program} under strace, written by scripts/gen-side-by-side.py --strace",
        f"# session: build/{lang}/{server} -b 127.0.0.1 -p 0; build/{lang}/client 127.0.0.1 PORT < input",
        "# input: 'hello\\n' 'world\\n' 'quit\\n'; then SIGTERM to the server once it is back in "
        + ("poll" if program == "server_poll" else "accept")
        + ("; a second client connects first and stays silent, its child waiting in recv"
           if program == "server_fork" else ""),
        f"# strace -ff -yy -e trace={TRACE_SET}",
        "# (one file per thread and per process, shown one after the other); kept: lines about TCP",
        "# sockets, clone/clone3, the INT TERM (CHLD) mask, rt_sigtimedwait, wait4, kill, prctl, getppid, exits;",
        "# normalised: PORT = server port, CPORT = client port, inode, TID, PID and pointers",
    ]
    return lines


def run_all_sessions(outdir):
    workdir = tempfile.mkdtemp(prefix="side-by-side-")
    try:
        for lang in LANGS:
            for program in ["server", "server_single", "server_fork", "server_poll"]:
                for name, lines in run_session(lang, program, workdir).items():
                    with open(os.path.join(outdir, f"{lang}-{name}.txt"), "w") as f:
                        f.write("\n".join(transcript_header(lang, name) + lines) + "\n")
            lines = [
                f"# {lang}-failures: build/{lang}/* failing on purpose, under strace, written by "
                "scripts/gen-side-by-side.py --strace",
                f"# strace -ff -yy -e trace={TRACE_SET}; kept and normalised as in {lang}-server.txt",
            ]
            for scenario, seen in run_failures(lang, workdir).items():
                lines += [f"## {scenario}"] + seen
            with open(os.path.join(outdir, f"{lang}-failures.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
    finally:
        shutil.rmtree(workdir)


def load_failures(lang):
    """docs/strace/LANG-failures.txt: scenario -> its lines."""
    scenarios, current = {}, None
    path = os.path.join(ROOT, TRACES, f"{lang}-failures.txt")
    if not os.path.exists(path):
        return scenarios
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("## "):
                current = scenarios.setdefault(line[3:], [])
            elif current is not None:
                current.append(line)
    return scenarios


def load_trace(lang, program):
    path = os.path.join(ROOT, TRACES, f"{lang}-{program}.txt")
    if not os.path.exists(path):  # a new program before its first `make docs`: the guide is stale
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if not line.startswith("# ") or line.startswith("# main")
                or line.startswith("# thread") or line.startswith("# child")]


def pick(trace, filters):
    """The trace lines a step's filters select, in trace order."""
    chosen = set()
    for pattern, which in filters:
        hits = [i for i, line in enumerate(trace) if re.search(pattern, line)]
        if which is None:
            chosen.update(hits)
        elif -len(hits) <= which < len(hits):  # -1: the last one
            chosen.add(hits[which])
    return [trace[i] for i in sorted(chosen)]


# ---------------------------------------------------------------- the guide


def heading(program, number, title):
    return f"{program} {number}. {title}"


def slug(text):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def code_block(lang, lines):
    return [f"```{lang}"] + lines + ["```"]


def generate():
    out = [
        "# Side by side: the C reference and its Rust twin, step by step",
        "",
        "<!-- Generated by `make docs` (scripts/gen-side-by-side.py) from the step markers in",
        "     c-reference/*.c, src/*.rs and src/bin/*.rs, and from docs/strace/*.txt. Do not edit:",
        "     edit the sources or the generator, then run `make docs`. `make test` fails when this",
        "     file is stale or the C and Rust steps no longer match. -->",
        "",
        "For each program, each step it takes: the C code and the Rust code next to each other, the "
        "system call as `strace` shows it, and what can fail there and how each twin handles it.",
        "",
        "- The code is copied from the sources by the generator: each excerpt starts at a comment "
        "`/* step: NAME */` (C) or `// step: NAME` (Rust) and runs to the next blank line or the end "
        "of its block. Search the sources for the marker to see the code around it.",
        "- The Rust code of the steps the servers share is in the library's modules (`src/server.rs` "
        "the server steps, `src/net.rs` the send and recv loops, `src/framing.rs` the framing and "
        "escaping, `src/cli.rs` the command line); the calls into the C "
        "library are thin wrappers in `src/sys.rs` (the only `unsafe` code), shown under each step.",
        "- The strace lines are copied from `docs/strace/LANG-PROGRAM.txt`: real runs of the built "
        "programs (`build/c/*`, `build/rust/*`) in one scripted session (the client sends `hello`, "
        "`world`, `quit`, then the server gets SIGTERM), made by `make docs` with "
        f"`strace -ff -yy -e trace={TRACE_SET}`. Port numbers, inode numbers, thread ids and pointers "
        "are replaced by names (PORT is the server's port, CPORT the client's); `-yy` shows each "
        "socket's endpoints after its descriptor number.",
        "- Some steps are also shown failing on purpose (a port in use, a refused connection, an idle "
        "client): `make docs` runs those too, under strace, into `docs/strace/LANG-failures.txt`, with "
        "the command, its exit status and what it printed.",
        "- The ladder diagrams [session.svg](session.svg) (`make capture`: connect, two lines, `quit`), "
        "[netns.svg](netns.svg) (`make demo-netns`: the same between two network namespaces) and "
        "[reset.svg](reset.svg) (`make capture`: a client that ends with RST) draw each packet of a real "
        "capture as an arrow, with the step that sent it and the step that reads it. Under each step, "
        "**On the wire** names its arrows.",
        "",
        "## Contents",
        "",
    ]
    for program in PROGRAMS:
        out.append(f"- [{program}](#{slug(program)})")
        for number, (name, title, _, _) in enumerate(STEPS[program], 1):
            out.append(f"  {number}. [{title}](#{slug(heading(program, number, title))})")
    out.append("")
    shown = {}  # (step, C excerpt, Rust excerpt, strace lines) -> the heading that shows it
    for program in PROGRAMS:
        out += [f"## {program}", "", INTRO[program], ""]
        c = {m.step: m for m in c_markers(program)}
        rust = {m.step: m for m in rust_markers(program)}
        traces = {lang: load_trace(lang, program) for lang in LANGS}
        for number, (name, title, filters, fails) in enumerate(STEPS[program], 1):
            cm, rm = c[name], rust[name]
            seen = {lang: pick(traces[lang], filters) for lang in LANGS}
            title_line = heading(program, number, title)
            out += [f"### {title_line}", ""]
            key = (name, tuple(cm.lines), rm.path, tuple(rm.lines), tuple(seen["c"]), tuple(seen["rust"]))
            if key in shown:
                first = shown[key]
                out += [f"The same code as [{first}](#{slug(first)}): `{cm.function}()` in `{cm.path}`, and "
                        f"`{rm.function}()` in `{rm.path}`; "
                        + ("the same strace lines in "
                           f"`{TRACES}/c-{program}.txt` and `{TRACES}/rust-{program}.txt`." if filters else
                           "no system call of its own."), ""]
                continue
            shown[key] = title_line
            out += [
                "<table>",
                f"<tr><th>C: <code>{cm.function}()</code> in <code>{cm.path}</code></th>"
                f"<th>Rust: <code>{rm.function}()</code> in <code>{rm.path}</code></th></tr>",
                "<tr><td>", "",
            ]
            out += code_block("c", cm.lines)
            out += ["", "</td><td>", ""]
            out += code_block("rust", rm.lines)
            out += ["", "</td></tr>", "</table>", ""]
            for called in dict.fromkeys(re.findall(r"\bsys::(\w+)\(", "\n".join(rm.lines))):
                text = sys_wrapper(called)
                if text:
                    out += [f"<details><summary>The wrapper <code>sys::{called}</code> in "
                            f"<code>src/sys.rs</code></summary>", ""]
                    out += code_block("rust", text.split("\n"))
                    out += ["", "</details>", ""]
            wire = on_the_wire(program, name)
            if wire:
                out += [wire, ""]
            if filters:
                out.append(f"strace shows (C, `{TRACES}/c-{program}.txt`):")
                out.append("")
                out += code_block("", seen["c"] or ["(no such line in this run)"])
                out.append("")
                if seen["rust"] == seen["c"]:
                    out.append(f"The Rust twin's trace (`{TRACES}/rust-{program}.txt`) has the same "
                               f"line{'s' if len(seen['c']) > 1 else ''}.")
                else:
                    out.append(f"The Rust twin (`{TRACES}/rust-{program}.txt`):")
                    out.append("")
                    out += code_block("", seen["rust"] or ["(no such line in this run)"])
                out.append("")
            out += [f"**What can fail:** {fails}", ""]
            kind = program if program in ("client", "server_poll") else "server"
            failure = FAILURES.get((kind, name))
            if failure:
                scenario, pattern = failure
                failed = {}
                for lang in LANGS:
                    lines = load_failures(lang).get(scenario, ["# main thread", "(not in this run)"])
                    cut = lines.index("# main thread")
                    failed[lang] = lines[:cut] + [l for l in lines[cut:] if re.search(pattern, l)]
                out.append(f"Seen failing (`{TRACES}/c-failures.txt`, `## {scenario}`): the command, "
                           "what it printed, and the strace lines of this step:")
                out.append("")
                out += code_block("", failed["c"])
                out.append("")
                if failed["rust"] == failed["c"]:
                    out.append(f"The Rust twin (`{TRACES}/rust-failures.txt`): the same.")
                else:
                    out.append(f"The Rust twin (`{TRACES}/rust-failures.txt`):")
                    out.append("")
                    out += code_block("", failed["rust"])
                out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main():
    args = sys.argv[1:]
    if "--strace" in args:
        os.makedirs(os.path.join(ROOT, TRACES), exist_ok=True)
        run_all_sessions(os.path.join(ROOT, TRACES))
        print(f"gen-side-by-side: wrote {TRACES}/*.txt from a strace run")
    if "--check-strace" in args:
        fresh = tempfile.mkdtemp(prefix="side-by-side-check-")
        try:
            run_all_sessions(fresh)
            stale = []
            for name in sorted(os.listdir(fresh)):
                with open(os.path.join(fresh, name)) as f:
                    new = f.read().split("\n")
                committed = os.path.join(ROOT, TRACES, name)
                old = open(committed).read().split("\n") if os.path.exists(committed) else []
                if new != old:
                    stale.append(name)
                    sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
                        old, new, f"{TRACES}/{name} (committed)", f"{name} (this run)", lineterm=""))
        finally:
            shutil.rmtree(fresh)
        if stale:
            print(f"gen-side-by-side: {', '.join(stale)} no longer match what the programs do: "
                  f"run `make docs` and commit docs/")
            return 1
        print("gen-side-by-side: a fresh strace run matches docs/strace/*.txt")
        return 0
    problems = check_steps()
    if problems:
        print("gen-side-by-side: the C and Rust step markers do not match:")
        print("\n".join("  " + p for p in problems))
        return 1
    text = generate()
    path = os.path.join(ROOT, GUIDE)
    if "--check" in args:
        old = open(path).read() if os.path.exists(path) else ""
        if old != text:
            sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
                old.split("\n"), text.split("\n"), f"{GUIDE} (committed)", f"{GUIDE} (from the sources)",
                lineterm="", n=1))
            print(f"gen-side-by-side: {GUIDE} is stale: run `make docs` and commit it")
            return 1
        print(f"gen-side-by-side: {GUIDE} is fresh; C and Rust steps match")
        return 0
    with open(path, "w") as f:
        f.write(text)
    print(f"gen-side-by-side: wrote {GUIDE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
