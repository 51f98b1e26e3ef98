"""Reading a capture: the classic pcap format that tcpdump -w writes (both
byte orders, microsecond or nanosecond times), Ethernet or Linux cooked
(SLL) frames, IPv4 and IPv6; TCP segments and ARP packets, and the first
connection that starts in the capture."""
import struct


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
