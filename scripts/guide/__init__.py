"""The side-by-side guide (docs/SIDE-BY-SIDE.md) and its strace runs, for
scripts/gen-side-by-side.py:

    layout.py    where things are; which programs get a section (sections():
                 the TCP programs of programs.txt, servers first)
    steps/       the prose tables: each program's steps (titles, strace
                 filters, what can fail), one module per program
    markers.py   the step markers of the C and Rust sources, their excerpts
    check.py     both twins have each step of the table, in the same order
    wire.py      the arrows of the ladder diagrams each step sends or reads
    grown.py     the diff of a program against the one it grew from
                 (GROWN_FROM: one line per program)
    render.py    the guide itself, from all of the above
    harness.py   the strace harness (--strace, --check-strace): runs
    sessions.py  the scripted session of each server and the failures
    failures.py  under strace into docs/strace/*.txt (trace.py: the strace
    trace.py     command, what is kept and normalised, reading it back)

A new TCP program in programs.txt gets its section and its strace session
with no code here (ask the program: role, model, event_loop). Its prose is a
step table in steps/: steps/__init__.py says how to add one, in one place.
A program that grew from another (a TLS or UDP twin, say) gets the diff of
its C file: one line in grown.py.
"""
