# sockets, side by side: build the C reference and the Rust port, test, demo.
#
#   make          every program of programs.txt in the sockets crate, twice:
#                 build/c/NAME (gcc, C11), build/rust/NAME (cargo, release),
#                 and ./NAME (a link to the Rust build)
#   make demo     see it work (under 20 s)
#   make tls      the TLS twins (crate tls: server_tls, client_tls) over
#                 libssl, and a demonstration CA and server certificate in
#                 build/tls/ (needs libssl-dev, pkg-config and openssl; plain
#                 make does not build it); make demo-tls shows one session
#   make docs     regenerate docs/SIDE-BY-SIDE.md from the sources (and, with
#                 strace installed, docs/strace/*.txt from a real run)
#   make capture  one session on 127.0.0.1 under tcpdump: build/capture.pcap
#                 for Wireshark, and a decode with a line on each packet
#                 (then one that ends with RST, build/reset.pcap), drawn as
#                 docs/session.svg and docs/reset.svg (scripts/ladder.py),
#                 and the session again over TLS: build/tls.pcap, docs/tls.svg;
#                 make demo-netns draws docs/netns.svg
#   make demo-netns  (root) the session between two network namespaces
#   make demo-udp (root) loss made visible: the UDP pair between two network
#                 namespaces over a link that drops datagrams at random
#                 (nftables) and delays echoes (tc tbf), then TCP over the
#                 same link, all delivered; draws docs/udp.svg
#   make bench    measure it: C against Rust against both tokio runtimes,
#                 socat and the floor, UNP's Figure 30.1, tables of medians
#                 and three charts in build/bench/ (under 10 minutes;
#                 docs/BENCHMARKS.md); make bench-quick: a first look, about
#                 a minute, in build/bench-quick/
#   make test     check it: builds, then every step whatever the others did
#                 (scripts/test.sh): the unit tests of every crate, make
#                 lint, the integration tests (cargo-nextest runs the real
#                 binaries side by side) and make sanitize beside them; ends
#                 with each step's status and time, the checks skipped here,
#                 and `N passed, M failed`
#   make lint     cargo fmt --check, cargo clippy -D warnings, the C's warnings
#   make sanitize the C programs built with -fsanitize=address,undefined
#                 (build/asan/) and -fsanitize=thread (build/tsan/), run
#                 through the conformance sessions and a 200-client load
#   make clean    remove all of the above

CC      ?= cc
CFLAGS  := -std=c11 -O2 -g -Wall -Wextra -Werror -pthread
# programs.txt is the one list of the programs (name, role, model, transport,
# crate, label); the twins of the sockets crate are built here.
PROGRAMS := $(shell awk '!/^\#/ && NF && $$5 == "sockets" { print $$1 }' programs.txt)

# The twins of crate tls (make tls), linked with libssl and libcrypto; the
# flags are asked for only when a TLS program is built (make alone needs no
# libssl-dev).
TLS_PROGRAMS := $(shell awk '!/^\#/ && NF && $$5 == "tls" { print $$1 }' programs.txt)
TLS_LIBS      = $(shell pkg-config --cflags --libs openssl)
# The demonstration CA and the server's certificate: made here, never committed.
TLS_FILES    := build/tls/ca.pem build/tls/server.pem build/tls/server.key

C_BINS    := $(addprefix build/c/,$(PROGRAMS))
RUST_BINS := $(addprefix build/rust/,$(PROGRAMS))

.PHONY: all c rust test sanitize demo clean tls demo-tls

all: c rust

c: $(C_BINS)

build/c/%: c-reference/%.c
	@mkdir -p build/c
	$(CC) $(CFLAGS) $< -o $@

# cargo knows what is stale; the copy keeps build/rust/ beside build/c/.
# --remove-destination: a new file, not a rewrite of one that may be running
# (which fails with "Text file busy").
rust:
	cargo build --release --bins --quiet
	@mkdir -p build/rust
	@for p in $(PROGRAMS); do cp -p --remove-destination target/release/$$p build/rust/$$p && ln -sfn build/rust/$$p $$p; done

# scripts/test.sh runs the steps (the unit tests of every workspace member,
# make lint, the integration tests under cargo-nextest and make sanitize
# beside them), every one whatever an earlier one did, and ends with each
# step's status and time and the line `N passed, M failed`.
#
# Every check that could not run here (a tool missing, not root) is listed
# in SKIP_LOG by the tests: emptied first, summed up at the end (also when a
# test failed) by scripts/skipped.sh, with what to install.
SKIP_LOG := build/skipped-checks.txt

test: all tls bench-build sanitize-build
	@rm -f $(SKIP_LOG)
	@scripts/test.sh

