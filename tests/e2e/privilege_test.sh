#!/usr/bin/env bash
# Least privilege, with the real agent: bulkheadd started with exactly the
# capabilities deploy/daemonset.yaml gives its container (read from the
# manifest, which is checked against Kubernetes' models first):
#   start     it starts, learns and enforces: an allowed flow passes, a denied
#             one is refused and reported DROPPED; the XDP uplink is attached;
#   after     /proc/<pid>/status holds CAP_NET_ADMIN alone in the effective,
#             permitted and bounding sets, nothing inheritable or ambient,
#             NoNewPrivs 1;
#   new pod   an interface that appears after the drop is still attached,
#             bound and enforced (the capability kept is the one needed);
#   each cap  without any one of the manifest's capabilities: BPF, NET_ADMIN
#             or PERFMON missing, the start fails at once naming it and
#             creates nothing; SETPCAP missing, the agent starts but keeps its
#             bounding set and says so;
#   root      bulkheadd --uninstall, as root, still removes the programs.
# Usage: privilege_test.sh BUILD_DIR. Needs root, setpriv (util-linux), capsh
# (libcap2-bin) and /usr/bin/python3 with python3-kubernetes. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
BULKHEADD="$BUILD_DIR/controlplane/bulkheadd"
MANIFEST="$BH_ROOT/deploy/daemonset.yaml"
LAB_PREFIX="bhpriv$$-"
FRONTEND=$SHOP_FRONTEND API=$SHOP_API DB=$SHOP_DB CACHE=10.244.1.40
UPLINK=bhup$$

