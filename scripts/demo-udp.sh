#!/usr/bin/env bash
# make demo-udp (as root): loss made visible. The UDP pair between two
# network namespaces over a link that loses datagrams, then the TCP pair over
# the same link, which loses as much and delivers every line.
#
#   namespace sbs-udp-PID-srv               namespace sbs-udp-PID-cli
#   sbsuPIDs 10.78.0.1/24  <---- veth ---->  sbsuPIDc 10.78.0.2/24
#   nftables: drops DROP % of the datagrams each way, at random
#   tc tbf:   the server's side sends 100 bytes/s, so an echo may come after
#             the client's 1-second wait (this kernel has no netem to delay)
#   build/c/server_udp -b 10.78.0.1         build/rust/client_udp -t 1 10.78.0.1
#
# The client says `no reply within 1 s` for each line whose datagram or echo
# was lost or is still on its way, and `late: TEXT` for an echo that comes
# after its wait; the nft counters say how many datagrams were dropped. Then
# the same rule drops TCP segments to and from the TCP server, and TCP's
# retransmissions bring every one back: all lines echoed, only later.
# tcpdump records the UDP part in build/udp.pcap (make demo-udp draws it as
# docs/udp.svg). Everything is removed at the end, also on Ctrl-C or an error.
#
# Settings, from the environment:
#   UDP_DROP     the share dropped in each direction, in % (default 15)
#   UDP_LINES    lines the client sends (default 16)
#   UDP_SLOW     1: the slow link (tbf) that makes late echoes; 0: none, so
#                that every `no reply` is a dropped datagram (the test)
#   UDP_TCP      1: then the same over TCP (default); 0: UDP only
#   UDP_SERVER   the UDP server (default build/c/server_udp)
#   UDP_CLIENT   the UDP client (default build/rust/client_udp)
#   UDP_OUT      the capture file (default build/udp.pcap)
set -euo pipefail
cd "$(dirname "$0")/.."

drop=${UDP_DROP:-15}
lines=${UDP_LINES:-16}
slow=${UDP_SLOW:-1}
tcp=${UDP_TCP:-1}
server_bin=${UDP_SERVER:-build/c/server_udp}
client_bin=${UDP_CLIENT:-build/rust/client_udp}
out=${UDP_OUT:-build/udp.pcap}

ns_server="sbs-udp-$$-srv"
ns_client="sbs-udp-$$-cli"
veth_server="sbsu$$s"
veth_client="sbsu$$c"
server_addr=10.78.0.1
client_addr=10.78.0.2
port=8080

if [ "$(id -u)" != 0 ]; then
    echo "demo-udp: needs root (creating network namespaces): sudo make demo-udp" >&2
    exit 1
fi
command -v nft >/dev/null || { echo "demo-udp: nft is not installed: apt-get install nftables" >&2; exit 1; }
for bin in "$server_bin" "$client_bin" build/c/server build/rust/client; do
    [ -x "$bin" ] || { echo "demo-udp: $bin is missing: run make first" >&2; exit 1; }
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
    ip netns del "$ns_server" 2>/dev/null || true # its end of the veth goes with it,
    ip netns del "$ns_client" 2>/dev/null || true # and a veth pair goes with either end
    ip link del "$veth_server" 2>/dev/null || true # (if setup stopped before the move)
    rm -rf "$work"
    if ip netns list | grep -q "^sbs-udp-$$-"; then
        echo "demo-udp: could not remove the namespaces sbs-udp-$$-*" >&2
    else
        echo "demo-udp: removed the namespaces $ns_server and $ns_client"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "demo-udp: interrupted"; exit 130' INT TERM

prog=demo-udp
. "$(dirname "$0")/wait-for.sh"

run() { echo "+ $*"; "$@"; }

# The rule that loses: DROP % of the packets to and from the server's port,
# each by its own throw of the dice (numgen random), counted, all in the
# server's namespace: what comes in on its input, what goes out on the
# veth's egress hook. (Not on the output hook: a packet dropped there fails
# the server's sendto with EPERM, where on a network it would vanish; and
# out there, before the capture point, a lost echo never reaches the
# client's side of the veth, as a lost request never gets an echo.)
lossy_link() {
    local proto=$1
    ip netns exec "$ns_server" nft -f - <<EOF
table inet sbs_udp_demo
delete table inet sbs_udp_demo
table inet sbs_udp_demo {
    chain lossy_in {
        type filter hook input priority filter; policy accept;
        $proto dport $port numgen random mod 100 < $drop counter drop
    }
}
table netdev sbs_udp_demo
delete table netdev sbs_udp_demo
table netdev sbs_udp_demo {
    chain lossy_out {
        type filter hook egress device "$veth_server" priority filter; policy accept;
        $proto sport $port numgen random mod 100 < $drop counter drop
    }
}
EOF
}

# How many packets the rule dropped on the way in to the server ($1 inet)
# or out of it ($1 netdev).
dropped() {
    ip netns exec "$ns_server" nft list table "$1" sbs_udp_demo | awk '/counter packets/ {
        for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}

