#!/usr/bin/env bash
# make test's steps, once `make` has built everything (all, tls, bench-build,
# sanitize-build): no step builds a program again while the tests run them.
# every step runs whatever an earlier one did, each into a log of its own in
# build/test-logs/, and the end lists each step with its status and time,
# then the line `N passed, M failed`. N and M count tests over all steps (a
# check of lint counts as one test; a step that failed without a failing
# test, such as a sanitizer report, counts as one failed); the exit status
# is non-zero if any step failed.
#
#   unit CRATE   the unit tests of each workspace member (cargo metadata:
#                a member added to Cargo.toml is a step here with no edit)
#   lint         make lint: rustfmt, clippy -D warnings, the C's warnings
#   integration build  the integration tests' binaries (nothing beside it)
#   integration  tests/*.rs and grader/tests/*.rs under cargo-nextest, side by side (.config/nextest.toml)
#   sanitize     scripts/sanitize.sh (make sanitize without its build),
#                beside integration: its tests wait on timeouts more than
#                they compute
#   book         make book: the course book, English and Bahasa Indonesia
#   book check   scripts/book/check.py (links, anchors, includes, po/id.po
#                whole) and scripts/book/readme-map.py (the old README's
#                headings, each in a chapter; the programs' table)
#   book browser scripts/book/browser.py: every page in headless Chromium
#                (the three book steps run beside integration, one after
#                another)
set -uo pipefail
cd "$(dirname "$0")/.."

logs=build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
if ! command -v cargo-nextest >/dev/null; then
    echo "make test: cargo-nextest is missing: cargo install cargo-nextest --locked" >&2
    exit 1
fi

# What killed runs left: network namespaces named sbs-PID-WHAT (the tests'
# and the demos' own form, and sbs-udp-PID-WHAT) whose PID is no longer running, and the tests'
# scratch directories, sockets-BINARY-NAME-PID, likewise. Only those: a
# name of another form, or a live PID (another run now), is left alone.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
        # sbs-PID-WHAT, or make demo-udp's sbs-udp-PID-WHAT
        pid=${ns#sbs-}
        pid=${pid#udp-}
        pid=${pid%%-*}
        case $ns in sbs-[0-9]*-* | sbs-udp-[0-9]*-*) ;; *) continue ;; esac
        case $pid in *[!0-9]*) continue ;; esac
        [ -d "/proc/$pid" ] && continue
        ip netns del "$ns" && echo "make test: removed $ns, left by a run that was killed (PID $pid)"
    done
fi
for dir in "${TMPDIR:-/tmp}"/sockets-*-[0-9]*; do
    [ -d "$dir" ] || continue
    pid=${dir##*-}
    case $pid in *[!0-9]*) continue ;; esac
    [ -d "/proc/$pid" ] || rm -rf "$dir"
done

