# sockets, side by side: build the C reference and the Rust port, test, demo.
#
#   make          every program of programs.txt in the sockets crate, twice:
#                 build/c/NAME (gcc, C11), build/rust/NAME (cargo, release),
#                 and ./NAME (a link to the Rust build)
#   make demo     see it work (under 20 s)
#   make docs     regenerate docs/SIDE-BY-SIDE.md from the sources (and, with
#                 strace installed, docs/strace/*.txt from a real run)
#   make capture  one session on 127.0.0.1 under tcpdump: build/capture.pcap
#                 for Wireshark, and a decode with a line on each packet
#                 (then one that ends with RST, build/reset.pcap), drawn as
#                 docs/session.svg and docs/reset.svg (scripts/ladder.py);
#                 make demo-netns draws docs/netns.svg
#   make demo-netns  (root) the session between two network namespaces
#   make bench    measure it: C against Rust against tokio, socat and the
#                 floor, tables of medians and two charts in build/bench/
#                 (about 7 minutes; docs/BENCHMARKS.md)
#   make test     check it: builds, then cargo test runs the real binaries,
#                 then make sanitize; ends with the checks skipped here
#   make sanitize the C programs built with -fsanitize=address,undefined
#                 (build/asan/) and -fsanitize=thread (build/tsan/), run
#                 through the conformance sessions and a 200-client load
#   make clean    remove all of the above

CC      ?= cc
CFLAGS  := -std=c11 -O2 -g -Wall -Wextra -Werror -pthread
# programs.txt is the one list of the programs (name, role, model, transport,
# crate, label); the twins of the sockets crate are built here.
PROGRAMS := $(shell awk '!/^\#/ && NF && $$5 == "sockets" { print $$1 }' programs.txt)

C_BINS    := $(addprefix build/c/,$(PROGRAMS))
RUST_BINS := $(addprefix build/rust/,$(PROGRAMS))

.PHONY: all c rust test sanitize demo clean

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

# Every check that could not run here (a tool missing, not root) is listed
# in SKIP_LOG by the tests: emptied first, summed up at the end (also when a
# test failed) by scripts/skipped.sh, with what to install.
SKIP_LOG := build/skipped-checks.txt

test: all bench-build
	@rm -f $(SKIP_LOG)
	@status=0; { cargo test --release && $(MAKE) --no-print-directory sanitize; } || status=$$?; \
	scripts/skipped.sh $(SKIP_LOG); exit $$status

# The sanitizer builds: the same sources and flags, plus the sanitizer.
SANITIZE_BINS := $(addprefix build/asan/,$(PROGRAMS)) $(addprefix build/tsan/,$(PROGRAMS))

build/asan/%: c-reference/%.c
	@mkdir -p build/asan
	$(CC) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer $< -o $@

build/tsan/%: c-reference/%.c
	@mkdir -p build/tsan
	$(CC) $(CFLAGS) -fsanitize=thread $< -o $@

sanitize: all $(SANITIZE_BINS)
	scripts/sanitize.sh

demo: all
	@scripts/demo.sh

# The teaching aid: the side-by-side guide, a capture, a two-host run.
.PHONY: docs capture demo-netns
docs: all
	@if command -v strace >/dev/null; then scripts/gen-side-by-side.py --strace; \
	else echo "docs: strace is not installed: docs/strace/*.txt stay as they are"; fi
	@scripts/gen-side-by-side.py

capture: all
	@scripts/capture.sh
	@scripts/ladder.py --picture session build/capture.pcap docs/session.svg
	@scripts/ladder.py --picture reset build/reset.pcap docs/reset.svg

demo-netns: all
	@scripts/demo-netns.sh
	@scripts/ladder.py --picture netns build/netns.pcap docs/netns.svg

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
.PHONY: bench
bench: all bench-build
	@scripts/bench.sh

clean:
	rm -rf build $(PROGRAMS)
	cargo clean --quiet
