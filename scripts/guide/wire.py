"""On the wire: the arrows of the ladder diagrams (docs/session.svg,
netns.svg, reset.svg, drawn from real captures by scripts/ladder.py) whose
packets a step sends or reads, as the diagrams list them in their <desc>.
"""
import functools
import os
import re
import xml.etree.ElementTree as ElementTree

from .layout import ROOT

# The ladder diagrams of docs/ and whose steps they show: the reset's client
# is scripts/reset-client.py, not the project's client.
DIAGRAMS = [("session.svg", ("client", "server")), ("netns.svg", ("client", "server")),
            ("reset.svg", ("server",))]
# The programs the captures ran on each side (scripts/capture.sh,
# scripts/demo-netns.sh; the pictures of scripts/ladder.py say so too).
CAPTURED = {"client": "client", "server": "server"}
ARROW_LINE = re.compile(r"^(\d+)\. (client|server) -> (client|server)  ")
ARROW_STEP = re.compile(r"^(client|server): ([a-z][a-z ]*?)(?: \(.*\))?$")


def diagram_lines(picture):
    """The packet list of a diagram's <desc>, or [] if there is no diagram."""
    path = os.path.join(ROOT, "docs", picture)
    if not os.path.exists(path):
        return []
    desc = ElementTree.parse(path).getroot().find("{http://www.w3.org/2000/svg}desc")
    return (desc.text or "").split("\n")


@functools.lru_cache(maxsize=None)
def wire_arrows():
    """(side, step) -> [(diagram, arrows it sends, arrows it reads)], from the
    packet list each diagram holds in its <desc> (scripts/ladder.py --list)."""
    found = {}
    for picture, sides in DIAGRAMS:
        for line in diagram_lines(picture):
            arrow = ARROW_LINE.match(line)
            if not arrow:
                continue
            number, sender = int(arrow.group(1)), arrow.group(2)
            for part in line.split(" | ")[1:3]:
                step = ARROW_STEP.match(part)
                if not step or step.group(2) == "kernel" or step.group(1) not in sides:
                    continue
                entry = found.setdefault((step.group(1), step.group(2)), {})
                sent, read = entry.setdefault(picture, ([], []))
                (sent if step.group(1) == sender else read).append(number)
    return {key: [(picture, sent, read) for picture, (sent, read) in entry.items()]
            for key, entry in found.items()}


def numbers_text(numbers):
    text = [str(n) for n in numbers]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


def on_the_wire(program, name):
    """The guide's line that links a step of a program to its arrows, or None:
    a server's step to the server's arrows, the client's to the client's."""
    side = "client" if program["role"] == "client" else "server"
    seen = wire_arrows().get((side, name))
    if not seen:
        return None
    parts = []
    for picture, sent, read in seen:
        what = []
        if sent:
            what.append(f"sends arrow{'s' if len(sent) > 1 else ''} {numbers_text(sent)}")
        if read:
            what.append(f"reads arrow{'s' if len(read) > 1 else ''} {numbers_text(read)}")
        parts.append(f"[{picture}]({picture}) {' and '.join(what)}")
    return f"**On the wire:** {'; '.join(parts)}."
