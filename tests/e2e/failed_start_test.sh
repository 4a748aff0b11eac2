#!/usr/bin/env bash
# A start that fails changes nothing in the kernel. The agent enforces a
# learned policy, is stopped, and then started wrong in six ways: an
# inventory too big for its maps, map sizes other than the pinned maps', a
# corrupt state file, a missing uplink, a misspelled inventory key, a state
# file that cannot be written once the maps were switched. Each must
# exit with an error that says what is wrong, and leave every pinned map
# (policy, ipcache, modes, endpoints), the attached programs and the state
# file exactly as they were, still enforcing. Then a good start with a
# changed inventory (a new workload that sorts first) keeps every live
# workload's identity number; while it runs, a bad inventory is refused and
# the last good one stays, and a pod restarted with a new address keeps its
# workload's identity and segments.
# Usage: failed_start_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhfs$$-"
FRONTEND=$SHOP_FRONTEND API=$SHOP_API DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-failed-start.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

SIZES=(--ipcache-max 1024 --policy-max 1024 --identities-max 1024)
# bulkheadd on the node; add --inventory, --state-dir and sizes. A plain
# command, so that `... &` gives the agent's own pid.
agent_cmd() {
  AGENT=(ip netns exec "$(lab_node_ns)" "$BUILD_DIR/controlplane/bulkheadd"
    --interfaces 'lxc-*' --pin-dir "$WORK/bpffs" --socket "$BULKHEAD_SOCKET" --mode learn)
}
start_agent() {  # start_agent INVENTORY
  "${AGENT[@]}" --inventory "$1" --state-dir "$WORK/state" "${SIZES[@]}" 2>>"$WORK/agent.log" &
  SHOP_AGENT_PID=$!
  bh_wait_agent "$BULKHEAD_SOCKET" "$SHOP_AGENT_PID" "$BULKHEAD"
}

# What a failed start must not change: the maps' contents, the programs
# attached to each pod interface (their ids), the state file.
kernel_state() {
  local m dev
  for m in bh_policy bh_ipcache bh_modes bh_endpoints; do
    echo "$m: $(bpftool -j map dump pinned "$WORK/bpffs/v3/$m" | jq -cS 'sort_by(.key)')"
  done
  for dev in lxc-frontend lxc-api lxc-db; do
    echo "$dev: $(ip netns exec "$(lab_node_ns)" tc filter show dev "$dev" ingress | grep -o 'id [0-9]*')" \
      "$(ip netns exec "$(lab_node_ns)" tc filter show dev "$dev" egress | grep -o 'id [0-9]*')"
  done
  sha256sum <"$WORK/state/state.pb"
}

# fails_cleanly WHAT MESSAGE INVENTORY STATE_DIR ARGS...
fails_cleanly() {
  local what=$1 message=$2 inventory=$3 state=$4 rc=0; shift 4
  timeout 20 "${AGENT[@]}" --inventory "$inventory" --state-dir "$state" "$@" \
    2>"$WORK/failed.log" || rc=$?
  check "$what: exits with an error at once" test "$rc" -ne 0 -a "$rc" -ne 124
  check "$what: says \"$message\"" grep -qF -- "$message" "$WORK/failed.log"
  sed 's/^/      /' "$WORK/failed.log" | tail -2
  check "$what: maps, programs and state file are exactly as before" \
    test "$(kernel_state)" == "$BEFORE"
  check "$what: nothing listens on the API socket" refused test -S "$BULKHEAD_SOCKET"
}

shop_create "$WORK"
agent_cmd
lab_serve api 8080
lab_serve db 5432
lab_wait_port api 8080 && lab_wait_port db 5432

echo "# a good agent learns and enforces, then stops"
start_agent "$WORK/inventory.yaml"
check "learn: frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
"$BULKHEAD" mode set --all enforce >/dev/null
check "enforce: frontend -> db tcp/5432 times out" refused lab_connect frontend $DB 5432
identities_before=$("$BULKHEAD" status -o json | jq -c '[.workloads[] | {workload, identity}]')
shop_stop_agent
BEFORE=$(kernel_state)

echo "# failed starts"
big="$WORK/big-inventory.yaml"
cp "$WORK/inventory.yaml" "$big"
for i in $(seq 0 1099); do
  echo "  - {namespace: big, name: w$i, addresses: [10.244.$((100 + i / 250)).$((1 + i % 250))]}"
done >>"$big"
fails_cleanly "inventory too big for the maps" \
  "map bh_modes holds 3 entries and this change adds 1100" "$big" "$WORK/state" "${SIZES[@]}"
check "inventory too big: the error names the flag to raise" \
  grep -qF -- "--identities-max 1103 or more" "$WORK/failed.log"

fails_cleanly "map sizes other than the pinned maps'" "may have other sizes" \
  "$WORK/inventory.yaml" "$WORK/state" --ipcache-max 2048 --policy-max 1024 --identities-max 1024

