#!/usr/bin/env python3
"""A client no one on the project wrote: Python's socket module checks the
framing rules of SPEC.md "The protocol" against a running server.

    python3 tests/peers/framing.py HOST PORT

Prints one line per check; exits 1 at the first failure, saying what was
expected and what came back. Every wait is bounded (10 s).
"""
import socket
import sys
import time

DEADLINE = 10.0


def connect(host, port):
    sock = socket.create_connection((host, port), timeout=DEADLINE)
    # One send, one segment: the splits below reach the server as written.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check(name, rule, expected, got):
    if expected != got:
        print(f"FAIL {name} ({rule}): expected {expected!r}, got {got!r}")
        sys.exit(1)
    print(f"ok   {name} ({rule})")


def main():
    host, port = sys.argv[1], int(sys.argv[2])

    # Rule 4: only whole lines count, however TCP batched them.
    sock = connect(host, port)
    sock.sendall(b"a\nquit\n")
    check("batched a\\nquit\\n", "SPEC protocol 4", b"a\n", read_until_closed(sock))
    sock.close()

    # Rule 4: quit split across segments, with a pause between them.
    sock = connect(host, port)
    sock.sendall(b"qu")
    time.sleep(0.05)
    sock.sendall(b"it\n")
    check("quit split qu|it\\n", "SPEC protocol 4", b"", read_until_closed(sock))
    sock.close()

    sock = connect(host, port)
    sock.sendall(b"x\nq")
    time.sleep(0.05)
    sock.sendall(b"ui")
    time.sleep(0.05)
    sock.sendall(b"t\r\n")
    check("x\\nq|ui|t\\r\\n", "SPEC protocol 4", b"x\n", read_until_closed(sock))
    sock.close()

    # Rule 3 and 4: quit\n right after a full 1024-byte piece continues that
    # line, so it is data; the next quit\n ends the session.
    sock = connect(host, port)
    sock.sendall(b"p" * 1024)
    check("1024-byte piece", "SPEC protocol 3", b"p" * 1024, read_exactly(sock, 1024))
    sock.sendall(b"quit\n")
    check("quit after a piece is data", "SPEC protocol 3, 4", b"quit\n", read_exactly(sock, 5))
    sock.sendall(b"quit\n")
    check("then quit ends it", "SPEC protocol 4", b"", read_until_closed(sock))
    sock.close()

    # Rule 3 and 5: 3,000 bytes without a newline, then a half-close: all
    # of it comes back (two pieces and the pending rest), then the close.
    sock = connect(host, port)
    data = bytes((i * 7 + 1) % 256 for i in range(3000)).replace(b"\n", b"N")
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    check("3000 bytes then half-close", "SPEC protocol 3, 5", data, read_until_closed(sock))
    sock.close()


if __name__ == "__main__":
    main()
