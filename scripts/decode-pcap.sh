#!/usr/bin/env bash
# decode-pcap.sh FILE SERVER_PORT: each packet of a capture of one echo session
# as tcpdump shows it (tcpdump -nn -x -ttttt -r FILE), with a one-line
# explanation above it: the handshake, each payload with its direction, the
# FIN exchange or an RST. Used by scripts/capture.sh and scripts/demo-netns.sh.
set -euo pipefail
file=$1
port=$2
tcpdump -nn -x -ttttt -r "$file" 2>/dev/null | awk -v port="$port" '

function hexval(h,   i, v) { v = 0; for (i = 1; i <= 2; i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
function escape(   i, b, s) {
    s = ""
    for (i = nbytes - len + 1; i <= nbytes; i++) {
        b = bytes[i]
        if (b == 10) s = s "\\n"; else if (b == 13) s = s "\\r"; else if (b == 9) s = s "\\t"
        else if (b == 92) s = s "\\\\"; else if (b >= 32 && b < 127) s = s sprintf("%c", b)
        else s = s sprintf("\\x%02x", b)
    }
    return s
}
function flush(   what, from, to, text) {
    if (header == "") return
    from = (src == port) ? "server" : "client"
    to = (from == "server") ? "client" : "server"
    if (flags ~ /R/) what = "RST from the " from ": close() with SO_LINGER 0 throws the connection away, no FIN and no TIME_WAIT; the " to "'"'"'s recv() fails with ECONNRESET"
    else if (flags == "[S]") what = "handshake 1/3: SYN, the client'"'"'s connect() asks for a connection"
    else if (flags == "[S.]") what = "handshake 2/3: SYN-ACK, the server'"'"'s kernel answers (accept() is not needed for this)"
    else if (flags == "[.]" && stage == 2) { what = "handshake 3/3: ACK, connect() returns; the connection waits in the listen queue for accept()"; stage = 3 }
    else if (len > 0) {
        text = escape()
        if (from == "client" && text == "quit\\n") what = "data " from " -> " to ": \"quit\\n\", the client ends the session; the server does not echo it"
        else if (from == "client") what = "data " from " -> " to ": \"" text "\", a line the client sent (send)"
        else what = "data " from " -> " to ": \"" text "\", the echo (the server'"'"'s send)"
        if (flags ~ /F/) what = what "; with FIN: " from " closed its socket"
    }
    else if (flags ~ /F/) {
        fins++
        if (from == "server") what = "FIN from the server: after quit it calls shutdown(SHUT_WR), it will send no more (it still reads until the client'"'"'s FIN, then closes)"
        else what = "FIN from the client: it called close(), it will send no more"
        if (fins == 2) what = what "; both sides have now sent their FIN"
    }
    else if (fins >= 2) what = "ACK of the last FIN: the connection is closed (the side that closed first keeps it in TIME_WAIT)"
    else if (fins == 1) what = "ACK: the " from " acknowledges the " to "'"'"'s FIN"
    else what = "ACK: the " from "'"'"'s kernel acknowledges the bytes it received"
    if (flags == "[S]") stage = 1; else if (flags == "[S.]") stage = 2
    n++
    printf "%2d  %s\n    %s\n", n, what, header
    header = ""
}
/^ *[0-9][0-9]:.* ARP, / {
    flush()
    n++
    if ($0 ~ /Request/) printf "%2d  ARP request: the sender asks which Ethernet address has this IP address\n    %s\n", n, $0
    else printf "%2d  ARP reply: the owner of the address answers (the veth has an Ethernet address)\n    %s\n", n, $0
    next
}
/^ *[0-9][0-9]:/ {
    flush()
    header = $0
    split($3, a, "."); src = a[5]
    match($0, /Flags \[[^]]*\]/); flags = substr($0, RSTART + 6, RLENGTH - 6)
    len = match($0, /length [0-9]+/) ? substr($0, RSTART + 7, RLENGTH - 7) + 0 : 0
    nbytes = 0
    next
}
/^[ \t]+0x/ { for (i = 2; i <= NF; i++) { w = $i; while (length(w) >= 2) { bytes[++nbytes] = hexval(substr(w, 1, 2)); w = substr(w, 3) } } }
END { flush() }
'