# Every fourth line is longer: on the slow link its echo takes more than
# the client's 1-second wait, unless the link was idle long enough before.
the_lines() {
    for i in $(seq "$lines"); do
        if [ $((i % 4)) = 0 ]; then
            printf 'line %02d is longer: on the slow link its echo takes more than a second to come back\n' "$i"
        else
            printf 'line %02d\n' "$i"
        fi
    done
}

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
# Resolve the neighbours now, so that no ARP packet waits behind an echo in
# the slow link's queue (and none shows in the capture).
ip -n "$ns_client" neigh replace "$server_addr" lladdr "$(ip -n "$ns_server" -brief link show "$veth_server" | awk '{print $3}')" dev "$veth_client"
ip -n "$ns_server" neigh replace "$client_addr" lladdr "$(ip -n "$ns_client" -brief link show "$veth_client" | awk '{print $3}')" dev "$veth_server"

echo
echo "== a lossy link: $drop % of the datagrams to and from port $port dropped at random (nftables)"
lossy_link udp
echo "+ nft (input):  udp dport $port numgen random mod 100 < $drop counter drop"
echo "+ nft (egress): udp sport $port numgen random mod 100 < $drop counter drop"
if [ "$slow" = 1 ]; then
    echo "== and a slow one: the server's side sends 100 bytes/s (tc tbf), so echoes queue"
    run tc -n "$ns_server" qdisc add dev "$veth_server" root tbf rate 800bit burst 140 limit 100000
fi

echo
echo "== UDP: the server in $ns_server"
mkdir -p "$(dirname "$out")"
ip netns exec "$ns_server" "$server_bin" -b "$server_addr" -p "$port" >"$work/udp-server.log" 2>&1 &
pids+=($!)
wait_for "$work/udp-server.log" "listening on"
if [ -n "$have_tcpdump" ]; then
    ip netns exec "$ns_client" tcpdump -i "$veth_client" -U -Z root -s 0 -w "$out" \
        "udp port $port or icmp" 2>"$work/tcpdump.err" &
    tcpdump_pid=$!
    pids+=($tcpdump_pid)
    wait_for "$work/tcpdump.err" "listening on"
else
    echo "(tcpdump is not installed: no capture; apt-get install tcpdump)"
fi

echo "== UDP: the client in $ns_client sends $lines lines, waiting 1 s for each echo"
the_lines | ip netns exec "$ns_client" "$client_bin" -t 1 "$server_addr" "$port" | sed 's/^/client: /'
# Echoes still queued on the slow link come after the client has gone: the
# client's kernel answers them with port unreachable. Let them arrive.
[ "$slow" = 1 ] && sleep 3
if [ -n "$have_tcpdump" ]; then
    sleep 0.2
    kill -INT "$tcpdump_pid" && wait "$tcpdump_pid" 2>/dev/null || true
fi
kill -TERM "${pids[0]}" && wait "${pids[0]}" || true
pids=()
lost_in=$(dropped inet)
lost_out=$(dropped netdev)
echo
echo "== UDP: the server's log"
sed 's/^/server: /' "$work/udp-server.log"
echo
echo "== UDP: nft dropped $lost_in datagrams on the way to the server and $lost_out on the way back"
echo "udp dropped: to server $lost_in, to client $lost_out"
echo "no one sends them again: each is a 'no reply' line above"
if [ "$slow" = 1 ]; then
    echo "(the other 'no reply' lines are echoes the slow link delivered after the wait:"
    echo "a 'late' line, or none if the client had gone by then)"
fi

if [ "$tcp" = 1 ]; then
    [ "$slow" = 1 ] && tc -n "$ns_server" qdisc del dev "$veth_server" root
    echo
    echo "== TCP: the same rule, now on tcp port $port (the slow link removed)"
    lossy_link tcp
    # -t 60: a segment lost again and again waits seconds for its next
    # retransmission (the timeout doubles each time); the idle timeout must
    # not end the connection meanwhile.
    ip netns exec "$ns_server" build/c/server -t 60 -b "$server_addr" -p "$port" >"$work/tcp-server.log" 2>&1 &
    pids+=($!)
    wait_for "$work/tcp-server.log" "listening on"
    echo "== TCP: the client sends the same $lines lines (waiting up to 60 s for each echo)"
    start=$(date +%s%N)
    the_lines | ip netns exec "$ns_client" build/rust/client -t 60 "$server_addr" "$port" | sed 's/^/client: /'
    took=$((($(date +%s%N) - start) / 1000000))
    wait_for "$work/tcp-server.log" "] quit"
    kill -TERM "${pids[0]}" && wait "${pids[0]}" || true
    pids=()
    lost_in=$(dropped inet)
    lost_out=$(dropped netdev)
    retrans=$(ip netns exec "$ns_server" nstat -az TcpRetransSegs 2>/dev/null | awk '/TcpRetransSegs/ {print $2}')
    retrans_client=$(ip netns exec "$ns_client" nstat -az TcpRetransSegs 2>/dev/null | awk '/TcpRetransSegs/ {print $2}')
    echo
    echo "== TCP: nft dropped $lost_in segments on the way to the server and $lost_out on the way back"
    echo "tcp dropped: to server $lost_in, to client $lost_out"
    echo "retransmitted: ${retrans_client:-?} by the client, ${retrans:-?} by the server; every line echoed, in $took ms"
fi

if [ -n "$have_tcpdump" ]; then
    echo
    echo "== $out: the UDP part as the client's side of the veth saw it"
    tcpdump -nn -ttttt -r "$out" 2>/dev/null | sed "s/^/  /"
fi
echo
