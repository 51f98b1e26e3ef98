"""Failures seen on purpose, under strace, for docs/strace/LANG-failures.txt:
a port in use, a refused connection, an idle client (of the threaded server,
and of each event loop, which times out by its own deadline). Each scenario:
the command, its exit status, what it printed, then the trace lines."""
import os
import re
import signal
import socket
import subprocess

from .layout import ROOT, program, sections
from .sessions import kill_leftovers, server_idle, start_traced, wait_until
from .trace import main_only, normalise, read_trace, strace_command, waits_in


def start_server(build, name, args):
    """An untraced server on 127.0.0.1; returns (process, port)."""
    server = subprocess.Popen([os.path.join(build, name), "-b", "127.0.0.1"] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    listening = server.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+) ", listening)
    if not m:
        server.kill()
        server.wait()
        raise SystemExit(f"gen-side-by-side: {name} printed {listening!r}")
    return server, m.group(1)


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def outcome(argv, note, returncode, stdout, stderr, port):
    lines = [f"$ {' '.join(argv)}" + (f"    ({note})" if note else ""), f"exit status: {returncode}"]
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        for line in text.decode(errors="replace").splitlines():
            lines.append(f"{name}: {normalise(line, port)}")
    return lines


def traced_run(build, prefix, argv, program):
    """argv, a run of program (argv[0] its name in build/), to the end under strace."""
    return subprocess.run(strace_command(prefix, [os.path.join(build, argv[0])] + argv[1:], program),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=10)


def bind_in_use(lang, workdir, server):
    """A second server on the port the first one listens on, asking for every
    IPv6 and IPv4 address (-b ::): the trace shows the IPv6 socket,
    IPV6_V6ONLY set to 0, and the sockaddr_in6 bind is given."""
    build = os.path.join(ROOT, "build", lang)
    first, port = start_server(build, server["name"], ["-p", "0"])
    try:
        argv = [server["name"], "-b", "::", "-p", port]
        prefix = os.path.join(workdir, f"{lang}-bind")
        run = traced_run(build, prefix, argv, server)
    finally:
        stop(first)
    argv[-1] = "PORT"
    return (outcome(argv, "another server listens on 127.0.0.1:PORT; this one asks for every IPv6 and IPv4 "
                    "address of the port", run.returncode, run.stdout, run.stderr, port)
            + main_only(prefix, port))


def connect_refused(lang, workdir, server, client):
    """The client, to the port of a server that has just stopped."""
    build = os.path.join(ROOT, "build", lang)
    gone, port = start_server(build, server["name"], ["-p", "0"])
    stop(gone)
    argv = [client["name"], "127.0.0.1", port]
    prefix = os.path.join(workdir, f"{lang}-connect")
    run = traced_run(build, prefix, argv, client)
    argv[-1] = "PORT"
    return outcome(argv, "nothing listens on PORT any more", run.returncode, run.stdout, run.stderr,
                   port) + main_only(prefix, port)


def idle_timeout(lang, workdir, server, client):
    """A client that connects and says nothing for 1 s, its stdin open: the
    server's idle timeout (idle-timeout), and the client's end when the
    server closes (server-closed)."""
    build = os.path.join(ROOT, "build", lang)
    args = ["-p", "0", "-t", "1"]
    prefix = os.path.join(workdir, f"{lang}-idle-server")
    tracer, port, server_pid, listening = start_traced(lang, server, args, prefix)
    try:
        client_argv = [client["name"], "127.0.0.1", port]
        client_prefix = os.path.join(workdir, f"{lang}-idle-client")
        traced = strace_command(client_prefix, [os.path.join(build, client["name"])] + client_argv[1:], client)
        silent = subprocess.Popen(traced, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        silent.wait(timeout=10)  # stdin stays open and silent: the client ends when the server closes
        silent.stdin.close()
        client_out, client_err = silent.stdout.read(), silent.stderr.read()
        wait_until(f"{lang} server back in accept", lambda: server_idle(server_pid, server), 10)
        os.kill(server_pid, signal.SIGTERM)
        server_out, server_err = tracer.communicate(timeout=10)
    finally:
        kill_leftovers(tracer)
    server_argv = [server["name"], "-b", "127.0.0.1"] + server["count_args"] + args
    client_argv[-1] = "PORT"
    return {
        "idle-timeout": outcome(server_argv, "a client connects and sends nothing", 0,
                                listening.encode() + server_out, server_err, port)
        + read_trace(prefix, server_pid, port),
        "server-closed": outcome(client_argv, "stdin open, nothing typed; the server has -t 1",
                                 silent.returncode, client_out, client_err, port)
        + main_only(client_prefix, port),
    }


def event_loop_idle_timeout(lang, workdir, server):
    """An event loop's idle timeout: a raw socket that connects, says
    nothing, and reads until the server closes (the deadline, not
    SO_RCVTIMEO)."""
    args = ["-p", "0", "-t", "1"]
    prefix = os.path.join(workdir, f"{lang}-{server['model']}-idle")
    tracer, port, server_pid, listening = start_traced(lang, server, args, prefix)
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as silent:
            while silent.recv(1024):
                pass
        wait_until(f"{lang} {server['name']} back in {waits_in(server)}",
                   lambda: server_idle(server_pid, server), 10)
        os.kill(server_pid, signal.SIGTERM)
        server_out, server_err = tracer.communicate(timeout=10)
    finally:
        kill_leftovers(tracer)
    return (outcome([server["name"], "-b", "127.0.0.1"] + server["count_args"] + args, "a client connects and sends nothing", 0,
                    listening.encode() + server_out, server_err, port)
            + main_only(prefix, port, server_pid))


def run_failures(lang, workdir):
    """Every scenario, in the order of LANG-failures.txt: {scenario: lines}.
    The event loops' idle timeouts are named MODEL-idle-timeout."""
    server, client = program(role="server", model="threads"), program(role="client")
    found = {
        "bind-in-use": bind_in_use(lang, workdir, server),
        "connect-refused": connect_refused(lang, workdir, server, client),
    }
    found.update(idle_timeout(lang, workdir, server, client))
    for loop in (p for p in sections() if p["role"] == "server" and p["event_loop"]):
        found[f"{loop['model']}-idle-timeout"] = event_loop_idle_timeout(lang, workdir, loop)
    return found
