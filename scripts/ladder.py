#!/usr/bin/env python3
"""Draw one TCP connection of a packet capture as a ladder (sequence) diagram.

    scripts/ladder.py --picture NAME PCAP OUT.svg
                            one of the project's pictures (NAME: session, reset,
                            netns, udp; make capture, make demo-netns and make
                            demo-udp draw them)
    scripts/ladder.py PCAP OUT.svg [--title TEXT] [--source TEXT]
                                   [--client TEXT] [--server TEXT]
                            any capture of one connection
    scripts/ladder.py --list PCAP
                            the packets, one line each: what the SVG holds in
                            its <desc>, for tests and diffs

The client and the server are two vertical lines, time goes down, and each
packet is an arrow labelled with its TCP flags, its sequence and acknowledgment
numbers relative to the sender's first one (as Wireshark shows them), its
length and its payload (escaped as the servers' log escapes it: SPEC
"Escaping"). Beside each arrow: the step of docs/SIDE-BY-SIDE.md whose system
call sent the packet and the one that reads it, and each side's TCP state as
the packets change it. ARP packets between the two addresses come first when
the capture has them (a capture on a real or virtual Ethernet link).

The connection drawn is the first one that starts (its SYN) in the capture;
the side that sent the SYN is the client. The picture holds no times, ports,
Ethernet addresses or ids of any kind, so the same packets always give the
same file byte for byte.

The reader handles the classic pcap format that tcpdump -w writes (both byte
orders, microsecond or nanosecond times) with Ethernet or Linux cooked (SLL)
frames, IPv4 and IPv6; it is the standard library only.
"""
import argparse
import struct
import sys
from xml.sax.saxutils import escape as xml_escape

# ---------------------------------------------------------------- reading


class Packet:
    """One packet of the connection, decoded."""

    def __init__(self, kind, src, dst):
        self.kind = kind          # "tcp" or "arp"
        self.src = src            # (address text, port or None)
        self.dst = dst
        self.seq = self.ack = 0   # absolute, from the header
        self.flags = 0
        self.payload = b""
        self.arp_op = 0           # 1 request, 2 reply


FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def read_pcap(data):
    """The (link type, frame bytes) of each record of a pcap file."""
    if len(data) < 24:
        raise ValueError("too short for a pcap file")
    for order in "<>":
        magic = struct.unpack(order + "I", data[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        raise ValueError("not a pcap file (pcapng is not read: tcpdump -w writes pcap)")
    link_type = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF
    frames = []
    at = 24
    while at + 16 <= len(data):
        captured = struct.unpack(order + "I", data[at + 8:at + 12])[0]
        frame = data[at + 16:at + 16 + captured]
        if len(frame) < captured:
            break  # a record cut short: the capture was still being written
        frames.append(frame)
        at += 16 + captured
    return link_type, frames


def network_layer(link_type, frame):
    """(ethertype, bytes after the link header), or None for other links."""
    if link_type == 1:  # Ethernet (tcpdump on lo and on a veth)
        start, ethertype = 14, frame[12:14]
        while ethertype == b"\x81\x00" and len(frame) >= start + 4:  # a VLAN tag
            ethertype, start = frame[start + 2:start + 4], start + 4
    elif link_type == 113:  # Linux cooked capture (tcpdump -i any)
        start, ethertype = 16, frame[14:16]
    else:
        raise ValueError(f"link type {link_type} is not read (Ethernet or Linux cooked only)")
    if len(frame) < start:
        return None
    return struct.unpack(">H", ethertype)[0], frame[start:]


def ip_text(raw):
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    groups = [f"{struct.unpack('>H', raw[i:i + 2])[0]:x}" for i in range(0, 16, 2)]
    text = ":".join(groups)
    # The longest run of zero groups becomes "::" (RFC 5952).
    best, run_start, best_len = None, None, 1
    for i in range(9):
        if i < 8 and groups[i] == "0":
            run_start = i if run_start is None else run_start
        elif run_start is not None:
            if i - run_start > best_len:
                best, best_len = run_start, i - run_start
            run_start = None
    if best is not None:
        text = ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len:])
    return text


