#!/usr/bin/env bash
# Installs Debian's nginx-light and libnginx-mod-nchan for the Nchan baseline, if missing (idempotent). The packaged
# service is never started: a temporary policy-rc.d forbids service starts during the install, and the bench runs
# nginx itself (bench/nchan/serve.sh) with its own config, prefix dir and port.
set -euo pipefail
module=/usr/lib/nginx/modules/ngx_nchan_module.so
if command -v nginx >/dev/null && [ -f "$module" ]; then exit 0; fi
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  made_policy=1
fi
trap '[ -z "$made_policy" ] || $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx-light libnginx-mod-nchan >/dev/null
# If a packaged nginx got started anyway (no policy-rc.d support), stop it: the bench runs its own.
if [ -f /run/nginx.pid ]; then $sudo kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
[ -f "$module" ] || { echo "nchan module not found at $module" >&2; exit 1; }
