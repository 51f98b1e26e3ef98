#!/usr/bin/env bash
# make demo-tls: the same session twice, in the clear (build/rust/server and
# build/c/client) and over TLS (build/rust/server_tls and build/c/client_tls,
# with the demonstration certificate of build/tls/), side by side; then what
# a correct client refuses: the same server reached as 127.0.0.2, an address
# its certificate does not name. About 2 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
prog=demo-tls
. scripts/wait-for.sh

start() { # program, log; sets port
    "build/rust/$1" -p 0 -t 2 >"$work/$2" 2>&1 &
    pids+=($!)
    wait_for "$work/$2" "listening on"
    port=$(sed -n 's/^listening on [^ ]*:\([0-9]*\) .*/\1/p' "$work/$2")
}
start server plain-server.log; plain_port=$port
start server_tls tls-server.log; tls_port=$port

session=$'hello\ncafé 👋\nquit\n'
printf '%s' "$session" | build/c/client 127.0.0.1 "$plain_port" >"$work/plain-client.out" 2>&1
printf '%s' "$session" | build/c/client_tls 127.0.0.1 "$tls_port" >"$work/tls-client.out" 2>&1
refused=0
printf 'secret\n' | build/c/client_tls 127.0.0.2 "$tls_port" >"$work/refused.out" 2>&1 || refused=$?
sleep 0.2
for pid in "${pids[@]}"; do kill -TERM "$pid"; wait "$pid" || true; done
pids=()

side_by_side() { # left title, left file, right title, right file
    printf '\n%-30s | %s\n' "$1" "$3"
    paste "$2" "$4" | while IFS=$'\t' read -r left right; do
        printf '%-30s | %s\n' "$left" "$right"
    done
}
show() { # title, file
    printf '\n== %s ==\n' "$1"
    cat "$2"
}
side_by_side "build/c/client (plain)" "$work/plain-client.out" "build/c/client_tls (TLS)" "$work/tls-client.out"
show "build/rust/server (plain)" "$work/plain-server.log"
show "build/rust/server_tls (TLS)" "$work/tls-server.log"
printf '\n== build/c/client_tls 127.0.0.2 (exit %s): the certificate names 127.0.0.1, not 127.0.0.2 ==\n' "$refused"
cat "$work/refused.out"
cat <<'TEXT'

What you saw: the same lines, echoed and logged the same way; the TLS client
names the protocol and cipher it agreed, and refuses a server whose
certificate does not name the address it asked for, before sending a byte.
What you did not see is the difference on the wire: make capture records
both sessions and draws them (docs/session.svg, docs/tls.svg); only the TLS
one hides "hello".
TEXT