def decode(link_type, frame):
    """A Packet for a TCP segment or an ARP packet; None for anything else."""
    layer = network_layer(link_type, frame)
    if layer is None:
        return None
    ethertype, body = layer
    if ethertype == 0x0806 and len(body) >= 28 and body[4:6] == b"\x06\x04":
        packet = Packet("arp", (ip_text(body[14:18]), None), (ip_text(body[24:28]), None))
        packet.arp_op = struct.unpack(">H", body[6:8])[0]
        return packet
    if ethertype == 0x0800 and len(body) >= 20:
        header, total = (body[0] & 0x0F) * 4, struct.unpack(">H", body[2:4])[0]
        if body[9] != 6:
            return None
        src, dst, tcp = body[12:16], body[16:20], body[header:total]
    elif ethertype == 0x86DD and len(body) >= 40:
        if body[6] != 6:
            return None  # not TCP, or extension headers (our captures have none)
        src, dst, tcp = body[8:24], body[24:40], body[40:40 + struct.unpack(">H", body[4:6])[0]]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack = struct.unpack(">HHII", tcp[:12])
    packet = Packet("tcp", (ip_text(src), sport), (ip_text(dst), dport))
    packet.seq, packet.ack, packet.flags = seq, ack, tcp[13]
    packet.payload = bytes(tcp[(tcp[12] >> 4) * 4:])
    return packet


def connection(data):
    """The packets of the first connection that starts in the capture (ARP
    between its two addresses included), and its (client, server) endpoints."""
    link_type, frames = read_pcap(data)
    packets = [p for p in (decode(link_type, f) for f in frames) if p is not None]
    syn = next((p for p in packets if p.kind == "tcp" and p.flags & (SYN | ACK) == SYN), None)
    if syn is None:
        raise ValueError("no SYN in the capture: start tcpdump before the client connects")
    client, server = syn.src, syn.dst
    ends = {client, server}
    addresses = {client[0], server[0]}
    chosen = []
    for p in packets:
        if p.kind == "tcp" and {p.src, p.dst} == ends:
            chosen.append(p)
        elif p.kind == "arp" and p.src[0] in addresses and p.dst[0] in addresses and p.src != p.dst:
            chosen.append(p)
    return chosen, client, server


# ---------------------------------------------------------------- escaping


# SPEC "Escaping": the invisible characters that hide or reorder text.
INVISIBLE = [(0x00AD, 0x00AD), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF)]


def utf8_sequence(data, i):
    """The length of the well-formed UTF-8 sequence (shortest form, no
    surrogates) of a code point from U+00A0 up, shown as it is, at data[i];
    0 if the byte there must be escaped."""
    lead = data[i]
    if 0xC2 <= lead <= 0xDF:
        length, low, high = 2, 0x80, 0xBF
    elif 0xE0 <= lead <= 0xEF:
        length = 3
        low, high = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F)}.get(lead, (0x80, 0xBF))
    elif 0xF0 <= lead <= 0xF4:
        length = 4
        low, high = {0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}.get(lead, (0x80, 0xBF))
    else:
        return 0
    if i + length > len(data) or not low <= data[i + 1] <= high:
        return 0
    if any(not 0x80 <= b <= 0xBF for b in data[i + 2:i + length]):
        return 0
    point = ord(data[i:i + length].decode("utf-8"))
    if point < 0xA0 or any(a <= point <= b for a, b in INVISIBLE):
        return 0
    return length


def escape(data):
    """Bytes as the servers' log shows them (SPEC "Escaping")."""
    out = []
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x5C:
            out.append("\\\\")
        elif b in (0x09, 0x0D, 0x0A):
            out.append({0x09: "\\t", 0x0D: "\\r", 0x0A: "\\n"}[b])
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            length = utf8_sequence(data, i)
            if length:
                out.append(data[i:i + length].decode("utf-8"))
                i += length
                continue
            out.append(f"\\x{b:02x}")
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- meaning


