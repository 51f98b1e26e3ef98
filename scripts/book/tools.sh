#!/usr/bin/env bash
# The book's tools at their pinned versions (make book-tools, .ci/run):
# cargo install --locked only when missing or of another version, since
# the install takes minutes (mdbook 5.6 min, mdbook-i18n-helpers 3.3 min on
# this project's 2-core machine).
set -euo pipefail
mdbook_version=$1 i18n_version=$2
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(mdbook --version 2>/dev/null)" != "mdbook v$mdbook_version" ]; then
    cargo install --locked mdbook --version "$mdbook_version"
fi
if ! cargo install --list | grep -qx "mdbook-i18n-helpers v$i18n_version:"; then
    cargo install --locked mdbook-i18n-helpers --version "$i18n_version"
fi
