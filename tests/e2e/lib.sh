# Assertions shared by the end-to-end tests. Source it after
# tools/lib/common.sh, with BULKHEAD set to the CLI and the agent's socket
# in BULKHEAD_SOCKET. `failures` counts failed checks.
failures=0

# check "what" command...: runs the command, prints ok/FAIL, counts failures.
check() {
  local what=$1; shift
  if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; failures=$((failures + 1)); fi
}
refused() { ! "$@"; }

# flows_matching JQ_FILTER: how many flows (JSON lines) match.
# A failure of bulkhead or jq prints a word, not a count, so the check that
# uses it fails too (never "0 flows matched" by accident).
flows_matching() {
  local flows count
  flows=$("$BULKHEAD" flows --last 0 -o json) || { echo "bulkhead-flows-failed"; return 1; }
  count=$(set -o pipefail; jq -c "select($1)" <<<"$flows" | wc -l) || { echo "jq-failed"; return 1; }
  echo "$count"
}

# segments: the exported policy's segments in force (not heldBack) as
# "from to PROTOCOL port" lines, sorted.
segments() {
  "$BULKHEAD" policy export |
    awk '/^heldBack:/ {exit} /- from:/ {f=$3} /^ +to:/ {t=$2} /protocol:/ {p=$2} /^ +port:/ {print f, t, p, $2}' | sort
}

# Processes a test starts besides the agent and the servers (clients,
# followers): `SHOP_EXTRA_PIDS+=($!)`; shop_cleanup ends them first.
SHOP_EXTRA_PIDS=()

# shop_cleanup_on_exit: on any exit (a signal too), prints the agent log
# ($WORK/agent.log) if the test failed, ends SHOP_EXTRA_PIDS, then
# shop_teardown "$WORK".
shop_cleanup_on_exit() {
  trap shop_cleanup EXIT
  trap 'shop_cleanup 130' INT
  trap 'shop_cleanup 143' TERM
}
shop_cleanup() {
  local rc=${1:-$?}  # on a signal: 128 + its number
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    echo "--- agent log"; cat "$WORK/agent.log" 2>/dev/null || true
  fi
  local pid
  for pid in "${SHOP_EXTRA_PIDS[@]}"; do bh_stop "$pid"; done
  shop_teardown "$WORK"
  exit "$rc"
}

# counter NAME: a `bulkhead status` counter, as a number.
counter() { "$BULKHEAD" status -o json | jq ".datapath_counters.$1 | tonumber"; }
