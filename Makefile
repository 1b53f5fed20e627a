# The front door: `make run` and `make test`. Everything a fresh machine needs (Rust's
# wasm32 target, wasm-bindgen-cli, wasm-pack, npm dev tools) is installed by `make tools`,
# skipped when the right version is already there.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
# One target dir for every cargo build (native, wasm, fuzz) so nothing compiles twice.
export CARGO_TARGET_DIR ?= $(ROOT)/target
# wasm-opt from the npm `binaryen` package (Debian's is too old: its output fails to load).
export PATH := $(ROOT)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

# Must equal the wasm-bindgen version in Cargo.lock (see Cargo.toml for why it is pinned).
WASM_BINDGEN_VERSION := 0.2.129
WASM_PACK_VERSION := 0.15.1
EDGE_ZIP := dist/edge-worker-lambda.zip
EDGE_FILES := index.js package.json pkg/viewer_request.wasm pkg/origin_response.wasm
WASM_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
	--enable-multivalue --enable-reference-types

.PHONY: help tools wasm package package-edge test test-suites test-scripts test-rust test-wasm test-node test-rules-file test-replay-expiry test-fuzz-build lint run bench bench-replay bench-replay-scale soak fuzz clean \
	explain browser-tools test-page screenshot \
	worker-tools worker lint-worker test-worker run-workers

help:
	@echo "make run      start the local stack (edge on 127.0.0.1:8080) and print the URL"
	@echo "make run ORIGIN=http://127.0.0.1:PORT RULES=path/to/rules.toml   the handler and the local edge in front of your own API"
	@echo "make test     install what is missing, then run every test"
	@echo "make wasm     build wasm-pkg (the Lambda@Edge handler)"
	@echo "make explain URL='/api/products/42?fbclid=x&page=2'  what the edge does with a URL, and why (EXPLAIN_ARGS='--vs URL2 --json ...')"
	@echo "make screenshot  refresh docs/images/live-page.png from the browser test's screenshot"
	@echo "make package  write $(EDGE_ZIP) and dist/origin-function.zip, print their sizes"
	@echo "make deploy   deploy to AWS (see deploy/README.md; never run in CI)"
	@echo "make bench    Wasm vs JS vs native figures -> bench/results/"
	@echo "make bench-replay  trace replay: seed handler vs CloudFront alone vs this project, bounds, bill -> bench/results/"
	@echo "make bench-replay-scale  the replay at scale: triggers per behaviour, Origin Shield, peaks -> bench/results/scale.*"
	@echo "make soak     64 connections against the local edge, 60 s clean then 60 s beside a hostile mix -> bench/results/soak.json"
	@echo "make fuzz     run each fuzz target (FUZZ_SECONDS=60)"
	@echo "make worker   build the Cloudflare Worker (cf-worker/build/), print its size beside the edge zip's"
	@echo "make run-workers  the origin as a function URL + the built Worker in miniflare on 127.0.0.1:8787"
	@echo "make purge ARGS='--tag product:42'   purge the local stack of make run (docs/purge.md)"
	@echo "make product-price ID=42 PRICE=1999  change a product in the local catalogue"
	@echo "make bench-purge  the purge's figures (time to the last old answer per layer, W, loads) -> bench/results/"

tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --locked; fi
	@if [ "$$(wasm-pack --version 2>/dev/null)" != "wasm-pack $(WASM_PACK_VERSION)" ]; then \
		cargo install wasm-pack --version $(WASM_PACK_VERSION) --locked; fi
	@if [ ! -x node_modules/.bin/wasm-opt ] || ! cmp -s package-lock.json node_modules/.package-lock.json; then \
		npm ci --no-audit --no-fund; fi
	@# The Redis L2 backend's tests run a real redis-server (Debian package).
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

