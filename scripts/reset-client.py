#!/usr/bin/env python3
"""reset-client.py HOST PORT: a client that ends its connection with RST.

It connects, sends one line, reads its echo, then closes with SO_LINGER set
to {on, 0 seconds}: close() then throws the connection away at once and the
kernel sends RST instead of FIN. The server's recv() fails with ECONNRESET
(its log: `[PEER] error: Connection reset by peer`) and neither side keeps
TIME_WAIT. scripts/capture.sh records it for docs/reset.svg.
"""
import socket
import struct
import sys

LINE = b"hello\n"


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(LINE)
        echo = b""
        while len(echo) < len(LINE):
            piece = sock.recv(len(LINE) - len(echo))
            if not piece:
                sys.exit("reset-client: the server closed the connection")
            echo += piece
        print(f"echo: {echo.decode().rstrip()}")
        # struct linger { int l_onoff; int l_linger; }: on, 0 seconds.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        print("closing with SO_LINGER 0: RST")
    return 0


if __name__ == "__main__":
    sys.exit(main())
