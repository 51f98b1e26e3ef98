#!/usr/bin/env bash
# make capture: one short scripted session on 127.0.0.1 under tcpdump.
#
# The server (build/c/server) and the client (build/rust/client: any client
# talks to any server) run on loopback; the client connects, sends two lines
# and quit. tcpdump records the connection into build/capture.pcap (open it in
# Wireshark: Statistics > Flow Graph, or Analyze > Follow > TCP Stream), and
# this script prints a decode of it with a one-line explanation of each packet.
# Then a second connection to the same server, one that ends with RST
# (scripts/reset-client.py: one line, then close with SO_LINGER 0), into
# build/reset.pcap, and its decode. Then the first session again over TLS
# (build/c/server_tls and build/rust/client_tls, make tls) into
# build/tls.pcap, with the session's secrets in build/tls-keys.log
# (SSLKEYLOGFILE) for Wireshark, and its tcpdump -A: no line is readable.
# make capture draws the three as ladder diagrams, docs/session.svg,
# docs/reset.svg and docs/tls.svg (scripts/ladder.py).
#
# The same packets every run: both programs run on CPU 0, the client at a
# higher real-time priority than the server (chrt -f), so the client always
# gets as far as it can (up to its close) before the server answers. Left to
# the scheduler, the order of the last packets varies from run to run on a
# loopback (about one run in ten had the server's FIN first); between two
# hosts the client's FIN is first, as here, because it leaves right behind
# quit. Without the right to use real-time priorities the script runs the
# two as they are and says so.
#
# Needs tcpdump and the right to capture (root, or CAP_NET_RAW):
#   apt-get install tcpdump        (.ci/run installs it)
# Settings, from the environment:
#   CAPTURE_SERVER  the server to run   (default build/c/server)
#   CAPTURE_CLIENT  the client to run   (default build/rust/client)
#   CAPTURE_OUT     the capture file    (default build/capture.pcap; the
#                   reset goes to reset.pcap in the same directory, the TLS
#                   session to tls.pcap, its secrets to tls-keys.log)
#   CAPTURE_TLS_SERVER, CAPTURE_TLS_CLIENT  the TLS pair (default
#                   build/c/server_tls, build/rust/client_tls)
set -euo pipefail
cd "$(dirname "$0")/.."

server_bin=${CAPTURE_SERVER:-build/c/server}
client_bin=${CAPTURE_CLIENT:-build/rust/client}
out=${CAPTURE_OUT:-build/capture.pcap}
reset_out=$(dirname "$out")/reset.pcap
tls_server_bin=${CAPTURE_TLS_SERVER:-build/c/server_tls}
tls_client_bin=${CAPTURE_TLS_CLIENT:-build/rust/client_tls}
tls_out=$(dirname "$out")/tls.pcap
keylog=$(dirname "$out")/tls-keys.log

if ! command -v tcpdump >/dev/null; then
    echo "capture: tcpdump is not installed: apt-get install tcpdump (or run .ci/run as root)" >&2
    exit 1
fi
for bin in "$server_bin" "$client_bin" "$tls_server_bin" "$tls_client_bin"; do
    [ -x "$bin" ] || { echo "capture: $bin is missing: run make and make tls first" >&2; exit 1; }
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

# The client before the server, on one CPU (see the top of this file).
client_first=(taskset -c 0 chrt -f 20)
server_second=(taskset -c 0 chrt -f 10)
if ! "${client_first[@]}" true 2>/dev/null; then
    echo "(capture: no real-time priority here: the order of the last packets may vary)"
    client_first=()
    server_second=()
fi

# Only this connection: the server's port, on the loopback interface. -U
# writes each packet at once; -Z root keeps the file owned by the caller.
start_tcpdump() {
    tcpdump -i lo -U -Z root -s 0 -w "$1" "tcp port $port" 2>"$work/tcpdump.err" &
    tcpdump_pid=$!
    wait_for "$work/tcpdump.err" "listening on"
}

