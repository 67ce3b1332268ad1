#!/usr/bin/env bash
# The idle-memory figure alone (issue 17: RSS per idle stream at 10k streams ≤ 4 KB and below Nchan's), in about a
# minute instead of bench/run.sh's full run: the same load generator phase (warm-up, VmRSS, LARGE idle HTTP/1.1
# `GET /subscribe` streams, VmRSS again after 2 s) for ours (durable and memory store) and nginx + Nchan.
#   bench/idle-rss.sh            (LARGE=10000; writes bench/results/idle-rss.md, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ulimit -n 20000
LARGE=${LARGE:-10000}
mkdir -p bench/results
cargo build --quiet --profile native -p typed-eventsource-server -p sse-loadgen
bench/nchan/install.sh
bin=target/native
data=$(mktemp -d -p "$root/bench/results" data.XXXXXX)
trap 'rm -rf "$data"' EXIT
lift="--max-streams 20000 --max-anonymous-streams 20000 --max-streams-per-ip 20000 --max-connections-per-ip 20000"
"$bin/sse-loadgen" run --idle-only --large "$LARGE" \
  --server "typed-eventsource-server=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --data-dir $data" \
  --server "ours, memory store=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --store memory" \
  --server "nginx + Nchan=bench/nchan/serve.sh $data/nchan" \
  --md bench/results/idle-rss.md
