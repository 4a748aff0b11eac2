#!/usr/bin/env bash
# The Bulkhead demo, for real: three "pods" (network namespaces frontend, api
# and db) routed through a "node" namespace, the agent attached to their
# veths, real TCP between them. Learn -> enforce -> a dropped flow, then the
# flows and the learned policy. Installs what is missing, builds, and cleans
# up after itself (also on Ctrl-C or failure). Run as root:
#
#   tools/demo.sh
#
# Environment: BULKHEAD_DEMO_PREFIX prefixes every namespace name (default
# none, as in the story); BUILD_DIR (default build).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
bh_require_root

LAB_PREFIX=${BULKHEAD_DEMO_PREFIX:-}
LAB_NODE="${LAB_PREFIX}bulkhead-node"
BUILD_DIR=${BUILD_DIR:-$BH_ROOT/build}
BULKHEAD="$BUILD_DIR/tools/bulkhead"

bold() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf '    %s\n' "$*"; }
# expect_connect POD ADDR PORT LABEL / expect_refused ...: one step of the story.
expect_connect() {
  if lab_connect "$1" "$2" "$3"; then say "$4  connected"; else say "$4  FAILED to connect"; exit 1; fi
}
expect_refused() {
  if lab_connect "$1" "$2" "$3"; then say "$4  CONNECTED: enforcement did not work"; exit 1; fi
  say "$4  timed out: dropped in the kernel"
}

for ns in "$LAB_NODE" "${SHOP_PODS[@]/#/$LAB_PREFIX}"; do
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    echo "demo: network namespace $ns already exists; remove it (ip netns del $ns) or set BULKHEAD_DEMO_PREFIX" >&2
    exit 1
  fi
done

bold "Installing what is missing and building (a first build takes about 2 minutes)"
"$BH_ROOT/tools/install-deps.sh"
bh_build "$BUILD_DIR" >/dev/null

WORK=$(mktemp -d /tmp/bulkhead-demo.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
cleanup() {
  local rc=${1:-$?}  # on a signal: 128 + its number
  trap - EXIT INT TERM
  shop_teardown "$WORK"
  if [[ $rc -eq 0 ]]; then
    bold "Cleaned up: namespaces, veths, pinned maps and processes are gone"
  else
    echo "demo: failed (exit $rc); cleaned up. The agent's log is above." >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

bold "Creating the node and three pods"
shop_create "$WORK"
say "frontend $SHOP_FRONTEND, api $SHOP_API, db $SHOP_DB (namespaces: $LAB_NODE, ${SHOP_PODS[*]/#/$LAB_PREFIX})"

bold "Starting bulkheadd in learn mode"
shop_start_agent "$WORK" "$BUILD_DIR" 2> >(sed 's/^/    [bulkheadd] /' >&2)
"$BULKHEAD" status | sed 's/^/    /'

bold "Real traffic while learning: frontend -> api:8080, api -> db:5432"
lab_serve api 8080
lab_serve db 5432
lab_wait_port api 8080 && lab_wait_port db 5432
for i in 1 2 3; do
  expect_connect frontend $SHOP_API 8080 "frontend -> api:8080"
  expect_connect api $SHOP_DB 5432 "api -> db:5432      "
done

bold "Switching every workload to enforce"
"$BULKHEAD" mode set --all enforce | sed 's/^/    /'

bold "Learned paths still work; frontend -> db:5432 was never seen, so it is dropped"
expect_connect frontend $SHOP_API 8080 "frontend -> api:8080"
expect_connect api $SHOP_DB 5432 "api -> db:5432      "
expect_refused frontend $SHOP_DB 5432 "frontend -> db:5432 "

bold "bulkhead flows"
"$BULKHEAD" flows --last 20 | sed 's/^/    /'

bold "bulkhead policy export (the learned allow-list, for review)"
"$BULKHEAD" policy export | sed 's/^/    /'
