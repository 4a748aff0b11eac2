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
flows_matching() {
  "$BULKHEAD" flows --last 0 -o json | jq -c "select($1)" | wc -l
}

# segments: the exported policy as "from to PROTOCOL port" lines, sorted.
segments() {
  "$BULKHEAD" policy export |
    awk '/- from:/ {f=$3} /^ +to:/ {t=$2} /protocol:/ {p=$2} /port:/ {print f, t, p, $2}' | sort
}
