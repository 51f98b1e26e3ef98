"""The diff of a program against the program it grew from: the lines its C
twin changes, as `diff -u BASE.c PROGRAM.c` prints them.

GROWN_FROM below is the small table: program -> (the program it grew from,
what it is, in a few words). A program of the table that is in programs.txt
gets the diff in its section: under its introduction when it has a step
section (a TCP program), else in a section of its own after the step
sections (TLS, UDP: their steps are not traced here). Entries whose program
or base is not in programs.txt are skipped, so a line can wait here for its
program. Adding a program that grew from another is one line in GROWN_FROM.
"""
import os
import subprocess

import programs

from .layout import ROOT, sections
from .lessons import LESSONS

GROWN_FROM = {
    "server_epoll": ("server_poll", "the poll loop with epoll(7) in place of poll(2)"),
    "server_tls": ("server", "the thread-per-client server with TLS on each connection"),
    "client_tls": ("client", "the line client with TLS"),
    "server_udp": ("server_single", "the echo server over UDP, every client on one socket"),
    "client_udp": ("client", "the line client over UDP"),
}


def grown(program):
    """(base program, what it is) for a program of GROWN_FROM whose base is
    in programs.txt, else None."""
    entry = GROWN_FROM.get(program["name"])
    if entry is None:
        return None
    base = next((p for p in programs.load() if p["name"] == entry[0]), None)
    return (base, entry[1]) if base else None


def own_sections():
    """The programs that get a section for their diff alone: in GROWN_FROM,
    with no step section, in the order of programs.txt."""
    stepped = {p["name"] for p in sections()}
    return [p for p in programs.load() if p["name"] not in stepped and grown(p)]


def diff_lines(base, program):
    """`diff -u` of the two C files, labelled with their paths."""
    paths = [base["c_source"], program["c_source"]]
    run = subprocess.run(["diff", "-u", "--label", paths[0], "--label", paths[1]]
                         + [os.path.join(ROOT, path) for path in paths], capture_output=True, text=True)
    if run.returncode > 1:
        raise SystemExit(f"gen-side-by-side: diff {' '.join(paths)}: {run.stderr.strip()}")
    return run.stdout.rstrip("\n").split("\n") if run.stdout else []


def diff_part(program, level="###"):
    """The heading, the sentence and the diff of a program that grew from
    another; [] for one that did not."""
    entry = grown(program)
    if entry is None:
        return []
    base, _ = entry
    lines = diff_lines(base, program) or ["(no difference)"]
    return [f"{level} What {program['name']} changes from {base['name']}", "",
            f"`diff -u {base['c_source']} {program['c_source']}`: every line of the C twin that differs "
            f"from `{base['name']}`'s (`-` its line, `+` this program's), with three lines of context.", "",
            "```diff"] + lines + ["```", ""]


def own_section(program):
    """The section of a program that has its diff and no steps."""
    base, what = grown(program)
    intro = (f"{what[0].upper()}{what[1:]}: `{program['c_source']}` and `{program['rust_source']}`, "
             f"grown from `{base['name']}`.")
    lesson = LESSONS.get(program["name"], [])
    return [f"## {program['name']}", "", intro, ""] + lesson + ([""] if lesson else []) + diff_part(program)