# The Wasm core, built for speed (see [profile.wasm-release]), then wasm-opt -O3 (which also
# strips debug info and the producers section). Plain cargo, no wasm-bindgen: the deployed
# modules export only the raw boundary (edge-worker/src/raw.rs) and import nothing; the
# wasm-bindgen exports of the string entry points (feature `bindgen`) are for `wasm-pack test`
# only, and each string-returning export cost V8 an eagerly compiled wrapper at every cold start.
# One module per trigger (features `viewer-request`, `origin-response`): a trigger's cold
# start decodes and compiles only its own code. wasm-ctor-eval runs `edge_init` (the embedded
# rule set) at build time and keeps the memory it leaves (edge-worker/src/raw.rs). `-ocimfs
# 100`: wasm-opt inlines a function with one caller only up to 100 bytes, so the policy's
# stages stay out of line (edge-policy crate docs, "Stages stay out of line").
WASM_TRIGGERS := viewer_request origin_response
WASM_OUT := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release
wasm: tools
	@mkdir -p wasm-pkg/pkg
	@rm -f wasm-pkg/pkg/edge_worker_bg.wasm
	@for t in $(WASM_TRIGGERS); do \
		cargo build --profile wasm-release --target wasm32-unknown-unknown -p edge-worker --no-default-features \
			--features $$(echo $$t | tr _ -) && \
		wasm-ctor-eval --quiet $(WASM_FEATURES) --ctors=edge_init $(WASM_OUT)/edge_worker.wasm -o $(WASM_OUT)/$$t.init.wasm && \
		wasm-opt -O3 -ocimfs 100 $(WASM_FEATURES) --strip-debug --strip-producers \
			$(WASM_OUT)/$$t.init.wasm -o wasm-pkg/pkg/$$t.wasm && \
		echo "wasm-pkg/pkg/$$t.wasm: $$(stat -c %s wasm-pkg/pkg/$$t.wasm) bytes" || exit 1; \
	done

# Both deployment zips: the Lambda@Edge handler and the origin (arm64 `bootstrap`, built with
# cargo-lambda: ~6-8 min cold, so `make test` builds only the edge zip).
package: package-edge package-origin

# Fails when the zip is over Lambda@Edge's 1,048,576-byte viewer-trigger limit
# (check-edge-zip, deploy/deploy.mk): CloudFront would refuse the association at deploy time.
package-edge: wasm
	python3 scripts/zip_package.py $(EDGE_ZIP) wasm-pkg $(EDGE_FILES)
	@$(MAKE) --no-print-directory check-edge-zip EDGE_ZIP=$(EDGE_ZIP)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The harness's own scripts (scripts/reap-after: what a run leaves running is found and stopped).
test-scripts:
	node --test tests/scripts/

# The local edge's tests run the built wasm-pkg and the origin binaries: build them first.
test-rust: wasm
	cargo build --workspace --bins
	cargo test --workspace

# The Wasm boundary under Node, exactly as users run it, with the wasm-bindgen exports
# (feature `bindgen`, off by default: the deployed modules never have them). wasm-pack hands
# what follows the crate's path to `cargo test`; after a `--` it would go to the test runner.
test-wasm: tools
	wasm-pack --log-level warn test --node edge-worker --features bindgen

# The built deployment zip, unpacked and loaded as Lambda@Edge loads it.
test-node: package-edge
	rm -rf target/edge-zip && python3 scripts/zip_package.py --extract $(EDGE_ZIP) target/edge-zip
	EDGE_PKG_DIR=target/edge-zip node --test tests/wasm-pkg/

# An invalid rules file must fail the build with a message naming the problem.
test-rules-file:
	@for f in tests/fixtures/rules/invalid-*.toml; do \
		want=$$(sed -n 's/^# expect: //p' "$$f"); \
		if out=$$(EDGE_RULES=$(ROOT)/$$f cargo check -p edge-policy --message-format short 2>&1); then \
			echo "FAIL: $$f built"; exit 1; fi; \
		grep -qF "$$want" <<<"$$out" || { echo "FAIL: $$f: no '$$want' in:"; echo "$$out" | tail -5; exit 1; }; \
		echo "ok: $$f fails the build: $$want"; \
	done

