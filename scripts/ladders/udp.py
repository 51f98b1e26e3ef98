"""The UDP pair's picture (make demo-udp): no connection, so no handshake,
no ACKs, no FIN and no TCP states; one datagram each way per line, and the
ones that never came back. Drawn from a capture on the client's side of the
link, where a lost request and a lost echo look the same: a datagram that no
echo answered. The layout, the labels and the text are svg.py's."""
import struct
from xml.sax.saxutils import escape as xml_escape

from ladders.escaping import escape
from ladders.pcap import Packet, ip_text, network_layer, read_pcap
from ladders.story import Arrow
from ladders.svg import CLIENT_X, MONO, ROW, SERVER_X, SLANT, TOP, WIDTH, shorten, step_label, text

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


def datagram_arrow(number, p, client):
    """The arrow of one packet, with the steps that sent and read it."""
    src = "client" if p.src[0] == client[0] and (p.kind == "icmp" or p.src == client) else "server"
    a = Datagram(number, p, src, "server" if src == "client" else "client")
    if p.kind == "icmp":
        a.phase, a.sent_by = "icmp", ("kernel", "no socket there now")
    elif src == "client":
        a.phase, a.sent_by, a.read_by = "udp", ("send", ""), ("recvfrom", "")
    else:
        a.phase, a.sent_by, a.read_by = "udp", ("sendto", "the echo"), ("recv", "echo:")
    return a


def explain_datagrams(packets, client, lines=UDP_LINES):
    """Each packet as a Datagram, its phase one of UDP_STYLES, up to the
    client's datagram number lines + 1: a request whose echo never came is
    lost; an echo that comes after the client's next request is late (its
    request's wait was over: `no reply`, then `late:`)."""
    arrows = [datagram_arrow(number, p, client) for number, p in enumerate(packets, 1)]
    no_reply = ("send", "then recv: EAGAIN, no reply")
    last_request = None
    for a in (a for a in arrows if a.packet.kind == "udp"):
        if a.src == "client":
            if not any(e.src == "server" and e.packet.payload == a.packet.payload for e in arrows[a.number:]):
                a.phase, a.sent_by, a.read_by = "lost", no_reply, ("", "")
            last_request = a
        elif last_request is not None and a.packet.payload != last_request.packet.payload:
            a.phase, a.read_by = "late", ("recv", "late: an earlier line's echo")
            request = next(r for r in reversed(arrows[:a.number])
                           if r.src == "client" and r.packet.payload == a.packet.payload)
            request.sent_by = no_reply
    requests = [a for a in arrows if a.src == "client" and a.packet.kind == "udp"]
    if len(requests) > lines:
        arrows = arrows[:requests[lines].number - 1]
    return arrows


def datagram_head(arrows, used, height, title):
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
                   f'fill="{UDP_STYLES[name][0]}"/></marker>')
    return out + ["</defs>", f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>']


def datagram_ends(title, subtitle, client, server, client_name, server_name, bottom):
    """The title, the box atop each lifeline (address and program), and the
    lifelines: no TCP states."""
    out = [text(WIDTH / 2, 30, title, size=18, weight="bold"),
           text(WIDTH / 2, 52, subtitle, size=12.5, fill="#444444")]
    for x, who, name, addr in [(CLIENT_X, "client", client_name, client[0]),
                               (SERVER_X, "server", server_name, server[0])]:
        out.append(f'<rect x="{x - 110}" y="70" width="220" height="52" rx="6" fill="#f2f2f2" stroke="#444444"/>')
        out.append(text(x, 92, f"{who} {addr}", size=15, weight="bold"))
        out.append(text(x, 111, name, size=12, family=MONO, fill="#333333"))
        out.append(f'<line x1="{x}" y1="122" x2="{x}" y2="{bottom + 10}" stroke="#444444" stroke-width="2"/>')
    return out


def datagram_row(a, top):
    """One datagram: its arrow with number, length and payload, and the
    steps beside each lifeline."""
    colour = UDP_STYLES[a.phase][0]
    mid = (CLIENT_X + SERVER_X) / 2
    x1, x2 = (CLIENT_X, SERVER_X) if a.src == "client" else (SERVER_X, CLIENT_X)
    dash = ' stroke-dasharray="7 5"' if a.phase == "lost" else ""
    out = [f'<g id="arrow-{a.number}"><title>{xml_escape(a.line())}</title>',
           f'<line x1="{x1}" y1="{top}" x2="{x2}" y2="{top + SLANT}" stroke="{colour}" '
           f'stroke-width="2.2"{dash} marker-end="url(#head-{a.phase})"/>',
           f'<circle cx="{CLIENT_X + 22}" cy="{top - 11}" r="10" fill="{colour}"/>',
           text(CLIENT_X + 22, top - 6.5, str(a.number), size=12, weight="bold", fill="#ffffff"),
           text(mid, top - 7, a.numbers(), size=13, family=MONO, weight="bold", fill=colour)]
    if a.packet.payload:
        out.append(text(mid, top + SLANT + 18, f'"{shorten(escape(a.packet.payload), 44)}"', size=14, family=MONO))
    out.append("</g>")
    for side, (x, anchor) in {"client": (CLIENT_X - 12, "end"), "server": (SERVER_X + 12, "start")}.items():
        made = side == a.src
        out += step_label(x, top + (0 if made else SLANT) + 5, anchor, a.sent_by if made else a.read_by, made)
    return out


def datagram_legend(used, legend_top, notes_top):
    """What the colours mean, and the notes."""
    out = [f'<line x1="30" y1="{legend_top - 20}" x2="{WIDTH - 30}" y2="{legend_top - 20}" stroke="#cccccc"/>']
    for i, name in enumerate(used):
        colour, meaning = UDP_STYLES[name]
        row_y = legend_top + 24 * i
        dash = ' stroke-dasharray="7 5"' if name == "lost" else ""
        out.append(f'<line x1="40" y1="{row_y - 4}" x2="80" y2="{row_y - 4}" stroke="{colour}" '
                   f'stroke-width="2.2"{dash} marker-end="url(#head-{name})"/>')
        out.append(text(90, row_y, meaning, size=12.5, anchor="start"))
    for i, note in enumerate(UDP_NOTES):
        out.append(text(40, notes_top + 18 * i, note, size=12.5, anchor="start", fill="#333333"))
    return out


def draw_datagrams(arrows, client, server, title, subtitle, client_name, server_name):
    """The SVG text of a datagram flow's ladder."""
    rows = [(a, TOP + ROW * i + 24) for i, a in enumerate(arrows)]
    bottom = TOP + ROW * len(arrows)
    used = [name for name in UDP_STYLES if any(a.phase == name for a in arrows)]
    legend_top = bottom + 40
    notes_top = legend_top + 24 * len(used) + 10
    height = notes_top + 18 * len(UDP_NOTES) + 16
    out = datagram_head(arrows, used, height, title)
    out += datagram_ends(title, subtitle, client, server, client_name, server_name, bottom)
    for a, top in rows:
        out += datagram_row(a, top)
    out += datagram_legend(used, legend_top, notes_top)
    out.append("</svg>")
    return "\n".join(out) + "\n"
