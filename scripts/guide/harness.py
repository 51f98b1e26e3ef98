"""The strace harness (--strace, --check-strace): each TCP server of
programs.txt, in each language, runs the scripted session of sessions.py
under strace, into docs/strace/LANG-PROGRAM.txt (the client is traced in the
session with the thread-per-client server, into LANG-client.txt); then the
failures of failures.py, into docs/strace/LANG-failures.txt.
"""
import difflib
import os
import shutil
import sys
import tempfile

from . import failures
from .layout import LANGS, ROOT, TRACE_SET, TRACES, program, sections
from .sessions import run_session
from .trace import trace_set, transcript_header


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def failures_header(lang):
    threaded = program(role="server", model="threads")["name"]
    extras = [f"# {p['name']}: strace -ff -yy -e trace={trace_set(p)}"
              for p in sections() if trace_set(p) != TRACE_SET]
    return [
        f"# {lang}-failures: build/{lang}/* failing on purpose, under strace, written by "
        "scripts/gen-side-by-side.py --strace",
        f"# strace -ff -yy -e trace={TRACE_SET}; kept and normalised as in {lang}-{threaded}.txt",
    ] + extras


def run_all_sessions(outdir):
    """docs/strace/*.txt, written into outdir: each TCP server's session and
    the failures, in each language."""
    client = program(role="client")
    servers = [p for p in sections() if p["role"] == "server"]
    by_name = {p["name"]: p for p in servers + [client]}
    workdir = tempfile.mkdtemp(prefix="side-by-side-")
    try:
        for lang in LANGS:
            for server in servers:
                for name, lines in run_session(lang, server, client, workdir).items():
                    header = transcript_header(lang, by_name[name], server, client)
                    write_lines(os.path.join(outdir, f"{lang}-{name}.txt"), header + lines)
            lines = failures_header(lang)
            for scenario, seen in failures.run_failures(lang, workdir).items():
                lines += [f"## {scenario}"] + seen
            write_lines(os.path.join(outdir, f"{lang}-failures.txt"), lines)
    finally:
        shutil.rmtree(workdir)


def write_traces():
    """--strace: docs/strace/*.txt from a fresh run."""
    os.makedirs(os.path.join(ROOT, TRACES), exist_ok=True)
    run_all_sessions(os.path.join(ROOT, TRACES))
    print(f"gen-side-by-side: wrote {TRACES}/*.txt from a strace run")


def check_traces():
    """--check-strace: a fresh run into a scratch directory, compared with
    docs/strace/*.txt; prints the differences. Returns the exit status."""
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
