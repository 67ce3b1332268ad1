#!/usr/bin/env bash
# Every test: guards (formatting, clippy on the host and on wasm32 for every feature set, docs), host unit and
# integration tests (library logic, codec, server), the library in headless Chromium against the real server (all
# features, default features, and the JavaScript API without fetch), the demo's end-to-end tests and the wasm size
# budgets. Sets up a fresh machine first (scripts/setup.sh). Prints how long each step took at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/steps.sh

step "setup (installs what this machine lacks)" scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Every run of this command starts from a clean clone (CI): incremental caches would only be written, never read.
export CARGO_INCREMENTAL=0
source scripts/lib/server.sh
trap 'steps_on_exit; stop_servers' EXIT
mkdir -p artifacts

step "formatting (rustfmt.toml: 120 columns)" cargo fmt --all --check

clippy_everywhere() {
  cargo clippy --workspace --exclude typed-eventsource-demo --all-targets -- -D warnings
  # The library on wasm32, with each feature set a user can pick (each must build on its own), then the demo.
  # The two entry points (a Rust app's default build, the npm `js` build) with their tests and examples; the other
  # feature sets the library alone (their tests are linted in the all-features run; time budget of the command).
  local features targets
  for features in "" fetch js "js,fetch" share yew; do
    case "$features" in "" | js) targets=--all-targets ;; *) targets=--lib ;; esac
    echo "-- wasm32, features: ${features:-(default)} ($targets)"
    cargo clippy -p typed-eventsource --target wasm32-unknown-unknown --no-default-features --features "$features" \
      "$targets" -- -D warnings
  done
  cargo clippy -p typed-eventsource --target wasm32-unknown-unknown --all-features --all-targets -- -D warnings
  cargo clippy -p typed-eventsource-demo --target wasm32-unknown-unknown -- -D warnings
}
step "clippy -D warnings: host crates; the library on wasm32 for every feature set; the demo" clippy_everywhere

step "host tests (library logic, sse-codec, server)" cargo test --workspace --exclude typed-eventsource-demo

# Issue 23's regression guard: ONE keep-alive connection pipelining POST /update while streams are open (what an
# application backend does) must have every publish acknowledged and every event delivered once (no gap, no
# duplicate). `sse-loadgen pipelined --check` exits 1 otherwise (acknowledgements are waited for 10 s past the run).
# The issue's scale, in a debug build: 200 streams × 1,000 ev/s for 2 s. Before pipelined requests were answered
# concurrently (conn/pipeline.rs) a debug server acknowledged about 430 of these 2,000 in time; now all of them.
pipelined_guard() {
  local bin=${CARGO_TARGET_DIR:-target}/debug data
  cargo build -p typed-eventsource-server -p sse-loadgen
  data=$(mktemp -d)
  "$bin/sse-loadgen" pipelined --streams "${GUARD_STREAMS:-200}" --rate "${GUARD_RATE:-1000}" --secs 2 --check \
    --server "ours=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev --data-dir $data"
  rm -rf "$data"
}
step "pipelined publisher under fan-out (debug build, 200 streams, 1,000 ev/s for 2 s): all acknowledged and delivered once" \
  pipelined_guard

step "wasm-pack build at the repository root (the first thing a wasm-pack user types)" \
  wasm-pack build --dev --target web --out-dir "$(mktemp -d)"

# The doc examples in src/ are wasm32 doctests: the browser-test step's `cargo test` compiles them (and runs, in
# Node, the few that can); the README's Rust snippets are checked against examples/readme.rs by a host test.
docs() {
  # After clippy: the dependencies' metadata is already built.
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --exclude typed-eventsource-demo
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p typed-eventsource --all-features
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p typed-eventsource --target wasm32-unknown-unknown --all-features
  # And examples/leptos.rs and examples/dioxus.rs, the small Leptos and Dioxus apps.
  cargo build -p typed-eventsource --example readme --example leptos --example dioxus --target wasm32-unknown-unknown \
    --all-features
}
step "docs: cargo doc -D warnings (host; wasm32 with every feature, as docs.rs builds it); the README's Rust snippets" \
  docs

step "start the test servers (dev + fixtures, auth, better-sse)" start_test_servers

step "browser tests: the library with every feature in headless Chromium against the real server" \
  cargo test -p typed-eventsource --target wasm32-unknown-unknown --all-features
# A Rust app's default build (EventSource transport only) and the npm package's EventSource-only entry point: what
# the feature gates leave in must work on its own.
step "browser tests: default features" \
  cargo test -p typed-eventsource --target wasm32-unknown-unknown --test browser --test de
step "browser tests: the JavaScript API as the npm entry point typed-eventsource has it (js: no fetch, no share)" \
  cargo test -p typed-eventsource --target wasm32-unknown-unknown --no-default-features --features js --test js_api

# What a user installs from crates.io builds on its own: each crate packaged (the files its `include` keeps, path
# dependencies replaced by their versions) and built from the package alone, in dependency order: cargo packages
# sse-codec first and verifies the crates after it against a local registry holding the packaged codec. The library
# on wasm32 with every feature but leptos and dioxus (the docs and browser steps build them already; building Leptos
# again here costs ~30 s of the command's time budget). After the browser tests: their dependencies are built.
publishing_guard() {
  cargo package --allow-dirty -p sse-codec -p typed-eventsource-server
  cargo package --allow-dirty -p sse-codec -p typed-eventsource --target wasm32-unknown-unknown \
    --features js,fetch,share,yew
}
step "publishing guard: cargo package (build from the package alone) of sse-codec, the server, the library" \
  publishing_guard

step "build the npm package and the demo (release)" npm run build
step "end-to-end: the demo, the plain-JS page and the npm package in Chromium (screenshots: artifacts/e2e/)" \
  node tests/e2e/run.mjs
step "end-to-end: HTTP/2 over TLS in Chromium (12 EventSources on one connection)" node tests/e2e/h2.mjs
step "end-to-end: one connection for every tab (pages of one browser context sharing a stream)" \
  node tests/e2e/share.mjs
step "end-to-end: a source while the browser is offline (CDP network emulation), both transports" \
  node tests/e2e/liveness.mjs

step "wasm size budgets (bench/wasm-size, the package built above): typed app ≤ gloo-net app, each npm entry point" \
  bench/wasm-size/measure.sh --check --pkg pkg

steps_summary
echo "== all tests passed"
