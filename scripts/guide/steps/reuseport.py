"""server_reuseport: server_epoll's loop, once per thread, each with its
own SO_REUSEPORT listening socket on the one port (nginx's reuseport)."""
from . import epoll
from .table import Table, steps

INTRO = (
    "`server_epoll` once per core: N threads (`-n`, default the number of online CPUs), each with its "
    "own listening socket and its own epoll loop, as nginx does with `listen ... reuseport`. Every "
    "socket sets SO_REUSEPORT before `bind`, so all N bind the same address and port, and the kernel "
    "spreads the new connections over them by a hash of the client's address and port; a connection "
    "stays with its loop to the end, and the loops share nothing but stdout. The loop is "
    "`server_epoll`'s: `src/epoll_loop.rs` in Rust (no copy), and in `c-reference/server_reuseport.c` "
    "the same functions as in `server_epoll.c`, byte for byte (tests/c_helpers.rs). The trace is of "
    "`-n 1`: one loop, in `main`."
)

OWN = steps([
    ("setsockopt", "setsockopt SO_REUSEADDR and SO_REUSEPORT",
     [(r"^setsockopt\(.*SO_REUSE", None)],
     "SO_REUSEADDR as every server; then SO_REUSEPORT (Linux 3.9), which lets every socket that sets it "
     "before `bind`, of the same user, bind the same address and port. Without it the second `bind` "
     "fails with EADDRINUSE. A failure exits 1: `server_reuseport: setsockopt SO_REUSEPORT: STRERROR`."),
    ("listeners", "listeners: N sockets on one port, each with its epoll instance",
     [],
     "The first socket binds the `-p` port (0: the kernel picks one, and `getsockname` says which); "
     "every next one binds the port the first got. Each is made non-blocking and put in an epoll "
     "instance of its own (`open_loop`). All of this before the listening line, so that an error "
     "(`bind 0.0.0.0:8080: Address already in use`) comes first."),
    ("loop threads", "loop threads: one per loop but the first, which main runs",
     [(r"^clone3\(", 1)],
     "N - 1 threads, each running `run_loop` on its own socket and instance; then the listening line, "
     "and `main` runs the first loop. A thread that cannot be started exits 1 "
     "(`server_reuseport: pthread_create: STRERROR`)."),
])

ORDER = ["signals", "shutdown thread", "listeners", "socket", "setsockopt", "bind", "listen", "getsockname",
         "non-blocking", "epoll_create1", "loop threads", "timeout", "epoll_wait", "events", "accept",
         "configure", "recv", "recv result", "framing", "send", "shutdown", "drain", "deadline", "close"]

STEPS = [next(s for s in OWN + epoll.STEPS if s.name == name) for name in ORDER]

TABLE = Table(INTRO, STEPS, epoll.FAILURES)
