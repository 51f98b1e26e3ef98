#!/usr/bin/env python3
"""Draw one TCP connection of a packet capture as a ladder (sequence) diagram.

    scripts/ladder.py --picture NAME PCAP OUT.svg
                            one of the project's pictures (NAME: session, reset,
                            tls, netns, udp; make capture, make demo-netns
                            and make demo-udp draw them)
    scripts/ladder.py PCAP OUT.svg [--title TEXT] [--source TEXT]
                                   [--client TEXT] [--server TEXT] [--tls]
                            any capture of one connection (--tls: a TLS
                            session, drawn as its records: scripts/ladders/tls.py)
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
frames, IPv4 and IPv6; it is the standard library only. The work is done by
the package scripts/ladders/ (its __init__.py says which module does what).
"""
import argparse
import sys

from ladders.pcap import connection
from ladders.story import explain
from ladders.svg import NOTES, draw
from ladders.tls import NOTES as TLS_NOTES, tls_story
from ladders.udp import UDP_LINES, datagram_flow, draw_datagrams, explain_datagrams


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
    "tls": {
        "title": "The echo session over TLS 1.3 on 127.0.0.1: connect, handshake, two lines, quit",
        "source": "make capture: tcpdump on the loopback (build/tls.pcap), drawn by scripts/ladder.py --tls",
        "client": "build/rust/client_tls", "server": "build/c/server_tls", "tls": True,
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
    parser.add_argument("--tls", action="store_true", help="a TLS session: show its records, not its bytes")
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
    if args.tls:
        tls_story(arrows)
    if args.list:
        print("\n".join(a.line() for a in arrows))
        return 0
    if not args.svg:
        parser.error("give the SVG file to write, or --list")
    subtitle = args.source or f"drawn by scripts/ladder.py from {args.pcap}"
    with open(args.svg, "w", encoding="utf-8") as f:
        notes = TLS_NOTES if args.tls else NOTES
        f.write(draw(arrows, client, server, args.title, subtitle, args.client, args.server, notes))
    print(f"ladder: wrote {args.svg} ({len(arrows)} arrows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
