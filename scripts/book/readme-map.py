#!/usr/bin/env python3
"""make book-test: nothing of the old README was lost when it became the
front door (issue 30). Every heading of the README of commit 5c2e976 (the
842-line one) is listed here with where it went: a chapter of the book
(book/src/PAGE.md and the explicit id of its heading, `{#ID}`), or the
README itself. The check fails when a heading of that README has no home
here, when a home does not exist (no such page, no such id), and when the
front door's table of the programs (README.md and README.id.md) misses a
program of programs.txt.

    scripts/book/readme-map.py          # check
    scripts/book/readme-map.py --list   # every old heading and where it went

Prints `book-readme: ok: ...` or `book-readme: FAILED: ...` per check."""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OLD = "5c2e976"

# Old heading -> its home: "PAGE.md#ID" in book/src, or a file of the
# repository (the front door keeps some, shorter, and links on).
HOMES = {
    "sockets, side by side": "index.md",
    "Prerequisites": "assignment.md#prerequisites",
    "Quick start": "assignment.md#quick-start",
    "Two terminals, as in the original assignment": "assignment.md#two-terminals",
    "The programs": "programs.md#programs",
    "Command line": "programs.md#command-line",
    "What the programs do": "stream.md#what-the-programs-do",
    "UDP: the same echo over datagrams": "udp.md",
    "Learning from the twins": "side-by-side.md#learning-from-the-twins",
    "Encryption: server_tls and client_tls": "tls.md",
    "Exercises for students": "exercises.md#more-exercises",
    "Tests": "tests.md#tests",
    "Load and memory per client": "threads.md#load-and-memory",
    "server_poll: ten thousand clients in one thread": "poll.md",
    "Which model when": "epoll.md#which-model-when",
    "Layout": "layout.md#layout",
    "Ringkasan (Bahasa Indonesia)": "README.id.md",
}
# Parts of one old section that went to another chapter than its home.
ALSO = {
    "Two terminals, as in the original assignment": ["fork.md"],
    "The programs": ["fork.md#log"],
    "Load and memory per client": ["fork.md#memory"],
}


def old_headings():
    """The headings of that README, kept in old-readme-headings.txt (made
    once by `git show 5c2e976:README.md | grep -E '^#+ '`), so that a
    shallow clone, which lacks that commit, checks the same."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "old-readme-headings.txt")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        return None, str(e)
    return [m.group(2) for m in re.finditer(r"^(#+) (.+?)\s*$", text, re.M)], None


def exists(home):
    """Whether a home exists: the file, and its heading `{#ID}`."""
    page, _, anchor = home.partition("#")
    path = os.path.join(ROOT, page) if page.startswith("README") else os.path.join(ROOT, "book", "src", page)
    if not os.path.exists(path):
        return f"{home}: no such file"
    if anchor and not re.search(rf"^#+ .*\{{#{re.escape(anchor)}\}}\s*$", open(path, encoding="utf-8").read(), re.M):
        return f"{home}: {page} has no heading with {{#{anchor}}}"
    return None


def programs():
    names = []
    with open(os.path.join(ROOT, "programs.txt"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                names.append(line.split()[0])
    return names


def main():
    headings, error = old_headings()
    results = []
    if headings is None:
        results.append(("every heading of the old README has a home", [f"scripts/book/old-readme-headings.txt: {error}"]))
    else:
        if "--list" in sys.argv:
            for heading in headings:
                print(f"{heading}  ->  {', '.join([HOMES.get(heading, '(nowhere)')] + ALSO.get(heading, []))}")
            return 0
        results.append(("every heading of the old README has a home",
                        [f"'{h}' (README.md of {OLD}) has no home in scripts/book/readme-map.py"
                         for h in headings if h not in HOMES]))
    results.append(("every home exists",
                    [p for home in list(HOMES.values()) + [h for v in ALSO.values() for h in v]
                     for p in [exists(home)] if p]))
    missing = []
    for readme in ("README.md", "README.id.md"):
        text = open(os.path.join(ROOT, readme), encoding="utf-8").read()
        missing += [f"{readme}: no row for {name} in the table of the programs"
                    for name in programs() if not re.search(rf"^\| *`?{re.escape(name)}`? *\|", text, re.M)]
    results.append(("the front door lists every program of programs.txt", missing))
    failed = False
    for name, problems in results:
        if problems:
            failed = True
            print(f"book-readme: FAILED: {name}:")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"book-readme: ok: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
