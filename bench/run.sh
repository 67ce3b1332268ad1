#!/usr/bin/env bash
# Runs every benchmark and prints the table: `bench/run.sh` (from anywhere; ~25 minutes on 2 cores with both fan-out runs, plus
# the first build). Writes bench/results/latest.md (git-ignored) and the committed copy bench/RESULTS.md.
#
# Knobs (environment): SMALL=1000 LARGE=10000 streams, SECS=4 per throughput phase, RATE=1000 events/s in the
# latency phase, BROWSER_EVENTS=100000, BROWSER_ROUNDS=3, SKIP_WASM=1 / SKIP_BROWSER=1 / SKIP_SERVERS=1 / SKIP_PIPELINED=1 / SKIP_PUBLISH=1,
# PIN=both (fan-out unpinned, then pinned: servers on core 0, load generator on core 1) / PIN=no / PIN=only.
# Needs what scripts/setup.sh installs (wasm target, wasm-bindgen-cli, wasm-pack, chromium, npm dev packages).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
ulimit -n 20000 # the load generator holds 10k streams, so does each server
SMALL=${SMALL:-1000} LARGE=${LARGE:-10000} SECS=${SECS:-4} RATE=${RATE:-1000} PIN=${PIN:-both}
results=bench/results
mkdir -p "$results"
step() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
started=$(date +%s)

step "building the server, the axum and raw-socket floors and the load generator (cargo --profile native)"
cargo build --quiet --profile native -p typed-eventsource-server -p axum-floor -p raw-floor -p sse-loadgen -p sse-publish-bench
bin=target/native
if [ ! -d bench/node-baseline/node_modules/express ]; then
  step "installing the node baseline's express"
  (cd bench/node-baseline && npm ci --no-audit --no-fund --silent)
fi
if [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/.bin/wasm-opt ]; then
  step "installing npm dev packages"
  npm ci --no-audit --no-fund --silent
fi

if [ -z "${SKIP_WASM:-}" ]; then
  step "wasm sizes (the package's two entry points + four minimal apps)"
  bench/wasm-size/measure.sh "$results/wasm.md"
fi
if [ -z "${SKIP_BROWSER:-}" ]; then
  step "browser dispatch (headless Chromium)"
  [ -f bench/wasm-size/out/pkg/typed_eventsource_bg.wasm ] || bench/wasm-size/measure.sh "$results/wasm.md"
  node bench/browser/run.mjs "$bin/typed-eventsource-server" "$bin/sse-loadgen" bench/wasm-size/out/pkg "$results/browser.md" >/dev/null
fi
# One fan-out run over every server: $1 = results file stem, $2 = prefix of every server command (and of Redis and
# the second instance), $3 = prefix of the load generator.
fanout() {
  local out=$1 pin_server=$2 pin_loadgen=$3
  data=$(mktemp -d -p "$root/$results" data.XXXXXX)
  redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  $pin_server redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data" --appendonly yes --appendfsync always \
    --save '' --daemonize no --logfile "$data/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  # The loadgen's streams all come from loopback: lift the per-address and anonymous budgets (server README).
  lift="--max-streams 20000 --max-anonymous-streams 20000 --max-streams-per-ip 20000 --max-connections-per-ip 20000"
  redis_args="--store redis --redis-url redis://127.0.0.1:$redis_port $lift"
  # The second instance of the pair: half of the pair's subscribers connect to it; publishing goes to the first.
  mkfifo "$data/peer.out"
  $pin_server $bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $redis_args >"$data/peer.out" 2>"$data/peer.log" &
  peer_pid=$!
  read -r peer_line <"$data/peer.out"
  cat "$data/peer.out" >/dev/null &
  # Server commands run through `sh -c 'exec COMMAND'` in the load generator; the prefix (taskset) comes first.
  local p=${pin_server:+$pin_server }
  $pin_loadgen "$bin/sse-loadgen" run --small "$SMALL" --large "$LARGE" --secs "$SECS" --rate "$RATE" \
    --server "typed-eventsource-server=$p$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --data-dir $data" \
    --server "ours, memory store=$p$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --store memory" \
    --server "ours, HTTP/2 over TLS=$p$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev --dev-tls $lift --data-dir $data/h2" \
    --https "ours, HTTP/2 over TLS" \
    --server "ours, 2 instances + Redis=$p$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $redis_args" \
    --peer "ours, 2 instances + Redis=${peer_line#listening on }" \
    --server "node express=${p}node bench/node-baseline/server.js --listen 127.0.0.1:0" \
    --server "axum floor=$p$bin/axum-floor --listen 127.0.0.1:0" \
    --server "nginx + Nchan=${p}bench/nchan/serve.sh $data/nchan" \
    --server "raw-socket floor=$p$bin/raw-floor --listen 127.0.0.1:0" \
    --md "$results/$out.md" --json "$results/$out.json" >/dev/null
  kill "$peer_pid" "$redis_pid" 2>/dev/null || true
  wait "$peer_pid" "$redis_pid" 2>/dev/null || true
  rm -rf "$data"
}
if [ -z "${SKIP_SERVERS:-}" ]; then
  # A table of a mode not run this time would be stale.
  rm -f "$results/servers.md" "$results/servers-pinned.md"
  command -v redis-server >/dev/null || scripts/setup.sh >/dev/null
  step "Nchan baseline: Debian's nginx-light + libnginx-mod-nchan (installed if missing; never run as a service)"
  bench/nchan/install.sh
  if [ "$PIN" != only ]; then
    step "fan-out, unpinned: ours (durable, memory, 2 instances + Redis) vs node, axum floor, Nchan, raw-socket floor ($SMALL and $LARGE streams)"
    fanout servers "" ""
  fi
  if [ "$PIN" != no ] && [ "$(nproc)" -ge 2 ]; then
    step "fan-out, pinned: every server (and Redis) on core 0, the load generator on core 1"
    fanout servers-pinned "taskset -c 0" "taskset -c 1"
  fi
