# Sourced by the scripts: start companion servers and learn their URLs.
# start_server LOGFILE ARGS... sets SERVER_URL (exported); every server started is stopped when the calling shell
# exits.
SERVER_PIDS=()
stop_servers() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT

start_server() {
  local log=$1; shift
  local fifo line
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  target/debug/typed-eventsource-server serve "$@" >"$fifo" 2>"$log" &
  SERVER_PIDS+=($!)
  exec 3<"$fifo"
  rm -f "$fifo"
  if ! IFS= read -r -t 60 line <&3; then
    echo "the server did not start; its log:" >&2; cat "$log" >&2; return 1
  fi
  # Keep draining stdout so the server never blocks on a full pipe.
  cat <&3 >>"$log" &
  exec 3<&-
  SERVER_URL=${line#listening on }
  export SERVER_URL
}

# start_blackhole HOST:PORT LOGFILE: the silencing TCP proxy (tests/support/blackhole.mjs) in front of HOST:PORT; sets
# BLACKHOLE_URL and BLACKHOLE_CONTROL_URL.
start_blackhole() {
  node tests/support/blackhole.mjs "$1" >"$2" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 100); do grep -q "^listening on" "$2" && break; sleep 0.1; done
  local line
  line=$(grep -m1 "^listening on" "$2") || { echo "the blackhole proxy did not start:" >&2; cat "$2" >&2; return 1; }
  BLACKHOLE_URL=$(awk '{print $3}' <<<"$line")
  BLACKHOLE_CONTROL_URL=$(awk '{print $5}' <<<"$line")
}

# A free loopback port (bound, then released: the caller uses it at once).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The servers the browser tests talk to: dev + fixtures, auth (a random secret; CORS naming the test page's fixed
# origin) and better-sse, with the environment the tests read at compile time. To run one browser test file by hand:
#   source scripts/lib/server.sh; start_test_servers
#   cargo test -p typed-eventsource --target wasm32-unknown-unknown --all-features --test hooks
start_test_servers() {
  cargo build -p typed-eventsource-server --features fixtures
  # The test page's origin is fixed for this run so that the auth server can name it in its CORS configuration.
  page_port=$(free_port)
  export WASM_BINDGEN_TEST_ADDRESS=127.0.0.1:$page_port
  start_server artifacts/server-dev.log --listen 127.0.0.1:0 --dev --fixtures --www www --data-dir "$(mktemp -d)"
  export SSE_SERVER_URL=$SERVER_URL
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  start_server artifacts/server-auth.log --listen 127.0.0.1:0 --fixtures --data-dir "$(mktemp -d)" --secret "$secret" \
    --cors-origin "http://127.0.0.1:$page_port"
  export SSE_AUTH_SERVER_URL=$SERVER_URL
  SSE_ALICE_TOKEN=$(target/debug/typed-eventsource-server token --user alice --secret "$secret")
  SSE_PUBLISHER_TOKEN=$(target/debug/typed-eventsource-server token --user test-suite --publisher --secret "$secret")
  export SSE_ALICE_TOKEN SSE_PUBLISHER_TOKEN
  # An SSE server nobody on this project wrote (better-sse, npm), for tests/foreign.rs.
  foreign_port=$(free_port)
  node tests/foreign/server.mjs "$foreign_port" >artifacts/server-foreign.log 2>&1 &
  SERVER_PIDS+=($!)
  export SSE_FOREIGN_URL=http://127.0.0.1:$foreign_port
  for _ in $(seq 100); do grep -q "^listening on" artifacts/server-foreign.log && break; sleep 0.1; done
  grep -q "^listening on" artifacts/server-foreign.log \
    || { echo "the foreign SSE server did not start:" >&2; cat artifacts/server-foreign.log >&2; return 1; }
  # tests/liveness.rs: a dev server with 1 s heartbeats, and in front of it a TCP proxy the tests can make silent
  # (tests/support/blackhole.mjs: forwards new connections, silences the open ones without closing them).
  start_server artifacts/server-quick.log --listen 127.0.0.1:0 --dev --fixtures --heartbeat-secs 1 \
    --data-dir "$(mktemp -d)"
  export SSE_QUICK_URL=$SERVER_URL
  start_blackhole "${SSE_QUICK_URL#http://}" artifacts/blackhole.log
  export SSE_BLACKHOLE_URL=$BLACKHOLE_URL SSE_BLACKHOLE_CONTROL_URL=$BLACKHOLE_CONTROL_URL
  echo "dev server at $SSE_SERVER_URL, auth server at $SSE_AUTH_SERVER_URL, foreign server at $SSE_FOREIGN_URL," \
    "1 s heartbeats at $SSE_QUICK_URL behind the blackhole proxy $SSE_BLACKHOLE_URL, test page on port $page_port"
  # .cargo/config.toml makes wasm-bindgen-test-runner the runner; it drives Chromium through chromedriver, with the
  # flags in webdriver.json. The URLs and tokens are read at compile time by the tests.
  export CHROMEDRIVER=/usr/bin/chromedriver
}
