#!/usr/bin/env bash
# New pods: the time from a new interface (veth + /32 route, as a CNI plugin
# makes them) to the agent having attached its programs and bound the
# interface to the workload, over N interfaces created one after another
# while the agent runs. Prints p50, p99 and max in milliseconds.
#
#   bench/attach_latency.sh BUILD_DIR [N]     (root; default N = 100)
#
# The start of each measurement is taken just before one `ip -batch` that
# adds the veth, sets it up and adds the route; the end is the agent's own
# log line "bound lxc-... to ..." (millisecond stamps), which it writes
# after attaching and binding. So the number includes starting `ip`.
# Everything happens in a network namespace of its own, removed on exit.
set -euo pipefail
source "$(dirname "$0")/../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR [N]}" && pwd)
N=${2:-100}
LAB_PREFIX="bhlat$$-"
WORK=$(mktemp -d /tmp/bulkhead-lat.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
AGENT_PID=""
cleanup() {
  trap - EXIT INT TERM
  bh_stop "$AGENT_PID"
  ip netns del "$(lab_node_ns)" 2>/dev/null || true
  umount "$WORK/bpffs" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

lab_create_node
NODE=$(lab_node_ns)
{
  echo "workloads:"
  for i in $(seq 1 "$N"); do
    echo "  - {namespace: lat, name: pod$i, addresses: [10.244.$((i / 250 + 3)).$((i % 250 + 1))]}"
  done
} >"$WORK/inventory.yaml"
mkdir -p "$WORK/bpffs"
mount -t bpf bpf "$WORK/bpffs"
ip netns exec "$NODE" "$BUILD_DIR/controlplane/bulkheadd" --inventory "$WORK/inventory.yaml" \
  --interfaces 'lxc-*' --pin-dir "$WORK/bpffs" --state-dir "$WORK/state" \
  --socket "$BULKHEAD_SOCKET" --mode enforce 2>"$WORK/agent.log" &
AGENT_PID=$!
bh_wait_agent "$BULKHEAD_SOCKET" "$AGENT_PID" "$BUILD_DIR/tools/bulkhead"

for i in $(seq 1 "$N"); do
  # One `ip -batch`: link, up and route in one process, as fast as a CNI
  # plugin's netlink calls.
  printf '%s\n' "link add lxc-l$i type veth peer name pl$i" "link set lxc-l$i up" \
    "route add 10.244.$((i / 250 + 3)).$((i % 250 + 1))/32 dev lxc-l$i" >"$WORK/batch"
  start=$(date +%s.%N)
  ip -n "$NODE" -batch "$WORK/batch"
  echo "lxc-l$i $start" >>"$WORK/starts"
  sleep 0.05
done
sleep 1

latencies=()
while read -r name start; do
  line=$(grep -m1 "bound $name to" "$WORK/agent.log" || true)
  if [[ -z "$line" ]]; then echo "$name was never bound" >&2; exit 1; fi
  bound=$(date -d "$(awk '{print $1}' <<<"$line")" +%s.%N)
  latencies+=("$(echo "($bound - $start) * 1000" | bc -l)")
done <"$WORK/starts"

printf '%s\n' "${latencies[@]}" | sort -n | awk -v n="$N" '
  { v[NR] = $1 }
  END {
    p50 = v[int((NR + 1) * 0.50)]; p99 = v[int((NR - 1) * 0.99) + 1]
    printf "interfaces: %d\np50: %.1f ms\np99: %.1f ms\nmax: %.1f ms\n", NR, p50, p99, v[NR]
  }'
