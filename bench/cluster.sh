#!/usr/bin/env bash
# Redis Cluster fan-out (issue 25, item 5): 1, 2 and 4 instances of the server on a real Redis Cluster (3 primaries +
# 3 replicas of Debian's redis-server, AOF with appendfsync always, on free ports in a temp dir under bench/results),
# STREAMS streams in all spread evenly over the instances, one publisher at a fixed rate posting to the first instance.
# For each instance count and each variant (broadcast: GET /subscribe + POST /update; per-user: GET /sse/u<i>, one
# user per stream, + POST /notify/u<k> to users spread over all of them) it measures:
#   - each instance's CPU (utime+stime of /proc/PID/stat) over the publishing window, and the events each instance's
#     streams received (the streams are held by a small epoll client compiled from the C source below, which counts
#     the `id:` lines per instance): server CPU per delivery, per instance and summed over the instances, and the
#     linearity ratio (CPU per delivery with 1 instance ÷ with N; goal ≥ 0.9, i.e. CPU per delivery per instance
#     constant); deliveries/s in all (the offered load: the rate is fixed, so this is not a capacity)
#   - Redis: every node's INFO commandstats over the same window (CONFIG RESETSTAT before it) and its CPU: round trips
#     (EVALSHA) per published event, the commands the script ran per event, Redis CPU per event on the primaries (and
#     on the replicas apart); then a short MONITOR window on every primary, which tells the server's own commands
#     ([0 127.0.0.1:PORT]) from those run inside the script ([0 lua]) exactly
#   - an idle window first (streams connected, nothing published): each instance's and Redis's CPU per second
#   - then the cost of --redis-wait-replicas 1: acknowledged publishes/s and p50/p99 with 1 and 8 publishers
#     (bench/publish) against one instance without and with it, alternating twice (SKIP_WAIT=1: not run)
# Prints the tables; writes bench/results/cluster.md and cluster.json (git-ignored). ~3-4 minutes at full scale.
#   bench/cluster.sh      (knobs: STREAMS=10000 RATE=10 USER_RATE=1000 SECS=10 IDLE=3 MON_SECS=2 INSTANCES="1 2 4"
#                          SKIP_USER=1: no per-user variant; SKIP_REF=1: no reference rows (ONE instance holding
#                          STREAMS/N streams, broadcast); QUICK=1: STREAMS=1000 SECS=3 IDLE=1 MON_SECS=1)
# On a 2-core machine the instances, the stream holder, the publisher and the six Redis nodes share the cores: the
# linearity figure is CPU per delivery, not deliveries/s (the reference rows show what the stream count per instance
# does on its own).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ulimit -n 20000 # the stream holder holds STREAMS streams, the single instance as many
if [ -n "${QUICK:-}" ]; then
  STREAMS=${STREAMS:-1000} SECS=${SECS:-3} IDLE=${IDLE:-1} MON_SECS=${MON_SECS:-1}
fi
STREAMS=${STREAMS:-10000} RATE=${RATE:-10} USER_RATE=${USER_RATE:-1000} SECS=${SECS:-10} IDLE=${IDLE:-3}
MON_SECS=${MON_SECS:-2} INSTANCES=${INSTANCES:-"1 2 4"}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-perf}
bin=$CARGO_TARGET_DIR/native
step() { printf '\033[1m[cluster]\033[0m %s\n' "$*" >&2; }
cpu_of() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; } # utime + stime, seconds (USER_HZ 100)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)

