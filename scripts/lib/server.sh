# Sourced by the scripts: start the companion server and learn its URL.
# start_server LOGFILE ARGS... sets SERVER_PID and SERVER_URL; the server is stopped when the calling shell exits.
start_server() {
  local log=$1; shift
  local fifo
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  target/debug/typed-eventsource-server serve "$@" >"$fifo" 2>"$log" &
  SERVER_PID=$!
  trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT
  local line
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
