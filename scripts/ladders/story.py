"""What each packet means: its arrow, its numbers relative to each side's
first, its phase, the steps of docs/SIDE-BY-SIDE.md that sent and read it,
and the TCP states it leads to."""
from .escaping import escape
from .pcap import ACK, FIN, PSH, RST, SYN, URG


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
        self.payload_label = None            # what to show instead of the payload (TLS records)

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
        if self.payload_label is not None:
            text += f" | {self.payload_label}"
        elif self.packet.kind == "tcp" and self.packet.payload:
            text += f' | "{escape(self.packet.payload)}"'
        return text


class Story:
    """What the packets of one connection mean, read in capture order: the
    numbers relative to each side's first, the phase, the steps that sent and
    read each packet, and the TCP states they lead to."""

    def __init__(self, client):
        self.client = client
        self.isn = {}                                   # side -> its first sequence number
        self.state = {"client": "CLOSED", "server": "LISTEN"}
        self.fin_ack = {}                               # side -> the ack number that acknowledges its FIN
        self.quit_seen = False
        self.ended = False

    def arrow(self, number, p):
        """The packet's arrow, its direction known."""
        if p.kind == "arp":
            src = "client" if p.src[0] == self.client[0] else "server"  # the sender's address
        else:
            src = "client" if p.src == self.client else "server"
        return Arrow(number, p, src, "server" if src == "client" else "client")

    def tell(self, a):
        """Everything the arrow says, in the order each part needs the last."""
        if a.packet.kind == "arp":
            a.phase = "arp"
            if a.packet.arp_op == 1:
                a.sent_by = ("connect", "its kernel asks first")
            return
        self.number(a)
        self.steps(a)
        if a.packet.flags & FIN:
            self.fin_steps(a)
        new = self.next_states(a)
        self.state.update(new)
        a.states = new

    def number(self, a):
        """Flags, and sequence and ack numbers relative to each side's SYN."""
        p, src, dst = a.packet, a.src, a.dst
        a.flags = flag_names(p.flags)
        if p.flags & SYN:
            self.isn[src] = p.seq
        a.rel_seq = (p.seq - self.isn.get(src, p.seq)) % 2**32
        if p.flags & ACK:
            a.rel_ack = (p.ack - self.isn.get(dst, p.ack - 1)) % 2**32

    def steps(self, a):
        """The phase and the steps (docs/SIDE-BY-SIDE.md) behind the packet."""
        p, src, dst = a.packet, a.src, a.dst
        if p.flags & RST:
            self.ended = True
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
        elif self.state.get(dst) == "SYN_RECEIVED" and a.rel_ack == 1 and not p.payload:
            a.phase = "handshake"
            a.sent_by = ("connect", "returns")
            a.read_by = ("accept", "can return")
        else:
            a.phase = "end" if self.ended else "data"
            if p.payload:
                self.data_steps(a)

    def data_steps(self, a):
        """A segment with payload: a line, its echo, or quit."""
        if a.src == "client" and is_quit(a.packet.payload):
            self.quit_seen = True
            a.sent_by = ("close", "sends quit")
            a.read_by = ("recv", "quit: no echo")
        else:
            a.sent_by = ("send", "the echo" if a.src == "server" else "")
            a.read_by = ("recv", "")

    def fin_steps(self, a):
        """A FIN: which side closes, and whether after quit."""
        self.ended = True
        a.phase = "end"
        if a.src == "client":
            a.sent_by = ("close", "")
            a.read_by = ("shutdown", "its recv returns 0") if self.quit_seen else ("recv", "returns 0")
        elif self.quit_seen:
            a.sent_by = ("shutdown", "SHUT_WR after quit")
        else:
            a.sent_by = ("close", "")

    def next_states(self, a):
        """side -> the TCP state the packet moves it to, each packet delivered
        as soon as it is sent (one capture point, a loopback or a virtual
        cable: no packets cross)."""
        p, src, dst, state = a.packet, a.src, a.dst, self.state
        new = {}
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
                self.fin_ack[src] = (a.rel_seq + len(p.payload) + 1) % 2**32
                mine = {"ESTABLISHED": "FIN_WAIT_1", "CLOSE_WAIT": "LAST_ACK"}
                if state[src] in mine:
                    new[src] = mine[state[src]]
            got = self.received_state(a)
            if got != state[dst]:
                new[dst] = got
        return new

    def received_state(self, a):
        """The receiver's state after an ACK or FIN (no SYN, no RST)."""
        p, dst = a.packet, a.dst
        got = self.state[dst]
        if p.flags & ACK:
            if got == "SYN_RECEIVED" and a.rel_ack == 1:
                got = "ESTABLISHED"
            elif dst in self.fin_ack and a.rel_ack == self.fin_ack[dst]:
                got = {"FIN_WAIT_1": "FIN_WAIT_2", "CLOSING": "TIME_WAIT", "LAST_ACK": "CLOSED"}.get(got, got)
        if p.flags & FIN:
            got = {"ESTABLISHED": "CLOSE_WAIT", "FIN_WAIT_1": "CLOSING", "FIN_WAIT_2": "TIME_WAIT"}.get(got, got)
        return got


def explain(packets, client):
    """Arrows for the packets: direction, relative numbers, phase, the steps
    that sent and read each packet, and the TCP states they lead to."""
    story = Story(client)
    arrows = []
    for number, p in enumerate(packets, 1):
        a = story.arrow(number, p)
        story.tell(a)
        arrows.append(a)
    return arrows
