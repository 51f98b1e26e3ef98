"""The strace command, and its output made comparable run to run: only the
lines about sockets, threads, processes and the shutdown signals, with ports,
inodes, ids and pointers replaced by names. Also reads docs/strace back."""
import os
import re

from .layout import ROOT, TRACE_SET, TRACES

# The call an idle server waits in, by model (accept for the blocking ones).
WAITS_IN = {"poll": "poll", "epoll": "epoll_wait", "reuseport": "epoll_wait"}
# The calls a model makes beyond TRACE_SET, traced in its runs only (so that
# the other programs' traces say the same command).
EXTRA_CALLS = {"epoll": "epoll_create1,epoll_ctl,epoll_wait,epoll_pwait,epoll_pwait2"}
EXTRA_CALLS["reuseport"] = EXTRA_CALLS["epoll"]


def waits_in(server):
    return WAITS_IN.get(server["model"], "accept")


def trace_set(program):
    """What strace traces in a run of program: TRACE_SET and its model's extras."""
    extra = EXTRA_CALLS.get(program["model"])
    return TRACE_SET + ("," + extra if extra else "")


def strace_command(prefix, argv, program):
    """strace -ff of argv, a run of program, into files PREFIX.PID."""
    return ["strace", "-ff", "-yy", "-e", f"trace={trace_set(program)}", "-o", prefix] + argv


def pointer_data(match):
    """An epoll event's data: a pointer (C's struct client *) varies run to
    run; a small number (Rust's slot) and u64::MAX (its listener) do not."""
    return "data={u32=..., u64=...}" if 2**32 <= int(match.group(1)) < 2**63 else match.group(0)


def normalise(line, port):
    line = re.sub(r"\)\s+= ", ") = ", line)  # strace pads short lines
    line = re.sub(r"TCP(v6)?:\[\d+\]", r"TCP\1:[inode]", line)
    line = re.sub(r"pipe:\[\d+\]", "pipe:[inode]", line)
    line = re.sub(r"<[^<>]*/input>", "<input>", line)  # the client's stdin, a temporary file
    line = re.sub(rf"(:|htons\(){port}\b", r"\1PORT", line)
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:CPORT", line)
    line = re.sub(r"htons\([1-9]\d*\)", "htons(CPORT)", line)
    line = re.sub(r"\b(child_tid|parent_tid|stack|tls)=0x[0-9a-f]+", r"\1=0x...", line)
    line = re.sub(r"parent_tid=\[\d+\]", "parent_tid=[TID]", line)
    line = re.sub(r"^(clone\(child_stack=NULL.*) = \d+$", r"\1 = PID", line)  # fork: a process
    line = re.sub(r"^(clone3?\(.*) = \d+$", r"\1 = TID", line)
    line = re.sub(r"\bchild_tidptr=0x[0-9a-f]+", "child_tidptr=0x...", line)
    line = re.sub(r"^(wait4\(.*|getppid\(\)) = \d+$", r"\1 = PID", line)
    line = re.sub(r"^(kill|wait4)\(\d+,", r"\1(PID,", line)
    line = re.sub(r"si_pid=\d+", "si_pid=PID", line)
    line = re.sub(r"^(recvfrom\([^,]*, )0x[0-9a-f]+", r"\g<1>0x...", line)  # a buffer nothing was read into
    line = re.sub(r"^(poll\(.*\], \d+, )[1-9]\d*\)", r"\1MS)", line)  # ms to the nearest deadline
    line = re.sub(r"^(epoll_p?wait2?\(.*, \d+, )[1-9]\d*(, NULL, 8)?\)", r"\1MS\2)", line)  # the same
    line = re.sub(r"^(accept4?\([^,]*, )0x[0-9a-f]+", r"\g<1>0x...", line)  # no address: EAGAIN
    line = re.sub(r"data=\{u32=\d+, u64=(\d+)\}", pointer_data, line)
    return line


def keep(line):
    """Lines about sockets, the threads and the shutdown signals; not the
    loader's close calls or Rust's startup poll of fds 0-2."""
    calls = r"(clone3?|rt_sigtimedwait|wait4|kill|prctl|getppid|epoll_\w+)\("
    return ("TCP" in line or re.match(calls, line) is not None
            or re.match(r"rt_sigprocmask\(SIG_(UN)?BLOCK, \[INT TERM( CHLD)?\]", line) is not None
            or line.startswith("+++"))


def kept(path, port):
    """The kept lines of one strace -ff file, normalised."""
    with open(path) as f:
        return [normalise(line.rstrip("\n"), port) for line in f if keep(normalise(line, port))]