def flag_names(flags):
    """The flags as Wireshark names them, in its order."""
    names = [(SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (URG, "URG"), (ACK, "ACK")]
    return ", ".join(name for bit, name in names if flags & bit)


def is_quit(payload):
    """SPEC "The protocol": a line that is exactly quit or quit\\r."""
    return payload in (b"quit\n", b"quit\r\n")


class Arrow:
    """One packet as the diagram shows it."""

    def __init__(self, number, packet, src, dst):
        self.number = number
        self.packet = packet
        self.src, self.dst = src, dst        # "client" or "server"
        self.flags = ""
        self.rel_seq = self.rel_ack = None
        self.phase = ""
        self.sent_by = ("kernel", "")        # (step, note) on the sender's side
        self.read_by = ("", "")              # (step, note) on the receiver's side, if any
        self.states = {}                     # side -> the TCP state this packet moved it to

    def numbers(self):
        p = self.packet
        if p.kind == "arp":
            if p.arp_op == 1:
                return f"ARP request: who has {p.dst[0]}?"
            return f"ARP reply: {p.src[0]} is at (its MAC address)"
        parts = [self.flags, f"seq {self.rel_seq}"]
        if self.rel_ack is not None:
            parts.append(f"ack {self.rel_ack}")
        parts.append(f"len {len(p.payload)}")
        return "  ".join(parts)

    def line(self):
        """The packet as one line of text (--list, and the SVG's <desc>)."""
        def step(side, what):
            name, note = what
            return f"{side}: {name}" + (f" ({note})" if note else "")
        text = f"{self.number}. {self.src} -> {self.dst}  {self.numbers()}  | {step(self.src, self.sent_by)}"
        if self.read_by[0]:
            text += f" | {step(self.dst, self.read_by)}"
        if self.states:
            text += " | now: " + ", ".join(f"{side} {state}" for side, state in sorted(self.states.items()))
        if self.packet.kind == "tcp" and self.packet.payload:
            text += f' | "{escape(self.packet.payload)}"'
        return text


def explain(packets, client):
    """Arrows for the packets: direction, relative numbers, phase, the steps
    that sent and read each packet, and the TCP states they lead to."""
    arrows = []
    isn = {}                                    # side -> its first sequence number
    state = {"client": "CLOSED", "server": "LISTEN"}
    fin_ack = {}                                # side -> the ack number that acknowledges its FIN
    quit_seen = False
    ended = False
    for number, p in enumerate(packets, 1):
        if p.kind == "arp":
            src = "client" if p.src[0] == client[0] else "server"  # the sender's address
        else:
            src = "client" if p.src == client else "server"
        dst = "server" if src == "client" else "client"
        a = Arrow(number, p, src, dst)
        arrows.append(a)
        if p.kind == "arp":
            a.phase = "arp"
            if p.arp_op == 1:
                a.sent_by = ("connect", "its kernel asks first")
            continue
        a.flags = flag_names(p.flags)
        if p.flags & SYN:
            isn[src] = p.seq
        a.rel_seq = (p.seq - isn.get(src, p.seq)) % 2**32
        if p.flags & ACK:
            a.rel_ack = (p.ack - isn.get(dst, p.ack - 1)) % 2**32
        new = {}
        size = len(p.payload)

        # The phase and the steps (docs/SIDE-BY-SIDE.md) behind the packet.
        if p.flags & RST:
            ended = True
            a.phase = "end"
            a.sent_by = ("close", "SO_LINGER 0") if src == "client" else ("kernel", "")
            a.read_by = ("recv", "ECONNRESET") if dst == "server" else ("", "")
        elif p.flags & SYN and not p.flags & ACK:
            a.phase = "handshake"
            a.sent_by = ("connect", "")
            a.read_by = ("listen", "queued for accept")
        elif p.flags & SYN:
            a.phase = "handshake"
            a.sent_by = ("kernel", "answers for listen")
            a.read_by = ("connect", "")
        elif state.get(dst) == "SYN_RECEIVED" and a.rel_ack == 1 and not size:
            a.phase = "handshake"
            a.sent_by = ("connect", "returns")
            a.read_by = ("accept", "can return")
        elif size:
            a.phase = "end" if ended else "data"
            if src == "client" and is_quit(p.payload):
                quit_seen = True
                a.sent_by = ("close", "sends quit")
                a.read_by = ("recv", "quit: no echo")
            else:
                a.sent_by = ("send", "the echo" if src == "server" else "")
                a.read_by = ("recv", "")
        else:
            a.phase = "end" if ended else "data"
        if p.flags & FIN:
            ended = True
            a.phase = "end"
            if src == "client":
                a.sent_by = ("close", "")
                a.read_by = ("shutdown", "its recv returns 0") if quit_seen else ("recv", "returns 0")
            elif quit_seen:
                a.sent_by = ("shutdown", "SHUT_WR after quit")
            else:
                a.sent_by = ("close", "")

        # The TCP states, each packet delivered as soon as it is sent (one
        # capture point, a loopback or a virtual cable: no packets cross).
        if p.flags & RST:
            new[src] = new[dst] = "CLOSED"
        elif p.flags & SYN and not p.flags & ACK:
            new[src] = "SYN_SENT"
        elif p.flags & SYN:
            new[src] = "SYN_RECEIVED"
            if state[dst] == "SYN_SENT":
                new[dst] = "ESTABLISHED"
        else:
            if p.flags & FIN:
                fin_ack[src] = (a.rel_seq + size + 1) % 2**32
                mine = {"ESTABLISHED": "FIN_WAIT_1", "CLOSE_WAIT": "LAST_ACK"}
                if state[src] in mine:
                    new[src] = mine[state[src]]
            got = state[dst]
            if p.flags & ACK:
                if got == "SYN_RECEIVED" and a.rel_ack == 1:
                    got = "ESTABLISHED"
                elif dst in fin_ack and a.rel_ack == fin_ack[dst]:
                    got = {"FIN_WAIT_1": "FIN_WAIT_2", "CLOSING": "TIME_WAIT", "LAST_ACK": "CLOSED"}.get(got, got)
            if p.flags & FIN:
                got = {"ESTABLISHED": "CLOSE_WAIT", "FIN_WAIT_1": "CLOSING", "FIN_WAIT_2": "TIME_WAIT"}.get(got, got)
            if got != state[dst]:
                new[dst] = got
        state.update(new)
        a.states = new
    return arrows


# ---------------------------------------------------------------- drawing

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
    "data": "the session: each line goes out and comes back",
    "end": "the end of the connection",
}

