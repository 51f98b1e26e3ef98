"""server_pool: the threaded server's steps, with N threads started first
and a bounded queue between accept and them (UNP serv08, the Rust Book's
ThreadPool)."""
from . import threads
from .table import Table, steps

INTRO = (
    "A fixed pool of threads fed by `accept`: N threads (`-n`, default 16) are started before any "
    "client, the main thread accepts and puts each connection in a queue of at most N, and a thread of "
    "the pool takes it and runs the echo loop of `server_single`. While the queue is full the main "
    "thread waits and accepts nothing: the next clients wait in the listen backlog, however many come. "
    "`c-reference/server_pool.c` (a mutex and two condition variables, as UNP's serv08) and "
    "`src/bin/server_pool.rs` (the Rust Book's chapter 21 `ThreadPool`, its channel bounded: "
    "`mpsc::sync_channel(N)`). The trace is of `-n 1`: one thread of the pool."
)

OWN = steps([
    ("pool", "the pool: N threads before any client",
     [(r"^clone3\(", 1)],
     "C: `calloc` of a ring of N connections, then N `pthread_create`; Rust: `mpsc::sync_channel(N)` "
     "and N `Worker`s, each a thread that locks the `Arc<Mutex<Receiver>>` only while it waits for a "
     "job. Every thread inherits the blocked SIGINT and SIGTERM. Either failing exits 1 "
     "(`server_pool: pthread_create: STRERROR`): a server without its pool serves no one."),
    ("queue", "queue: hand the connection to the pool, or wait",
     [],
     "No system call but the futex a waiting thread sleeps in. C: `put_connection` waits on "
     "`not_full` while the ring holds N, stores the descriptor and the peer, signals `not_empty`; a "
     "thread's `take_connection` waits on `not_empty` and signals `not_full`. Rust: "
     "`SyncSender::send` blocks while N jobs wait, and `Receiver::recv` under the lock takes the next. "
     "`[PEER] connected` is logged by the thread that takes the connection, not by `accept`: a client "
     "that waits in the queue has not been served yet."),
])

ORDER = ["signals", "shutdown thread", "socket", "setsockopt", "bind", "listen", "getsockname", "pool",
         "accept", "queue", "configure", "recv", "recv result", "framing", "send", "shutdown", "close"]

STEPS = [next(s for s in OWN + threads.STEPS if s.name == name) for name in ORDER]

TABLE = Table(INTRO, STEPS, threads.FAILURES)