# Stops tcpdump once its file holds the last packet (the FILE's decode
# matches the function check_LAST), or after 5 s.
stop_tcpdump() {
    local file=$1 last=$2
    for _ in $(seq 100); do
        "$last" "$(tcpdump -nn -r "$file" 2>/dev/null || true)" && break
        sleep 0.05
    done
    kill -INT "$tcpdump_pid" && wait "$tcpdump_pid" 2>/dev/null || true
    tcpdump_pid=
}

# The session ends with FIN, FIN and the last ACK.
fins_and_last_ack() {
    [ "$(grep -c 'Flags \[F' <<<"$1" || true)" -ge 2 ] && tail -n 1 <<<"$1" | grep -q 'Flags \[\.\]'
}

# The reset ends with the RST.
rst() {
    grep -q 'Flags \[R' <<<"$1"
}

echo "== the session: $server_bin -b 127.0.0.1 -p 0, then $client_bin 127.0.0.1 PORT"
"${server_second[@]}" "$server_bin" -b 127.0.0.1 -p 0 >"$work/server.log" 2>&1 &
server_pid=$!
wait_for "$work/server.log" "listening on"
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/server.log")

start_tcpdump "$out"
printf 'hello\nworld\nquit\n' | "${client_first[@]}" "$client_bin" 127.0.0.1 "$port" | sed 's/^/client: /'
wait_for "$work/server.log" "] quit"
stop_tcpdump "$out" fins_and_last_ack

echo
echo "== a connection that ends with RST: scripts/reset-client.py 127.0.0.1 PORT"
start_tcpdump "$reset_out"
"${client_first[@]}" python3 scripts/reset-client.py 127.0.0.1 "$port" | sed 's/^/client: /'
wait_for "$work/server.log" "Connection reset by peer"
stop_tcpdump "$reset_out" rst
kill -TERM "$server_pid" && wait "$server_pid" || true
server_pid=
sed 's/^/server: /' "$work/server.log"

echo
echo "== the same session over TLS: $tls_server_bin, then SSLKEYLOGFILE=$keylog $tls_client_bin"
plain_port=$port
"${server_second[@]}" "$tls_server_bin" -b 127.0.0.1 -p 0 >"$work/tls-server.log" 2>&1 &
server_pid=$!
wait_for "$work/tls-server.log" "listening on"
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/tls-server.log")
start_tcpdump "$tls_out"
rm -f "$keylog"
printf 'hello\nworld\nquit\n' | SSLKEYLOGFILE="$keylog" "${client_first[@]}" "$tls_client_bin" 127.0.0.1 "$port" |
    sed 's/^/client: /'
wait_for "$work/tls-server.log" "] quit"
stop_tcpdump "$tls_out" fins_and_last_ack
kill -TERM "$server_pid" && wait "$server_pid" || true
server_pid=
sed 's/^/server: /' "$work/tls-server.log"
port=$plain_port # the decodes below name the plain sessions' server by it

echo
echo "== $out: $(tcpdump -nn -r "$out" 2>/dev/null | wc -l) packets (tcpdump -nn -x -ttttt -r $out, annotated)"
echo "   server 127.0.0.1.$port; the client's port is the one the kernel picked"
echo
scripts/decode-pcap.sh "$out" "$port"
echo
echo "== $reset_out: $(tcpdump -nn -r "$reset_out" 2>/dev/null | wc -l) packets, the connection that ends with RST (annotated)"
echo
scripts/decode-pcap.sh "$reset_out" "$port"
echo
echo "== $tls_out: $(tcpdump -nn -r "$tls_out" 2>/dev/null | wc -l) packets, the session over TLS (tcpdump -nn -A: no line is readable)"
echo
tcpdump -nn -A -r "$tls_out" 2>/dev/null | sed 's/^/  /'
echo
echo "Open $out in Wireshark (or: tcpdump -nn -A -r $out) to look at every field."
echo "Open $tls_out too, with Edit > Preferences > Protocols > TLS > (Pre)-Master-Secret log"
echo "filename = $keylog, to see the same lines inside the TLS records."
