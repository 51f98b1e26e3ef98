"""What a program's step table is made of.

A Step: the marker name (`/* step: NAME */` in C, `// step: NAME` in Rust),
the title of its heading, which strace lines show it (a list of (regex,
which match: None for all, an index otherwise, -1 the last)), and what can
fail there and how each twin handles it.

A Table: the program's introduction (the paragraph under its heading), its
steps in the order they run, and the steps shown failing on purpose: step
name -> (scenario of docs/strace/LANG-failures.txt, regex of the trace lines
to show; the program's output is always shown).
"""
from collections import namedtuple

Step = namedtuple("Step", "name title filters fails")
Table = namedtuple("Table", "intro steps failures")


def steps(rows):
    """Steps from plain (name, title, filters, fails) tuples."""
    return [Step(*row) for row in rows]


def pick_steps(table_steps, names):
    """The steps of table_steps named in names, in table_steps' order."""
    return [s for s in table_steps if s.name in names]
