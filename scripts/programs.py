"""The one list of the programs, programs.txt at the root, for the scripts.

Each entry is a dict: name, role, model, transport, crate, label, and the
paths c_source and rust_source. See programs.txt for what the fields mean.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = ["name", "role", "model", "transport", "crate", "label"]


def load(path=os.path.join(ROOT, "programs.txt")):
    programs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            program = dict(zip(FIELDS, line.split(None, len(FIELDS) - 1)))
            program["c_source"] = f"c-reference/{program['name']}.c"
            crate_dir = "" if program["crate"] == "sockets" else program["crate"] + "/"
            program["rust_source"] = f"{crate_dir}src/bin/{program['name']}.rs"
            # The same answers as the programs crate's (programs/src/lib.rs).
            program["event_loop"] = program["model"] in ("poll", "epoll", "reuseport")
            program["forks"] = program["model"] in ("fork", "prefork")
            # -n N: the guide's sessions run one child, thread or loop, so
            # that each trace is the same from run to run.
            program["count_args"] = ["-n", "1"] if program["model"] in ("prefork", "pool", "reuseport") else []
            programs.append(program)
    return programs


def names(**want):
    """The names of the programs whose fields equal every one of `want`."""
    return [p["name"] for p in load() if all(p[k] == v for k, v in want.items())]
