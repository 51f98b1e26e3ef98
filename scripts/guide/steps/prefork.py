"""server_prefork: server_fork's children, log and shutdown, with the
children forked before any client, each in accept (UNP serv02)."""
from . import fork, threads
from .table import Table, steps

INTRO = (
    "N processes forked before any client (`-n`, default 16), as UNP's serv02 and Apache's prefork: "
    "each blocks in `accept` on the listening socket they all inherited and serves one client at a "
    "time with the echo loop of `server_single`; no process is forked per client. The parent only "
    "watches: its signal thread replaces a child that dies (and logs it), and at SIGINT or SIGTERM "
    "ends them all as `server_fork` does. No accept lock: Linux wakes one of the processes blocked in "
    "`accept` per connection (measured: see the comment atop `c-reference/server_prefork.c`). "
    "`c-reference/server_prefork.c` and `src/bin/server_prefork.rs` (the children list, the log relay "
    "and the shutdown are `src/children.rs`, shared with `server_fork`). The trace is of `-n 1`."
)

OWN = steps([
    ("prefork", "prefork: every child before any client",
     [(r"^clone\(child_stack=NULL", None)],
     "With the listening socket open and the children list's lock held, `main` forks N times "
     "(`fork_child`: room for the PID first, then `fork`, the PID stored before the signal thread can "
     "reap it); a client that comes now waits in the backlog for the first child's `accept`. A fork "
     "that fails here exits 1 (`server_prefork: fork: STRERROR`), and the children already forked "
     "die with it (PR_SET_PDEATHSIG). Then the listening line, and `main` waits in `pause`."),
    ("fork", "fork: one child, its PID in the list",
     [],
     "The same `fork_child` for the first N and for every replacement (from the signal thread). The "
     "child never returns from it: it serves until it is killed."),
    ("child", "in the child: die with the parent, then accept and serve, one client after another",
     [(r"^prctl\(", 0), (r"^getppid\(", 0), (r"^rt_sigprocmask\(SIG_UNBLOCK", 0)],
     "As in `server_fork`, `prctl(PR_SET_PDEATHSIG, SIGKILL)` and the `getppid` check, and the signals "
     "unblocked; but the child keeps the listening socket: it is where it accepts. Then "
     "`server_single`'s main loop: accept, `connected`, configure, the echo loop, close, accept again."),
    ("reap", "reap and replace: waitpid, then fork another",
     [(r"^wait4\(-1, ", None)],
     "On SIGCHLD the signal thread reaps with `waitpid(-1, &status, WNOHANG)` until none is left, "
     "takes each PID out of the list and forks a child in its place, so that N children wait in "
     "`accept`; the line says which child, how it ended and which replaced it: "
     "`child 4242 killed by signal 9, replaced by 4250` (or `..., not replaced: STRERROR` if the fork "
     "failed). A PID not in the list (a process the server did not fork) is only reaped."),
])

ORDER = ["log socket", "signals", "signal thread", "relay thread", "socket", "setsockopt", "bind", "listen",
         "getsockname", "prefork", "fork", "child", "accept", "configure", "recv", "recv result", "framing",
         "send", "shutdown", "close", "relay", "reap", "kill", "end log"]

STEPS = [next(s for s in OWN + fork.STEPS + threads.STEPS if s.name == name) for name in ORDER]

TABLE = Table(INTRO, STEPS, threads.FAILURES)
