#!/usr/bin/env bash
# The end of `make test`: the checks that could not run on this machine (a
# tool missing, not root), and what to install so they do. A skipped check
# passed without running anything, so it must be seen, not just counted as
# `ok` by cargo test. The tests append one line per skip to the file given
# (CHECK<tab>WHY<tab>REMEDY, see skip() in tests/common/mod.rs); the same
# check skipped twice (make sanitize runs some tests again) counts once.
# Under CI (CI=true) a skip fails its test instead, so this lists nothing.
set -euo pipefail

log=${1:?usage: scripts/skipped.sh FILE}
if [ ! -s "$log" ]; then
    echo "make test: no check skipped"
    exit 0
fi
checks=$(cut -f1,2 "$log" | sort -u)
count=$(printf '%s\n' "$checks" | wc -l)
echo
[ "$count" = 1 ] && noun=check || noun=checks
echo "make test: $count $noun SKIPPED (they ran nothing; under CI=true they fail):"
printf '%s\n' "$checks" | awk -F'\t' '{ printf "  %s: %s\n", $1, $2 }'
packages=$(cut -f3 "$log" | sed -n 's/^apt-get install //p' | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "$packages" ]; then
    echo "to run them: apt-get install ${packages% } (or .ci/run, which installs every tool the tests use)"
fi
cut -f3 "$log" | grep -v '^apt-get install ' | sort -u | sed 's/^/to run them: /' || true
