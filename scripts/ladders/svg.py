"""Drawing the arrows as an SVG ladder: two lifelines, a row per packet, the
phases as bands, the steps and TCP states beside the lifelines, a legend."""
from xml.sax.saxutils import escape as xml_escape

from .escaping import escape
from .pcap import FIN, RST, SYN


WIDTH = 1040
CLIENT_X, SERVER_X = 300, 740
STATE_GAP = 160     # from a lifeline to its TCP state labels
ROW = 64             # the height of one arrow's row
SLANT = 12           # how far an arrow falls: time passes while it travels
PHASE_GAP = 24       # the space above each phase for its name
TOP = 150            # where the first row starts

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Consolas, Menlo, monospace"

# Colour by what a packet does; the same colours in the legend.
STYLES = {
    "arp": ("#7b3fa0", "ARP: the client's kernel finds the server's Ethernet address"),
    "syn": ("#1f5fbf", "SYN: opens the connection (the three-way handshake)"),
    "data": ("#1b7a3a", "data (PSH): bytes of the byte stream"),
    "ack": ("#6b6b6b", "ACK only: the kernel acknowledges what it received"),
    "fin": ("#c05600", "FIN: this side sends no more bytes"),
    "rst": ("#c01c28", "RST: the connection is aborted"),
}

PHASES = {
    "arp": "ARP: the client's kernel looks up the server's Ethernet address",
    "handshake": "the three-way handshake: connect()",
    "tls": "the TLS handshake: SSL_connect() and SSL_accept()",
    "data": "the session: each line goes out and comes back",
    "end": "the end of the connection",
}

BAND = {"arp": "#f4effa", "handshake": "#eef3fb", "tls": "#f6f3e4", "data": "#eef7f0", "end": "#fcf1e8"}


def style_of(a):
    p = a.packet
    if p.kind == "arp":
        return "arp"
    if p.flags & RST:
        return "rst"
    if p.flags & SYN:
        return "syn"
    if p.flags & FIN:
        return "fin"
    return "data" if p.payload else "ack"


def text(x, y, content, size=13, anchor="middle", weight="normal", fill="#1a1a1a", family=FONT, style="normal"):
    extra = "" if style == "normal" else f' font-style="{style}"'
    bold = "" if weight == "normal" else f' font-weight="{weight}"'
    return (f'<text x="{x}" y="{y}" font-family="{family}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{bold}{extra}>{xml_escape(content)}</text>')


def shorten(content, limit):
    return content if len(content) <= limit else content[:limit - 1] + "\u2026"


def step_label(x, y, anchor, what, made):
    """The step beside the lifeline: bold if its call sent the packet."""
    name, note = what
    if not name:
        return []
    kernel = name == "kernel"
    out = [text(x, y, name + ("" if kernel else "()"), size=14, anchor=anchor,
                weight="bold" if made and not kernel else "normal",
                fill="#6b6b6b" if kernel else "#1a1a1a", family=FONT if kernel else MONO,
                style="italic" if kernel else "normal")]
    if note:
        out.append(text(x, y + 15, note, size=11.5, anchor=anchor, fill="#555555"))
    return out


def state_label(x, y, state, anchor):
    width = 8 + 7.2 * len(state)
    left = x - width if anchor == "end" else x
    return [f'<rect x="{left:.1f}" y="{y - 13}" width="{width:.1f}" height="18" rx="9" fill="#ffffff" '
            f'stroke="#9a9a9a"/>',
            text(left + width / 2, y, state, size=11, family=MONO, fill="#333333")]


NOTES = [
    "seq, ack: byte numbers counted from 0 at each side's SYN (Wireshark's relative numbers);",
    "SYN and FIN use one number each; ack N: every byte before N has arrived. len: payload bytes.",
    "In quotes: the payload, escaped as the servers log it (\\n is the newline byte).",
    "Time goes down, not to scale: one row per packet, in the order the capture saw them.",
    "Beside each arrow: the step of docs/SIDE-BY-SIDE.md whose system call sent the packet (bold)",
    "and the step that reads it; kernel: the kernel sent it on its own, no system call did.",
    "TIME_WAIT: the side that sent the first FIN keeps the connection's addresses and ports",
    "for 60 s, so that a late packet of this connection cannot land in a new one.",
]


def layout(arrows):
    """Where each arrow's row starts, and each phase's band [phase, top,
    bottom]; and the y below the last row."""
    rows = []          # (arrow, y where it starts)
    bands = []
    y = TOP
    for a in arrows:
        if not bands or bands[-1][0] != a.phase:
            if bands:
                bands[-1][2] = y
            bands.append([a.phase, y, None])
            y += PHASE_GAP
        rows.append((a, y + 24))
        y += ROW
    bands[-1][2] = y
    return rows, bands, y


