#!/usr/bin/env bash
# make grade-bench: how long grade takes (not a test). First one server
# graded as a student would (./grade server -- build/c/server -p {port}, the
# assignment's 5 s timeout, not strict); then a generated class of
# CLASS_SIZE submissions (default 40) graded with -j JOBS (default 2). Each
# submission is a server.c, a server_single.c and a client.c taken in turn
# from the project's C servers and the grader's faulty fixtures, so that the
# class holds passing and failing work, and one in ten does not compile.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${CLASS_SIZE:-40}
jobs=${JOBS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

start=$(date +%s.%N)
./grade server -- build/c/server -p '{port}' >"$work/one.txt" || true
one=$(echo "$(date +%s.%N) - $start" | bc)
printf 'grade-bench: one server (./grade server -- build/c/server -p {port}): %.1f s, %s\n' "$one" "$(tail -1 "$work/one.txt")"

servers=(grader/tests/faulty/select_loop.c grader/tests/faulty/quit_strcmp.c grader/tests/faulty/no_framing.c
    grader/tests/faulty/single_threaded.c grader/tests/faulty/no_timeout.c grader/tests/faulty/fd_leak.c)
for i in $(seq 1 "$size"); do
    sub=$work/class/student$(printf '%02d' "$i")
    mkdir -p "$sub"
    if [ $((i % 10)) = 0 ]; then
        echo 'int main(void) { return missing; }' >"$sub/server.c"
        continue
    fi
    cp "${servers[$((i % ${#servers[@]}))]}" "$sub/server.c"
    cp grader/tests/faulty/select_loop.c "$sub/server_single.c"
    cp grader/tests/faulty/client_pieces.c "$sub/client.c"
done
start=$(date +%s.%N)
./grade class "$work/class" -j "$jobs" --out "$work/report" 2>"$work/progress.txt"
class=$(echo "$(date +%s.%N) - $start" | bc)
printf 'grade-bench: a class of %d with -j %d: %.0f s (%.1f s a submission)\n' "$size" "$jobs" "$class" "$(echo "$class / $size" | bc -l)"
