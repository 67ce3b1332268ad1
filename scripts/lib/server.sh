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

# A free loopback port (bound, then released: the caller uses it at once).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
