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
PODS=(frontend api db)
FRONTEND=10.244.1.10 API=10.244.1.20 DB=10.244.1.30

bold() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf '    %s\n' "$*"; }

for ns in "$LAB_NODE" "${PODS[@]/#/$LAB_PREFIX}"; do
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    echo "demo: network namespace $ns already exists; remove it (ip netns del $ns) or set BULKHEAD_DEMO_PREFIX" >&2
    exit 1
  fi
done

bold "Installing what is missing and building (a first build takes about 2 minutes)"
"$BH_ROOT/tools/install-deps.sh"
bh_build "$BUILD_DIR" >/dev/null
BULKHEADD="$BUILD_DIR/controlplane/bulkheadd"
BULKHEAD="$BUILD_DIR/tools/bulkhead"

WORK=$(mktemp -d /tmp/bulkhead-demo.XXXXXX)
AGENT_PID="" SERVER_PIDS=()
cleanup() {
  local rc=${1:-$?}  # on a signal: 128 + its number
  trap - EXIT INT TERM
  bh_stop "$AGENT_PID"
  bh_stop_group "${SERVER_PIDS[@]}"
  lab_destroy "${PODS[@]}"
  umount "$WORK/bpffs" 2>/dev/null || true
  rm -rf "$WORK"
  [[ $rc -eq 0 ]] && bold "Cleaned up: namespaces, veths, pinned maps and processes are gone" ||
    echo "demo: failed (exit $rc); cleaned up. Agent log was printed above." >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

bold "Creating the node and three pods"
lab_create_node
lab_add_pod frontend $FRONTEND 10.244.0.1
lab_add_pod api $API 10.244.0.2
lab_add_pod db $DB 10.244.0.3
say "frontend $FRONTEND, api $API, db $DB (namespaces: $LAB_NODE, ${PODS[*]/#/$LAB_PREFIX})"

cat >"$WORK/inventory.yaml" <<YAML
workloads:
  - {namespace: shop, name: frontend, labels: {app: frontend}, addresses: [$FRONTEND]}
  - {namespace: shop, name: api, labels: {app: api}, addresses: [$API]}
  - {namespace: shop, name: db, labels: {app: db}, addresses: [$DB]}
YAML

bold "Starting bulkheadd in learn mode"
# Inside `ip netns exec`, /sys/fs/bpf is not a bpffs: pin under our own.
mkdir -p "$WORK/bpffs" && mount -t bpf bpf "$WORK/bpffs"
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
ip netns exec "$LAB_NODE" "$BULKHEADD" --inventory "$WORK/inventory.yaml" \
  --interfaces 'lxc-*' --pin-dir "$WORK/bpffs" --state-dir "$WORK/state" --mode learn \
  2> >(sed 's/^/    [bulkheadd] /' >&2) &
AGENT_PID=$!
bh_wait_agent "$BULKHEAD_SOCKET" "$AGENT_PID" "$BULKHEAD"
"$BULKHEAD" status | sed 's/^/    /'

bold "Real traffic while learning: frontend -> api:8080, api -> db:5432"
lab_serve api 8080 && SERVER_PIDS+=($!)
lab_serve db 5432 && SERVER_PIDS+=($!)
lab_wait_port api 8080 && lab_wait_port db 5432
for i in 1 2 3; do
  lab_connect frontend $API 8080 && say "frontend -> api:8080  connected" || { say "frontend -> api:8080 FAILED"; exit 1; }
  lab_connect api $DB 5432 && say "api -> db:5432        connected" || { say "api -> db:5432 FAILED"; exit 1; }
done

bold "Switching every workload to enforce"
"$BULKHEAD" mode set --all enforce | sed 's/^/    /'

bold "Learned paths still work; frontend -> db:5432 was never seen, so it is dropped"
lab_connect frontend $API 8080 && say "frontend -> api:8080  connected (learned)" || { say "frontend -> api:8080 FAILED"; exit 1; }
lab_connect api $DB 5432 && say "api -> db:5432        connected (learned)" || { say "api -> db:5432 FAILED"; exit 1; }
if lab_connect frontend $DB 5432; then
  say "frontend -> db:5432   CONNECTED: enforcement did not work"; exit 1
else
  say "frontend -> db:5432   timed out: dropped in the kernel"
fi

bold "bulkhead flows"
"$BULKHEAD" flows --last 20 | sed 's/^/    /'

bold "bulkhead policy export (the learned allow-list, for review)"
"$BULKHEAD" policy export | sed 's/^/    /'