# The project's own rules, checked: rustfmt, clippy with every warning an
# error over every crate and target, and every C file compiled with the
# project's flags (-Wall -Wextra -Werror). Each check runs whatever the
# others found, and says `lint: ok:` or `lint: FAILED:` (make test counts them).
.PHONY: lint
lint:
	@status=0; \
	if cargo fmt --all --check; then echo "lint: ok: cargo fmt --all --check"; \
	else echo "lint: FAILED: cargo fmt --all --check (cargo fmt --all fixes it)"; status=1; fi; \
	if cargo clippy --release --quiet --workspace --all-targets -- -D warnings; then echo "lint: ok: cargo clippy -D warnings"; \
	else echo "lint: FAILED: cargo clippy --workspace --all-targets -- -D warnings"; status=1; fi; \
	if for f in c-reference/*.c; do $(CC) $(CFLAGS) -fsyntax-only $$f $(TLS_LIBS) || exit 1; done; \
	then echo "lint: ok: c-reference/*.c with $(CFLAGS)"; \
	else echo "lint: FAILED: c-reference/*.c with $(CFLAGS)"; status=1; fi; \
	exit $$status

# The sanitizer builds: the same sources and flags, plus the sanitizer.
SANITIZE_BINS := $(addprefix build/asan/,$(PROGRAMS)) $(addprefix build/tsan/,$(PROGRAMS))
SANITIZE_TLS_BINS := $(addprefix build/asan/,$(TLS_PROGRAMS)) $(addprefix build/tsan/,$(TLS_PROGRAMS))

build/asan/%: c-reference/%.c
	@mkdir -p build/asan
	$(CC) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer $< -o $@

build/tsan/%: c-reference/%.c
	@mkdir -p build/tsan
	$(CC) $(CFLAGS) -fsanitize=thread $< -o $@

$(addprefix build/asan/,$(TLS_PROGRAMS)): build/asan/%: c-reference/%.c
	@mkdir -p build/asan
	$(CC) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer $< -o $@ $(TLS_LIBS)

$(addprefix build/tsan/,$(TLS_PROGRAMS)): build/tsan/%: c-reference/%.c
	@mkdir -p build/tsan
	$(CC) $(CFLAGS) -fsanitize=thread $< -o $@ $(TLS_LIBS)

sanitize: all tls sanitize-build
	scripts/sanitize.sh

# The sanitizer builds alone: make test builds them before its steps and
# runs scripts/sanitize.sh beside the integration tests, without `all`,
# whose copies into build/rust/ must not happen while tests start them.
.PHONY: sanitize-build
sanitize-build: $(SANITIZE_BINS) $(SANITIZE_TLS_BINS)

demo: all
	@scripts/demo.sh

# The TLS twins: make tls.

tls: $(addprefix build/c/,$(TLS_PROGRAMS)) tls-rust $(TLS_FILES)

$(addprefix build/c/,$(TLS_PROGRAMS)): build/c/%: c-reference/%.c
	@mkdir -p build/c
	$(CC) $(CFLAGS) $< -o $@ $(TLS_LIBS)

.PHONY: tls-rust
tls-rust:
	cargo build --release -p tls --bins --quiet
	@mkdir -p build/rust
	@for p in $(TLS_PROGRAMS); do cp -p --remove-destination target/release/$$p build/rust/$$p && ln -sfn build/rust/$$p $$p; done

# A CA (its key deleted once it has signed: it can sign nothing else), and
# a server certificate for localhost, 127.0.0.1 and ::1 that it signed,
# valid 825 days. Ed25519 keys: fast, and a signature always 64 bytes, so a
# session's records have the same lengths every run (an ECDSA signature's
# length varies by a byte or two) and docs/tls.svg stays as it is.
$(TLS_FILES) &:
	@mkdir -p build/tls
	openssl req -x509 -newkey ed25519 -nodes -days 3650 \
	    -subj "/CN=sockets side by side demonstration CA" \
	    -keyout build/tls/ca.key -out build/tls/ca.pem 2>/dev/null
	openssl req -x509 -newkey ed25519 -nodes -days 825 \
	    -subj "/CN=localhost" -CA build/tls/ca.pem -CAkey build/tls/ca.key \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
	    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
	    -keyout build/tls/server.key -out build/tls/server.pem 2>/dev/null
	@rm -f build/tls/ca.key

demo-tls: all tls
	@scripts/demo-tls.sh

# The teaching aid: the side-by-side guide, a capture, a two-host run.
.PHONY: docs capture demo-netns demo-udp
docs: all
	@if command -v strace >/dev/null; then scripts/gen-side-by-side.py --strace; \
	else echo "docs: strace is not installed: docs/strace/*.txt stay as they are"; fi
	@scripts/gen-side-by-side.py

capture: all tls
	@scripts/capture.sh
	@scripts/ladder.py --picture session build/capture.pcap docs/session.svg
	@scripts/ladder.py --picture reset build/reset.pcap docs/reset.svg
	@scripts/ladder.py --picture tls build/tls.pcap docs/tls.svg

demo-netns: all
	@scripts/demo-netns.sh
	@scripts/ladder.py --picture netns build/netns.pcap docs/netns.svg

demo-udp: all
	@scripts/demo-udp.sh
	@scripts/ladder.py --picture udp build/udp.pcap docs/udp.svg

# The bench crate (bench/: echo-bench and tokio-echo, with their crates), a
# package of its own so that `make` never builds it; make test runs its
# smoke test, make bench the suite. Its TLS client needs libssl (feature
# tls, on by default): without it the bench is built without TLS, and the
# TLS rows say `missing`. make bench measures the TLS servers once make tls
# has built them.
BENCH_FEATURES = $(if $(shell pkg-config --exists openssl 2>/dev/null && echo yes),,--no-default-features)

.PHONY: bench-build
bench-build:
	cargo build --release -p bench --quiet $(BENCH_FEATURES)
	@mkdir -p build/bench
	@for p in echo-bench tokio-echo; do cp -p --remove-destination target/release/$$p build/bench/$$p; done

# Not part of make test: minutes of load, and figures need a quiet machine.
# make bench-quick: every row and server, a tenth of the counts, one run
# each (a student's first look, about a minute), into build/bench-quick/.
.PHONY: bench bench-quick
bench: all bench-build $(if $(BENCH_FEATURES),,tls)
	@scripts/bench.sh

bench-quick: all bench-build $(if $(BENCH_FEATURES),,tls)
	@scripts/bench.sh --quick --out build/bench-quick

clean:
	rm -rf build $(PROGRAMS) $(TLS_PROGRAMS)
	cargo clean --quiet

# The grader (crate grader/, SPEC "The grader"): grade a student's own
# server or client, stage by stage. Not part of make or make demo.
.PHONY: grade grade-demo gradescope grade-bench
grade:
	cargo build --release -p grader --quiet
	@mkdir -p build/grader
	@cp -p --remove-destination target/release/grade build/grader/grade && ln -sfn build/grader/grade grade

# ./server passes every stage; then a server with one classic mistake.
grade-demo: grade build/c/server
	@mkdir -p build/grader
	$(CC) $(CFLAGS) grader/tests/faulty/quit_strcmp.c -o build/grader/quit_strcmp
	./grade server -t 2 -- build/c/server -p '{port}' -t 2 || true
	./grade server -t 2 -- build/grader/quit_strcmp -p '{port}' -t 2 || true

# The Gradescope autograder: build/grader/gradescope.zip (setup.sh, run_autograder).
gradescope: grade
	grader/scripts/gradescope.sh build/grader/gradescope.zip

# The time to grade one server and a generated class (not a test).
grade-bench: grade all
	grader/scripts/class-bench.sh

# The course book (book/, issue 30): build/book-root/ is book/ plus what the
# build adds, so that nothing is copied by hand: the side-by-side chapters
# (the guide generator, from the step markers), the pictures of docs/. The
# English book goes to build/book/, the Indonesian (po/id.po) to
# build/book/id/; the lessons' {{#step PROGRAM STEP}} become that step's two
# excerpts and {{#bench-charts}} the charts of docs/. make book-test checks
# it (scripts/book/check.py: links, anchors, includes, translation;
# scripts/book/readme-map.py: the old README's headings), make book-browser
# in headless Chromium (scripts/book/browser.py). MDBOOK_VERSION and
# I18N_VERSION: the pinned tools (scripts/book/tools.sh installs them).
MDBOOK_VERSION := 0.5.4
I18N_VERSION   := 0.4.0
CARGO_BIN      := $(HOME)/.cargo/bin
MDBOOK         := $(CARGO_BIN)/mdbook

.PHONY: book book-tools book-test book-browser book-pot
book-tools:
	@scripts/book/tools.sh $(MDBOOK_VERSION) $(I18N_VERSION)

book: book-tools
	@rm -rf build/book-root build/book
	@mkdir -p build/book-root
	@cp -r book/book.toml book/theme book/src po build/book-root/
	@cp docs/*.svg build/book-root/src/
	@scripts/gen-side-by-side.py --book build/book-root/src
	@cd build/book-root && $(MDBOOK) build -d ../book 2>&1 | tee ../book-en.log
	@cd build/book-root && MDBOOK_BOOK__LANGUAGE=id $(MDBOOK) build -d ../book/id 2>&1 | tee ../book-id.log
	@! grep -E 'WARN|ERROR' build/book-en.log build/book-id.log

# po/messages.pot from the English sources, then msgmerge into po/id.po
# (what changed in English comes back untranslated, and make book-test
# says so). A heading's explicit id ({#id}) is not in its message:
# mdbook-gettext keeps the English heading's, so a link into a page
# resolves in both languages, and a translation must not repeat it
# (book-test: "no heading shows a {#id} as text").
book-pot: book
	@cd build/book-root && MDBOOK_OUTPUT='{"xgettext": {}}' $(MDBOOK) build -d ../book-pot
	@cp build/book-pot/messages.pot po/messages.pot
	@msgmerge --quiet --update --backup=none --no-fuzzy-matching po/id.po po/messages.pot

# make book-test: the built book holds together (check.py), nothing of the
# old README was lost (readme-map.py); make book-browser: every page in
# headless Chromium, screenshots in build/book-shots/. make test runs both
# (scripts/test.sh).
book-test: book
	@status=0; scripts/book/check.py build/book || status=1; scripts/book/readme-map.py || status=1; exit $$status

book-browser: book
	@scripts/book/browser.py build/book build/book-shots
