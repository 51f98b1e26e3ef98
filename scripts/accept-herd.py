#!/usr/bin/env python3
"""Does Linux wake every child blocked in accept(2) for one connection (the
thundering herd of UNP 30.6)? Runs build/c/server_prefork with -n 1 and
with -n 16, makes 1,000 sessions one after another (a line, quit, the
close), and prints the voluntary context switches of all the children per
session: a herd would make the 16 children's about 16 times the one
child's. After `make`:

    scripts/accept-herd.py
"""
import os
import re
import socket
import subprocess
import time

SESSIONS = 1000


def children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += f.read().split()
    return found


def switches(pids):
    total = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/status") as f:
                total += int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", f.read()).group(1))
    return total


def per_session(count):
    server = subprocess.Popen(["build/c/server_prefork", "-b", "127.0.0.1", "-p", "0", "-q", "-n", str(count)],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r":(\d+) ", server.stdout.readline()).group(1))
        deadline = time.monotonic() + 10
        while len(children(server.pid)) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"accept-herd: {count} children never came")
            time.sleep(0.01)
        kids = children(server.pid)
        before = switches(kids)
        for _ in range(SESSIONS):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"x\nquit\n")
                while s.recv(100):
                    pass
        time.sleep(0.2)
        return (switches(kids) - before) / SESSIONS
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    for count in (1, 16):
        print(f"server_prefork -n {count}: {per_session(count):.2f} voluntary context switches "
              f"of its children per session ({SESSIONS} sessions)")
