#!/usr/bin/env bash
# The live demo: sets up what a fresh machine lacks, builds the npm package and the Yew demo into www/, then builds
# and runs the companion server with --dev (no tokens) serving www/. Open the printed URL; Ctrl-C stops it.
# LISTEN=0.0.0.0:8080 scripts/demo.sh to listen elsewhere; HTTPS=1 scripts/demo.sh serves https (HTTP/2) with a
# self-signed certificate made at start (the browser warns once; its SHA-256 fingerprint is in the server's log).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

echo "== building the npm package (pkg/, www/pkg/) and the Yew demo (www/demo/)"
npm run build
echo "== building the server"
cargo build -p typed-eventsource-server

listen=${LISTEN:-127.0.0.1:8080}
if [[ ${HTTPS:-0} == 1 ]]; then
  echo "== the demo runs at https://$listen/ over HTTP/2 (plain JavaScript page: https://$listen/js.html); Ctrl-C stops it"
  exec target/debug/typed-eventsource-server serve --dev --dev-tls --www www --listen "$listen"
fi
echo "== the demo runs at http://$listen/ (plain JavaScript page: http://$listen/js.html); Ctrl-C stops it"
exec target/debug/typed-eventsource-server serve --dev --www www --listen "$listen"