def head(arrows, used, height, title):
    """The opening of the SVG: its title, the packet list, the arrowheads."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="title desc">',
        f'<title id="title">{xml_escape(title)}</title>',
        '<desc id="desc">' + xml_escape("\n".join(a.line() for a in arrows)) + "</desc>",
        "<defs>",
    ]
    for name in used:
        out.append(f'<marker id="head-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="5" '
                   f'markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
                   f'fill="{STYLES[name][0]}"/></marker>')
    return out + ["</defs>", f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>']


def ends(title, subtitle, client, server, client_name, server_name):
    """The title, and the box atop each lifeline: address and program."""
    out = [text(WIDTH / 2, 30, title, size=18, weight="bold"),
           text(WIDTH / 2, 52, subtitle, size=12.5, fill="#444444")]
    for x, who, name, addr in [(CLIENT_X, "client", client_name, client[0]),
                               (SERVER_X, "server", server_name, server[0])]:
        out.append(f'<rect x="{x - 110}" y="70" width="220" height="52" rx="6" fill="#f2f2f2" '
                   f'stroke="#444444"/>')
        out.append(text(x, 92, f"{who} {addr}", size=15, weight="bold"))
        out.append(text(x, 111, name, size=12, family=MONO, fill="#333333"))
    out.append(text(CLIENT_X - STATE_GAP - 50, 100, "TCP state", size=12, fill="#555555", style="italic"))
    out.append(text(SERVER_X + STATE_GAP + 50, 100, "TCP state", size=12, fill="#555555", style="italic"))
    return out


def lifelines(bands, bottom):
    """The phases' bands between the lifelines, the lifelines, and the state
    each side starts in."""
    out = []
    for phase, top, end in bands:
        out.append(f'<rect x="{CLIENT_X}" y="{top}" width="{SERVER_X - CLIENT_X}" height="{end - top}" '
                   f'fill="{BAND[phase]}"/>')
        out.append(text(WIDTH / 2, top + 16, PHASES[phase], size=12, fill="#444444", style="italic"))
    for x in (CLIENT_X, SERVER_X):
        out.append(f'<line x1="{x}" y1="122" x2="{x}" y2="{bottom + 10}" stroke="#444444" stroke-width="2"/>')
    out += state_label(CLIENT_X - STATE_GAP, TOP + 6, "CLOSED", "end")
    out += state_label(SERVER_X + STATE_GAP, TOP + 6, "LISTEN", "start")
    return out


def arrow_row(a, top):
    """One packet: its arrow with number, numbers and payload; the steps
    beside each lifeline; each TCP state it changes."""
    kind = style_of(a)
    colour = STYLES[kind][0]
    mid = (CLIENT_X + SERVER_X) / 2
    x1, x2 = (CLIENT_X, SERVER_X) if a.src == "client" else (SERVER_X, CLIENT_X)
    dash = ' stroke-dasharray="7 5"' if kind == "ack" else ""
    out = [f'<g id="arrow-{a.number}"><title>{xml_escape(a.line())}</title>',
           f'<line x1="{x1}" y1="{top}" x2="{x2}" y2="{top + SLANT}" stroke="{colour}" '
           f'stroke-width="2.2"{dash} marker-end="url(#head-{kind})"/>',
           f'<circle cx="{CLIENT_X + 22}" cy="{top - 11}" r="10" fill="{colour}"/>',
           text(CLIENT_X + 22, top - 6.5, str(a.number), size=12, weight="bold", fill="#ffffff"),
           text(mid, top - 7, a.numbers(), size=13, family=MONO,
                weight="bold" if kind != "ack" else "normal", fill=colour)]
    if a.payload_label is not None:
        out.append(text(mid, top + SLANT + 18, shorten(a.payload_label, 64), size=12.5, family=MONO))
    elif a.packet.kind == "tcp" and a.packet.payload:
        shown = shorten(escape(a.packet.payload), 44)
        out.append(text(mid, top + SLANT + 18, f'"{shown}"', size=14, family=MONO))
    out.append("</g>")
    sides = {"client": (CLIENT_X - 12, "end"), "server": (SERVER_X + 12, "start")}
    for side in ("client", "server"):
        x, anchor = sides[side]
        made = side == a.src
        out += step_label(x, top + (0 if made else SLANT) + 5, anchor, a.sent_by if made else a.read_by, made)
    for side, state in sorted(a.states.items()):
        x = CLIENT_X - STATE_GAP if side == "client" else SERVER_X + STATE_GAP
        out += state_label(x, top + (0 if side == a.src else SLANT) + 5, state,
                           "end" if side == "client" else "start")
    return out


def legend(used, legend_top, notes_top, notes):
    """What the colours, the numbers and the labels mean."""
    out = [f'<line x1="30" y1="{legend_top - 20}" x2="{WIDTH - 30}" y2="{legend_top - 20}" '
           f'stroke="#cccccc"/>']
    for i, name in enumerate(used):
        colour, meaning = STYLES[name]
        row_y = legend_top + 24 * (i // 2)
        x = 40 + (WIDTH / 2 - 20) * (i % 2)
        dash = ' stroke-dasharray="7 5"' if name == "ack" else ""
        out.append(f'<line x1="{x}" y1="{row_y - 4}" x2="{x + 40}" y2="{row_y - 4}" stroke="{colour}" '
                   f'stroke-width="2.2"{dash} marker-end="url(#head-{name})"/>')
        out.append(text(x + 50, row_y, meaning, size=12.5, anchor="start"))
    for i, note in enumerate(notes):
        out.append(text(40, notes_top + 18 * i, note, size=12.5, anchor="start", fill="#333333"))
    return out


def draw(arrows, client, server, title, subtitle, client_name, server_name, notes=NOTES):
    """The SVG text of the ladder."""
    rows, bands, bottom = layout(arrows)
    used = [name for name in STYLES if any(style_of(a) == name for a in arrows)]
    legend_top = bottom + 40
    notes_top = legend_top + 24 * ((len(used) + 1) // 2) + 10
    height = notes_top + 18 * len(notes) + 16
    out = head(arrows, used, height, title)
    out += ends(title, subtitle, client, server, client_name, server_name)
    out += lifelines(bands, bottom)
    for a, top in rows:
        out += arrow_row(a, top)
    out += legend(used, legend_top, notes_top, notes)
    out.append("</svg>")
    return "\n".join(out) + "\n"
