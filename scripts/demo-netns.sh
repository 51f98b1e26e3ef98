#!/usr/bin/env bash
# make demo-netns (as root): the echo session between two "hosts".
#
# Two network namespaces, each with its own interfaces, addresses, routes and
# ports, joined by a veth pair (a virtual cable):
#
#   namespace sbs-PID-server            namespace sbs-PID-client
#   sbsPIDs 10.77.0.1/24  <--- veth --->  sbsPIDc 10.77.0.2/24
#   build/c/server -b 10.77.0.1         build/rust/client 10.77.0.1 8080
#
# The addresses exist only inside those namespaces: the host's own network is
# not touched. tcpdump records the veth in build/netns.pcap (make demo-netns
# draws it as docs/netns.svg, scripts/ladder.py). Everything is removed at
# the end, also on Ctrl-C or an error (trap). As in scripts/capture.sh, the
# client runs before the server on one CPU (chrt -f), so that every run
# gives the same packets.
#
# Settings, from the environment:
#   NETNS_SERVER  the server (default build/c/server)
#   NETNS_CLIENT  the client (default build/rust/client)
#   NETNS_OUT     the capture file (default build/netns.pcap)
#   NETNS_PAUSE   seconds to wait once the namespaces are ready (default 0;
#                 the tests use it to interrupt the script there)
set -euo pipefail
cd "$(dirname "$0")/.."

server_bin=${NETNS_SERVER:-build/c/server}
client_bin=${NETNS_CLIENT:-build/rust/client}
out=${NETNS_OUT:-build/netns.pcap}
pause=${NETNS_PAUSE:-0}

ns_server="sbs-$$-server"
ns_client="sbs-$$-client"
veth_server="sbs$$s"
veth_client="sbs$$c"
server_addr=10.77.0.1
client_addr=10.77.0.2
port=8080

if [ "$(id -u)" != 0 ]; then
    echo "demo-netns: needs root (creating network namespaces): sudo make demo-netns" >&2
    exit 1
fi
for bin in "$server_bin" "$client_bin"; do
    [ -x "$bin" ] || { echo "demo-netns: $bin is missing: run make first" >&2; exit 1; }
done
have_tcpdump=yes
command -v tcpdump >/dev/null || have_tcpdump=

work=$(mktemp -d)
pids=()
cleanup() {
    local status=$?
    set +e
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    ip netns del "$ns_server" 2>/dev/null || true # deleting a namespace deletes its end of the veth,
    ip netns del "$ns_client" 2>/dev/null || true # and a veth pair goes with either end
    ip link del "$veth_server" 2>/dev/null || true # (if setup stopped before the move)
    rm -rf "$work"
    if ip netns list | grep -q "^sbs-$$-"; then
        echo "demo-netns: could not remove the namespaces sbs-$$-*" >&2
    else
        echo "demo-netns: removed the namespaces $ns_server and $ns_client"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "demo-netns: interrupted"; exit 130' INT TERM

prog=demo-netns
. "$(dirname "$0")/wait-for.sh"

run() { echo "+ $*"; "$@"; }

# The client before the server, on one CPU (scripts/capture.sh says why).
client_first=(taskset -c 0 chrt -f 20)
server_second=(taskset -c 0 chrt -f 10)
if ! "${client_first[@]}" true 2>/dev/null; then
    echo "(demo-netns: no real-time priority here: the order of the last packets may vary)"
    client_first=()
    server_second=()
fi

echo "== two namespaces joined by a veth pair"
run ip netns add "$ns_server"
run ip netns add "$ns_client"
run ip link add "$veth_server" type veth peer name "$veth_client"
run ip link set "$veth_server" netns "$ns_server"
run ip link set "$veth_client" netns "$ns_client"
run ip -n "$ns_server" addr add "$server_addr/24" dev "$veth_server"
run ip -n "$ns_client" addr add "$client_addr/24" dev "$veth_client"
run ip -n "$ns_server" link set "$veth_server" up
run ip -n "$ns_client" link set "$veth_client" up
echo
echo "== what each namespace sees"
for ns in "$ns_server" "$ns_client"; do
    echo "$ns:"
    ip -n "$ns" -brief addr show | sed 's/^/    /'
done
echo "namespaces ready"
if [ "$pause" != 0 ]; then
    sleep "$pause" &
    pids+=($!)
    wait $!
fi

echo
echo "== the server in $ns_server"
mkdir -p "$(dirname "$out")"
# ip netns exec runs the program itself (exec), and so do taskset and chrt:
# $! is the server's pid.
ip netns exec "$ns_server" "${server_second[@]}" "$server_bin" -b "$server_addr" -p "$port" >"$work/server.log" 2>&1 &
server_pid=$!
pids+=($server_pid)
wait_for "$work/server.log" "listening on"
if [ -n "$have_tcpdump" ]; then
    ip netns exec "$ns_server" tcpdump -i "$veth_server" -U -Z root -s 0 -w "$out" \
        "arp or tcp port $port" 2>"$work/tcpdump.err" &
    tcpdump_pid=$!
    pids+=($tcpdump_pid)
    wait_for "$work/tcpdump.err" "listening on"
else
    echo "(tcpdump is not installed: no capture; apt-get install tcpdump)"
fi

echo
echo "== the client in $ns_client: connect to $server_addr:$port, two lines, quit"
printf 'hello from %s\nsecond line\nquit\n' "$client_addr" |
    ip netns exec "$ns_client" "${client_first[@]}" "$client_bin" "$server_addr" "$port" | sed 's/^/client: /'
wait_for "$work/server.log" "] quit"

if [ -n "$have_tcpdump" ]; then
    for _ in $(seq 100); do # the FIN exchange ends with an ACK: wait for it
        decoded=$(tcpdump -nn -r "$out" 2>/dev/null || true)
        if [ "$(grep -c 'Flags \[F' <<<"$decoded" || true)" -ge 2 ] &&
            tail -n 1 <<<"$decoded" | grep -q 'Flags \[\.\]'; then break; fi
        sleep 0.05
    done
    # tcpdump exits 0 on SIGINT; any other end (it died, it could not write
    # the file) is a capture that failed, not one that is missing: say so
    # and fail, so that the tests never check a session without its packets.
    kill -INT "$tcpdump_pid" 2>/dev/null || true
    tcpdump_status=0
    wait "$tcpdump_pid" 2>/dev/null || tcpdump_status=$?
    if [ "$tcpdump_status" != 0 ] || [ ! -s "$out" ]; then
        echo "demo-netns: tcpdump failed (exit status $tcpdump_status, capture $out):" >&2
        cat "$work/tcpdump.err" >&2
        exit 1
    fi
fi
kill -TERM "$server_pid" && wait "$server_pid" || true
pids=()
echo
echo "== the server's log"
sed 's/^/server: /' "$work/server.log"

if [ -n "$have_tcpdump" ]; then
    echo
    echo "== $out: the veth $veth_server as tcpdump saw it (annotated)"
    scripts/decode-pcap.sh "$out" "$port"
fi
echo