WORK=$(mktemp -d /tmp/bulkhead-priv.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
cleanup() {
  local rc=${1:-$?}  # on a signal: 128 + its number
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    echo "--- agent log"; cat "$WORK"/agent*.log 2>/dev/null || true
  fi
  shop_teardown "$WORK"  # stops SHOP_AGENT_PID, the servers; namespaces, bpffs, WORK
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

source "$(dirname "$0")/lib.sh"

echo "# the manifest"
check "deploy/daemonset.yaml reads back through the Kubernetes models, agent unprivileged" \
  /usr/bin/python3 "$BH_ROOT/tests/privileges/daemonset_check.py" "$MANIFEST"
CAPS=$(/usr/bin/python3 "$BH_ROOT/tests/privileges/daemonset_check.py" "$MANIFEST" --print-capabilities)
echo "  the DaemonSet adds: $CAPS"

# start_agent LOG CAP,CAP,...: bulkheadd on the node with only those
# capabilities, as a container runtime would start it for uid 0 (bounding,
# permitted and effective sets the list; nothing inheritable or ambient).
# Its pid (setpriv and ip netns exec exec it) is in SHOP_AGENT_PID.
start_agent() {
  local log=$1 caps=$2 bounding="-all"
  [[ -n "$caps" ]] && bounding="-all,+${caps//,/,+}"
  ip netns exec "$(lab_node_ns)" setpriv --inh-caps=-all --ambient-caps=-all \
    --bounding-set="$bounding" -- \
    "$BULKHEADD" --inventory "$WORK/inventory.yaml" --interfaces 'lxc-*' \
    --pin-dir "$WORK/bpffs/bulkhead" --state-dir "$WORK/state" --socket "$BULKHEAD_SOCKET" \
    --uplink "$UPLINK" --mode learn 2>"$WORK/$log" &
  SHOP_AGENT_PID=$!
}

# cap_set PID FIELD: the capabilities /proc/PID/status shows in FIELD
# (CapEff, CapPrm, CapBnd, CapInh, CapAmb), as sorted setpriv names.
cap_set() {
  local mask
  mask=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status")
  capsh --decode="$mask" | cut -d= -f2 | tr , '\n' | sed 's/^cap_//' | sort | paste -sd,
}
sorted() { tr , '\n' <<<"$1" | grep . | sort | paste -sd,; }
status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
xdp_attached() { ip -n "$(lab_node_ns)" -d link show "$UPLINK" | grep "prog/xdp" >/dev/null; }
tc_programs() {  # tc_programs IFACE: how many of our filters its two hooks hold
  local hook
  for hook in ingress egress; do tc -n "$(lab_node_ns)" filter show dev "$1" "$hook"; done |
    grep -c "direct-action" || true
}

# wait_exit PID: waits up to 10 s for the agent to exit and sets EXIT_CODE
# to its exit code; one still running after that is stopped: 124.
wait_exit() {
  local pid=$1 i
  EXIT_CODE=0
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then bh_stop "$pid"; EXIT_CODE=124; return; fi
  wait "$pid" || EXIT_CODE=$?
}

# --- the node, three pods, an uplink, servers. shop/cache is in the
# inventory; its pod appears only after the agent dropped its capabilities.
shop_create "$WORK"
echo "  - {namespace: shop, name: cache, labels: {app: cache}, addresses: [$CACHE]}" >>"$WORK/inventory.yaml"
ip -n "$(lab_node_ns)" link add "$UPLINK" type veth peer name "${UPLINK}p"
ip -n "$(lab_node_ns)" link set "$UPLINK" up
ip -n "$(lab_node_ns)" link set "${UPLINK}p" up
lab_serve api 8080
lab_serve db 5432
lab_wait_port api 8080 && lab_wait_port db 5432

echo "# start with the DaemonSet's capabilities"
start_agent agent.log "$CAPS"
bh_wait_agent "$BULKHEAD_SOCKET" "$SHOP_AGENT_PID" "$BULKHEAD"
pid=$SHOP_AGENT_PID
check "start: attached and bound to the three pod interfaces" \
  test "$("$BULKHEAD" status -o json | jq -r '.interfaces | sort | join(",")')" == \
  "lxc-api (shop/api),lxc-db (shop/db),lxc-frontend (shop/frontend)"
check "start: the XDP uplink program is attached" xdp_attached

echo "# capabilities after start"
check "after: CapEff is CAP_NET_ADMIN alone" test "$(cap_set "$pid" CapEff)" == net_admin
check "after: CapPrm is CAP_NET_ADMIN alone" test "$(cap_set "$pid" CapPrm)" == net_admin
check "after: CapBnd is CAP_NET_ADMIN alone" test "$(cap_set "$pid" CapBnd)" == net_admin
check "after: nothing inheritable" test -z "$(cap_set "$pid" CapInh)"
check "after: nothing ambient" test -z "$(cap_set "$pid" CapAmb)"
check "after: NoNewPrivs is 1" test "$(status_field "$pid" NoNewPrivs)" == 1
check "after: the log says what is kept" \
  grep -q "privileges: keeping CAP_NET_ADMIN (attach the programs to interfaces that appear later)" \
  "$WORK/agent.log"

echo "# learn, then enforce, without the start-up capabilities"
learned() { segments | grep -x "shop/frontend shop/api TCP 8080" >/dev/null; }
check "learn: frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
for i in $(seq 1 30); do learned && break; sleep 0.1; done
check "learn: it became a segment (ring buffer read, policy map written)" learned
"$BULKHEAD" mode set --all enforce >/dev/null
check "enforce: every workload enforces (modes map and state file written)" \
  test "$("$BULKHEAD" status -o json | jq '[.workloads[] | select(.mode=="ENFORCE")] | length')" -eq 4
check "enforce: learned frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
check "enforce: unlearned frontend -> db tcp/5432 is refused" refused lab_connect frontend $DB 5432
check "enforce: ... and reported DROPPED" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .destination.port==5432 and .protocol=="TCP" and .verdict=="DROPPED"')" -ge 1

echo "# a pod created after the drop"
SHOP_EXTRA_PODS+=(cache)
lab_add_pod cache $CACHE 10.244.0.4
bound_cache() { "$BULKHEAD" status -o json | jq -e '.interfaces | index("lxc-cache (shop/cache)")' >/dev/null; }
for i in $(seq 1 50); do bound_cache && break; sleep 0.1; done
check "new pod: its interface is attached and bound to shop/cache" bound_cache
check "new pod: TC programs on both hooks of lxc-cache" test "$(tc_programs lxc-cache)" -eq 2
check "new pod: the agent logged no error" refused grep -q ERROR "$WORK/agent.log"
check "new pod: cache -> db tcp/5432 (never learned) is refused" refused lab_connect cache $DB 5432
check "new pod: ... and reported DROPPED from shop/cache" test "$(flows_matching \
  '.source.workload=="shop/cache" and .destination.workload=="shop/db" and .destination.port==5432 and .verdict=="DROPPED"')" -ge 1
check "new pod: learned frontend -> api tcp/8080 still connects" lab_connect frontend $API 8080
shop_stop_agent

echo "# each of the manifest's capabilities is needed"
IFS=, read -ra caps <<<"$CAPS"
for cap in "${caps[@]}"; do
  others=$(printf '%s\n' "${caps[@]}" | grep -vx "$cap" | paste -sd,)
  name="CAP_${cap^^}"
  if [[ $cap == setpcap ]]; then
    start_agent "agent-no-$cap.log" "$others"
    check "without $name: starts all the same" \
      bh_wait_agent "$BULKHEAD_SOCKET" "$SHOP_AGENT_PID" "$BULKHEAD"
    check "without $name: CapEff and CapPrm are CAP_NET_ADMIN alone, NoNewPrivs 1" test \
      "$(cap_set "$SHOP_AGENT_PID" CapEff)/$(cap_set "$SHOP_AGENT_PID" CapPrm)/$(status_field "$SHOP_AGENT_PID" NoNewPrivs)" \
      == "net_admin/net_admin/1"
    check "without $name: the bounding set stays as given, and the log says so" \
      test "$(cap_set "$SHOP_AGENT_PID" CapBnd)" == "$(sorted "$others")" -a \
      -n "$(grep "bounding set unchanged (no CAP_SETPCAP" "$WORK/agent-no-$cap.log")"
    check "without $name: learned frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
    check "without $name: unlearned frontend -> db tcp/5432 is refused" \
      refused lab_connect frontend $DB 5432
    check "without $name: ... and reported DROPPED" test "$(flows_matching \
      '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .destination.port==5432 and .verdict=="DROPPED"')" -ge 1
    shop_stop_agent
    continue
  fi
  start_agent "agent-no-$cap.log" "$others"
  wait_exit "$SHOP_AGENT_PID"
  SHOP_AGENT_PID=""
  check "without $name: the start fails at once (exit $EXIT_CODE)" \
    test "$EXIT_CODE" -ne 0 -a "$EXIT_CODE" -ne 124
  check "without $name: the message names it" \
    grep -q "ERROR missing capability $name, needed to " "$WORK/agent-no-$cap.log"
  check "without $name: no API socket was created" test ! -e "$BULKHEAD_SOCKET"
done

echo "# --uninstall as root"
check "uninstall: bulkheadd --uninstall succeeds as root" \
  ip netns exec "$(lab_node_ns)" "$BULKHEADD" --uninstall --interfaces 'lxc-*' \
  --pin-dir "$WORK/bpffs/bulkhead" --uplink "$UPLINK" 2>>"$WORK/agent-uninstall.log"
check "uninstall: no TC program is left on lxc-api or lxc-cache" \
  test "$(tc_programs lxc-api)$(tc_programs lxc-cache)" == 00
check "uninstall: the XDP uplink program is gone" refused xdp_attached

echo
if [[ $failures -eq 0 ]]; then echo "privilege test: all passed"; else echo "privilege test: $failures FAILED"; fi
[[ $failures -eq 0 ]]