def trace_pids(prefix):
    """The pids of the files a run under strace -ff wrote, PREFIX.PID."""
    directory, base = os.path.split(prefix)
    return {int(name.split(".")[-1]) for name in os.listdir(directory) if name.startswith(base + ".")}


def made_by(text):
    """The ids one thread's trace saw its clone calls return, in the order it
    made them (a failed clone returns none)."""
    return [int(pid) for pid in re.findall(r"^clone3?\(.* = (\d+)$", text, re.M)]


def read_trace(prefix, main_pid, port):
    """Every file of a run under strace -ff, the main thread's first, each
    under a line that says which thread or process it is."""
    pids = sorted(trace_pids(prefix) - {main_pid})
    # strace -ff writes a file per thread and per process: the processes are
    # the PIDs the main thread's forks returned (clone without a new stack).
    with open(f"{prefix}.{main_pid}") as f:
        main_text = f.read()
    forked = {int(pid) for pid in re.findall(r"^clone\(child_stack=NULL.* = (\d+)$", main_text, re.M)}
    # In the order the main thread made them (its clone calls' results),
    # not by number: thread ids wrap at pid_max, so a later thread can have
    # a smaller id. Those another thread made follow, by number.
    made = made_by(main_text)
    order = {pid: i for i, pid in enumerate(made)}
    pids.sort(key=lambda pid: (order.get(pid, len(made)), pid))
    out = ["# main thread"]
    threads = processes = 0
    for pid in [main_pid] + pids:
        if pid in forked:
            processes += 1
            out.append(f"# child process {processes}")
        elif pid != main_pid:
            threads += 1
            out.append(f"# thread {threads + 1}")
        out += kept(f"{prefix}.{pid}", port)
    return out


def started_pid(prefix):
    """The pid strace started, of a run under strace -ff into PREFIX.PID:
    the one no other file's clone made (not the smallest pid: ids wrap at
    pid_max, so a thread can have a smaller id than the main thread)."""
    pids = trace_pids(prefix)
    made = set()
    for pid in pids:
        with open(f"{prefix}.{pid}") as f:
            made.update(made_by(f.read()))
    return min(pids - made or pids)


def main_only(prefix, port, main_pid=None):
    """The main thread's trace of a run under strace -ff: `main_pid`'s, or
    the one of the pid strace started."""
    return ["# main thread"] + kept(f"{prefix}.{main_pid or started_pid(prefix)}", port)


def transcript_header(lang, traced, server, client):
    """The comment lines atop docs/strace/LANG-PROGRAM.txt: `traced` ran
    under strace in a session of `client` with `server`."""
    return [
        f"# {lang}-{traced['name']}: build/{lang}/{traced['name']} under strace, written by "
        "scripts/gen-side-by-side.py --strace",
        f"# session: build/{lang}/{server['name']} -b 127.0.0.1 -p 0{''.join(' ' + a for a in server['count_args'])}; "
        f"build/{lang}/{client['name']} "
        "127.0.0.1 PORT < input",
        "# input: 'hello\\n' 'world\\n' 'quit\\n'; then SIGTERM to the server once it is back in "
        + waits_in(server)
        + ("; a second client connects first and stays silent, its child waiting in recv"
           if server["model"] == "fork" else ""),
        f"# strace -ff -yy -e trace={trace_set(traced)}",
        "# (one file per thread and per process, shown one after the other); kept: lines about TCP",
        "# sockets, clone/clone3, the INT TERM (CHLD) mask, rt_sigtimedwait, wait4, kill, prctl, getppid, exits;",
        "# normalised: PORT = server port, CPORT = client port, inode, TID, PID and pointers",
    ]


def load_failures(lang):
    """docs/strace/LANG-failures.txt: scenario -> its lines."""
    scenarios, current = {}, None
    path = os.path.join(ROOT, TRACES, f"{lang}-failures.txt")
    if not os.path.exists(path):
        return scenarios
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("## "):
                current = scenarios.setdefault(line[3:], [])
            elif current is not None:
                current.append(line)
    return scenarios


def load_trace(lang, program):
    path = os.path.join(ROOT, TRACES, f"{lang}-{program['name']}.txt")
    if not os.path.exists(path):  # a new program before its first `make docs`: the guide is stale
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if not line.startswith("# ") or line.startswith("# main")
                or line.startswith("# thread") or line.startswith("# child")]


def pick(trace, filters):
    """The trace lines a step's filters select, in trace order."""
    chosen = set()
    for pattern, which in filters:
        hits = [i for i, line in enumerate(trace) if re.search(pattern, line)]
        if which is None:
            chosen.update(hits)
        elif -len(hits) <= which < len(hits):  # -1: the last one
            chosen.add(hits[which])
    return [trace[i] for i in sorted(chosen)]
