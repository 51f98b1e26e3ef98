"""The code of the guide: the step markers of both twins and their excerpts.

A marker is a comment `/* step: NAME */` in c-reference/*.c and
`// step: NAME` in the library's modules (src/*.rs) and src/bin/*.rs. Its
excerpt is the lines after it, up to a blank line, the next marker, or the
end of the enclosing block.
"""
import glob
import os
import re

from .layout import ROOT, read

# The library's modules, where the Rust twins' shared steps live (all of
# src/ but the wrappers in sys.rs and the binaries).
LIB_FILES = sorted(os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "src", "*.rs"))
                   if not path.endswith("sys.rs"))

C_MARKER = re.compile(r"^(\s*)/\* step: (.+?) \*/\s*$")
RUST_MARKER = re.compile(r"^(\s*)// step: (.+?)\s*$")
C_FUNCTION = re.compile(r"^[a-z][\w \*]*?\b(\w+)\(")
RUST_FUNCTION = re.compile(r"^(?:pub(?:\([\w:]+\))? )?fn (\w+)")
# A marker's enclosing function may be a method, indented in its impl.
RUST_ANY_FUNCTION = re.compile(r"^\s*(?:pub(?:\([\w:]+\))? )?fn (\w+)")


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


class Marker:
    def __init__(self, path, index, step, function, lines):
        self.path, self.index, self.step, self.function, self.lines = path, index, step, function, lines


def excerpt(lines, depth):
    """The lines of a marker's excerpt, from those after it."""
    found = []
    for following in lines:
        if (following.strip() == "" or C_MARKER.match(following) or RUST_MARKER.match(following)
                or indent_of(following) < depth):
            break
        found.append(following[depth:])
    return found


def markers(path, marker_re, function_re):
    """Every step marker of a file: its step, enclosing function and excerpt."""
    lines = read(path)
    found = []
    function = None
    for i, line in enumerate(lines):
        f = function_re.match(line)
        if f and not line.rstrip().endswith(";"):
            function = f.group(1)
        m = marker_re.match(line)
        if m:
            depth = len(m.group(1))
            found.append(Marker(path, i + 1, m.group(2), function, excerpt(lines[i + 1:], depth)))
    return found


def rust_functions(path):
    """Top-level functions of a Rust file: name -> body text."""
    lines = read(path)
    bodies, name, start = {}, None, 0
    for i, line in enumerate(lines):
        f = RUST_FUNCTION.match(line)
        if f:
            name, start = f.group(1), i
        elif name and line == "}":
            bodies[name] = "\n".join(lines[start:i + 1])
            name = None
    return bodies


def reached_functions(bin_path):
    """The library functions a binary calls, directly or through others."""
    bin_text = "\n".join(read(bin_path))
    lib = {name: body for path in LIB_FILES for name, body in rust_functions(path).items()}
    # A function the binary defines itself (server_poll's configure_client)
    # is its own, not the library's of the same name.
    own = set(rust_functions(bin_path))
    reached = {name for name in lib if name not in own and re.search(rf"\b{name}\b", bin_text)}
    while True:
        more = {name for name in lib for r in reached if name not in reached
                and re.search(rf"\b{name}\s*[(:]", lib[r].split("\n", 1)[1])}
        if not more:
            return reached
        reached |= more


def library_markers(program):
    """The markers of the library functions a Rust twin reaches."""
    reached = reached_functions(program["rust_source"])
    return [m for path in LIB_FILES for m in markers(path, RUST_MARKER, RUST_FUNCTION) if m.function in reached]


def rust_markers(program, steps):
    """The markers of a Rust twin: those in its bin file, and those of the
    library functions it reaches that are its steps. A library function
    serves several programs, and a branch of it may be another program's
    step (an event loop's non-blocking listener in the servers' start-up):
    check.py sees that each library marker is some program's step."""
    lib_markers = [m for m in library_markers(program) if m.step in steps]
    return lib_markers + markers(program["rust_source"], RUST_MARKER, RUST_ANY_FUNCTION)


def c_markers(program):
    return markers(program["c_source"], C_MARKER, C_FUNCTION)


def sys_wrapper(name):
    """`pub fn NAME` of src/sys.rs with its doc comment, or None."""
    lines = read("src/sys.rs")
    for i, line in enumerate(lines):
        if re.match(rf"^pub fn {name}\b", line):
            start = i
            while start > 0 and lines[start - 1].startswith("///"):
                start -= 1
            end = i
            while lines[end] != "}":
                end += 1
            return "\n".join(lines[start:end + 1])
    return None
