#!/usr/bin/env bash
# Decoder benchmark: sse-codec (Rust) against npm eventsource-parser (latest) on the same bytes and chunks.
# Usage: bench/decoder/run.sh   (from anywhere; needs cargo, node and npm)
# The Rust bench writes the inputs to a temp dir, the node script reads them; a table with the ratios follows.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if [ ! -d "$here/node_modules/eventsource-parser" ]; then
  (cd "$here" && npm install --no-audit --no-fund --silent)
fi

# The workspace release profile is tuned for wasm size (opt-level "z"); a native build uses opt-level 3.
(cd "$root" && CARGO_PROFILE_BENCH_OPT_LEVEL=3 SSE_BENCH_OUT="$out" \
  cargo bench -q -p sse-codec --bench decode 2>/dev/null) | grep '^result' | tee "$out/results.txt"
node "$here/eventsource-parser.mjs" "$out" | tee -a "$out/results.txt"

echo
awk '
  { mbs[$2 " " $3] = $4; if (!($2 in seen)) { seen[$2] = 1; cases[++n] = $2 } }
  END {
    printf "%-6s %24s %24s %22s %24s %10s %10s\n", "case", "ours: EventRef MB/s", "ours: Event MB/s", \
      "eventsource-parser", "e-p + TextDecoder", "ratio", "ratio(TD)"
    for (i = 1; i <= n; i++) {
      c = cases[i]; r = mbs[c " rust-sse-codec(EventRef)"]; o = mbs[c " rust-sse-codec(Event)"]
      p = mbs[c " eventsource-parser"]; t = mbs[c " eventsource-parser+TextDecoder"]
      printf "%-6s %24.1f %24.1f %22.1f %24.1f %9.2fx %9.2fx\n", c, r, o, p, t, r / p, r / t
    }
    print "ratio = ours (EventRef) / eventsource-parser on pre-decoded strings; ratio(TD) = against eventsource-parser"
    print "fed bytes through a streaming TextDecoder (both sides then go from bytes to events)."
  }' "$out/results.txt"
