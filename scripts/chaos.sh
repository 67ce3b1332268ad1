#!/usr/bin/env bash
# The long chaos run (issue 22, item 9), by hand: two server instances on one redis-server (AOF, appendfsync always),
# readers reconnecting with their last id, publishers retrying with Idempotency-Key, while instances and Redis are
# killed with SIGKILL, Redis is wiped (FLUSHALL) and stalled (DEBUG SLEEP), a reader stops reading and another
# reader's connection is blackholed (a relay stops forwarding without closing; its reader notices when the server's
# heartbeats stop). Prints the figures and fails unless 0 acknowledged events were lost, 0 duplicated, and every
# break was signalled by a gap.
# The test command runs a short round (24 s) of the same test.
#
#   scripts/chaos.sh [SECONDS]    (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
export CHAOS_SECS="${1:-600}"
cargo test -p typed-eventsource-server --release --test chaos -- --nocapture