# The replay's TTL-aware bound against expiry, on windows of seconds: replay/tests/expiry.rs
# built with EDGE_RULES=tests/fixtures/rules/short-windows.toml. EDGE_RULES changes what
# edge-policy embeds, so it builds in a target dir of its own (the first time ~5-7 min on 2
# cores, then seconds) and never disturbs the main build.
EXPIRY_TARGET_DIR := $(CARGO_TARGET_DIR)/short-windows
test-replay-expiry:
	EDGE_RULES=$(ROOT)/tests/fixtures/rules/short-windows.toml CARGO_TARGET_DIR=$(EXPIRY_TARGET_DIR) \
		cargo test -p replay --test expiry -- --include-ignored

test-fuzz-build:
	cargo build --manifest-path fuzz/Cargo.toml

# Headless Chromium for the live page's browser test (Debian's packages; the test drives it
# over the DevTools protocol with the `ws` npm package, so chromium-driver is not used but
# installed with it for a Selenium run by hand).
browser-tools:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }

# The local edge's live page in a real browser (tests/page/): the built local-edge binary, curl,
# headless Chromium. Its screenshot lands in target/screenshots/ (never in the tree).
test-page: wasm browser-tools
	cargo build --bins -p origin-function -p local-edge
	node --test --test-concurrency=1 tests/page/

# The README's copy of the live page, refreshed from the browser test's screenshot.
screenshot: test-page
	@mkdir -p docs/images
	cp $(CARGO_TARGET_DIR)/screenshots/live-page.png docs/images/live-page.png
	@echo "docs/images/live-page.png refreshed"

# What the edge does with a URL, and why (explain/): make explain URL='/api/products/42?fbclid=x&page=2'
URL ?=
EXPLAIN_ARGS ?=
explain:
	@if [ -z "$(URL)" ]; then echo "usage: make explain URL='/api/products/42?fbclid=x&page=2' [EXPLAIN_ARGS='--vs URL2']"; exit 2; fi
	@cargo run -q -p explain -- '$(subst ','\'',$(URL))' $(EXPLAIN_ARGS)

# Every suite, under scripts/reap-after: whatever a suite leaves running is stopped when the
# run ends (and fails it), so a broken cleanup is a red run, never CI waiting on an open pipe.
# A run still going after TEST_DEADLINE seconds is stopped the same way and fails with 124:
# 80 min, inside CI's 90 (a bare machine takes ~45 min, tools installed included).
TEST_DEADLINE ?= 4800
test:
	@REAP_DEADLINE=$(TEST_DEADLINE) scripts/reap-after $(MAKE) --no-print-directory test-suites

test-suites: tools lint test-scripts test-rust test-wasm test-node test-rules-file test-replay-expiry test-fuzz-build test-deploy lint-worker test-worker test-page
	@echo "make test: all suites passed"

# The whole local stack on 127.0.0.1:8080: dynalite (catalogue + L2), seeded tables, the
# real origin binary in 2 execution environments, the built wasm-pkg in Node. Ctrl-C or
# SIGTERM stops everything. Options: make run EDGE_ARGS="--native --environments 4".
# ORIGIN=http://host:port[/path]: the local edge alone in front of that HTTP origin (your own
# API; CloudFront's custom origin), behaviours written from the routes in force.
# RULES=path/to/rules.toml: those routes, embedded in the handler (the Wasm is rebuilt with
# EDGE_RULES) and in the local edge; without it the project's rules.toml, printed at start.
EDGE_ARGS ?=
# The stack's binaries and the purge CLI in one build: built apart, cargo unifies features
# differently and `make purge` would compile the AWS SDK crates again.
STACK_BINS := --bins -p origin-function -p local-edge -p purge
ORIGIN ?=
RULES ?=
ifneq ($(RULES),)
export EDGE_RULES := $(abspath $(RULES))
endif
run: wasm
ifeq ($(ORIGIN),)
	cargo build $(STACK_BINS)
	$(CARGO_TARGET_DIR)/debug/local-edge --edge-pkg wasm-pkg --origin-bin $(CARGO_TARGET_DIR)/debug/origin-function \
		--seed-bin $(CARGO_TARGET_DIR)/debug/seed $(EDGE_ARGS)
