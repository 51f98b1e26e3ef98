"""The check behind --check and every run: both twins of each program have
a marker for each step of its table, once, with code after it, in the same
order within a function both have; and the diagrams name only known steps."""
from . import steps
from .layout import sections
from .markers import c_markers, library_markers, rust_markers
from .wire import CAPTURED, wire_arrows


def marker_problems(name, want, lang, found):
    """What is wrong with one twin's markers, against the step names wanted."""
    problems = []
    names = [m.step for m in found]
    for step in sorted(set(names)):
        where = ", ".join(f"{m.path}:{m.index}" for m in found if m.step == step)
        if names.count(step) > 1:
            problems.append(f"{name}: {lang} has step '{step}' more than once ({where})")
        if step not in want:
            problems.append(f"{name}: {lang} has step '{step}' ({where}), which the guide does not know "
                            f"(add it to the program's table in scripts/guide/steps/)")
    for step in want:
        if step not in names:
            problems.append(f"{name}: {lang} has no marker for step '{step}'")
    for m in found:
        if not m.lines:
            problems.append(f"{name}: the {lang} marker '{m.step}' at {m.path}:{m.index} has no code after it")
    return problems


def order_problems(name, twins):
    """Within a function both twins have, the steps come in the same order."""
    by_function = {lang: {} for lang in twins}
    for lang, found in twins.items():
        for m in found:
            by_function[lang].setdefault(m.function, []).append(m.step)
    problems = []
    for function in sorted(set(by_function["C"]) & set(by_function["Rust"])):
        c, rust = by_function["C"][function], by_function["Rust"][function]
        c = [step for step in c if step in rust]
        rust = [step for step in rust if step in c]
        if c != rust:
            problems.append(f"{name}: the steps of {function}() differ: C {c}, Rust {rust}")
    return problems


def wire_problems():
    """The steps the ladder diagrams name are steps of the guide."""
    problems = []
    tables = {program["name"]: steps.table(program) for program in sections()}
    for (side, name), seen in sorted(wire_arrows().items()):
        table = tables.get(CAPTURED[side])
        if name not in [s.name for s in table.steps]:
            where = ", ".join(f"docs/{picture} arrow {n}" for picture, sent, read in seen for n in sent + read)
            problems.append(f"{side}: the diagrams name a step '{name}' ({where}), which the guide does not "
                            f"have (scripts/ladder.py names the steps)")
    return problems


def library_problems(shown):
    """Each marker of the library that a program reaches is a step of one
    of the programs that reach it. shown: (path, line) of the markers used."""
    problems = []
    for program in sections():
        for m in library_markers(program):
            if (m.path, m.index) not in shown:
                problems.append(f"{program['name']}: Rust has step '{m.step}' ({m.path}:{m.index}), which the "
                                f"guide does not know (add it to the program's table in scripts/guide/steps/)")
                shown.add((m.path, m.index))  # once
    return problems


def check_steps():
    """The C and Rust step sequences of each program, compared with each
    other and with its table. Returns a list of problems (empty: they match)."""
    problems, shown = [], set()
    for program in sections():
        want = [s.name for s in steps.table(program).steps]
        twins = {"C": c_markers(program), "Rust": rust_markers(program, want)}
        for lang, found in twins.items():
            problems += marker_problems(program["name"], want, lang, found)
        problems += order_problems(program["name"], twins)
        shown |= {(m.path, m.index) for m in twins["Rust"]}
    return problems + library_problems(shown) + wire_problems()
