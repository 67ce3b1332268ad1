#!/usr/bin/env bash
# Installs what a fresh machine lacks, and nothing twice: the wasm target, wasm-bindgen-cli at exactly the version in
# Cargo.lock, wasm-pack, Debian's chromium + chromium-driver and redis-server (the Redis store's tests start their own
# on free ports), and the npm dev packages (binaryen's wasm-opt, playwright-core). Only the package registries are used; nothing downloads browsers or binaries from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must equal the wasm-bindgen crate in Cargo.lock (it is pinned with `=` in Cargo.toml).
want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  step "installing wasm-bindgen-cli $want (found: ${have:-none}); takes ~10 minutes on 2 cores"
  cargo install wasm-bindgen-cli --version "=$want" --force
fi

if ! command -v wasm-pack >/dev/null; then
  step "installing wasm-pack (~4 minutes)"
  cargo install wasm-pack
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "installing Debian's chromium and chromium-driver"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! command -v redis-server >/dev/null; then
  step "installing Debian's redis-server (tests start their own instances; the packaged service is not used)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dev packages"
  npm ci --no-audit --no-fund
fi
# The SSE server nobody on this project wrote, for tests/foreign.rs: better-sse from npm, at the version in its lock.
if [ ! -d tests/foreign/node_modules/better-sse ] || [ tests/foreign/package-lock.json -nt tests/foreign/node_modules/.package-lock.json ]; then
  step "installing the foreign SSE server's npm package (better-sse)"
  (cd tests/foreign && npm ci --no-audit --no-fund)
fi
step "ready: $(wasm-bindgen --version), $(wasm-pack --version), $(chromium --version 2>/dev/null | head -1), $(redis-server --version | cut -d' ' -f1-3)"
