#!/usr/bin/env bash
# Mutation testing of the pure modules (issue 27) with cargo-mutants: each function of these files is changed in turn
# (a default value returned, a comparison or operator swapped, a `!` deleted, a match arm removed, ...) and its
# crate's tests are run; a mutant they do not catch is a behaviour no test pins. Prints, per group and in all, the
# score: caught / viable (viable: the mutant builds; a timeout counts as caught), goal >= 90 %. The survivors accepted,
# with reasons, are listed in bench/README.md ("Mutation testing").
#
# Not part of scripts/test.sh: each mutant is a rebuild; one job on 2 cores takes ~4 min for the library, ~25 min for the
# codec and ~1 h for the server (186 mutants).
#
#   scripts/mutants.sh [library] [codec] [server]     (default: all three)
#
# The tree is copied for each run (cargo-mutants' default; never --in-place: others edit the tree), one job at a time,
# with its own target dir (CARGO_TARGET_DIR, default /work/target-mutants). Reports go to mutants.out/<group>/ under
# MUTANTS_OUT (default: target-mutants next to the target dir): caught.txt, missed.txt, timeout.txt, unviable.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-mutants}
out=${MUTANTS_OUT:-$CARGO_TARGET_DIR/mutants.out}
mkdir -p "$out"

if ! command -v cargo-mutants >/dev/null; then
  cargo install cargo-mutants --locked --version 27.1.0
fi

# The pure modules of each crate, and the tests that must catch their mutants (unit tests for the library and the
# server: their integration tests need a browser or start servers; every test for the codec, whose wpt vectors and
# property tests are fast).
group_files() {
  case $1 in
    library) echo src/reconnect.rs src/recent_ids.rs src/terminal.rs src/event_names.rs src/gap.rs src/ready_state.rs \
      src/liveness.rs ;;
    codec) echo codec/src/decode.rs codec/src/encode.rs codec/src/lib.rs ;;
    server) echo server/src/event_id.rs server/src/auth.rs server/src/limits.rs server/src/config.rs ;;
    *) echo "unknown group $1 (library, codec, server)" >&2; exit 2 ;;
  esac
}
group_test_args() {
  case $1 in
    library | server) echo --cargo-test-arg=--lib ;;
    codec) ;;
  esac
}

count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }

# The score of each file of a run (its outcome lists: one mutant a line, starting with the file's path).
per_file() {
  for kind in caught timeout missed unviable; do
    if [ -f "$1/$kind.txt" ]; then sed "s/:.*//; s/^/$kind /" "$1/$kind.txt"; fi
  done | awk '{ n[$2, $1]++; files[$2] }
    END { for (f in files) { c = n[f, "caught"] + n[f, "timeout"]; v = c + n[f, "missed"]
      printf "  %-30s %4d / %4d (%.1f %%), %d unviable\n", f, c, v, (v ? 100 * c / v : 100), n[f, "unviable"] } }' |
    sort
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(library codec server)
total_caught=0 total_viable=0
summary=()
for group in "${groups[@]}"; do
  args=()
  for f in $(group_files "$group"); do args+=(--file "$f"); done
  # shellcheck disable=SC2207 # one word per argument
  args+=($(group_test_args "$group"))
  echo "== mutants of $group: ${args[*]}"
  rm -rf "$out/$group"
  # Exit code 2: some mutants were missed, 3: some timed out; the score below says how many.
  cargo mutants --workspace --jobs 1 --no-shuffle --output "$out/$group" "${args[@]}" || {
    rc=$?
    [ $rc -eq 2 ] || [ $rc -eq 3 ] || exit $rc
  }
  dir="$out/$group/mutants.out"
  caught=$(( $(count "$dir/caught.txt") + $(count "$dir/timeout.txt") ))
  missed=$(count "$dir/missed.txt")
  unviable=$(count "$dir/unviable.txt")
  viable=$(( caught + missed ))
  total_caught=$(( total_caught + caught )) total_viable=$(( total_viable + viable ))
  summary+=("$(awk -v g="$group" -v c="$caught" -v v="$viable" -v u="$unviable" \
    'BEGIN { printf "%-8s %4d / %4d viable mutants caught (%.1f %%), %d unviable", g, c, v, (v ? 100 * c / v : 100), u }')")
  summary+=("$(per_file "$dir")")
  if [ "$missed" -gt 0 ]; then
    echo "-- missed in $group:"
    cat "$dir/missed.txt"
  fi
done
echo "== mutation score ($(date -u +%Y-%m-%d))"
printf '%s\n' "${summary[@]}"
awk -v c="$total_caught" -v v="$total_viable" \
  'BEGIN { printf "all      %4d / %4d viable mutants caught (%.1f %%; goal >= 90 %%)\n", c, v, (v ? 100 * c / v : 100) }'
