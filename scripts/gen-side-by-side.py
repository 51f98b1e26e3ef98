#!/usr/bin/env python3
"""Generate docs/SIDE-BY-SIDE.md from the sources and from real strace runs.

    scripts/gen-side-by-side.py            write docs/SIDE-BY-SIDE.md (make docs)
    scripts/gen-side-by-side.py --strace   first run the TCP servers and the client under
                                           strace and rewrite docs/strace/*.txt (make docs,
                                           when strace is installed)
    scripts/gen-side-by-side.py --check    exit 1 if the C and Rust step markers no
                                           longer match or the guide is stale
    scripts/gen-side-by-side.py --check-strace
                                           exit 1 if a fresh strace run differs from
                                           docs/strace/*.txt

The code excerpts come from step markers in both twins: a comment
`/* step: NAME */` in c-reference/*.c and `// step: NAME` in the library's
modules (src/*.rs) and src/bin/*.rs. An excerpt is the lines after the marker, up to a blank line,
the next marker, or the end of the enclosing block. The strace lines come from
docs/strace/*.txt, written by --strace from a real run (the command is at the
top of each file). Under each step, "On the wire" names the arrows of the
ladder diagrams (docs/session.svg, netns.svg, reset.svg, drawn from real
captures by scripts/ladder.py) whose packets the step sends or reads, as the
diagrams list them in their <desc>. Nothing here is typed in by hand but the
prose of the step tables (scripts/guide/steps/).

The programs are those of programs.txt (scripts/programs.py); the work is
done by the package scripts/guide/ (its __init__.py says which module does
what).
"""
import argparse
import difflib
import os
import re
import sys

from guide import harness, steps
from guide.check import check_steps
from guide.layout import GUIDE, ROOT
from guide.render import book, expand_steps, generate


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strace", action="store_true",
                        help="first rewrite docs/strace/*.txt from a run under strace")
    parser.add_argument("--book", metavar="DIR",
                        help="write the book's side-by-side chapters into DIR/side-by-side/ and "
                        "their list into DIR/SUMMARY.md (make book)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the step markers do not match or the guide is stale")
    parser.add_argument("--check-strace", action="store_true",
                        help="exit 1 if a fresh strace run differs from docs/strace/*.txt")
    return parser.parse_args()


def check_guide(text, path):
    """--check: the committed guide against the one the sources make now."""
    old = open(path).read() if os.path.exists(path) else ""
    if old != text:
        sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
            old.split("\n"), text.split("\n"), f"{GUIDE} (committed)", f"{GUIDE} (from the sources)",
            lineterm="", n=1))
        print(f"gen-side-by-side: {GUIDE} is stale: run `make docs` and commit it")
        return 1
    print(f"gen-side-by-side: {GUIDE} is fresh; C and Rust steps match")
    return 0


def write_book(src):
    """The book's side-by-side chapters, SUMMARY.md's line
    `<!-- side-by-side chapters -->` replaced by their list, and the
    lessons' `{{#step PROGRAM STEP}}` by that step's two excerpts."""
    chapters = book(os.path.join(src, "side-by-side"))
    problems = expand_steps(src)
    # The bench charts of docs/ (copied into SRC by make book), whichever
    # the last run drew: `{{#bench-charts}}` in the measuring lesson.
    charts = sorted(name for name in os.listdir(src) if re.fullmatch(r"bench-[\w-]+\.svg", name))
    def title(name):
        """A chart's title (its first bold text), its picture's alt text."""
        found = re.search(r'<text[^>]*font-weight="bold"[^>]*>([^<]+)</text>',
                          open(os.path.join(src, name), encoding="utf-8").read())
        return found.group(1) if found else name
    lines = "\n\n".join(f"![{title(name)}]({name})" for name in charts)
    for page in os.listdir(src):
        path = os.path.join(src, page)
        if page.endswith(".md"):
            text = open(path, encoding="utf-8").read()
            if "{{#bench-charts}}" in text:
                if not charts:
                    problems.append(f"{page}: {{{{#bench-charts}}}} but no docs/bench-*.svg")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text.replace("{{#bench-charts}}", lines))
    if problems:
        print("gen-side-by-side: " + "\ngen-side-by-side: ".join(problems))
        return 1
    summary = os.path.join(src, "SUMMARY.md")
    text = open(summary, encoding="utf-8").read()
    marker = "<!-- side-by-side chapters -->"
    if marker not in text:
        print(f"gen-side-by-side: {summary} has no line {marker}")
        return 1
    with open(summary, "w", encoding="utf-8") as f:
        f.write(text.replace(marker, "\n".join(chapters)))
    print(f"gen-side-by-side: wrote {len(chapters)} side-by-side chapters into {src}")
    return 0


def main():
    args = arguments()
    if args.strace:
        harness.write_traces()
    if args.check_strace:
        return harness.check_traces()
    problems = check_steps()
    if problems:
        print("gen-side-by-side: the C and Rust step markers do not match:")
        print("\n".join("  " + p for p in problems))
        return 1
    for name in steps.missing():
        print(f"gen-side-by-side: {name} has no step table yet: its section shows its markers only "
              "(scripts/guide/steps/__init__.py says how to add one)")
    if args.book:
        return write_book(args.book)
    text = generate()
    path = os.path.join(ROOT, GUIDE)
    if args.check:
        return check_guide(text, path)
    with open(path, "w") as f:
        f.write(text)
    print(f"gen-side-by-side: wrote {GUIDE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
