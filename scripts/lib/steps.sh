# Sourced by scripts/test.sh: run named steps, time them, and print a summary at the end (also when a step fails).
# `step "what" command args...` runs the command (a shell function is fine) and records its wall time.
STEP_NAMES=()
STEP_SECONDS=()
STEP_STARTED=$SECONDS

step() {
  local name=$1; shift
  local started=$SECONDS
  printf '\n\033[1m== %s\033[0m\n' "$name"
  STEP_NAMES+=("$name")
  STEP_SECONDS+=("…")
  "$@"
  STEP_SECONDS[${#STEP_SECONDS[@]}-1]=$((SECONDS - started))
}

steps_summary() {
  local i
  echo
  echo "== time per step (seconds)"
  for i in "${!STEP_NAMES[@]}"; do
    printf '%6s  %s\n' "${STEP_SECONDS[$i]}" "${STEP_NAMES[$i]}"
  done
  printf '%6s  %s\n' "$((SECONDS - STEP_STARTED))" "total"
}

# A failing step leaves "…" as its time; the summary still shows how far the run got.
steps_on_exit() {
  local status=$?
  if [ "$status" -ne 0 ] && [ ${#STEP_NAMES[@]} -gt 0 ]; then
    steps_summary
    echo "== failed in step: ${STEP_NAMES[${#STEP_NAMES[@]}-1]}"
  fi
}
trap steps_on_exit EXIT
