"""One scripted session under strace (the client sends two lines and quit,
then the server gets SIGTERM), and the process handling every traced run
shares: start a traced server, wait until it is idle, clean up after a
failure.
"""
import os
import re
import signal
import socket
import subprocess
import time

from .layout import CLIENT_INPUT, ROOT
from .trace import read_trace, started_pid, strace_command, waits_in

# The system call numbers of the call an idle server waits in (x86_64 and
# aarch64), for /proc/PID/syscall: accept and accept4 (43, 288; 202, 242),
# poll and ppoll (7, 271; aarch64 has ppoll only, 73), epoll_wait,
# epoll_pwait and epoll_pwait2 (232, 281, 441; aarch64: 22, 441).
SYSCALLS = {"accept": ("43", "288", "202", "242"), "poll": ("7", "271", "73"),
            "epoll_wait": ("232", "281", "441", "22")}
RECVFROM = ("45", "207")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def wait_until(what, predicate, deadline):
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"gen-side-by-side: gave up waiting for {what}")
        time.sleep(0.01)


def server_idle(pid, server):
    """True when the server's main thread is blocked in accept and no client
    thread or child process is left: the session is over in every thread and
    process. For an event loop: blocked in its wait with no socket open but
    the listener."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        with open(f"/proc/{pid}/syscall") as f:
            number = f.read().split()[0]
        sockets = [fd for fd in os.listdir(f"/proc/{pid}/fd")
                   if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")]
    except OSError:
        return False
    # main and the signal thread; a forking server also its log relay, the
    # pool its one thread (-n 1)
    threads = 3 if server["model"] in ("fork", "prefork", "pool") else 2
    if server["model"] == "prefork":
        # main waits in pause; its one child (-n 1) is what goes back to accept.
        return len(tasks) == threads and any(in_accept(child) for child in children(pid))
    waiting = len(tasks) == threads and number in SYSCALLS[waits_in(server)]
    if server["event_loop"] or server["model"] == "pool":
        return waiting and len(sockets) == 1
    return waiting and not children(pid)


def in_accept(pid):
    """True when the process is blocked in accept."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] in SYSCALLS["accept"]
    except (OSError, IndexError):
        return False


def child_in_recv(pid):
    """True when the server has a child process and it is blocked in recv."""
    for child in children(pid):
        try:
            with open(f"/proc/{child}/syscall") as f:
                if f.read().split()[0] in RECVFROM:
                    return True
        except OSError:
            pass
    return False


def start_traced(lang, server, args, prefix):
    """A server on 127.0.0.1 under strace; returns (strace, its port, the
    server's pid, the listening line). The caller ends both (kill_leftovers
    when it failed)."""
    argv = [os.path.join(ROOT, "build", lang, server["name"]), "-b", "127.0.0.1"] + server["count_args"] + args
    tracer = subprocess.Popen(strace_command(prefix, argv, server), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        listening = tracer.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) ", listening)
        if not m:
            raise SystemExit(f"gen-side-by-side: {lang} {server['name']} printed {listening!r}")
        wait_until("the traced server's pid", lambda: children(tracer.pid), 10)
    except BaseException:
        kill_leftovers(tracer)
        raise
    return tracer, m.group(1), children(tracer.pid)[0], listening


def kill_leftovers(tracer):
    """After a failed run: the traced server (our child's child) and strace
    itself, by PID, if still running."""
    if tracer.poll() is None:
        for pid in children(tracer.pid):
            os.kill(pid, signal.SIGKILL)
        tracer.kill()
        tracer.wait()


def traced_client(server):
    """Whether the client runs under strace too in this server's session:
    with the thread-per-client server, once."""
    return server["model"] == "threads"


def run_client(lang, server, client, port, workdir):
    """The scripted client, traced or not; exits if it failed."""
    argv = [os.path.join(ROOT, "build", lang, client["name"]), "127.0.0.1", port]
    if traced_client(server):
        argv = strace_command(os.path.join(workdir, f"{lang}-{client['name']}"), argv, client)
    with open(os.path.join(workdir, "input"), "rb") as stdin:
        run = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=10)
    if run.returncode != 0:
        raise SystemExit(f"gen-side-by-side: {lang} client failed: {run.stderr.decode()}")


def run_session(lang, server, client, workdir):
    """One scripted session: the server under strace, the client (under
    strace with the threaded server) sends two lines and quit. Returns
    {program name: transcript lines}."""
    with open(os.path.join(workdir, "input"), "wb") as f:
        f.write(CLIENT_INPUT)
    prefix = os.path.join(workdir, f"{lang}-{server['name']}")
    tracer, port, server_pid, _ = start_traced(lang, server, ["-p", "0"], prefix)
    held = None
    try:
        run_client(lang, server, client, port, workdir)
        wait_until(f"{lang} {server['name']} back in {waits_in(server)}",
                   lambda: server_idle(server_pid, server), 10)
        if server["model"] == "fork":
            # A second client that stays connected: SIGTERM finds a child to end.
            held = socket.create_connection(("127.0.0.1", int(port)))
            wait_until(f"{lang} {server['name']}: a child waits in recv", lambda: child_in_recv(server_pid), 10)
        os.kill(server_pid, signal.SIGTERM)
        tracer.wait(timeout=10)
    finally:
        if held:
            held.close()
        kill_leftovers(tracer)
    traces = {server["name"]: read_trace(prefix, server_pid, port)}
    if traced_client(server):
        client_prefix = os.path.join(workdir, f"{lang}-{client['name']}")
        traces[client["name"]] = read_trace(client_prefix, started_pid(client_prefix), port)
    return traces