step "building the server (cargo --profile native, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --locked --quiet --profile native -p typed-eventsource-server -p sse-publish-bench
command -v redis-server >/dev/null || scripts/setup.sh >/dev/null
mkdir -p bench/results
work=$(mktemp -d -p "$root/bench/results" cluster.XXXXXX) # on the project's disk: fsync must be real
pids=()
cleanup() {
  exec 7>&- 8<&- || true
  for p in "${pids[@]}" $(cat "$work"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
lift="--max-streams 20000 --max-anonymous-streams 20000 --max-streams-per-ip 20000 --max-connections-per-ip 20000"

# The stream holder and the publisher (C, no dependencies): see the usage at the top of the source.
cat >"$work/client.c" <<'C'
/* sse-cluster-client, the subscriber and publisher sides of bench/cluster.sh.
 *   hold STREAMS PATH ADDR...   holds STREAMS HTTP/1.1 SSE streams, stream i on ADDR[i % n] from source address
 *                               127.0.0.(2 + i % 50), GET PATH (a "%d" in it is replaced by i: /sse/u%d); counts the
 *                               events (lines starting "id:"; heartbeats have none) per ADDR. On stdin: "c" prints
 *                               "READY BROKEN TOTAL COUNT_PER_ADDR..." on stdout; "q" quits.
 *   pub ADDR RATE SECS CONNS update|notify USERS
 *                               publishes RATE events/s for SECS on a fixed schedule over CONNS keep-alive
 *                               connections (one request in flight each): POST /update {"text"} or
 *                               POST /notify/u<k> {"data"} (k spread over USERS). Prints "ACKED ERRORS SECONDS". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int parse_addr(const char *s, struct sockaddr_in *a) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || colon - s >= (long)sizeof host) return -1;
  memcpy(host, s, colon - s);
  host[colon - s] = 0;
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons(atoi(colon + 1));
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* ---------- hold ---------- */
enum { CONNECTING, SENT, BODY, DEAD };
struct conn {
  int fd, addr, state, bol, match, hlen;
  char head[512];
};
static struct conn *conns;
static long long counts[64];
static int ready, broken, pending, naddrs, efd;
static struct sockaddr_in addrs[64];
static const char *path;

static void start_conn(int i) {
  struct conn *c = &conns[i];
  c->addr = i % naddrs;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  src.sin_addr.s_addr = htonl(0x7f000002 + i % 50);
  int one = 1;
  if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("socket/bind"); exit(1); }
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addrs[c->addr], sizeof addrs[0]) < 0 && errno != EINPROGRESS) {
    perror("connect");
    exit(1);
  }
  c->state = CONNECTING;
  c->bol = 1;
  c->match = 0;
  c->hlen = 0;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = i};
  epoll_ctl(efd, EPOLL_CTL_ADD, c->fd, &ev);
  pending++;
}

static void kill_conn(struct conn *c) {
  if (c->state == DEAD) return;
  if (c->state == BODY) ready--;
  else pending--;
  c->state = DEAD;
  broken++;
  close(c->fd);
}

/* Counts the lines that start with "id:" (the chunk-size lines of the chunked coding never do). */
static void body(struct conn *c, const char *p, long n) {
  static const char id[] = "id:";
  long k = 0;
  for (long j = 0; j < n; j++) {
    char ch = p[j];
    if (c->bol || c->match) {
      if (ch == id[c->match]) {
        if (++c->match == 3) { k++; c->match = 0; }
        c->bol = 0;
        continue;
      }
      c->match = 0;
    }
    c->bol = ch == '\n';
  }
  counts[c->addr] += k;
}

static int hold(int streams) {
  conns = calloc(streams, sizeof *conns);
  efd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0xffffffff};
  epoll_ctl(efd, EPOLL_CTL_ADD, 0, &ev);
  int next = 0;
  static char buf[65536];
  struct epoll_event evs[512];
  for (;;) {
    while (next < streams && pending < 256) start_conn(next++);
    int n = epoll_wait(efd, evs, 512, 100);
    for (int e = 0; e < n; e++) {
      unsigned i = evs[e].data.u32;
      if (i == 0xffffffff) {
        char line[16];
        if (!fgets(line, sizeof line, stdin) || line[0] == 'q') return 0;
        long long total = 0;
        for (int a = 0; a < naddrs; a++) total += counts[a];
        printf("%d %d %lld", ready, broken, total);
        for (int a = 0; a < naddrs; a++) printf(" %lld", counts[a]);
        printf("\n");
        fflush(stdout);
        continue;
      }
      struct conn *c = &conns[i];
      if (c->state == DEAD) continue;
      if (c->state == CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { fprintf(stderr, "connect: %s\n", strerror(err)); kill_conn(c); continue; }
        char req[256], p[128];
        snprintf(p, sizeof p, path, (int)i);
        int len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
                           p, inet_ntoa(addrs[c->addr].sin_addr), ntohs(addrs[c->addr].sin_port));
        if (write(c->fd, req, len) != len) { kill_conn(c); continue; }
        c->state = SENT;
        struct epoll_event ev2 = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(efd, EPOLL_CTL_MOD, c->fd, &ev2);
        continue;
      }
      long r = read(c->fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        kill_conn(c);
        continue;
      }
      if (c->state == SENT) {
        long room = (long)sizeof c->head - 1 - c->hlen, take = r < room ? r : room;
        memcpy(c->head + c->hlen, buf, take);
        c->hlen += take;
        c->head[c->hlen] = 0;
        char *end = strstr(c->head, "\r\n\r\n");
        if (!end) {
          if (c->hlen >= (int)sizeof c->head - 1) { fprintf(stderr, "head too long\n"); kill_conn(c); }
          continue;
        }
        if (strncmp(c->head, "HTTP/1.1 200", 12) != 0) {
          fprintf(stderr, "bad answer: %.60s\n", c->head);
          kill_conn(c);
          continue;
        }
        long off = (end + 4 - c->head) - (c->hlen - take); /* where the body starts in buf */
        c->state = BODY;
        pending--;
        ready++;
        body(c, buf + off, r - off);
        continue;
      }
      body(c, buf, r);
    }
  }
}

