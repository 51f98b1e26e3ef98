#!/usr/bin/env bash
# make capture: one short scripted session on 127.0.0.1 under tcpdump.
#
# The server (build/c/server) and the client (build/rust/client: any client
# talks to any server) run on loopback; the client connects, sends two lines
# and quit. tcpdump records the connection into build/capture.pcap (open it in
# Wireshark: Statistics > Flow Graph, or Analyze > Follow > TCP Stream), and
# this script prints a decode of it with a one-line explanation of each packet.
#
# Needs tcpdump and the right to capture (root, or CAP_NET_RAW):
#   apt-get install tcpdump        (.ci/run installs it)
# Settings, from the environment:
#   CAPTURE_SERVER  the server to run   (default build/c/server)
#   CAPTURE_CLIENT  the client to run   (default build/rust/client)
#   CAPTURE_OUT     the capture file    (default build/capture.pcap)
set -euo pipefail
cd "$(dirname "$0")/.."

server_bin=${CAPTURE_SERVER:-build/c/server}
client_bin=${CAPTURE_CLIENT:-build/rust/client}
out=${CAPTURE_OUT:-build/capture.pcap}

if ! command -v tcpdump >/dev/null; then
    echo "capture: tcpdump is not installed: apt-get install tcpdump (or run .ci/run as root)" >&2
    exit 1
fi
for bin in "$server_bin" "$client_bin"; do
    [ -x "$bin" ] || { echo "capture: $bin is missing: run make first" >&2; exit 1; }
done
mkdir -p "$(dirname "$out")"

work=$(mktemp -d)
server_pid=
tcpdump_pid=
cleanup() {
    set +e
    [ -n "$tcpdump_pid" ] && kill -INT "$tcpdump_pid" 2>/dev/null && wait "$tcpdump_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

prog=capture
. "$(dirname "$0")/wait-for.sh"

echo "== the session: $server_bin -b 127.0.0.1 -p 0, then $client_bin 127.0.0.1 PORT"
"$server_bin" -b 127.0.0.1 -p 0 >"$work/server.log" 2>&1 &
server_pid=$!
wait_for "$work/server.log" "listening on"
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/server.log")

# Only this connection: the server's port, on the loopback interface. -U
# writes each packet at once; -Z root keeps the file owned by the caller.
tcpdump -i lo -U -Z root -s 0 -w "$out" "tcp port $port" 2>"$work/tcpdump.err" &
tcpdump_pid=$!
wait_for "$work/tcpdump.err" "listening on"

printf 'hello\nworld\nquit\n' | "$client_bin" 127.0.0.1 "$port" | sed 's/^/client: /'
wait_for "$work/server.log" "] quit"

# The session ends with FIN, FIN and the last ACK: wait until they are written.
for _ in $(seq 100); do
    decoded=$(tcpdump -nn -r "$out" 2>/dev/null || true)
    fins=$(grep -c 'Flags \[F' <<<"$decoded" || true)
    if [ "$fins" -ge 2 ] && tail -n 1 <<<"$decoded" | grep -q 'Flags \[\.\]'; then break; fi
    sleep 0.05
done
kill -INT "$tcpdump_pid" && wait "$tcpdump_pid" 2>/dev/null || true
tcpdump_pid=
kill -TERM "$server_pid" && wait "$server_pid" || true
server_pid=
sed 's/^/server: /' "$work/server.log"

echo
echo "== $out: $(tcpdump -nn -r "$out" 2>/dev/null | wc -l) packets (tcpdump -nn -x -ttttt -r $out, annotated)"
echo "   server 127.0.0.1.$port; the client's port is the one the kernel picked"
echo
scripts/decode-pcap.sh "$out" "$port"
echo
echo "Open $out in Wireshark (or: tcpdump -nn -A -r $out) to look at every field."
