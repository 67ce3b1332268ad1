#!/usr/bin/env bash
# Every test: host unit and integration tests (library logic, codec, server), the library in headless Chromium
# against the real server, and the demo's end-to-end tests. Sets up a fresh machine first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
source scripts/lib/server.sh
mkdir -p artifacts

echo "== formatting (rustfmt.toml: 120 columns)"
cargo fmt --all --check

echo "== host tests (library logic, sse-codec, server)"
cargo test --workspace --exclude typed-eventsource-demo

echo "== wasm-pack build at the repository root (the first thing a wasm-pack user types)"
wasm-pack build --dev --target web --out-dir "$(mktemp -d)" >/dev/null

# --- docs (issue 16): API docs without broken links, the README's Rust snippets built. The doc examples in src/ are
# wasm32 doctests, compiled (and the few that can, run in Node) by the browser-test step's `cargo test`.
echo "== docs: cargo doc with -D warnings (host; wasm32 with every feature, as docs.rs builds it)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --exclude typed-eventsource-demo
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p typed-eventsource --all-features
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p typed-eventsource --target wasm32-unknown-unknown --all-features
echo "== docs: the README's Rust snippets (examples/readme.rs; tests/readme_snippets.rs checks they match the README)"
cargo build -p typed-eventsource --example readme --target wasm32-unknown-unknown --all-features
# --- end of docs

echo "== browser tests: the library in headless Chromium against the real server"
cargo build -p typed-eventsource-server
# The test page's origin is fixed for this run so that the auth server can name it in its CORS configuration.
page_port=$(free_port)
export WASM_BINDGEN_TEST_ADDRESS=127.0.0.1:$page_port
start_server artifacts/server-dev.log --listen 127.0.0.1:0 --dev --fixtures --www www --data-dir "$(mktemp -d)"
export SSE_SERVER_URL=$SERVER_URL
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
start_server artifacts/server-auth.log --listen 127.0.0.1:0 --fixtures --data-dir "$(mktemp -d)" --secret "$secret" --cors-origin "http://127.0.0.1:$page_port"
export SSE_AUTH_SERVER_URL=$SERVER_URL
export SSE_ALICE_TOKEN=$(target/debug/typed-eventsource-server token --user alice --secret "$secret")
export SSE_PUBLISHER_TOKEN=$(target/debug/typed-eventsource-server token --user test-suite --publisher --secret "$secret")
# An SSE server nobody on this project wrote (better-sse, npm), for tests/foreign.rs.
foreign_port=$(free_port)
node tests/foreign/server.mjs "$foreign_port" >artifacts/server-foreign.log 2>&1 &
SERVER_PIDS+=($!)
export SSE_FOREIGN_URL=http://127.0.0.1:$foreign_port
for _ in $(seq 100); do grep -q "^listening on" artifacts/server-foreign.log && break; sleep 0.1; done
grep -q "^listening on" artifacts/server-foreign.log || { echo "the foreign SSE server did not start:" >&2; cat artifacts/server-foreign.log >&2; exit 1; }
echo "dev server at $SSE_SERVER_URL, auth server at $SSE_AUTH_SERVER_URL, foreign server at $SSE_FOREIGN_URL, test page on port $page_port"
# .cargo/config.toml makes wasm-bindgen-test-runner the runner; it drives Chromium through chromedriver, with the
# flags in webdriver.json. The URLs and tokens are read at compile time by the tests.
CHROMEDRIVER=/usr/bin/chromedriver cargo test -p typed-eventsource --target wasm32-unknown-unknown --all-features

echo "== end-to-end: the demo, the plain-JS page and the npm package in Chromium (screenshots: artifacts/e2e/)"
npm run build
node tests/e2e/run.mjs
echo "== end-to-end: HTTP/2 over TLS in Chromium (12 EventSources on one connection)"
node tests/e2e/h2.mjs
echo "== end-to-end: one connection for every tab (pages of one browser context sharing a stream)"
node tests/e2e/share.mjs
echo "== all tests passed"
