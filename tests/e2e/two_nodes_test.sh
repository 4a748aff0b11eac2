#!/usr/bin/env bash
# End to end: two nodes' agents seen at once (issue 10, point 3). Two labs,
# node-a and node-b, each a node namespace with the shop's pods and its own
# agent and API socket. `bulkhead flows --agent A --agent B` merges their
# flows by time, each naming its node; --follow gets a new flow from either;
# `bulkhead status --agent A --agent B` answers for both.
# Usage: two_nodes_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
API=$SHOP_API DB=$SHOP_DB
WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
source "$(dirname "$0")/lib.sh"
PREFIX_A="bh2a$$-" PREFIX_B="bh2b$$-"
PID_A="" PID_B="" FOLLOW_PID=""

cleanup() {
  local rc=${1:-$?} sid pids prefix
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    for n in a b; do echo "--- agent log, node-$n"; cat "$WORK/$n/agent.log" 2>/dev/null || true; done
  fi
  for pid in "$FOLLOW_PID" "$PID_A" "$PID_B"; do [[ -n "$pid" ]] && bh_stop "$pid"; done
  for sid in "${LAB_SERVERS[@]}"; do
    pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
    [[ -n "$pids" ]] && bh_stop $pids
  done
  for prefix in "$PREFIX_A" "$PREFIX_B"; do LAB_PREFIX=$prefix lab_destroy frontend api db; done
  umount "$WORK/a/bpffs" "$WORK/b/bpffs" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

# node N PREFIX: the shop on its own node, its agent named node-N; sets PID_N.
node() {
  local n=$1
  LAB_PREFIX=$2
  mkdir -p "$WORK/$n"
  shop_create "$WORK/$n"
  lab_serve api 8080
  lab_serve db 5432
  lab_wait_port api 8080 && lab_wait_port db 5432
  BULKHEAD_SOCKET="$WORK/$n.sock" SHOP_AGENT_ARGS=(--node-name "node-$n")
  BULKHEAD_SOCKET="$WORK/$n.sock" shop_start_agent "$WORK/$n" "$BUILD_DIR" 2>>"$WORK/$n/agent.log"
}
node a "$PREFIX_A"; PID_A=$SHOP_AGENT_PID
node b "$PREFIX_B"; PID_B=$SHOP_AGENT_PID
AGENTS=(--agent "$WORK/a.sock" --agent "$WORK/b.sock")

LAB_PREFIX=$PREFIX_A lab_connect frontend $API 8080 || true
sleep 0.2
LAB_PREFIX=$PREFIX_B lab_connect api $DB 5432 || true
sleep 0.2
LAB_PREFIX=$PREFIX_A lab_connect api $DB 5432 || true

"$BULKHEAD" flows --last 0 -o json "${AGENTS[@]}" >"$WORK/both.json"
check "flows: both nodes' flows, each naming its node" test \
  "$(jq -r .node "$WORK/both.json" | sort -u | tr '\n' ' ')" == "node-a node-b "
check "flows: merged by time" test "$(jq -r .time "$WORK/both.json")" == "$(jq -r .time "$WORK/both.json" | sort)"
check "flows: node-b's api -> db lies between node-a's two flows" test \
  "$(jq -r 'select(.source.workload!="" and .hook=="FROM_ENDPOINT") | "\(.node) \(.source.workload)"' "$WORK/both.json" | uniq | tr '\n' ',')" == \
  "node-a shop/frontend,node-b shop/api,node-a shop/api,"
check "flows --node node-b: one node's" test "$("$BULKHEAD" flows --last 0 -o json "${AGENTS[@]}" --node node-b | jq -r .node | sort -u)" == "node-b"

"$BULKHEAD" flows --follow -o json "${AGENTS[@]}" --to shop/db >"$WORK/follow.json" 2>"$WORK/follow.err" &
FOLLOW_PID=$!
sleep 1
LAB_PREFIX=$PREFIX_B lab_connect frontend $DB 5432 || true
for i in $(seq 1 50); do [[ -s "$WORK/follow.json" ]] && break; sleep 0.1; done
check "follow: a new flow on node-b is printed" test \
  "$(jq -c 'select(.node=="node-b" and .source.workload=="shop/frontend" and .destination.workload=="shop/db")' "$WORK/follow.json" | wc -l)" -ge 1
LAB_PREFIX=$PREFIX_A lab_connect frontend $DB 5432 || true
for i in $(seq 1 50); do [[ $(jq -r .node "$WORK/follow.json" | sort -u | wc -l) -eq 2 ]] && break; sleep 0.1; done
check "follow: and then one on node-a" test \
  "$(jq -c 'select(.node=="node-a" and .source.workload=="shop/frontend" and .destination.workload=="shop/db")' "$WORK/follow.json" | wc -l)" -ge 1
bh_stop "$FOLLOW_PID"; FOLLOW_PID=""

check "status: one answer per agent" test \
  "$("$BULKHEAD" status -o json "${AGENTS[@]}" | jq -r .node | tr '\n' ' ')" == "node-a node-b "
check "status: as tables, each under its socket" test \
  "$("$BULKHEAD" status "${AGENTS[@]}" | grep -c '^bulkheadd .* on node-')" -eq 2
check "an agent that is not there: an error naming it" bash -c \
  "! '$BULKHEAD' flows --agent '$WORK/a.sock' --agent '$WORK/none.sock' >/dev/null 2>'$WORK/err' && grep -q '$WORK/none.sock' '$WORK/err'"

echo
if [[ $failures -ne 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