fi
if [ -z "${SKIP_PIPELINED:-}" ]; then
  # Issue 23 goal 1: ONE keep-alive connection pipelining POST /update at 2,000 events/s for 5 s to 1,000 open streams.
  rm -f "$results/pipelined.md" "$results/sequential.md"
  bench/nchan/install.sh
  step "single pipelined publisher: ours (durable, memory) vs axum floor, Nchan (1,000 streams, 2,000 ev/s for 5 s)"
  data=$(mktemp -d -p "$root/$results" data.XXXXXX)
  lift="--max-streams 20000 --max-anonymous-streams 20000 --max-streams-per-ip 20000 --max-connections-per-ip 20000"
  "$bin/sse-loadgen" pipelined --streams 1000 --rate 2000 --secs 5 \
    --server "typed-eventsource-server=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --data-dir $data" \
    --server "ours, memory store=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --store memory" \
    --server "axum floor=$bin/axum-floor --listen 127.0.0.1:0" \
    --server "nginx + Nchan=bench/nchan/serve.sh $data/nchan" \
    --md "$results/pipelined.md" >/dev/null
  # What most backends do: one publisher awaiting each answer before the next publish (no pipelining).
  step "single sequential publisher: ours (durable, memory) vs axum floor, Nchan (1,000 streams, 5 s)"
  "$bin/sse-loadgen" pipelined --sequential --streams 1000 --secs 5 \
    --server "typed-eventsource-server=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --data-dir $data/seq" \
    --server "ours, memory store=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --store memory" \
    --server "axum floor=$bin/axum-floor --listen 127.0.0.1:0" \
    --server "nginx + Nchan=bench/nchan/serve.sh $data/nchan-seq" \
    --md "$results/sequential.md" >/dev/null
  rm -rf "$data"
fi
if [ -z "${SKIP_PUBLISH:-}" ]; then
  step "acknowledged publishes: embedded vs memory vs redis XADD (appendfsync always)"
  bench/publish.sh "$results/publish.md" >/dev/null
fi

{
  echo "# Benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg). Shared machine: compare the ratios, not the absolute figures. Produced by \`bench/run.sh\` in $(( $(date +%s) - started )) s."
  echo
  for part in servers servers-pinned pipelined sequential publish browser wasm; do
    case $part in
      pipelined) title="## One pipelined publisher under fan-out (1,000 streams, 2,000 ev/s for 5 s; same run)" ;;
      sequential) title="## One sequential publisher under fan-out (1,000 streams, each publish after the last answer, 5 s; same run)" ;;
      publish) title="## Acknowledged publishes (durable store vs memory vs Redis, same machine, same run)" ;;
      servers) title="## Server fan-out, unpinned (same load generator, same run; ratios: how many times better ours is)" ;;
      servers-pinned) title="## Server fan-out, pinned: each server on core 0, the load generator on core 1 (taskset; same ratios)" ;;
      browser) title="## Browser: typed dispatch vs plain EventSource" ;;
      wasm) title="## wasm size (release profile: opt-level z, LTO, codegen-units 1, panic abort)" ;;
    esac
    if [ -f "$results/$part.md" ]; then
      echo "$title"
      echo
      cat "$results/$part.md"
      echo
    fi
  done
} > "$results/latest.md"
cp "$results/latest.md" bench/RESULTS.md
# The "latest results" sections of the project README and bench/README.md, between their markers.
python3 - "$results/latest.md" README.md bench/README.md <<'PY'
import sys
table = open(sys.argv[1]).read().split("\n", 2)[2]  # without the "# Benchmark results" title
start, end = "<!-- results:start -->", "<!-- results:end -->"
for path in sys.argv[2:]:
    readme = open(path).read()
    if start in readme and end in readme:
        head, rest = readme.split(start, 1)
        tail = rest.split(end, 1)[1]
        open(path, "w").write(head + start + "\n" + table.replace("\n## ", "\n### ") + "\n" + end + tail)
PY
cat "$results/latest.md"