else
	cargo build --bins -p local-edge
	$(CARGO_TARGET_DIR)/debug/local-edge --edge-pkg wasm-pkg --http-origin $(ORIGIN) $(EDGE_ARGS)
endif

# On one CPU (taskset, when there is one): the native core's child process then shares the
# Node process's CPU, so a slow stretch of the machine (these VMs have ~100 ms stretches at
# half speed) lands on both sides of a round rather than on one.
# The native core is built with `--cfg edge_arena` (its own target dir, so the flag never
# reaches another build): it allocates from the per-call arena as the Wasm core does.
BENCH_NATIVE_DIR := $(CARGO_TARGET_DIR)/bench-arena
bench: package-edge
	RUSTFLAGS="--cfg edge_arena" CARGO_TARGET_DIR=$(BENCH_NATIVE_DIR) cargo build --release -p edge-bench
	$$(command -v taskset >/dev/null && echo taskset -c 0) node --expose-gc bench/edge-handler.js \
		--native $(BENCH_NATIVE_DIR)/release/native-viewer-request

# Trace replay against the local edge (release builds): one trace through the seed's
# handler, CloudFront alone (bench/cloudfront-alone.toml) and this project's handler, each
# arm's TTL-aware bound, stampede, the bill and the break-even ->
# bench/results/replay.json, replay.md and replay.svg (~25 min on 2 cores: 400 s of trace per arm).
REPLAY_ARGS ?=
bench-replay: wasm
	cargo build --release --bins -p origin-function -p replay
	$(CARGO_TARGET_DIR)/release/replay --origin-bin $(CARGO_TARGET_DIR)/release/origin-function \
		--seed-bin $(CARGO_TARGET_DIR)/release/seed $(REPLAY_ARGS)

# The replay at scale, in process (no stack, no Node): the three arms and the advised
# association at 1, 5, 20 and 100 edge locations, with and without the regional tier and
# Origin Shield, over 50 simulated hours; the per-trigger advice, the bill, the origin's peaks
# -> bench/results/scale.json, scale.md and scale.svg (seconds to run; the release build is
# most of it). The measured origin cost comes from bench/results/replay.json.
# Options: make bench-replay-scale SCALE_ARGS="--origin-cost-per-million 10 --log my.log".
SCALE_ARGS ?=
bench-replay-scale:
	cargo build --release -p replay --bin replay-scale
	$(CARGO_TARGET_DIR)/release/replay-scale $(SCALE_ARGS)

# A bounded soak of the local edge: 64 well-behaved connections for 60 s, then 60 s more
# beside a hostile mix (hang-ups mid-request, slow heads, oversize requests); errors and p99
# of the well-behaved clients in both phases, RSS and descriptors of every process ->
# bench/results/soak.json.
SOAK_ARGS ?=
soak: wasm
	cargo build --release --bins -p origin-function -p local-edge -p replay
	$(CARGO_TARGET_DIR)/release/soak --edge-bin $(CARGO_TARGET_DIR)/release/local-edge \
		--origin-bin $(CARGO_TARGET_DIR)/release/origin-function --seed-bin $(CARGO_TARGET_DIR)/release/seed $(SOAK_ARGS)

FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	for t in viewer_request cache_control cdn_cache_control event_json; do \
		mkdir -p target/fuzz-corpus/$$t; \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$t target/fuzz-corpus/$$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS); done

clean:
	rm -rf target dist wasm-pkg/pkg cf-worker/build

# ---------------------------------------------------------------------------------------------
# The Cloudflare Worker (cf-worker/, its own workspace and lock; workers.md).
WORKER_BUILD_VERSION := 0.8.7
WORKER_BUILD := cf-worker/build
# worker-build's own wasm-opt feature set (it adds exception handling to the usual ones).
WORKER_WASM_FEATURES := $(WASM_FEATURES) --enable-exception-handling

