#!/usr/bin/env bash
# make bench: every server (C and Rust: thread per client, single, fork,
# poll; TLS and UDP beside them once built, make tls for TLS), tokio, socat
# and the floor through the same rows, interleaved and
# repeated; prints the tables of medians and the ratios, and writes
# build/bench/bench-results.json and the charts build/bench/bench-*.svg.
# See docs/BENCHMARKS.md.
#
#   scripts/bench.sh [--reps N] [--out DIR]    (after make and make bench-build; make bench does all)
#   scripts/bench.sh --out docs                 (the run docs/BENCHMARKS.md shows)
#
# About 7 minutes on a 2-core machine (6 min 34 s for docs/BENCHMARKS.md).
# The load generator and the servers share the machine's cores: run it when
# nothing else is running.
set -euo pipefail
cd "$(dirname "$0")/.."

# 10,000 idle clients need 10,000 descriptors in the server and as many in
# echo-bench: raise the soft limit to the hard one (the suite uses fewer
# idle clients, and says so, where the hard limit is lower).
limit=$(ulimit -n)
if [ "$limit" != unlimited ] && [ "$limit" -lt 20000 ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi

exec build/bench/echo-bench suite --build build --out build/bench "$@"
