#!/usr/bin/env bash
# Installs what a fresh machine lacks, and nothing twice: the wasm target, wasm-bindgen-cli at exactly the version in
# Cargo.lock, wasm-pack, Debian's chromium + chromium-driver and redis-server (the Redis store's tests start their own
# on free ports), and the npm dev packages (binaryen's wasm-opt, playwright-core). Only the package registries are
# used; nothing downloads browsers or binaries from elsewhere.
#
# On a fresh machine the two `cargo install`s are most of the time (CPU-bound); the Debian and npm installs
# (network- and disk-bound) run in the background meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
logs=$(mktemp -d)
background=()
# run_in_background NAME COMMAND...: its output goes to a log that is printed if it fails.
run_in_background() {
  local name=$1; shift
  ("$@") >"$logs/$name.log" 2>&1 &
  background+=("$!:$name")
}
wait_for_background() {
  local entry failed=0
  for entry in "${background[@]}"; do
    if ! wait "${entry%%:*}"; then
      echo "[setup] ${entry#*:} failed; its output:" >&2
      cat "$logs/${entry#*:}.log" >&2
      failed=1
    fi
  done
  background=()
  return "$failed"
}

debs=()
command -v chromium >/dev/null || debs+=(chromium)
command -v chromedriver >/dev/null || debs+=(chromium-driver)
command -v redis-server >/dev/null || debs+=(redis-server)
if [ ${#debs[@]} -gt 0 ]; then
  # redis-server: the tests start their own instances; the packaged service is not used.
  step "installing Debian's ${debs[*]} (in the background)"
  apt_install() {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}"
  }
  run_in_background debian apt_install
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dev packages (in the background)"
  run_in_background npm npm ci --no-audit --no-fund
fi
# The SSE server nobody on this project wrote, for tests/foreign.rs: better-sse from npm, at the version in its lock.
if [ ! -d tests/foreign/node_modules/better-sse ] \
  || [ tests/foreign/package-lock.json -nt tests/foreign/node_modules/.package-lock.json ]; then
  step "installing the foreign SSE server's npm package (better-sse, in the background)"
  run_in_background npm-foreign bash -c 'cd tests/foreign && npm ci --no-audit --no-fund'
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# Build tools, not shipped code: compiled without LTO and at opt-level 1, which halves their build time (they process
# a few MB of wasm per run either way). Not `--locked`: wasm-bindgen-cli 0.2.130's own lock file names a webpki-roots
# release the registry does not offer.
quick_install() {
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_DEBUG=false cargo install "$@"
}

# The CLI must equal the wasm-bindgen crate in Cargo.lock (it is pinned with `=` in Cargo.toml).
want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  step "installing wasm-bindgen-cli $want (found: ${have:-none}); takes several minutes on 2 cores"
  quick_install wasm-bindgen-cli --version "=$want" --force
fi

if ! command -v wasm-pack >/dev/null; then
  step "installing wasm-pack (a few minutes)"
  quick_install wasm-pack
fi

wait_for_background
step "ready: $(wasm-bindgen --version), $(wasm-pack --version), $(chromium --version 2>/dev/null | head -1)," \
  "$(redis-server --version | cut -d' ' -f1-3)"
