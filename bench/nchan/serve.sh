#!/usr/bin/env bash
# The Nchan baseline: nginx (Debian's nginx-light) + the Nchan module, configured as Nchan's docs recommend for
# production, with the same routes as the other servers: `GET /subscribe` (EventSource), `POST /update` (the
# published message is the request body: `{"text": …}`). Not a system service: its own config, prefix dir and port,
# `daemon off`, stopped by its PID (SIGTERM to the master stops the workers).
#
#   bench/nchan/serve.sh DIR      (DIR: an empty or reusable working dir; prints `listening on http://ADDR`)
#
# bench/nchan/install.sh installs the packages.
set -euo pipefail
dir=$(mkdir -p "${1:?usage: serve.sh DIR}" && cd "$1" && pwd)
module=/usr/lib/nginx/modules/ngx_nchan_module.so
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/tmp"
cat >"$dir/nginx.conf" <<CONF
load_module $module;
# Workers as root: the prefix dir is the bench's own temp dir.
user root;
daemon off;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
  # bench/run.sh raises the open-files limit to 20000.
  worker_connections 20000;
  use epoll;
}
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  # nginx's default (1000) would cut a pipelining keep-alive publisher after 1000 requests.
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
  # Shared memory for the message buffers of all workers (Nchan's default is 128M).
  nchan_shared_memory_size 256M;
  # A message buffer like ours (256 messages), kept for an hour (Nchan's default timeout): Last-Event-ID replay.
  nchan_message_buffer_length 256;
  nchan_message_timeout 1h;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location = /subscribe {
      nchan_subscriber eventsource;
      nchan_channel_id main;
      # Like ours: a new subscriber without Last-Event-ID gets new messages only.
      nchan_subscriber_first_message newest;
    }
    location = /update {
      nchan_publisher http;
      nchan_channel_id main;
    }
  }
}
CONF
# Prints the address once nginx accepts connections (nginx itself prints nothing).
(
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "listening on http://127.0.0.1:$port"
      exit 0
    fi
    sleep 0.05
  done
  echo "nchan: nginx did not listen on $port" >&2
) &
exec nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