# worker-build 0.8.7 goes with the `worker` crate 0.8.7 (~8 min to install; skipped when present).
worker-tools: tools
	@if [ "$$(worker-build --version 2>/dev/null)" != "$(WORKER_BUILD_VERSION)" ]; then \
		cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked; fi

# Offline: worker-build would download wasm-bindgen, wasm-opt and esbuild; it gets the installed
# wasm-bindgen (the lock's version) and npm's binaryen 132 and esbuild 0.28.2 instead. It keeps
# the name section (--debuginfo); stripping it here saves ~20 KB gzip.
worker: worker-tools
	cd cf-worker && WASM_BINDGEN_BIN="$$(command -v wasm-bindgen)" WASM_OPT_BIN=$(ROOT)/node_modules/.bin/wasm-opt \
		ESBUILD_BIN=$(ROOT)/node_modules/.bin/esbuild worker-build --release
	wasm-opt $(WORKER_WASM_FEATURES) --strip-debug --strip-producers $(WORKER_BUILD)/index_bg.wasm \
		-o $(WORKER_BUILD)/index_bg.wasm
	@python3 scripts/bundle_sizes.py $(WORKER_BUILD) $(EDGE_ZIP)

lint-worker: worker-tools
	cargo fmt --manifest-path cf-worker/Cargo.toml -- --check
	cargo clippy --manifest-path cf-worker/Cargo.toml --target wasm32-unknown-unknown --release -- -D warnings

# The built bundle under miniflare (tests/cf-worker/, all on loopback), the glue's unit tests,
# and `wrangler deploy --dry-run` (no credentials) held against Cloudflare's size limits.
test-worker: worker
	cargo build --bins -p origin-function -p local-edge
	cargo test --manifest-path cf-worker/Cargo.toml --lib
	WORKER_BUILD_DIR=$(ROOT)/$(WORKER_BUILD) node --test --test-concurrency=1 tests/cf-worker/

# The origin stack of `make run` exposed as a Lambda function URL on loopback (local-edge
# --function-url-only), and the built Worker in miniflare on 127.0.0.1:8787 in front of it.
# Prints both URLs; Ctrl-C or SIGTERM stops everything. Options: RUN_WORKERS_ARGS="--port 9000".
RUN_WORKERS_ARGS ?=
run-workers: worker
	cargo build --bins -p origin-function -p local-edge
	node scripts/run-workers.mjs --local-edge $(CARGO_TARGET_DIR)/debug/local-edge \
		--origin-bin $(CARGO_TARGET_DIR)/debug/origin-function --seed-bin $(CARGO_TARGET_DIR)/debug/seed $(RUN_WORKERS_ARGS)

# Purge (docs/purge.md) against the stack `make run` started: its settings (the local
# CloudFront and Lambda APIs, placeholder credentials, the tables) are in $(STACK_ENV).
STACK_ENV := target/local-edge/stack.env
ARGS ?=
.PHONY: purge product-price
purge:
	@test -f $(STACK_ENV) || { echo "make purge: start the local stack first (make run)"; exit 1; }
	cargo build -q $(STACK_BINS)
	set -a; . ./$(STACK_ENV); set +a; $(CARGO_TARGET_DIR)/debug/purge $(ARGS)

# The purge's figures (docs/purge.md, docs/performance.md#purge): per layer the time from the
# purge to the last old answer, W, source loads caused, index write cost -> bench/results/purge.json
# (~1 min: W is the deployed 15 s).
.PHONY: bench-purge
bench-purge:
	cargo build --bins -p origin-function
	cargo test -p purge --test bench_purge -- --ignored --nocapture

ID ?= 42
PRICE ?= 1999
product-price:
	@test -f $(STACK_ENV) || { echo "make product-price: start the local stack first (make run)"; exit 1; }
	set -a; . ./$(STACK_ENV); set +a; $(CARGO_TARGET_DIR)/debug/seed --set-price $(ID) $(PRICE)

# Deployment: templates, offline checks (test-deploy), package-origin, deploy, teardown.
include deploy/deploy.mk