/* ---------- pub ---------- */
static struct sockaddr_in target;
static double rate, t0;
static int nconns, notify, users;
static long long total_events, acked_all, errors_all;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int pconnect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) { close(fd); return -1; }
  return fd;
}

/* One request, its whole answer; returns the status (0: the connection broke). */
static int roundtrip(int fd, const char *req, int len) {
  if (write(fd, req, len) != len) return 0;
  char buf[8192];
  int got = 0;
  for (;;) {
    long r = read(fd, buf + got, sizeof buf - 1 - got);
    if (r <= 0) return 0;
    got += r;
    buf[got] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    char *cl = strcasestr(buf, "content-length:");
    long need = (end + 4 - buf) + (cl && cl < end ? atol(cl + 15) : 0);
    while (got < need) {
      if (got >= (int)sizeof buf - 1) return 0;
      r = read(fd, buf + got, sizeof buf - 1 - got);
      if (r <= 0) return 0;
      got += r;
    }
    return atoi(buf + 9);
  }
}

static void *publisher(void *arg) {
  long k = (long)arg;
  long long acked = 0, errors = 0;
  int fd = pconnect();
  char req[1024], b[512], host[64], p[64];
  snprintf(host, sizeof host, "%s:%d", inet_ntoa(target.sin_addr), ntohs(target.sin_port));
  for (long long i = k; i < total_events; i += nconns) {
    double due = t0 + i / rate, now = now_s();
    if (due > now) {
      struct timespec ts = {(time_t)(due - now), (long)((due - now - (time_t)(due - now)) * 1e9)};
      nanosleep(&ts, 0);
    }
    int blen;
    if (notify) {
      snprintf(p, sizeof p, "/notify/u%llu", (unsigned long long)i * 2654435761ULL % (unsigned)users);
      blen = snprintf(b, sizeof b, "{\"data\":{\"n\":%lld,\"text\":\"cluster bench xxxxxxxxxxxxxxxxxxxxxxx\"}}", i);
    } else {
      snprintf(p, sizeof p, "/update");
      blen = snprintf(b, sizeof b, "{\"text\":\"cluster bench %08lld xxxxxxxxxxxxxxx\"}", i);
    }
    int len = snprintf(req, sizeof req,
                       "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                       p, host, blen, b);
    int status = fd >= 0 ? roundtrip(fd, req, len) : 0;
    if (status == 0) { /* reconnect once and retry */
      if (fd >= 0) close(fd);
      fd = pconnect();
      status = fd >= 0 ? roundtrip(fd, req, len) : 0;
    }
    if (status >= 200 && status < 300) acked++;
    else if (++errors < 4) fprintf(stderr, "publish answered %d\n", status);
  }
  if (fd >= 0) close(fd);
  pthread_mutex_lock(&mu);
  acked_all += acked;
  errors_all += errors;
  pthread_mutex_unlock(&mu);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && !strcmp(argv[1], "hold")) {
    path = argv[3];
    for (int a = 4; a < argc && naddrs < 64; a++)
      if (parse_addr(argv[a], &addrs[naddrs++])) { fprintf(stderr, "bad address %s\n", argv[a]); return 2; }
    return hold(atoi(argv[2]));
  }
  if (argc == 8 && !strcmp(argv[1], "pub")) {
    if (parse_addr(argv[2], &target)) { fprintf(stderr, "bad address %s\n", argv[2]); return 2; }
    rate = atof(argv[3]);
    total_events = (long long)(rate * atof(argv[4]));
    nconns = atoi(argv[5]);
    if (nconns > 256) nconns = 256;
    notify = !strcmp(argv[6], "notify");
    users = atoi(argv[7]);
    pthread_t th[256];
    t0 = now_s() + 0.01;
    for (long k = 0; k < nconns; k++) pthread_create(&th[k], 0, publisher, (void *)k);
    for (int k = 0; k < nconns; k++) pthread_join(th[k], 0);
    printf("%lld %lld %.3f\n", acked_all, errors_all, now_s() - t0);
    return 0;
  }
  fprintf(stderr, "usage: hold STREAMS PATH ADDR... | pub ADDR RATE SECS CONNS update|notify USERS\n");
  return 2;
}
C
gcc -O2 -Wall -o "$work/client" "$work/client.c" -lpthread
client=$work/client

# The cluster: 6 nodes, each on a free port whose bus port (+10000) is free too, then `redis-cli --cluster create`.
# Node timeout 15 s (Redis's default): a node starved of CPU for a moment must not be failed over mid-run.
cluster_port() {
  python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p < 55000:
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 10000)); print(p); break
        except OSError: pass'
}
rport=() rpid=()
for i in 1 2 3 4 5 6; do
  port=$(cluster_port)
  mkdir -p "$work/redis-$i"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis-$i" --save '' --appendonly yes --appendfsync always \
    --daemonize no --logfile redis.log --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 15000 &
  rpid+=($!) rport+=("$port")
  pids+=($!)