steps=()
# Records step $1's outcome: $2 the exit status, $3 the seconds, from its log.
record() {
    local name=$1 status=$2 seconds=$3 log=$logs/${1// /-}.log passed=0 failed=0
    # nextest: "Summary [ 12.3s] 40 tests run: 38 passed (2 slow), 1 failed, 1 timed out, 0 skipped"
    # cargo test: "test result: FAILED. 5 passed; 1 failed; 0 ignored; ..."
    # lint: "lint: ok: ..." / "lint: FAILED: ..."
    read -r passed failed < <(sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        /^ *Summary \[/ { for (i = 1; i <= NF; i++) { w = $(i + 1); gsub(/[,;]/, "", w)
            if (w == "passed") p += $i; if (w == "failed" || (w == "timed" && $(i + 2) ~ /^out/)) f += $i } }
        /^test result:/ { for (i = 1; i <= NF; i++) { w = $(i + 1); gsub(/[,;]/, "", w)
            if (w == "passed") p += $i; if (w == "failed") f += $i } }
        /^(lint|book-test|book-readme|book-browser): ok:/ { p++ }
        /^(lint|book-test|book-readme|book-browser): FAILED:/ { f++ }
        END { print p + 0, f + 0 }')
    [ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    if [ "$status" -eq 0 ]; then verdict=ok; else verdict=FAILED; fi
    steps+=("$(printf '%-22s %-7s %5ss  %4s passed, %s failed' "$name" "$verdict" "$seconds" "$passed" "$failed")")
}
total_passed=0
total_failed=0

# Runs step $1 (the command after it) in the foreground, its output shown.
step() {
    local name=$1 start=$SECONDS status=0
    shift
    echo "== make test: $name"
    "$@" 2>&1 | tee "$logs/${name// /-}.log"
    status=${PIPESTATUS[0]}
    record "$name" "$status" $((SECONDS - start))
}

# "NAME --lib --bins" for each member, with the kinds of target it has.
members=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    kinds = {k for t in p["targets"] for k in t["kind"]}
    flags = [f"--{k}" + ("s" if k == "bin" else "") for k in ("lib", "bin") if k in kinds]
    if flags:
        print(p["name"], *flags, sep=",")')
for member in $members; do
    IFS=, read -r name flags <<<"$member"
    step "unit $name" cargo nextest run --release -p "$name" ${flags//,/ } --no-tests=pass
done
step lint make --no-print-directory lint

# The course book (issue 30): built (both languages, no warning), checked
# (links, anchors, includes, the translation whole, the old README's every
# heading at home), then opened in headless Chromium. Its tools are
# installed by make book-tools (.ci/run does): without them, and not under
# CI=true, the three steps are a skip. They run beside integration, one
# after another, each into its log; book_times gets "NAME STATUS SECONDS".
book_times=$logs/book-times.txt
book_steps() {
    local name start status
    for name in book "book check" "book browser"; do
        start=$SECONDS
        status=0
        case $name in
            book) nice -n 15 make --no-print-directory book ;;
            "book check") scripts/book/check.py build/book || status=1; scripts/book/readme-map.py || status=1 ;;
            # nice: the tests beside it keep their timing bounds; the
            # browser's deadlines (30 s a page) have room for the wait.
            "book browser") nice -n 15 scripts/book/browser.py build/book build/book-shots ;;
        esac >"$logs/${name// /-}.log" 2>&1 || status=$?
        echo "$name|$status|$((SECONDS - start))" >>"$book_times"
    done
}
# The integration tests' binaries first, a step of their own: cargo builds
# them on both cores, so nothing runs beside it.
step "integration build" cargo nextest run --release -p sockets -p grader --test '*' --no-run
book=
if [ -x "$HOME/.cargo/bin/mdbook" ] && [ -x "$HOME/.cargo/bin/mdbook-gettext" ] || [ "${CI:-}" = true ]; then
    echo "== make test: book (beside integration: build/test-logs/book*.log, shown at the end)"
    book_steps &
    book=$!
else
    printf 'the course book (make book, book-test, book-browser)\tmdbook or mdbook-gettext is missing\tmake book-tools\n' \
        >>build/skipped-checks.txt
    echo "== make test: book SKIPPED: mdbook or mdbook-gettext is missing (make book-tools)"
fi

# sanitize beside integration: its log is shown once both are done.
echo "== make test: sanitize (beside integration: build/test-logs/sanitize.log, shown at the end)"
sanitize_start=$SECONDS
scripts/sanitize.sh >"$logs/sanitize.log" 2>&1 &
sanitize=$!
step integration cargo nextest run --release -p sockets -p grader --test '*'
sanitize_status=0
wait "$sanitize" || sanitize_status=$?
echo "== make test: sanitize"
cat "$logs/sanitize.log"
record sanitize "$sanitize_status" $((SECONDS - sanitize_start))
if [ -n "$book" ]; then
    wait "$book"
    while IFS='|' read -r name status seconds; do
        echo "== make test: $name"
        cat "$logs/${name// /-}.log"
        record "$name" "$status" "$seconds"
    done <"$book_times"
fi

echo
echo "make test: the steps (logs in $logs/):"
printf '  %s\n' "${steps[@]}"
scripts/skipped.sh build/skipped-checks.txt
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
