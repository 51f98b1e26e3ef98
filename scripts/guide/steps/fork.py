"""server_fork: a process per client."""
from . import threads
from .table import Step, Table

INTRO = (
    "The same server with a process per client: after `accept` it forks, the child "
    "serves the client and exits, the parent closes its copy of the connection and "
    "accepts again; the signal thread reaps the children and, at shutdown, ends them "
    "first. `c-reference/server_fork.c` and `src/bin/server_fork.rs` (its own `main`, "
    "the C `main` translated: the child must close the listening socket). The trace "
    "has a section per process: the session's child, then a second client's child, "
    "still connected when SIGTERM came."
)

# server_fork: the server's steps, with a process per client instead of a
# thread, and a signal thread that also reaps the children.
OWN_STEPS = {
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
     [(r"^kill\(", None), (r"^wait4\(PID, NULL, 0", None), (r"^\+\+\+ killed by", None)],
     "On SIGINT or SIGTERM the signal thread sends SIGKILL to every PID in the list (a child has "
     "nothing to clean up, and no child can block, ignore or, stopped, hold off SIGKILL), then "
     "`waitpid(pid, NULL, 0)` for each of them: no process of the server is left when it prints "
     "`shutting down` and exits 0. Not `waitpid(-1, ...)` until ECHILD: a process may have children "
     "it did not fork (`./server_fork > >(tee log)`: bash forks tee, then execs the server in that "
     "child), and tee ends only when the server's stdout closes, after this. The list holds only children not yet reaped, and the kernel keeps a PID for "
     "its process until it is reaped, so `kill` never reaches a stranger that got the PID later (and "
     "cannot fail with ESRCH: a zombie still has its PID). The "
     "lock stays held: `main` cannot fork again. The client of the killed child sees end of stream "
     "(or a reset, if it had sent bytes the child never read)."),
    "log socket": ("log socket", "the log's socketpair, made the server's stdout: one writer for every line",
     [(r"^dup\(1", None), (r"^socketpair\(", None), (r"^dup2\(", None)],
     "Before any thread or child exists: `dup(1)` keeps the real stdout for the log relay, then "
     "`socketpair(AF_UNIX, SOCK_SEQPACKET)` makes two connected sockets that keep message boundaries, "
     "and `dup2` makes one end descriptor 1, the stdout of `main` and of every child it forks (they "
     "inherit it). The relay reads the other end, the one thread that writes the real stdout. A pipe "
     "takes a write whole only up to PIPE_BUF (4,096 bytes), and a `recv:` line of 1,024 "
     "undisplayable bytes is 4,117: two processes writing one full pipe could cut each other's lines. "
     "A message is queued whole or not at all, also when its child is killed while it waits for room. "
     "`main`'s own lines (`connected`) take the same way, so the log keeps the order of the events: a "
     "session's `quit`, queued by its child before it closes the connection, comes out before the "
     "`connected` of the next client (tests/log_lines.rs). If a call fails: `server_fork: dup stdout: "
     "STRERROR`, `socketpair: ...` or `dup2: ...`, exit 1."),
    "relay thread": ("relay thread", "the log relay: the one writer of stdout",
     [(r"^clone3\(", 1)],
     "Started after the signals are blocked, so it inherits the mask and no signal is delivered to "
     "it. If it cannot be started, `server_fork: pthread_create: STRERROR`, exit 1."),
    "relay": ("relay", "relay: each line, one message, to the real stdout",
     [],
     "The relay reads one message (one line) at a time and writes it to the real stdout, its `dup(1)` "
     "(C: a `write_all` loop; Rust: `File::write_all`): one `write(2)` per line, the rest written "
     "after a short write. It is the only writer there, and it takes no lock, so a fork never copies "
     "a lock it holds. `read` returns 0 only when `shut_down` has ended the log; then the relay writes "
     "`shutting down` and exits 0. A failed `read`: `server_fork: read: STRERROR`, exit 1."),
    "end log": ("end log", "end the log: the relay writes the rest, then `shutting down`",
     [(r"^sendto\(\d+<UNIX", None)],
     "Nothing here can fail (the socket is valid and connected). Once every child is reaped their "
     "last whole lines are queued, and an empty message after them makes the relay's `read` return 0, "
     "as at the end of a stream: the killed children's last lines come out, then `shutting down`. "
     "Not `shutdown(SHUT_WR)`: `main` may still print a `connected` meanwhile, and a write to a shut "
     "socket raises SIGPIPE. The signal thread then waits in `pause` (with the children list's lock "
     "held) for the relay to end the process."),
}
ORDER = ["log socket", "signals", "signal thread", "relay thread", "socket", "setsockopt", "bind", "listen",
         "getsockname", "accept", "configure", "fork", "parent close", "child", "recv", "recv result",
         "framing", "send", "shutdown", "close", "relay", "reap", "kill", "end log"]

STEPS = [Step(*OWN_STEPS[name]) if name in OWN_STEPS else next(s for s in threads.STEPS if s.name == name)
         for name in ORDER]

TABLE = Table(INTRO, STEPS, threads.FAILURES)
