"""client: the line client."""
from .table import Table, steps

INTRO = (
    "The line client: `c-reference/client.c` and `src/bin/client.rs`."
)

STEPS = steps([
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
])

FAILURES = {
    "connect": ("connect-refused", r"^connect\(|^\+\+\+"),
    "poll": ("server-closed", r"^poll\(|^recvfrom\(|^\+\+\+"),
}

TABLE = Table(INTRO, STEPS, FAILURES)
