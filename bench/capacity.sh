#!/usr/bin/env bash
# Capacity coefficients (issue 25, item 4): what the capacity model in server/README.md ("Capacity model") is
# computed from, each measured on this machine with the command printed next to it:
#   1. user-space RSS per idle stream (HTTP/1.1; HTTP/2 over TLS, 100 streams per connection)
#   2. kernel memory per idle socket: /proc/net/sockstat (`sockets: used`, TCP `mem` pages), the socket slab caches
#      of /proc/slabinfo, and `ss -tm` per socket (server side `sport = PORT` apart from the client side `dport`)
#   3. server CPU seconds per 100k deliveries at SMALL and LARGE streams (sse-loadgen run --cpu-only)
#   4. bytes per event on the wire: a captured broadcast frame with its HTTP/1.1 chunk framing, and a heartbeat
#   5. Redis: round trips and commands inside the script per published event (MONITOR), commands/s, Redis CPU per
#      event at 8 and 64 publishers, and Redis CPU per pub/sub message per subscribed instance (PUBLISH with 0 and
#      SUBS subscribers)
#   6. acknowledged publishes per server core-second with the default (embedded) store
# Prints a summary table; writes bench/results/capacity.md and capacity.json (git-ignored). ~4 minutes.
#   bench/capacity.sh      (knobs: SMALL=1000 LARGE=10000 SECS=4 SUBS=32)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ulimit -n 20000 # the load generator holds LARGE streams, so does the server
SMALL=${SMALL:-1000} LARGE=${LARGE:-10000} SECS=${SECS:-4} SUBS=${SUBS:-32}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-perf}
bin=$CARGO_TARGET_DIR/native
step() { printf '\033[1m[capacity]\033[0m %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_of() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; } # utime + stime, seconds (USER_HZ 100)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)

step "building the server, the load generator and the publish bench (cargo --profile native, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --quiet --profile native -p typed-eventsource-server -p sse-loadgen -p sse-publish-bench
command -v redis-server >/dev/null || scripts/setup.sh >/dev/null
mkdir -p bench/results
work=$(mktemp -d -p "$root/bench/results" capacity.XXXXXX) # on the project's disk: fsync must be real
pids=()
# start_ours runs in $(…): its servers' PIDs are in $work/*.pid.
cleanup() { for p in "${pids[@]}" $(cat "$work"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
lift="--max-streams 20000 --max-anonymous-streams 20000 --max-streams-per-ip 20000 --max-connections-per-ip 20000"

start_ours() { # name, extra args... → prints the URL; the PID goes to $work/NAME.pid
  local name=$1; shift
  mkfifo "$work/$name.out"
  "$bin/typed-eventsource-server" serve --listen 127.0.0.1:0 --dev $lift "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  echo $! >"$work/$name.pid"
  local line
  read -r line <"$work/$name.out"
  cat "$work/$name.out" >/dev/null &
  echo "${line#listening on }"
}

# The kernel's side of the load generator's phases: it reads the load generator's stderr (the server's port and the
# phase it is in), samples /proc/net/sockstat every 100 ms, and once the idle streams are all connected (TCP inuse
# steady for 0.5 s) takes /proc/slabinfo and `ss -tm` of the server's sockets (sport) and of the clients' (dport).
# Under load (the LARGE-stream throughput phase) it keeps the largest TCP `mem`. Writes JSON to $1.
sampler_py=$(cat <<'PY'
import json, re, subprocess, sys, threading, time
out = sys.argv[1]
state = {"phase": "start", "port": None}
page = 4096
def sockstat():
    d = {}
    for line in open("/proc/net/sockstat"):
        k, rest = line.split(":", 1)
        v = rest.split()
        d[k] = {v[i]: int(v[i + 1]) for i in range(0, len(v) - 1, 2)}
    return {"sockets_used": d["sockets"]["used"], "tcp_inuse": d["TCP"]["inuse"], "tcp_mem_pages": d["TCP"]["mem"]}
SOCKET_CACHES = ("TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq", "skbuff_head_cache",
                 "request_sock_TCP", "tw_sock_TCP", "inode_cache")
def slab():
    d = {}
    for line in open("/proc/slabinfo").readlines()[2:]:
        f = line.split()
        d[f[0]] = int(f[1]) * int(f[3])  # active objects × object size
    return d
def ss(filt):
    txt = subprocess.run(["ss", "-tmnH", "state", "established", filt], capture_output=True, text=True).stdout
    n, tot = 0, {}
    for m in re.finditer(r"skmem:\(([^)]*)\)", txt):
        n += 1
        for kv in m.group(1).split(","):
            k = re.match(r"[a-z]+", kv).group(0)
            tot[k] = tot.get(k, 0) + int(kv[len(k):])
    return {"sockets": n, "skmem_sum": tot}
res = {"idle": {}, "busy": {}}
def sample():
    base, hist, taken = None, [], False
    busy_max = None
    while state["phase"] != "done":
        s = sockstat()
        ph = state["phase"]
        if ph == "warm":
            base = s
            res["base"] = s
            res["base_slab"] = slab()
        elif ph == "idle" and not taken and base:
            hist.append(s["tcp_inuse"])
            if len(hist) >= 6 and hist[-1] > base["tcp_inuse"] + 10 and len(set(hist[-6:])) == 1:
                slab_now = slab()
                b = res.pop("base_slab")
                delta = {k: slab_now.get(k, 0) - b.get(k, 0) for k in slab_now}
                res["idle"] = {"sockstat": s, "base": base,
                               "slab_delta_socket_caches": {k: delta.get(k, 0) for k in SOCKET_CACHES},
                               "slab_delta_all": sum(delta.values()),
                               "server_side": ss(f"( sport = :{state['port']} )"),
                               "client_side": ss(f"( dport = :{state['port']} )")}
                taken = True
        elif ph == "busy":
            if busy_max is None or s["tcp_mem_pages"] > busy_max["tcp_mem_pages"]:
                busy_max = s
            if "server_side" not in res["busy"] and time.time() - state["since"] > 2:
                res["busy"]["server_side"] = ss(f"( sport = :{state['port']} )")
                res["busy"]["client_side"] = ss(f"( dport = :{state['port']} )")
            res["busy"]["max"] = busy_max
        time.sleep(0.1)
t = threading.Thread(target=sample)
t.start()
for line in sys.stdin:
    sys.stderr.write(line)
    m = re.search(r"listening on (?:https?://)?[\d.]+:(\d+)", line)
    if m:
        state["port"] = m.group(1)
        state["phase"] = "warm"
    if "idle memory" in line:
        state["phase"] = "idle"  # the warm-up's stream is closed by now: the last "warm" sample is the baseline
    m = re.search(r"throughput: (\d+) streams", line)
    if m:
        state["phase"] = "busy" if not res["busy"] else "after"
        state["since"] = time.time()
state["phase"] = "done"
t.join()
res["page_bytes"] = page
json.dump(res, open(out, "w"), indent=1)
PY
)
sampler() { python3 -u -c "$sampler_py" "$1"; } # stdin: the load generator's stderr

# 1-3. Idle memory (user and kernel) and CPU per delivery: the load generator's --cpu-only phases, default store.
cmd_h1="$bin/sse-loadgen run --cpu-only --small $SMALL --large $LARGE --secs $SECS --server \"ours=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --data-dir DIR\""
step "HTTP/1.1: idle memory at $LARGE streams, CPU per delivery at $LARGE and $SMALL streams: $cmd_h1"
"$bin/sse-loadgen" run --cpu-only --small "$SMALL" --large "$LARGE" --secs "$SECS" \
  --server "ours=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev $lift --data-dir $work/h1" \
  --json "$work/h1.json" --md "$work/h1.md" 2> >(sampler "$work/h1-kernel.json") >/dev/null
wait_for() { for _ in $(seq 100); do [ -s "$1" ] && return; sleep 0.1; done; }
wait_for "$work/h1-kernel.json"
cmd_h2="$bin/sse-loadgen run --idle-only --large $LARGE --server \"ours, HTTP/2=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev --dev-tls $lift --data-dir DIR\" --https \"ours, HTTP/2\""
step "HTTP/2 over TLS (100 streams per connection): idle memory at $LARGE streams: $cmd_h2"
"$bin/sse-loadgen" run --idle-only --large "$LARGE" \
  --server "ours, HTTP/2=$bin/typed-eventsource-server serve --listen 127.0.0.1:0 --dev --dev-tls $lift --data-dir $work/h2" \
  --https "ours, HTTP/2" --json "$work/h2.json" 2> >(sampler "$work/h2-kernel.json") >/dev/null
wait_for "$work/h2-kernel.json"

# 4. Bytes per event: one HTTP/1.1 stream captured raw (chunk framing kept), 1000 events of the load generator's
# shape published to it, heartbeats every second.
cmd_bytes="curl -sN --raw -H 'Accept: text/event-stream' URL/subscribe & $bin/sse-loadgen publish --url URL --count 1000 (server: --store memory --heartbeat-secs 1)"
step "bytes per event: $cmd_bytes"
url=$(start_ours bytes --store memory --heartbeat-secs 1)
curl -sN --raw -H 'Accept: text/event-stream' "$url/subscribe" -o "$work/stream.raw" &
curl_pid=$!
sleep 2.5 # two heartbeats on the idle stream first
"$bin/sse-loadgen" publish --url "$url" --count 1000 2>/dev/null
sleep 0.5
kill "$curl_pid" 2>/dev/null || true
wait "$curl_pid" 2>/dev/null || true
kill "$(cat "$work/bytes.pid")" 2>/dev/null || true

# 6. Acknowledged publishes per server core-second, default (embedded) store, no subscribers.
url=$(start_ours publish --data-dir "$work/publish")
ppid=$(cat "$work/publish.pid")
declare -A ack
for c in 8 64; do
  cmd="$bin/sse-publish-bench --url URL --publishers $c --secs $SECS (server: default embedded store; CPU: utime+stime of /proc/PID/stat)"
  step "publish acks per core: $cmd"
  c0=$(cpu_of "$ppid")
  acked=$("$bin/sse-publish-bench" --url "$url" --publishers "$c" --secs "$SECS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["acked"], d["acked_per_sec"])')
  c1=$(cpu_of "$ppid")
  ack[$c]="$acked $c0 $c1"
done
kill "$ppid" 2>/dev/null || true

# 5. Redis: a real redis-server (AOF, appendfsync always, as bench/run.sh), ours on it.
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync always --save '' \
  --daemonize no --logfile "$work/redis.log" &
rpid=$!
pids+=($rpid)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
url=$(start_ours redis --store redis --redis-url "redis://127.0.0.1:$port")
# One subscriber, so the broadcast topic's channel has a listener as in production.
curl -sN -H 'Accept: text/event-stream' "$url/subscribe" -o /dev/null &
pids+=($!)
sleep 0.3
cmd_monitor="redis-cli -p PORT monitor during $bin/sse-publish-bench --url URL --publishers 8 --secs 2 --rate 250"
step "Redis round trips and commands inside the script per published event: $cmd_monitor"
redis-cli -p "$port" monitor >"$work/monitor.txt" &
mon_pid=$!
sleep 0.3
mon_acked=$("$bin/sse-publish-bench" --url "$url" --publishers 8 --secs 2 --rate 250 | python3 -c 'import json,sys; print(json.load(sys.stdin)["acked"])')
sleep 0.3
kill "$mon_pid" 2>/dev/null || true
wait "$mon_pid" 2>/dev/null || true
declare -A red
for c in 8 64; do
  cmd="redis-cli config resetstat; $bin/sse-publish-bench --url URL --publishers $c --secs $SECS; redis-cli info commandstats (+ utime+stime of redis-server)"
  step "Redis ops/s and CPU per event: $cmd"
  redis-cli -p "$port" config resetstat >/dev/null
  c0=$(cpu_of "$rpid")
  t0=$(date +%s.%N)
  acked=$("$bin/sse-publish-bench" --url "$url" --publishers "$c" --secs "$SECS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["acked"])')
  t1=$(date +%s.%N)
  c1=$(cpu_of "$rpid")
  redis-cli -p "$port" info commandstats >"$work/cmdstats-$c.txt"
  red[$c]="$acked $c0 $c1 $t0 $t1"
done
# Pub/sub fan-out inside Redis: the same PUBLISH (a 150-byte message) with 0 and SUBS subscribed connections.
msg=$(head -c 150 /dev/zero | tr '\0' x)
declare -A psub
for k in 0 "$SUBS"; do
  subs=()
  for _ in $(seq "$k"); do redis-cli -p "$port" subscribe capacity-fanout >/dev/null & subs+=($!); done
  sleep 0.5
  cmd="redis-benchmark -p PORT -c 8 -n 100000 PUBLISH capacity-fanout <150 bytes> with $k redis-cli subscribers"
  step "Redis pub/sub: $cmd"
  c0=$(cpu_of "$rpid")
  redis-benchmark -p "$port" -c 8 -n 100000 -q PUBLISH capacity-fanout "$msg" >/dev/null
  c1=$(cpu_of "$rpid")
  psub[$k]="$c0 $c1"
  if [ "$k" -gt 0 ]; then
    kill "${subs[@]}" 2>/dev/null || true
    wait "${subs[@]}" 2>/dev/null || true
  fi
done

# The summary: every coefficient with the command that measured it.
export LARGE SMALL SECS SUBS load_before work cmd_h1 cmd_h2 cmd_bytes cmd_monitor mon_acked
export ack8="${ack[8]}" ack64="${ack[64]}" red8="${red[8]}" red64="${red[64]}" psub0="${psub[0]}" psubk="${psub[$SUBS]}"
export elapsed=$(( $(date +%s) - started )) load_after=$(cut -d' ' -f1-3 /proc/loadavg) commit=$(git rev-parse --short HEAD)
python3 - "bench/results/capacity.md" "bench/results/capacity.json" <<'PY'
import json, os, re, sys
e = os.environ
work, large, small = e["work"], int(e["LARGE"]), int(e["SMALL"])
rows, coef = [], {}
def row(what, value, unit, cmd, key):
    coef[key] = value
    rows.append(f"| {what} | {value:,.3f} {unit} | `{cmd}` |" if isinstance(value, float) else f"| {what} | {value} {unit} | `{cmd}` |")

h1 = json.load(open(f"{work}/h1.json"))["ours"]
h2 = json.load(open(f"{work}/h2.json"))["ours, HTTP/2"]
row(f"user-space RSS per idle HTTP/1.1 stream ({large:,} streams)", h1["rss_per_idle_conn_kb"], "KB", e["cmd_h1"], "rss_kb_h1")
row(f"user-space RSS per idle HTTP/2-over-TLS stream ({large:,} streams, 100 per connection)", h2["rss_per_idle_conn_kb"], "KB", e["cmd_h2"], "rss_kb_h2")

def kernel(name, streams, conns, key, cmd):
    k = json.load(open(f"{work}/{name}-kernel.json"))
    i = k.get("idle") or {}
    if not i:
        rows.append(f"| kernel memory ({key}) | not sampled | `{cmd}` |")
        return k
    b, s = i["base"], i["sockstat"]
    du, dm = s["sockets_used"] - b["sockets_used"], s["tcp_mem_pages"] - b["tcp_mem_pages"]
    slab = sum(i["slab_delta_socket_caches"].values())
    srv = i["server_side"]
    row(f"sockets (`sockets: used`) per {key} connection, both ends on loopback", du / conns, "", "cat /proc/net/sockstat, before/after", f"sockets_per_conn_{key}")
    row(f"TCP `mem` pages per idle {key} socket (both ends: Δpages × 4096 / Δsockets)", dm * 4096 / max(du, 1) / 1024, "KB", "cat /proc/net/sockstat, before/after", f"tcp_mem_kb_per_socket_{key}")
    sk = srv["skmem_sum"]
    buf = (sk.get("r", 0) + sk.get("t", 0) + sk.get("f", 0) + sk.get("w", 0)) / max(srv["sockets"], 1) / 1024
    row(f"socket buffers per server-side idle {key} socket (`ss -tm` r+t+f+w over {srv['sockets']} sockets with sport = the server's)", buf, "KB", "ss -tmnH state established '( sport = :PORT )'", f"skmem_kb_server_{key}")
    row(f"socket slab objects per {key} socket (Δ active×size of {', '.join(c for c, v in i['slab_delta_socket_caches'].items() if v)} / Δsockets)", slab / max(du, 1) / 1024, "KB", "/proc/slabinfo, before/after", f"slab_kb_per_socket_{key}")
    row(f"kernel memory per idle {key} stream (slab + TCP mem, per server socket × server sockets / streams)", (slab + dm * 4096) / max(du, 1) / 1024 * (conns / streams), "KB", "the two rows above", f"kernel_kb_per_stream_{key}")
    return k
k1 = kernel("h1", large, large, "HTTP/1.1", e["cmd_h1"])
kernel("h2", large, -(-large // 100), "HTTP/2", e["cmd_h2"])
busy = k1.get("busy", {})
if busy.get("max"):
    bm = busy["max"]
    row(f"largest TCP `mem` during the closed-loop phase at {large:,} streams (both ends; 4 publishers, ≤ 256 events ahead)", bm["tcp_mem_pages"] * 4096 / 1048576, "MB", e["cmd_h1"], "tcp_mem_mb_busy")
    if busy.get("server_side"):
        sk = busy["server_side"]["skmem_sum"]
        row(f"send queues of the server's sockets 2 s into that phase (`ss -tm` w, {busy['server_side']['sockets']} sockets)", sk.get("w", 0) / max(busy["server_side"]["sockets"], 1) / 1024, "KB per socket", "ss -tmnH state established '( sport = :PORT )'", "wq_kb_server_busy")

row(f"server CPU per 100k deliveries, {large:,} streams", h1["cpu_s_per_100k_large"], "s", e["cmd_h1"], "cpu_100k_large")
row(f"server CPU per 100k deliveries, {small:,} streams", h1["cpu_s_per_100k_small"], "s", e["cmd_h1"], "cpu_100k_small")
row(f"deliveries/s at {large:,} / {small:,} streams (2 shared cores, load generator on them too)", f"{h1['deliveries_per_sec_large']:,.0f} / {h1['deliveries_per_sec_small']:,.0f}", "", e["cmd_h1"], "deliveries_per_sec")

# 4. the captured stream: dechunk, tell events (with id:) from heartbeats.
raw = open(f"{work}/stream.raw", "rb").read()
body = raw.split(b"\r\n\r\n", 1)[1] if raw.startswith(b"HTTP/") else raw
pos, ev_chunks, ev_frames, hb_chunks = 0, [], [], []
while pos < len(body):
    nl = body.find(b"\r\n", pos)
    if nl < 0: break
    size = int(body[pos:nl].split(b";")[0], 16)
    data = body[nl + 2: nl + 2 + size]
    wire = nl + 2 + size + 2 - pos
    pos = nl + 2 + size + 2
    if size == 0: break
    frames = [f for f in data.split(b"\n\n") if f]
    evs = [f for f in frames if b"\nid:" in b"\n" + f]
    if evs:
        ev_chunks.append((wire, len(evs)))
        ev_frames += evs
    else:
        hb_chunks.append(wire)
n_ev = sum(n for _, n in ev_chunks)
if n_ev:
    frame = sum(len(f) + 2 for f in ev_frames) / n_ev
    wire = sum(w for w, _ in ev_chunks) / n_ev
    coef["example_frame"] = (ev_frames[len(ev_frames) // 2] + b"\n\n").decode()
    row(f"SSE frame per event (id, event, data lines + blank line; {n_ev} events, data = the load generator's JSON)", frame, "bytes", e["cmd_bytes"], "frame_bytes")
    row(f"HTTP/1.1 bytes per event with chunk framing ({len(ev_chunks)} chunks for {n_ev} events)", wire, "bytes", e["cmd_bytes"], "wire_bytes_per_event")
if hb_chunks:
    row("heartbeat (`: keep-alive` comment + `event: heartbeat`) with chunk framing", sum(hb_chunks) / len(hb_chunks), "bytes", e["cmd_bytes"], "heartbeat_bytes")

# 6. acks per core.
for c in ("8", "64"):
    acked, per_sec, c0, c1 = map(float, e[f"ack{c}"].split())
    row(f"acknowledged publishes per server core-second, default store, {c} publishers ({per_sec:,.0f}/s acknowledged; fsync per group commit)", acked / max(c1 - c0, 1e-9), "", f"sse-publish-bench --publishers {c} --secs {e['SECS']}", f"acks_per_core_s_{c}")

# 5. Redis.
mon = open(f"{work}/monitor.txt").read().splitlines()
top = [l for l in mon if re.match(r"^[\d.]+ \[\d+ [\d.]+:\d+\]", l)]
inner = [l for l in mon if re.match(r"^[\d.]+ \[\d+ lua\]", l)]
evalsha = sum(1 for l in top if re.search(r'"(?i:evalsha|eval)"', l))
macked = int(e["mon_acked"])
row(f"Redis round trips (top-level commands from the server) per published event ({macked} events; of them EVALSHA/EVAL: {evalsha / max(macked, 1):.2f})", len(top) / max(macked, 1), "", e["cmd_monitor"], "redis_round_trips")
names = {}
for l in inner:
    m = re.search(r'\] "([A-Za-z]+)"', l)
    if m: names[m.group(1).upper()] = names.get(m.group(1).upper(), 0) + 1
row("Redis commands inside the script per published event (" + ", ".join(f"{k} {v / max(macked, 1):.2f}" for k, v in sorted(names.items(), key=lambda x: -x[1])) + ")", len(inner) / max(macked, 1), "", e["cmd_monitor"], "redis_inner_commands")
for c in ("8", "64"):
    acked, c0, c1, t0, t1 = map(float, e[f"red{c}"].split())
    calls, evalsha_us = 0, 0.0
    for l in open(f"{work}/cmdstats-{c}.txt"):
        if l.startswith("cmdstat_"):
            name, rest = l.strip()[8:].split(":", 1)
            kv = dict(x.split("=") for x in rest.split(","))
            if name not in ("info", "config", "ping", "client", "hello", "select"):
                calls += int(kv["calls"])
            if name == "evalsha":
                evalsha_us = float(kv["usec_per_call"])
    wall = t1 - t0
    row(f"Redis at {c} publishers: events/s acknowledged, Redis commands/s (script's inner ones counted), Redis CPU share of one core", f"{acked / wall:,.0f} ev/s, {calls / wall:,.0f} cmd/s, {(c1 - c0) / wall:.0%} CPU", "", f"sse-publish-bench --publishers {c}; redis-cli info commandstats; /proc/REDIS/stat", f"redis_{c}")
    coef[f"redis_cpu_us_per_event_{c}"] = (c1 - c0) / max(acked, 1) * 1e6
    row(f"Redis CPU per published event at {c} publishers (utime+stime / events; EVALSHA's own usec_per_call {evalsha_us:.1f})", (c1 - c0) / max(acked, 1) * 1e6, "µs", f"sse-publish-bench --publishers {c}", f"redis_cpu_us_per_event_{c}_row")
p0 = list(map(float, e["psub0"].split())); pk = list(map(float, e["psubk"].split())); k = int(e["SUBS"])
row("Redis CPU per PUBLISH with no subscriber (150-byte message)", (p0[1] - p0[0]) / 1e5 * 1e6, "µs", "redis-benchmark -c 8 -n 100000 PUBLISH", "redis_publish_us")
row(f"Redis CPU per message per subscribed connection (({k} subscribers − 0) / {k})", ((pk[1] - pk[0]) - (p0[1] - p0[0])) / 1e5 / k * 1e6, "µs", f"redis-benchmark … with {k} × redis-cli subscribe", "redis_per_subscriber_us")

head = (f"Capacity coefficients, {os.popen('date -u +%Y-%m-%dT%H:%MZ').read().strip()}, commit {e['commit']}, "
        f"{os.cpu_count()} cores ({open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}), "
        f"Linux {os.uname().release}, load average before {e['load_before']}, after {e['load_after']}; {e['elapsed']} s. "
        "Shared machine: noisy figures.\n\n| coefficient | value | measured by |\n|---|---|---|\n")
md = head + "\n".join(rows) + "\n"
if "example_frame" in coef:
    md += "\nA captured event frame:\n\n```\n" + coef["example_frame"] + "```\n"
open(sys.argv[1], "w").write(md)
json.dump(coef, open(sys.argv[2], "w"), indent=1)
print(md)
PY
