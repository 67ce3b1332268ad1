#!/usr/bin/env bash
# Acknowledged publishes: typed-eventsource-server with the embedded store (redb on this disk) and with the memory
# store, driven by bench/publish (1, 8, 64 keep-alive HTTP publishers), against redis-server's XADD with
# `appendonly yes` + `appendfsync always` driven by redis-benchmark (1, 8, 64 clients) — the same machine, the same run.
# Then publish→ack latency at 1,000 publishes/s, and batch publishing (8 publishers, BATCH=100 events per request:
# one commit each) against XADD pipelined BATCH deep. Writes the markdown table to $1. BIN_DIR: where the native
# binaries are (default target/native; e.g. /work/target-perf/native with another CARGO_TARGET_DIR).
# Installs Debian's redis-server (for redis-benchmark) if missing; never uses a system service or a fixed port.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
SECS=${SECS:-4} BATCH=${BATCH:-100}
bin=${BIN_DIR:-target/native}
step() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  step "installing Debian's redis-server (for redis-benchmark)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
work=$(mktemp -d -p "$PWD/bench/results" publish.XXXXXX) # on the project's disk: fsync must be real
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_ours() { # name, extra args... → prints the URL
  local name=$1; shift
  local fifo="$work/$name.out"
  mkfifo "$fifo"
  "$bin/typed-eventsource-server" serve --listen 127.0.0.1:0 --dev "$@" >"$fifo" 2>"$work/$name.log" &
  pids+=($!)
  local line
  read -r line <"$fifo"
  echo "${line#listening on }"
}

declare -A fig
for store in embedded memory; do
  url=$(start_ours "$store" --store "$store" --data-dir "$work/data-$store")
  for c in 1 8 64; do
    step "ours ($store): $c publishers"
    fig[$store,$c]=$("$bin/sse-publish-bench" --url "$url" --publishers "$c" --secs "$SECS" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["acked_per_sec"]))')
  done
  step "ours ($store): 8 publishers, batches of $BATCH events"
  fig[$store,batch]=$("$bin/sse-publish-bench" --url "$url" --publishers 8 --batch "$BATCH" --secs "$SECS" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["acked_per_sec"]))')
  step "ours ($store): publish→ack latency at 1000/s"
  fig[$store,lat]=$("$bin/sse-publish-bench" --url "$url" --publishers 16 --secs "$SECS" --rate 1000 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f / %.2f ms (%.0f/s)" % (d["p50_ms"], d["p99_ms"], d["acked_per_sec"]))')
done

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync always --save '' \
  --daemonize no --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
for c in 1 8 64; do
  step "redis XADD (appendfsync always): $c clients"
  n=$(( c == 1 ? 5000 : 40000 ))
  fig[redis,$c]=$(redis-benchmark -p "$port" -c "$c" -n "$n" -q --csv XADD bench '*' text 'bench message' | tail -1 | python3 -c 'import csv,sys; r=next(csv.reader(sys.stdin)); print(round(float(r[1])))')
done

step "redis XADD (appendfsync always): 8 clients pipelining $BATCH commands"
fig[redis,batch]=$(redis-benchmark -p "$port" -c 8 -P "$BATCH" -n 400000 -q --csv XADD bench '*' text 'bench message' | tail -1 | python3 -c 'import csv,sys; r=next(csv.reader(sys.stdin)); print(round(float(r[1])))')

# Ours on the same Redis (its own key prefix): acknowledged publishes, and Redis commands per published event.
url=$(start_ours redis --store redis --redis-url "redis://127.0.0.1:$port" --redis-prefix bench-ours:)
for c in 1 8 64; do
  step "ours (redis store): $c publishers"
  fig[oursredis,$c]=$("$bin/sse-publish-bench" --url "$url" --publishers "$c" --secs "$SECS" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["acked_per_sec"]))')
done
redis-cli -p "$port" config resetstat >/dev/null
acked=$("$bin/sse-publish-bench" --url "$url" --publishers 8 --secs 2 --rate 500 | python3 -c 'import json,sys; print(json.load(sys.stdin)["acked"])')
ops=$(redis-cli -p "$port" info commandstats | python3 -c '
import sys
calls = {}
for line in sys.stdin:
    if line.startswith("cmdstat_"):
        name, rest = line.strip()[8:].split(":", 1)
        calls[name] = int(dict(kv.split("=") for kv in rest.split(","))["calls"])
skip = {"info", "config", "ping", "client", "hello", "select"}
scripts = sum(v for k, v in calls.items() if k in ("evalsha", "eval"))
inner = sum(v for k, v in calls.items() if k not in skip and k not in ("evalsha", "eval", "script"))
print(scripts, inner)')
read -r scripts inner <<<"$ops"
fig[redisops]=$(python3 -c "print(f'{$scripts/$acked:.2f} round trips (EVALSHA) and {$inner/$acked:.1f} commands inside the script per published event ($acked events, 8 publishers at 500/s)')")

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}×' if b else '–')" "$1" "$2"; }
{
  echo "| acknowledged publishes/s | ours, embedded (redb, fsync per commit) | ours, memory | ours, Redis store (AOF always) | redis XADD, appendfsync always | embedded / redis XADD | embedded / memory |"
  echo "|---|---|---|---|---|---|---|"
  for c in 1 8 64; do
    echo "| $c publisher(s) | ${fig[embedded,$c]} | ${fig[memory,$c]} | ${fig[oursredis,$c]} | ${fig[redis,$c]} | $(ratio "${fig[embedded,$c]}" "${fig[redis,$c]}") | $(ratio "${fig[embedded,$c]}" "${fig[memory,$c]}") |"
  done
  echo
  echo "| batch publishing: acknowledged events/s, 8 publishers, $BATCH events per request | ours, embedded (one commit + fsync per request or group) | ours, memory | redis XADD, 8 clients pipelining $BATCH (appendfsync always) | redis XADD, 8 clients, no pipelining | embedded / XADD pipelined | embedded / XADD |"
  echo "|---|---|---|---|---|---|---|"
  echo "| 8 publishers | ${fig[embedded,batch]} | ${fig[memory,batch]} | ${fig[redis,batch]} | ${fig[redis,8]} | $(ratio "${fig[embedded,batch]}" "${fig[redis,batch]}") | $(ratio "${fig[embedded,batch]}" "${fig[redis,8]}") |"
  echo
  echo "Publish→ack p50 / p99 at 1,000 publishes/s (16 connections, measured from each request's scheduled time; goal p99 < 5 ms): embedded ${fig[embedded,lat]}, memory ${fig[memory,lat]}."
  echo "Redis store: ${fig[redisops]}; independent of the number of subscribers (one PUBLISH per event, fanned out by each instance)."
  echo "Ours: HTTP \`POST /update\` (JSON in, JSON out) answered after the commit; group commit: concurrent publishes share one redb transaction. Redis: \`XADD\` over RESP by redis-benchmark (C), \`appendonly yes\`, \`appendfsync always\` — $(redis-server --version | awk '{print $3}')."
} > "$out"
cat "$out"
