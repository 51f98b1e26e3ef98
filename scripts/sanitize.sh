#!/usr/bin/env bash
# The C programs under the sanitizers (`make sanitize`, also run by `make test`,
# beside the integration tests). SOCKETS_C_DIR also tells the suites to run
# only what has C in it (testkit's c_only(): C servers, and pairings with a
# C side), and the heavy tests take the same file lock as the main suite's.
#
# `make sanitize` builds build/asan/ (gcc -fsanitize=address,undefined) and
# build/tsan/ (gcc -fsanitize=thread), then runs this script, which runs the
# conformance sessions (tests/behaviour.rs, tests/conformance.rs), the load
# test with 200 clients (tests/load.rs), server_fork's own tests
# (tests/fork.rs), the UDP pair's (tests/udp.rs) and the TLS checks (tests/tls.rs)
# against each build: SOCKETS_C_DIR
# points the tests' C side at it. Every sanitizer writes its reports to a
# file of its own (log_path) instead of the programs' stderr, which the tests
# read; any report file at the end fails the run, and is shown.
set -euo pipefail
cd "$(dirname "$0")/.."

reports=target/sanitize-reports
rm -rf "$reports"
mkdir -p "$reports"

for build in asan tsan; do
    for program in $(awk '!/^#/ && NF && ($5 == "sockets" || $5 == "tls") { print $1 }' programs.txt); do
        [ -x "build/$build/$program" ] || { echo "sanitize: build/$build/$program is missing: run make sanitize" >&2; exit 1; }
    done
done

logs=target/sanitize-logs
rm -rf "$logs"
mkdir -p "$logs"
run() {
    local build=$1 status=0
    # Skipped here: what measures the Rust side or the host rather than the
    # C code (memory per client, the Rust load, valgrind's own run), and the
    # UDP checks that exercise the network and other programs (the lossy
    # link in namespaces, its picture, nc, socat and Python as peers): the
    # sanitizers look for the C twins' bugs, which the echo checks reach.
    echo "sanitize: $build: conformance sessions, the load test with 200 clients, server_fork's and the UDP pair's tests"
    SOCKETS_C_DIR="build/$build" SOCKETS_LOAD_CLIENTS=200 \
        cargo test --release --quiet --test behaviour --test conformance --test load --test fork --test udp -- \
        --skip memory_per_idle_client --skip load_rust --skip valgrind \
        --skip loss_is_dropped_and_told --skip udp_picture --skip nc_and_socat --skip python_as \
        || status=1
    # The TLS twins: every check of tests/tls.rs but the strace one (a
    # sanitizer's own system calls are no step of the program).
    echo "sanitize: $build: the TLS checks"
    SOCKETS_C_DIR="build/$build" cargo test --release --quiet --test tls -- \
        --skip twins_make_the_same_socket_system_calls || status=1
    return $status
}

# halt_on_error: the first report ends the program (a test then fails too);
# the report is in $reports either way. atexit_sleep_ms: ThreadSanitizer
# waits a second in exit() by default (to catch races at exit), and the tests
# stop hundreds of servers; 50 ms still lets running threads meet the exit.
# The two builds run at once, each into a log of its own (shown whole after):
# most of their time is spent waiting for timeouts, not on the CPU, and one
# after the other they took 2.5 minutes of make test.
echo "sanitize: build/asan and build/tsan at once; their logs follow when both are done"
ASAN_OPTIONS="log_path=$PWD/$reports/asan:halt_on_error=1:detect_leaks=1" \
UBSAN_OPTIONS="log_path=$PWD/$reports/ubsan:halt_on_error=1:print_stacktrace=1" \
    run asan >"$logs/asan" 2>&1 &
asan=$!
TSAN_OPTIONS="log_path=$PWD/$reports/tsan:halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=50" \
    run tsan >"$logs/tsan" 2>&1 &
tsan=$!
failed=()
wait "$asan" || failed+=(asan)
wait "$tsan" || failed+=(tsan)
cat "$logs/asan" "$logs/tsan"

if [ -n "$(ls -A "$reports")" ]; then
    echo "sanitize: FAILED: sanitizer reports in $reports/ (the first 60 lines of each):" >&2
    for report in "$reports"/*; do
        echo "== $report" >&2
        head -n 60 "$report" >&2
    done
    exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "sanitize: FAILED: tests failed against ${failed[*]} (build/asan, build/tsan), without a sanitizer report" >&2
    exit 1
fi
echo "sanitize: no reports from AddressSanitizer, UndefinedBehaviorSanitizer or ThreadSanitizer"
