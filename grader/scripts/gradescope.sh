#!/usr/bin/env bash
# make gradescope: the autograder zip Gradescope expects (setup.sh and
# run_autograder at its top, and the grade binary they use), written to $1.
set -euo pipefail
cd "$(dirname "$0")/../.."
zip=${1:-build/grader/gradescope.zip}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp grader/scripts/gradescope/setup.sh grader/scripts/gradescope/run_autograder "$stage/"
cp build/grader/grade "$stage/grade"
chmod +x "$stage"/*
mkdir -p "$(dirname "$zip")"
rm -f "$zip"
zip=$(realpath "$zip")
(cd "$stage" && zip -q "$zip" setup.sh run_autograder grade)
echo "gradescope: $zip ($(du -k "$zip" | cut -f1) KiB): setup.sh, run_autograder, grade"
