#!/usr/bin/env bash
# make bench: every server of programs.txt (C and Rust; TLS and UDP beside
# them once built, make tls for TLS), both tokio runtimes, socat and the
# floor through the same rows, UNP's Figure 30.1 among them, interleaved and
# repeated; prints the tables of medians and the ratios, and writes
# build/bench/bench-results.json and the charts build/bench/bench-*.svg.
# See docs/BENCHMARKS.md.
#
#   scripts/bench.sh [--reps N] [--out DIR] [--rows TEXT]   (after make and make bench-build; make bench does all)
#   scripts/bench.sh --quick --out build/bench-quick        (make bench-quick)
#   scripts/bench.sh --out docs                 (the run docs/BENCHMARKS.md shows)
#
# Under 10 minutes on a 2-core machine (the estimate in docs/BENCHMARKS.md,
# "How long it takes"); --quick (make bench-quick): about a minute.
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
