"""server_single: the threaded server's steps but the thread per client."""
from . import threads
from .table import Table

INTRO = (
    "The same server without threads: each client is served to the end in the main "
    "thread, the next ones wait in the listen backlog. `c-reference/server_single.c` "
    "and `src/bin/server_single.rs`."
)

STEPS = [s for s in threads.STEPS if s.name != "thread"]

TABLE = Table(INTRO, STEPS, threads.FAILURES)
