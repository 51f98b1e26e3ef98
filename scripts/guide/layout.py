"""Where things are, and what every part of the guide agrees on."""
import os

import programs  # scripts/programs.py (scripts/ is on the path of gen-side-by-side.py)

ROOT = programs.ROOT
GUIDE = "docs/SIDE-BY-SIDE.md"
TRACES = "docs/strace"
LANGS = ["c", "rust"]
CLIENT_INPUT = b"hello\nworld\nquit\n"
TRACE_SET = "%network,poll,fcntl,clone,clone3,close,rt_sigprocmask,rt_sigtimedwait,wait4,kill,prctl,getppid"


def read(path):
    """The lines of a file of the project (path relative to the root)."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read().split("\n")


def sections():
    """The programs the guide has a section for, in its order: the TCP
    programs of programs.txt, servers first, each role in the file's order."""
    tcp = [p for p in programs.load() if p["transport"] == "tcp"]
    return [p for p in tcp if p["role"] == "server"] + [p for p in tcp if p["role"] != "server"]


def program(**want):
    """The first TCP program whose fields equal every one of `want`."""
    return next(p for p in sections() if all(p[k] == v for k, v in want.items()))