BAND = {"arp": "#f4effa", "handshake": "#eef3fb", "data": "#eef7f0", "end": "#fcf1e8"}


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


def draw(arrows, client, server, title, subtitle, client_name, server_name):
    rows = []          # (arrow, y where it starts)
    bands = []         # [phase, top, bottom]
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
    used = [name for name in STYLES if any(style_of(a) == name for a in arrows)]
    legend_top = y + 40
    notes_top = legend_top + 24 * ((len(used) + 1) // 2) + 10
    height = notes_top + 18 * len(NOTES) + 16

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
    out += ["</defs>", f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>']

    out.append(text(WIDTH / 2, 30, title, size=18, weight="bold"))
    out.append(text(WIDTH / 2, 52, subtitle, size=12.5, fill="#444444"))
    for x, who, name, addr in [(CLIENT_X, "client", client_name, client[0]),
                               (SERVER_X, "server", server_name, server[0])]:
        out.append(f'<rect x="{x - 110}" y="70" width="220" height="52" rx="6" fill="#f2f2f2" '
                   f'stroke="#444444"/>')
        out.append(text(x, 92, f"{who} {addr}", size=15, weight="bold"))
        out.append(text(x, 111, name, size=12, family=MONO, fill="#333333"))
    out.append(text(CLIENT_X - STATE_GAP - 50, 100, "TCP state", size=12, fill="#555555", style="italic"))
    out.append(text(SERVER_X + STATE_GAP + 50, 100, "TCP state", size=12, fill="#555555", style="italic"))

    for phase, top, bottom in bands:
        out.append(f'<rect x="{CLIENT_X}" y="{top}" width="{SERVER_X - CLIENT_X}" height="{bottom - top}" '
                   f'fill="{BAND[phase]}"/>')
        out.append(text(WIDTH / 2, top + 16, PHASES[phase], size=12, fill="#444444", style="italic"))
    for x in (CLIENT_X, SERVER_X):
        out.append(f'<line x1="{x}" y1="122" x2="{x}" y2="{y + 10}" stroke="#444444" stroke-width="2"/>')

    # The state each side starts in, then each change where a packet makes it.
    out += state_label(CLIENT_X - STATE_GAP, TOP + 6, "CLOSED", "end")
    out += state_label(SERVER_X + STATE_GAP, TOP + 6, "LISTEN", "start")
    mid = (CLIENT_X + SERVER_X) / 2
    for a, top in rows:
        kind = style_of(a)
        colour = STYLES[kind][0]
        x1, x2 = (CLIENT_X, SERVER_X) if a.src == "client" else (SERVER_X, CLIENT_X)
        dash = ' stroke-dasharray="7 5"' if kind == "ack" else ""
        out.append(f'<g id="arrow-{a.number}"><title>{xml_escape(a.line())}</title>')
        out.append(f'<line x1="{x1}" y1="{top}" x2="{x2}" y2="{top + SLANT}" stroke="{colour}" '
                   f'stroke-width="2.2"{dash} marker-end="url(#head-{kind})"/>')
        out.append(f'<circle cx="{CLIENT_X + 22}" cy="{top - 11}" r="10" fill="{colour}"/>')
        out.append(text(CLIENT_X + 22, top - 6.5, str(a.number), size=12, weight="bold", fill="#ffffff"))
        out.append(text(mid, top - 7, a.numbers(), size=13, family=MONO,
                        weight="bold" if kind != "ack" else "normal", fill=colour))
        if a.packet.kind == "tcp" and a.packet.payload:
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

    # The legend: what the colours, the numbers and the labels mean.
    out.append(f'<line x1="30" y1="{legend_top - 20}" x2="{WIDTH - 30}" y2="{legend_top - 20}" '
               f'stroke="#cccccc"/>')
    for i, name in enumerate(used):
        colour, meaning = STYLES[name]
        row_y = legend_top + 24 * (i // 2)
        x = 40 + (WIDTH / 2 - 20) * (i % 2)
        dash = ' stroke-dasharray="7 5"' if name == "ack" else ""
        out.append(f'<line x1="{x}" y1="{row_y - 4}" x2="{x + 40}" y2="{row_y - 4}" stroke="{colour}" '
                   f'stroke-width="2.2"{dash} marker-end="url(#head-{name})"/>')
        out.append(text(x + 50, row_y, meaning, size=12.5, anchor="start"))
    for i, note in enumerate(NOTES):
        out.append(text(40, notes_top + 18 * i, note, size=12.5, anchor="start", fill="#333333"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- UDP
# The UDP pair's picture (make demo-udp): no connection, so no handshake, no
# ACKs, no FIN and no TCP states; one datagram each way per line, and the
# ones that never came back. Drawn from a capture on the client's side of
# the link, where a lost request and a lost echo look the same: a datagram
# that no echo answered.

UDP_LINES = 8  # the picture shows the first lines of the demo's run

UDP_STYLES = {
    "udp": ("#1b7a3a", "a datagram: one send(), one recvfrom(), one line"),
    "lost": ("#c01c28", "no echo came back: the datagram or its echo was lost"),
    "late": ("#c05600", "an echo after its wait: the client shows it as late"),
    "icmp": ("#7b3fa0", "ICMP port unreachable: the client's kernel, its socket gone"),
}

UDP_NOTES = [
    "No handshake before the first datagram, no ACK after any, no FIN at the end: UDP has no connection.",
    "Each line is one datagram and its echo another; nothing numbers them and nothing sends one again.",
    "The capture is on the client's side of the link: a request dropped on its way in and an echo",
    "dropped on its way out look the same here, a datagram no echo answered (the server's log says which).",
    "len: payload bytes; in quotes: the payload, escaped as the servers log it. Time goes down, not to scale.",
]


def decode_datagram(link_type, frame):
    """A Packet for a UDP datagram (kind "udp") or an ICMP port unreachable
    (kind "icmp"), over IPv4 or IPv6; None for anything else."""
    layer = network_layer(link_type, frame)
    if layer is None:
        return None
    ethertype, body = layer
    if ethertype == 0x0800 and len(body) >= 20:
        header, total = (body[0] & 0x0F) * 4, struct.unpack(">H", body[2:4])[0]
        proto, src, dst, rest = body[9], body[12:16], body[16:20], body[header:total]
        unreachable = proto == 1 and rest[:2] == b"\x03\x03"
    elif ethertype == 0x86DD and len(body) >= 40:
        proto, src, dst = body[6], body[8:24], body[24:40]
        rest = body[40:40 + struct.unpack(">H", body[4:6])[0]]
        unreachable = proto == 58 and rest[:2] == b"\x01\x04"
    else:
        return None
    if unreachable:
        return Packet("icmp", (ip_text(src), None), (ip_text(dst), None))
    if proto != 17 or len(rest) < 8:
        return None
    sport, dport, length = struct.unpack(">HHH", rest[:6])
    packet = Packet("udp", (ip_text(src), sport), (ip_text(dst), dport))
    packet.payload = bytes(rest[8:length])
    return packet


def datagram_flow(data):
    """The datagrams between the sender of the first one (the client) and its
    peer, with the ICMP errors between their addresses; and the (client,
    server) endpoints."""
    link_type, frames = read_pcap(data)
    packets = [p for p in (decode_datagram(link_type, f) for f in frames) if p is not None]
    first = next((p for p in packets if p.kind == "udp"), None)
    if first is None:
        raise ValueError("no UDP datagram in the capture")
    client, server = first.src, first.dst
    chosen = [p for p in packets
              if {p.src, p.dst} == {client, server}
              or (p.kind == "icmp" and {p.src[0], p.dst[0]} == {client[0], server[0]})]
    return chosen, client, server


class Datagram(Arrow):
    """One datagram (or ICMP error) as the picture shows it."""

    def numbers(self):
        if self.packet.kind == "icmp":
            return "ICMP port unreachable"
        return f"UDP  len {len(self.packet.payload)}"

    def line(self):
        text = f"{self.number}. {self.src} -> {self.dst}  {self.numbers()}  [{self.phase}]"
        if self.packet.payload:
            text += f' | "{escape(self.packet.payload)}"'
        return text


def explain_datagrams(packets, client, lines=UDP_LINES):
    """Each packet as a Datagram, its phase one of UDP_STYLES, up to the
    client's datagram number lines + 1: a request whose echo never came is
    lost; an echo that comes after the client's next request is late (its
    request's wait was over: `no reply`, then `late:`)."""
    arrows = []
    for number, p in enumerate(packets, 1):
        src = "client" if p.src[0] == client[0] and (p.kind == "icmp" or p.src == client) else "server"
        a = Datagram(number, p, src, "server" if src == "client" else "client")
        arrows.append(a)
        if p.kind == "icmp":
            a.phase, a.sent_by = "icmp", ("kernel", "no socket there now")
        elif src == "client":
            a.phase, a.sent_by, a.read_by = "udp", ("send", ""), ("recvfrom", "")
        else:
            a.phase, a.sent_by, a.read_by = "udp", ("sendto", "the echo"), ("recv", "echo:")
    last_request = None
    for a in arrows:
        if a.packet.kind != "udp":
            continue
        if a.src == "client":
            echoes = [e for e in arrows[a.number:] if e.src == "server" and e.packet.payload == a.packet.payload]
            if not echoes:
                a.phase, a.sent_by, a.read_by = "lost", ("send", "then recv: EAGAIN, no reply"), ("", "")
            last_request = a
        elif last_request is not None and a.packet.payload != last_request.packet.payload:
            a.phase, a.read_by = "late", ("recv", "late: an earlier line's echo")
            request = next(r for r in reversed(arrows[:a.number]) if r.src == "client" and r.packet.payload == a.packet.payload)
            request.sent_by = ("send", "then recv: EAGAIN, no reply")
    requests = [a for a in arrows if a.src == "client" and a.packet.kind == "udp"]
    if len(requests) > lines:
        arrows = arrows[:requests[lines].number - 1]
    return arrows


def draw_datagrams(arrows, client, server, title, subtitle, client_name, server_name):
    """The ladder of a datagram flow: the TCP picture's layout, without its
    phases and states."""
    y = TOP
    rows = []
    for a in arrows:
        rows.append((a, y + 24))
        y += ROW
    used = [name for name in UDP_STYLES if any(a.phase == name for a in arrows)]
    legend_top = y + 40
    notes_top = legend_top + 24 * len(used) + 10
    height = notes_top + 18 * len(UDP_NOTES) + 16
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
                   f'fill="{UDP_STYLES[name][0]}"/></marker>')
    out += ["</defs>", f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>']
    out.append(text(WIDTH / 2, 30, title, size=18, weight="bold"))
    out.append(text(WIDTH / 2, 52, subtitle, size=12.5, fill="#444444"))
    for x, who, name, addr in [(CLIENT_X, "client", client_name, client[0]),
                               (SERVER_X, "server", server_name, server[0])]:
        out.append(f'<rect x="{x - 110}" y="70" width="220" height="52" rx="6" fill="#f2f2f2" stroke="#444444"/>')
        out.append(text(x, 92, f"{who} {addr}", size=15, weight="bold"))
        out.append(text(x, 111, name, size=12, family=MONO, fill="#333333"))
        out.append(f'<line x1="{x}" y1="122" x2="{x}" y2="{y + 10}" stroke="#444444" stroke-width="2"/>')
    mid = (CLIENT_X + SERVER_X) / 2
    for a, top in rows:
        colour = UDP_STYLES[a.phase][0]
        x1, x2 = (CLIENT_X, SERVER_X) if a.src == "client" else (SERVER_X, CLIENT_X)
        dash = ' stroke-dasharray="7 5"' if a.phase == "lost" else ""
        out.append(f'<g id="arrow-{a.number}"><title>{xml_escape(a.line())}</title>')
        out.append(f'<line x1="{x1}" y1="{top}" x2="{x2}" y2="{top + SLANT}" stroke="{colour}" '
                   f'stroke-width="2.2"{dash} marker-end="url(#head-{a.phase})"/>')
        out.append(f'<circle cx="{CLIENT_X + 22}" cy="{top - 11}" r="10" fill="{colour}"/>')
        out.append(text(CLIENT_X + 22, top - 6.5, str(a.number), size=12, weight="bold", fill="#ffffff"))
        out.append(text(mid, top - 7, a.numbers(), size=13, family=MONO, weight="bold", fill=colour))
        if a.packet.payload:
            shown = shorten(escape(a.packet.payload), 44)
            out.append(text(mid, top + SLANT + 18, f'"{shown}"', size=14, family=MONO))
        out.append("</g>")
        for side, (x, anchor) in {"client": (CLIENT_X - 12, "end"), "server": (SERVER_X + 12, "start")}.items():
            made = side == a.src
            out += step_label(x, top + (0 if made else SLANT) + 5, anchor, a.sent_by if made else a.read_by, made)
    out.append(f'<line x1="30" y1="{legend_top - 20}" x2="{WIDTH - 30}" y2="{legend_top - 20}" stroke="#cccccc"/>')
    for i, name in enumerate(used):
        colour, meaning = UDP_STYLES[name]
        row_y = legend_top + 24 * i
        dash = ' stroke-dasharray="7 5"' if name == "lost" else ""
        out.append(f'<line x1="40" y1="{row_y - 4}" x2="80" y2="{row_y - 4}" stroke="{colour}" '
                   f'stroke-width="2.2"{dash} marker-end="url(#head-{name})"/>')
        out.append(text(90, row_y, meaning, size=12.5, anchor="start"))
    for i, note in enumerate(UDP_NOTES):
        out.append(text(40, notes_top + 18 * i, note, size=12.5, anchor="start", fill="#333333"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main_datagrams(args):
    """main() for a datagram picture (--picture udp)."""
    try:
        with open(args.pcap, "rb") as f:
            packets, client, server = datagram_flow(f.read())
    except (OSError, ValueError) as e:
        print(f"ladder: {args.pcap}: {e}", file=sys.stderr)
        return 1
    arrows = explain_datagrams(packets, client)
    if args.list:
        print("\n".join(a.line() for a in arrows))
        return 0
    subtitle = args.source or f"drawn by scripts/ladder.py from {args.pcap}"
    with open(args.svg, "w", encoding="utf-8") as f:
        f.write(draw_datagrams(arrows, client, server, args.title, subtitle, args.client, args.server))
    print(f"ladder: wrote {args.svg} ({len(arrows)} arrows)")
    return 0


# The project's pictures: what make capture and make demo-netns record.
PICTURES = {
    "session": {
        "title": "One echo session on 127.0.0.1: connect, two lines, quit",
        "source": "make capture: tcpdump on the loopback (build/capture.pcap), drawn by scripts/ladder.py",
        "client": "build/rust/client", "server": "build/c/server",
    },
    "reset": {
        "title": "A connection that ends with RST: close() with SO_LINGER 0",
        "source": "make capture: tcpdump on the loopback (build/reset.pcap), drawn by scripts/ladder.py",
        "client": "scripts/reset-client.py", "server": "build/c/server",
    },
    "netns": {
        "title": "The echo session between two network namespaces (a veth pair)",
        "source": "make demo-netns: tcpdump on the server's veth (build/netns.pcap), drawn by scripts/ladder.py",
        "client": "build/rust/client", "server": "build/c/server",
    },
    "udp": {
        "kind": "udp",
        "title": f"UDP over a lossy, slow link: the first {UDP_LINES} lines",
        "source": "make demo-udp: tcpdump on the client's veth (build/udp.pcap), drawn by scripts/ladder.py",
        "client": "build/rust/client_udp", "server": "build/c/server_udp",
    },
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pcap")
    parser.add_argument("svg", nargs="?")
    parser.add_argument("--list", action="store_true", help="print the packets, one line each")
    parser.add_argument("--picture", choices=sorted(PICTURES), help="one of the project's pictures")
    parser.add_argument("--title", default="One TCP connection")
    parser.add_argument("--source", default="", help="how the capture was made (the subtitle)")
    parser.add_argument("--client", default="", help="the client program")
    parser.add_argument("--server", default="", help="the server program")
    args = parser.parse_args()
    if args.picture:
        for key, value in PICTURES[args.picture].items():
            setattr(args, key, value)
    if getattr(args, "kind", "tcp") == "udp":
        return main_datagrams(args)
    try:
        with open(args.pcap, "rb") as f:
            packets, client, server = connection(f.read())
    except (OSError, ValueError) as e:
        print(f"ladder: {args.pcap}: {e}", file=sys.stderr)
        return 1
    arrows = explain(packets, client)
    if args.list:
        print("\n".join(a.line() for a in arrows))
        return 0
    if not args.svg:
        parser.error("give the SVG file to write, or --list")
    subtitle = args.source or f"drawn by scripts/ladder.py from {args.pcap}"
    with open(args.svg, "w", encoding="utf-8") as f:
        f.write(draw(arrows, client, server, args.title, subtitle, args.client, args.server))
    print(f"ladder: wrote {args.svg} ({len(arrows)} arrows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
