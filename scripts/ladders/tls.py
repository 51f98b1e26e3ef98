"""A TLS session's packets (make capture's build/tls.pcap): the TLS records
each segment carries, named by their headers only, as anyone on the path
sees them. The payload stays unread: after ServerHello every TLS 1.3 record
is type 23, application data, encrypted; its length is all that shows (the
bytes inside, plus one for the hidden real type, plus 16 of the AEAD tag)."""
from .pcap import FIN

HANDSHAKE, CCS, ALERT, DATA = 22, 20, 21, 23
HANDSHAKE_NAMES = {1: "ClientHello", 2: "ServerHello"}
TAG_AND_TYPE = 17    # TLS 1.3: the real content type (1 byte) and the AEAD tag (16)

NOTES = [
    "seq, ack: byte numbers counted from 0 at each side's SYN (Wireshark's relative numbers).",
    "Below each data arrow: the TLS records of the segment, from their 5-byte headers, the only",
    "part anyone on the path can read. After ServerHello every record is type 23 (encrypted)",
    "and only its length shows: the bytes inside, plus 1 (the hidden type) and 16 (the tag).",
    "CCS: ChangeCipherSpec, a record TLS 1.3 sends only so that old middleboxes let it pass.",
    "Beside each arrow: the libssl call (or system call) that sent it (bold), and the one that reads it.",
    "To see inside: the client's SSLKEYLOGFILE and Wireshark (the book, \"Encryption\").",
]


def records(stream):
    """(type, length, first handshake byte) of each whole record in a byte stream."""
    out, i = [], 0
    while i + 5 <= len(stream):
        kind, length = stream[i], int.from_bytes(stream[i + 3:i + 5], "big")
        first = stream[i + 5] if i + 5 < len(stream) else None
        out.append((kind, length, first))
        i += 5 + length
    return out


def describe(kind, length, first):
    if kind == HANDSHAKE and first in HANDSHAKE_NAMES:
        return f"{HANDSHAKE_NAMES[first]} {length}"
    if kind == CCS:
        return f"CCS {length}"
    if kind == DATA:
        return f"encrypted {length} ({length - TAG_AND_TYPE} inside)"
    return f"type {kind}: {length}"


def label(recs):
    """The records of one segment, short: several encrypted ones as one list."""
    plain = [describe(*r) for r in recs if r[0] != DATA]
    sealed = [r[1] for r in recs if r[0] == DATA]
    if len(sealed) == 1:
        plain.append(describe(DATA, sealed[0], None))
    elif sealed:
        plain.append("encrypted " + ", ".join(str(n) for n in sealed))
    return " · ".join(plain)


class TlsStory:
    """Which libssl call sent each segment, from the records it carries and
    where the session is: the handshake, the lines, close_notify."""

    def __init__(self):
        self.handshake_done = {"client": False, "server": False}
        self.closing = {"client": False, "server": False}

    def tell(self, a):
        side, other = a.src, a.dst
        recs = records(a.packet.payload)
        a.payload_label = label(recs)
        plain = [r for r in recs if r[0] != DATA]
        if plain or not all(self.handshake_done.values()):
            a.phase = "tls"
            call = "SSL_connect" if side == "client" else "SSL_accept"
            read = "SSL_accept" if side == "client" else "SSL_connect"
            hello = recs[0][0] == HANDSHAKE and recs[0][2] == 1
            notes = {"client": "ClientHello" if hello else "its Finished",
                     "server": "hello, certificate, Finished"}
            a.sent_by, a.read_by = (call, notes[side]), (read, "")
            if not hello:
                self.handshake_done[side] = True
            return
        # An alert is 2 bytes inside: after the lines, close_notify.
        if all(length - TAG_AND_TYPE == 2 for _, length, _ in recs):
            self.closing[side] = True
            a.phase = "end"
            a.sent_by = ("SSL_shutdown", "close_notify")
            a.read_by = ("recv", "drained") if self.closing[other] else ("SSL_shutdown", "")
            return
        a.sent_by = ("SSL_write", "the echo" if side == "server" else "")
        a.read_by = ("SSL_read", "") if not self.closing[other] else ("recv", "drained")

    def tell_fin(self, a):
        if a.src == "server" and self.closing["server"]:
            a.sent_by = ("shutdown", "SHUT_WR after close_notify")
        elif a.src == "client":
            a.sent_by = ("close", "")
            if self.closing["server"]:
                a.read_by = ("recv", "returns 0: the drain ends")


def tls_story(arrows):
    """Relabel the arrows of a TLS session: records instead of payload bytes,
    libssl's calls instead of send and recv, a phase for the TLS handshake."""
    story = TlsStory()
    in_tls = False
    for a in arrows:
        p = a.packet
        if p.kind != "tcp":
            continue
        if p.payload:
            story.tell(a)
            in_tls = a.phase == "tls"
        elif p.flags & FIN:
            story.tell_fin(a)
        elif in_tls and a.phase == "data":
            a.phase = "tls"  # the ACKs between the handshake's records
    return arrows