done
for p in "${rport[@]}"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
step "Redis Cluster: 3 primaries + 3 replicas on ports ${rport[*]} (AOF, appendfsync always)"
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${rport[@]}") --cluster-replicas 1 --cluster-yes >"$work/create.log"
for _ in $(seq 300); do
  ok=1
  for p in "${rport[@]}"; do redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' || ok=0; done
  # Every node must know every other one's role too.
  [ "$ok" = 1 ] && [ "$(redis-cli -p "${rport[0]}" cluster nodes | grep -c master)" = 3 ] && break
  sleep 0.1
done
role=()
for p in "${rport[@]}"; do
  role+=("$(redis-cli -p "$p" info replication | tr -d '\r' | sed -n 's/^role://p')")
done
step "roles: ${role[*]}"
seeds=$(printf 'redis://127.0.0.1:%s,' "${rport[@]}")
seeds=${seeds%,}
groups_arg=${GROUPS_ARG:-} # e.g. GROUPS_ARG="--redis-cluster-groups 64" (64 is the server's default)

start_instance() { # index → prints the address; the PID goes to $work/inst-I.pid
  local i=$1
  mkfifo "$work/inst-$i.out"
  "$bin/typed-eventsource-server" serve --listen 127.0.0.1:0 --dev $lift --store redis --redis-url "$seeds" $groups_arg \
    >"$work/inst-$i.out" 2>"$work/inst-$i.log" &
  echo $! >"$work/inst-$i.pid"
  local line
  read -r line <"$work/inst-$i.out"
  cat "$work/inst-$i.out" >/dev/null &
  line=${line#listening on }
  echo "${line#http://}"
}
holder_start() { # path, addresses...
  local path=$1; shift
  rm -f "$work/hold.in" "$work/hold.out"
  mkfifo "$work/hold.in" "$work/hold.out"
  "$client" hold "$streams" "$path" "$@" <"$work/hold.in" >"$work/hold.out" 2>>"$work/hold.log" &
  hold_pid=$!
  echo $hold_pid >"$work/hold.pid"
  exec 7>"$work/hold.in" 8<"$work/hold.out"
}
holder_stop() { echo q >&7 || true; exec 7>&- 8<&-; wait "$hold_pid" 2>/dev/null || true; rm -f "$work/hold.pid"; }
counts() { echo c >&7; local line; read -r line <&8; echo "$line"; } # READY BROKEN TOTAL PER-INSTANCE...
wait_ready() {
  local deadline=$(( $(date +%s) + 120 )) c
  while :; do
    c=($(counts))
    [ "${c[0]}" -ge "$streams" ] && return 0
    if [ "${c[1]}" -gt 0 ] || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "only ${c[0]} of $streams streams ready (${c[1]} broken; see $work/hold.log)" >&2
      tail -5 "$work/hold.log" >&2
      return 1
    fi
    sleep 0.2
  done
}
wait_total() { # expected total → waits until it is reached or nothing came for 3 s
  local last=-1 since c now
  since=$(date +%s%N)
  while :; do
    c=($(counts))
    [ "${c[2]}" -ge "$1" ] && return 0
    now=$(date +%s%N)
    if [ "${c[2]}" != "$last" ]; then last=${c[2]}; since=$now; fi
    [ $(( now - since )) -gt 3000000000 ] && return 0
    sleep 0.1
  done
}
cpus() { local p; for p in "$@"; do cpu_of "$p"; done | paste -sd, -; }
join() { local IFS=,; echo "$*"; }

records=$work/records.jsonl
variants=broadcast
[ -z "${SKIP_USER:-}" ] && variants="broadcast user"
runs=()
for n in $INSTANCES; do
  for v in $variants; do runs+=("$n $STREAMS $v"); done
  # The reference row: ONE instance holding as many streams as each of the N holds (broadcast), i.e. what the stream
  # count per instance alone does to CPU per delivery, apart from N instances sharing the machine.
  if [ "$n" -gt 1 ] && [ -z "${SKIP_REF:-}" ]; then runs+=("1 $(( STREAMS / n )) ref"); fi
done
for run in "${runs[@]}"; do
  read -r n streams v <<<"$run"
  tag=$v
  [ "$v" = ref ] && tag=ref-$streams
  {
    # Fresh instances on an emptied cluster for every run: the same start for each.
    for k in "${!rport[@]}"; do
      [ "${role[$k]}" = master ] && redis-cli -p "${rport[$k]}" flushall >/dev/null
    done
    addrs=() ipid=()
    for i in $(seq "$n"); do
      addrs+=("$(start_instance "$i")")
      ipid+=("$(cat "$work/inst-$i.pid")")
    done
    if [ "$v" != user ]; then path=/subscribe kind=update rate=$RATE conns=4 per_event=$streams
    else path=/sse/u%d kind=notify rate=$USER_RATE conns=16 per_event=1
    fi
    step "$n instance(s), $tag: $streams streams over ${addrs[*]} ($path), connecting"
    holder_start "$path" "${addrs[@]}"
    wait_ready
    sleep 1
    # Warm-up: a second of publishing, every event through every stream it is for.
    c=($(counts))
    warm=($("$client" pub "${addrs[0]}" "$rate" 1 "$conns" "$kind" "$streams"))
    wait_total $(( c[2] + warm[0] * per_event ))
    # Idle: streams connected, nothing published (the background: heartbeats, epoch checks, sweeps, cluster bus).
    for p in "${rport[@]}"; do redis-cli -p "$p" config resetstat >/dev/null; done
    i0=$(cpus "${ipid[@]}") r0=$(cpus "${rpid[@]}") t0=$(date +%s.%N)
    sleep "$IDLE"
    i1=$(cpus "${ipid[@]}") r1=$(cpus "${rpid[@]}") t1=$(date +%s.%N)
    for k in "${!rport[@]}"; do redis-cli -p "${rport[$k]}" info commandstats | tr -d '\r' >"$work/cmdstats-$n-$tag-idle-$k.txt"; done
    printf '{"n":%s,"variant":"%s","phase":"idle","secs":%s,"inst_cpu0":[%s],"inst_cpu1":[%s],"redis_cpu0":[%s],"redis_cpu1":[%s]}\n' \
      "$n" "$tag" "$(python3 -c "print($t1 - $t0)")" "$i0" "$i1" "$r0" "$r1" >>"$records"
    cmd="$client pub ${addrs[0]} $rate $SECS $conns $kind $streams"
    step "$n instance(s), $tag: publishing $rate ev/s for $SECS s to instance 1 ($cmd)"
    for p in "${rport[@]}"; do redis-cli -p "$p" config resetstat >/dev/null; done
    c0=($(counts)) i0=$(cpus "${ipid[@]}") r0=$(cpus "${rpid[@]}") t0=$(date +%s.%N)
    pub=($("$client" pub "${addrs[0]}" "$rate" "$SECS" "$conns" "$kind" "$streams"))
    wait_total $(( c0[2] + pub[0] * per_event ))
    c1=($(counts)) i1=$(cpus "${ipid[@]}") r1=$(cpus "${rpid[@]}") t1=$(date +%s.%N)
    for k in "${!rport[@]}"; do redis-cli -p "${rport[$k]}" info commandstats | tr -d '\r' >"$work/cmdstats-$n-$tag-$k.txt"; done
    printf '{"n":%s,"variant":"%s","phase":"measure","secs":%s,"pub_secs":%s,"acked":%s,"errors":%s,"per_event":%s,"cmd":"%s","ready":%s,"broken":%s,"counts0":[%s],"counts1":[%s],"inst_cpu0":[%s],"inst_cpu1":[%s],"redis_cpu0":[%s],"redis_cpu1":[%s]}\n' \
      "$n" "$tag" "$(python3 -c "print($t1 - $t0)")" "${pub[2]}" "${pub[0]}" "${pub[1]}" "$per_event" "$cmd" "${c1[0]}" "${c1[1]}" \
      "$(join "${c0[@]:3}")" "$(join "${c1[@]:3}")" "$i0" "$i1" "$r0" "$r1" >>"$records"
    # MONITOR on every primary: the server's own commands apart from those inside the script.
    step "$n instance(s), $tag: MONITOR on the primaries for $MON_SECS s of publishing"
    mons=()
    for k in "${!rport[@]}"; do
      [ "${role[$k]}" = master ] || continue
      redis-cli -p "${rport[$k]}" monitor >"$work/monitor-$n-$tag-$k.txt" &
      mons+=($!)
    done
    sleep 0.3
    mpub=($("$client" pub "${addrs[0]}" "$rate" "$MON_SECS" "$conns" "$kind" "$streams"))
    sleep 0.3
    kill "${mons[@]}" 2>/dev/null || true
    wait "${mons[@]}" 2>/dev/null || true
    echo "{\"n\":$n,\"variant\":\"$tag\",\"phase\":\"monitor\",\"acked\":${mpub[0]}}" >>"$records"
    holder_stop
    for p in "${ipid[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${ipid[@]}"; do # not children of this shell (started in $(…)): wait for them to be gone
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    rm -f "$work"/inst-*.pid "$work"/inst-*.out
  }
done

# The cost of --redis-wait-replicas 1: acknowledged publishes (POST /update, broadcast: one slot group) with 1 and 8
# keep-alive publishers (bench/publish, closed loop), one instance, without and with WAIT 1, alternating twice.
wait_rows=()
if [ -z "${SKIP_WAIT:-}" ]; then
  for round in 1 2; do
    for w in 0 1; do
      groups_arg_saved=$groups_arg
      groups_arg="$groups_arg_saved --redis-wait-replicas $w"
      addr=$(start_instance w)
      groups_arg=$groups_arg_saved
      wpid=$(cat "$work/inst-w.pid")
      for c in 1 8; do
        step "WAIT $w, round $round: $c publisher(s) for 3 s"
        r=$("$bin/sse-publish-bench" --url "http://$addr" --publishers "$c" --secs 3 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%d %.2f %.2f" % (d["acked_per_sec"], d["p50_ms"], d["p99_ms"]))')
        wait_rows+=("$w $c $r")
      done
      kill "$wpid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$work"/inst-w.pid "$work"/inst-w.out
    done
  done
fi
export wait_table="$(printf '%s\n' "${wait_rows[@]}")"

export work STREAMS RATE USER_RATE SECS IDLE MON_SECS load_before roles="${role[*]}" ports="${rport[*]}"
export elapsed=$(( $(date +%s) - started )) load_after=$(cut -d' ' -f1-3 /proc/loadavg) commit=$(git rev-parse --short HEAD)
export dirty=$(git status --porcelain --untracked-files=no -- server src Cargo.toml Cargo.lock | wc -l)
python3 - bench/results/cluster.md bench/results/cluster.json <<'PY'
import json, os, re, sys
e = os.environ
work = e["work"]
roles = e["roles"].split()
prim = [i for i, r in enumerate(roles) if r == "master"]
repl = [i for i, r in enumerate(roles) if r != "master"]
recs = [json.loads(l) for l in open(f"{work}/records.jsonl")]
def rec(n, v, ph):
    return next((r for r in recs if r["n"] == n and r["variant"] == v and r["phase"] == ph), None)
ns = sorted({r["n"] for r in recs})
variants = [v for v in ("broadcast", "user") if any(r["variant"] == v for r in recs)]
SKIP = {"info", "config", "ping", "cluster", "monitor", "command", "client", "hello", "select", "replconf"}
def cmdstats(n, v, suffix=""):
    """Calls per command on the primaries (the replicas only apply the replication stream)."""
    out = {}
    for k in prim:
        try:
            for l in open(f"{work}/cmdstats-{n}-{v}{suffix}-{k}.txt"):
                m = re.match(r"cmdstat_([^:]+):calls=(\d+)", l)
                if m and m.group(1).split("|")[0] not in SKIP:
                    name = m.group(1).upper()
                    out[name] = out.get(name, 0) + int(m.group(2))
        except FileNotFoundError:
            pass
    return out
def monitor(n, v):
    """Script calls (EVALSHA) with the commands each ran (MONITOR lists a script's commands right after it), by kind:
    a publish's write (XADD inside), user accounting (ZADD), sweep (SSCAN), other (a write-script call without an
    append: background); the server's other top-level commands apart."""
    scripts, top = {}, {}
    def close(call):
        if call is None: return
        sha, inner = call
        kind = ("write (append + SPUBLISH)" if "XADD" in inner else "user accounting" if "ZADD" in inner
                else "sweep" if "SSCAN" in inner else f"other `{sha}`")
        x = scripts.setdefault(kind, {"calls": 0, "inner": {}, "sha": set()})
        x["calls"] += 1
        x["sha"].add(sha)
        for k, c in inner.items(): x["inner"][k] = x["inner"].get(k, 0) + c
    for k in prim:
        try:
            lines = open(f"{work}/monitor-{n}-{v}-{k}.txt", errors="replace").read().splitlines()
        except FileNotFoundError:
            continue
        cur = None
        for l in lines:
            m = re.match(r'^[\d.]+ \[\d+ ([^\]]+)\] "([A-Za-z]+)"(?: "([^"]*)")?', l)
            if not m: continue
            src, name = m.group(1), m.group(2).upper()
            if src == "lua":
                if cur is not None: cur[1][name] = cur[1].get(name, 0) + 1
            elif name in ("EVALSHA", "EVAL"):
                close(cur)
                cur = ((m.group(3) or "?")[:7], {})
            else:
                close(cur)
                cur = None
                top[name] = top.get(name, 0) + 1
        close(cur)
    for x in scripts.values(): x["sha"] = sorted(x["sha"])
    return scripts, top
fmt = lambda d, per: ", ".join(f"{k} {c / per:.2f}" for k, c in sorted(d.items(), key=lambda y: -y[1]) if c / per >= 0.005)
res, md = {"runs": {}}, []
md.append(f"Redis Cluster fan-out, {os.popen('date -u +%Y-%m-%dT%H:%MZ').read().strip()}, commit {e['commit']}"
          + (f" (+ {e['dirty']} uncommitted changed file(s) under server/, src/ or Cargo.*)" if e['dirty'] != '0' else "")
          + f", {os.cpu_count()} cores ({open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}), "
          f"Linux {os.uname().release}, load average before {e['load_before']}, after {e['load_after']}; {e['elapsed']} s. "
          f"Redis Cluster: 3 primaries + 3 replicas (redis-server {os.popen('redis-server --version').read().split()[2][2:]}, AOF appendfsync always), "
          f"{e['STREAMS']} streams in all, spread evenly over the instances; one publisher (C, {e['SECS']} s at a fixed rate) posting to instance 1; "
          f"fresh instances on an emptied cluster for every row. CPU: utime+stime of /proc/PID/stat (10 ms ticks). "
          "Shared 2-core machine: the instances, the stream holder, the publisher and the six Redis nodes share the two cores.\n")
for v in variants:
    rate = e["RATE"] if v == "broadcast" else e["USER_RATE"]
    if v == "broadcast":
        md.append(f"\n### Broadcast: `GET /subscribe` × {e['STREAMS']}, `POST /update` at {rate} ev/s (one SPUBLISH reaches every instance)\n")
    else:
        md.append(f"\n### Per-user: `GET /sse/u<i>` × {e['STREAMS']} (one stream per user), `POST /notify/u<k>` at {rate} ev/s to users spread over all of them (an instance receives only its users' events)\n")
    md.append("| instances | deliveries/s in all (offered: fixed rate) | events acked / errors | deliveries missing | server CPU per 100k deliveries, summed over the instances | the same per instance (instance 1 also takes the publishes) | linearity: 1-instance figure ÷ this (goal ≥ 0.9) | idle CPU per instance (streams open, nothing published) |")
    md.append("|---|---|---|---|---|---|---|---|")
    red = []
    base = None
    rows = [(n, v, str(n)) for n in ns]
    if v == "broadcast":  # the reference rows: one instance holding what each of N holds
        refs = sorted({r["variant"] for r in recs if r["variant"].startswith("ref-")}, key=lambda t: -int(t[4:]))
        rows += [(1, t, f"1, holding {int(t[4:]):,} streams (what each of {round(int(e['STREAMS']) / int(t[4:]))} holds)") for t in refs]
    for n, v, label in rows:
        r, idle = rec(n, v, "measure"), rec(n, v, "idle")
        if not r: continue
        deliv = [b - a for a, b in zip(r["counts0"], r["counts1"])]
        icpu = [b - a for a, b in zip(r["inst_cpu0"], r["inst_cpu1"])]
        rcpu = [b - a for a, b in zip(r["redis_cpu0"], r["redis_cpu1"])]
        total = sum(deliv)
        expected = r["acked"] * r["per_event"]
        cpd = sum(icpu) / max(total, 1) * 1e5
        per = [c / max(d, 1) * 1e5 for c, d in zip(icpu, deliv)]
        if base is None and n == 1 and v in ("broadcast", "user"): base = cpd
        lin = base / cpd if base and cpd else None
        idle_per = [(b - a) / idle["secs"] for a, b in zip(idle["inst_cpu0"], idle["inst_cpu1"])] if idle else []
        ridle = [(b - a) / idle["secs"] for a, b in zip(idle["redis_cpu0"], idle["redis_cpu1"])] if idle else [0] * len(rcpu)
        ev = max(r["acked"], 1)
        cs = cmdstats(n, v)
        bg = {k: c / idle["secs"] for k, c in cmdstats(n, v, "-idle").items()} if idle else {}
        net = {k: c - bg.get(k, 0) * r["secs"] for k, c in cs.items()}
        evalsha = net.pop("EVALSHA", 0) + net.pop("EVAL", 0)
        pcpu = sum(rcpu[k] for k in prim) / ev * 1e6
        scpu = sum(rcpu[k] for k in repl) / ev * 1e6
        pnet = sum(rcpu[k] - ridle[k] * r["secs"] for k in prim) / ev * 1e6
        snet = sum(rcpu[k] - ridle[k] * r["secs"] for k in repl) / ev * 1e6
        scripts, top = monitor(n, v)
        mon = rec(n, v, "monitor")
        mev = max(mon["acked"], 1) if mon else 1
        res["runs"][f"{v}-{n}"] = dict(instances=n, deliveries=deliv, expected=expected, inst_cpu=icpu, redis_cpu=rcpu,
            secs=r["secs"], pub_secs=r["pub_secs"], acked=r["acked"], errors=r["errors"], cpu_per_100k=cpd,
            cpu_per_100k_per_instance=per, linearity=lin, idle_cpu_per_s=idle_per, redis_idle_cpu_per_s=ridle,
            commandstats_calls=cs, background_calls_per_s=bg, evalsha_per_event_net=evalsha / ev,
            commands_per_event_net={k: c / ev for k, c in net.items()},
            redis_cpu_us_per_event_primaries=pcpu, redis_cpu_us_per_event_replicas=scpu,
            redis_cpu_us_per_event_primaries_net=pnet, redis_cpu_us_per_event_replicas_net=snet,
            monitor_events=mon["acked"] if mon else 0, monitor_scripts=scripts, monitor_top=top, cmd=r["cmd"],
            broken=r["broken"])
        md.append(f"| {label} | {total / r['pub_secs']:,.0f} | {r['acked']} / {r['errors']} | {max(expected - total, 0)} | "
                  f"{cpd:.3f} s ({cpd * 10:.2f} µs per delivery) | {' / '.join(f'{x:.3f}' for x in per)} | "
                  f"{f'{lin:.2f}' if lin else '—'} | {' / '.join(f'{x:.1%}' for x in idle_per)} |")
        path_scripts = {kind: x for kind, x in scripts.items() if kind in ("write (append + SPUBLISH)", "user accounting")}
        rt = sum(x["calls"] for x in path_scripts.values()) / mev
        inner = {}
        for x in path_scripts.values():
            for k, c in x["inner"].items(): inner[k] = inner.get(k, 0) + c
        res["runs"][f"{v}-{n}"].update(round_trips_per_event=rt, commands_in_scripts_per_event=sum(inner.values()) / mev)
        others = {sha: x for sha, x in scripts.items() if sha not in path_scripts}
        red.append(f"| {label} | **{rt:.2f}**: " + "; ".join(f"{kind} `{'/'.join(x['sha'])}` {x['calls'] / mev:.2f}" for kind, x in sorted(path_scripts.items(), key=lambda y: -y[1]['calls']))
                   + (f" (besides, in the window: " + "; ".join(f"{kind} {x['calls']} call(s) of {sum(x['inner'].values()) / x['calls']:.1f} commands" for kind, x in others.items()) + ")" if others else "")
                   + (f"; not in a script: {fmt(top, mev)}" if fmt(top, mev) else "")
                   + f" | **{sum(inner.values()) / mev:.2f}**: "
                   + "; ".join(f"{kind} {sum(x['inner'].values()) / max(x['calls'], 1):.1f} per call ({fmt(x['inner'], max(x['calls'], 1))})" for kind, x in sorted(path_scripts.items(), key=lambda y: -y[1]['calls']))
                   + f" | {(cs.get('EVALSHA', 0) + cs.get('EVAL', 0)) / ev:.2f}; {fmt({k: c for k, c in cs.items() if k not in ('EVALSHA', 'EVAL')}, ev)} | {pcpu:.0f} µs / {scpu:.0f} µs |")
    md.append(f"\nRedis, per published event. Round trips and the commands inside the scripts: MONITOR on every primary over {e['MON_SECS']} s "
              "of the same publishing (a script's commands are listed after its EVALSHA; scripts told apart by their sha). Commandstats: "
              "every primary over the publishing window, gross (with the background of every instance: epoch checks GET/SET, sweep "
              "scripts SSCAN/HGETALL/XRANGE/HGET, a first SCRIPT LOAD). Redis CPU: utime+stime over the publishing window, gross "
              "(with the nodes' idle cron, gossip and AOF work).\n")
    md.append("| instances | round trips per event (EVALSHA, by script) | commands inside the scripts per event | commandstats per event: EVALSHA; the rest | Redis CPU per event: 3 primaries / 3 replicas |")
    md.append("|---|---|---|---|---|")
    md.extend(red)
rows = [r.split() for r in os.environ.get("wait_table", "").splitlines() if r.strip()]
if rows:
    md.append("\nThe cost of `--redis-wait-replicas 1` (one instance, `POST /update`, bench/publish closed loop, 3 s each, two "
              "alternating rounds): acknowledged publishes/s and publish→acknowledge p50 / p99.\n")
    md.append("| publishers | WAIT 0: acked/s (p50 / p99 ms) | WAIT 1: acked/s (p50 / p99 ms) | WAIT 1 / WAIT 0 (acked/s) |")
    md.append("|---|---|---|---|")
    for c in sorted({r[1] for r in rows}, key=int):
        sel = {w: [r for r in rows if r[0] == w and r[1] == c] for w in ("0", "1")}
        cell = lambda rs: ", ".join(f"{int(r[2]):,} ({r[3]} / {r[4]})" for r in rs)
        mean = lambda rs: sum(int(r[2]) for r in rs) / max(len(rs), 1)
        ratio = mean(sel["1"]) / mean(sel["0"]) if mean(sel["0"]) else 0
        md.append(f"| {c} | {cell(sel['0'])} | {cell(sel['1'])} | {ratio:.2f} |")
    res["wait"] = [dict(wait=int(r[0]), publishers=int(r[1]), acked_per_sec=int(r[2]), p50_ms=float(r[3]), p99_ms=float(r[4])) for r in rows]
out = "\n".join(md) + "\n"
open(sys.argv[1], "w").write(out)
json.dump(res, open(sys.argv[2], "w"), indent=1)
print(out)
PY
