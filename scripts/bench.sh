#!/usr/bin/env bash
# make bench: every server (C and Rust, threaded and single), socat and the
# floor through the same workloads, interleaved and repeated; prints the
# table of medians and the Rust/C ratios. See docs/BENCHMARKS.md.
#
#   scripts/bench.sh [--reps N]      (after make; make bench does both)
#
# Under 5 minutes on a 2-core machine. The load generator and the servers
# share the machine's cores: run it when nothing else is running.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1,000 idle clients need 1,000 descriptors in the server and 1,000 in
# echo-bench: raise the soft limit if it is lower (the hard limit allows it
# almost everywhere).
limit=$(ulimit -n)
if [ "$limit" != unlimited ] && [ "$limit" -lt 4096 ]; then
    ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi

# echo-bench is the crate's fourth binary; `make` built it with the others.
cp -p --remove-destination target/release/echo-bench build/echo-bench
exec build/echo-bench suite --build build "$@"
