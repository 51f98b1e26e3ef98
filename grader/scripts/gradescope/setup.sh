#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (Ubuntu): what grade needs to build a submission (make, a C compiler).
# The grade binary itself is in the zip, beside this file (/autograder/source/).
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends build-essential make python3
chmod +x /autograder/source/grade /autograder/source/run_autograder
