"""The prose of the guide: each program's step table (table.py says what a
table holds), one module per program.

A new program's step table is added in one place: write its module here
(start from the program it is closest to: single.py and poll.py show how to
take steps from another table and add your own), then add one line to TABLES
below. Each step name must be a marker in both twins (`/* step: NAME */`,
`// step: NAME`); `scripts/gen-side-by-side.py --check` says which are
missing. A program of programs.txt with no table here still gets its
section: its steps as its C markers name them, in the order of the C file,
with the code of both twins and no prose (untabled() below), and the
generator says that its table is still to be written.
"""
from ..layout import sections
from ..markers import c_markers
from . import client, epoll, fork, pool, poll, prefork, reuseport, single, threads
from .table import Step, Table

# program name (programs.txt) -> its Table; a name not in programs.txt is
# not used (server_epoll's waits for the epoll branch).
TABLES = {
    "server": threads.TABLE,
    "server_single": single.TABLE,
    "server_fork": fork.TABLE,
    "server_poll": poll.TABLE,
    "server_epoll": epoll.TABLE,
    "server_prefork": prefork.TABLE,
    "server_pool": pool.TABLE,
    "server_reuseport": reuseport.TABLE,
    "client": client.TABLE,
}


def table(program):
    """The step table of a program (an entry of programs.load())."""
    return TABLES.get(program["name"]) or untabled(program)


def untabled(program):
    """The table of a program that has none yet: its C markers, no prose."""
    intro = (f"The {program['label']} {program['role']}: `{program['c_source']}` and `{program['rust_source']}`. "
             "Its step table is still to be written (scripts/guide/steps/): below, its steps as its markers "
             "name them, in the order of the C file, without strace lines or prose.")
    names = dict.fromkeys(m.step for m in c_markers(program))
    return Table(intro, [Step(name, name, [], "") for name in names], {})


def missing():
    """The names of the programs the guide has a section for but no table."""
    return [p["name"] for p in sections() if p["name"] not in TABLES]