cp -r "$WORK/state" "$WORK/state-corrupt"
printf 'not a state file \377\377\377' >"$WORK/state-corrupt/state.pb"
fails_cleanly "corrupt state file" "state-corrupt/state.pb: state file: not a bulkhead state file" \
  "$WORK/inventory.yaml" "$WORK/state-corrupt" "${SIZES[@]}"

fails_cleanly "missing uplink" "uplink interface bhnosuchif" \
  "$WORK/inventory.yaml" "$WORK/state" "${SIZES[@]}" --uplink bhnosuchif

sed 's/addresses:/adresses:/' "$WORK/inventory.yaml" >"$WORK/typo-inventory.yaml"
fails_cleanly "misspelled inventory key" 'unknown key "adresses"' \
  "$WORK/typo-inventory.yaml" "$WORK/state" "${SIZES[@]}"

# Fails after the maps were switched (the state file cannot be written):
# they are put back.
cp "$WORK/inventory.yaml" "$WORK/plus-one.yaml"
echo "  - {namespace: zzz, name: late, addresses: [10.244.1.97]}" >>"$WORK/plus-one.yaml"
mkdir "$WORK/state/state.pb.tmp"
fails_cleanly "state file not writable after the maps were switched" \
  "the maps were put back as they were" "$WORK/plus-one.yaml" "$WORK/state" "${SIZES[@]}"
rmdir "$WORK/state/state.pb.tmp"

echo "# no agent: the last good state still enforces"
check "down: learned frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
check "down: unlearned frontend -> db tcp/5432 times out" refused lab_connect frontend $DB 5432

echo "# a good start with a changed inventory"
changed="$WORK/changed-inventory.yaml"
cp "$WORK/inventory.yaml" "$changed"
echo "  - {namespace: aaa, name: first, addresses: [10.244.1.99]}" >>"$changed"
start_agent "$changed"
identities_after=$("$BULKHEAD" status -o json |
  jq -c '[.workloads[] | select(.workload | startswith("shop/")) | {workload, identity}]')
check "changed inventory: every live workload kept its identity number" \
  test "$identities_after" == "$identities_before"
check "changed inventory: the new workload has a number of its own" test "$("$BULKHEAD" status -o json |
  jq '[.workloads[].identity] | unique | length')" -eq 4
check "changed inventory: learned frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
check "changed inventory: unlearned frontend -> db tcp/5432 times out" refused lab_connect frontend $DB 5432
check "changed inventory: ... reported DROPPED" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .destination.port==5432 and .verdict=="DROPPED"')" -ge 1

echo "# the inventory is reloaded while the agent runs"
wait_counter() {  # wait_counter NAME MIN: up to 5 s for a status counter to reach MIN
  local i
  for i in $(seq 1 50); do (($(counter "$1") >= $2)) && return 0; sleep 0.1; done
  return 1
}
cp "$changed" "$WORK/good-inventory.yaml"
echo "  - {namespace: bad, name: x, adresses: [10.244.1.98]}" >>"$changed"
check "bad reload: refused and counted" wait_counter agent_inventory_reloads_failed 1
check "bad reload: the log says why and that the last good inventory stays" \
  grep -q 'inventory reload: .*unknown key "adresses".*the last good inventory stays in force' \
  "$WORK/agent.log"
check "bad reload: learned frontend -> api tcp/8080 still connects" lab_connect frontend $API 8080
check "bad reload: frontend -> db tcp/5432 still times out" refused lab_connect frontend $DB 5432

# shop/api's pod restarts with a new address; the inventory follows.
API2=10.244.1.21
# (A restarted pod gets a new host-side interface, as CNI plugins name them.)
ip netns del "$(lab_pod_ns api)"
SHOP_EXTRA_PODS+=(api2)
lab_add_pod api2 $API2 10.244.0.5
lab_serve api2 8080
lab_wait_port api2 8080
sed "s/addresses: \[$API\]/addresses: [$API2]/" "$WORK/good-inventory.yaml" >"$changed"
check "new address: the inventory is reloaded" wait_counter agent_inventory_reloads 1
bound_api() { "$BULKHEAD" status -o json | jq -e '.interfaces | index("lxc-api2 (shop/api)")' >/dev/null; }
for i in $(seq 1 50); do bound_api && break; sleep 0.1; done
check "new address: the new pod's interface is bound to shop/api" bound_api
check "new address: shop/api kept its identity number" test "$("$BULKHEAD" status -o json |
  jq -c '[.workloads[] | select(.workload=="shop/api") | {workload, identity}]')" == \
  "$(jq -c '[.[] | select(.workload=="shop/api")]' <<<"$identities_before")"
check "new address: learned frontend -> api tcp/8080 connects to the new address" \
  lab_connect frontend $API2 8080
check "new address: unlearned api -> db tcp/5432 from the new address times out" \
  refused lab_connect api2 $DB 5432
check "new address: ... reported DROPPED from shop/api" test "$(flows_matching \
  '.source.workload=="shop/api" and .source.ip=="'$API2'" and .destination.workload=="shop/db" and .verdict=="DROPPED"')" -ge 1

if ((failures)); then echo "failed-start: $failures check(s) failed"; exit 1; fi
echo "failed-start: all checks passed"
