#!/usr/bin/env bash
# Every test: host unit and integration tests (library logic, codec, server), the library in headless Chromium
# against the real server, and the demo's end-to-end tests. Sets up a fresh machine first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
source scripts/lib/server.sh
mkdir -p artifacts

echo "== host tests (library logic, sse-codec, server)"
cargo test --workspace --exclude typed-eventsource-demo

echo "== browser tests: the library in headless Chromium against the real server"
cargo build -p typed-eventsource-server
start_server artifacts/server-browser-tests.log --listen 127.0.0.1:0 --dev --fixtures --www www
echo "server at $SERVER_URL"
# .cargo/config.toml makes wasm-bindgen-test-runner the runner; it drives Chromium through chromedriver, with the
# flags in webdriver.json. SSE_SERVER_URL is read at compile time by the tests.
SSE_SERVER_URL=$SERVER_URL CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test -p typed-eventsource --target wasm32-unknown-unknown --all-features

if [ -f tests/e2e/run.mjs ]; then
  echo "== end-to-end: the demo and the JS page in Chromium"
  npm run build
  node tests/e2e/run.mjs
fi
echo "== all tests passed"
