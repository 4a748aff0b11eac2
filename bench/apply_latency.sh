#!/usr/bin/env bash
# Reviewed policy changes: the time from `bulkhead policy apply` (one segment
# added or removed) to the kernel's verdict changing, seen by probe packets,
# in a policy of N segments (default 10000) and, as the baseline of the same
# run, in a policy of that one segment alone. Prints p50, p99 and max in ms.
#
#   bench/apply_latency.sh BUILD_DIR [N] [ROUNDS]   (root; defaults 10000, 20)
#
# Two pods, client and server, in enforce; the policy file holds client ->
# server udp/8080 (the probed segment) and N-1 segments among 100 workloads
# of the inventory that have no pod. bench/apply_probe.py in the client
# sends the server's echo a datagram every millisecond, each from a new
# source port (a new flow: judged against the policy, not conntrack). A round applies the file
# without the probed segment, then with it; its start is taken just before
# `bulkhead policy apply` runs, its end is the send time of the first probe
# from which on every probe has the new verdict (so the number includes
# starting the CLI, and is at most 1 ms late). The agent's log says where
# the time went (read, checked, in the maps).
set -euo pipefail
source "$(dirname "$0")/../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR [N] [ROUNDS]}" && pwd)
N=${2:-10000}
ROUNDS=${3:-20}
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhapl$$-"
WORK=$(mktemp -d /tmp/bulkhead-apply.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
AGENT_PID="" PROBE_PID=""
cleanup() {
  trap - EXIT INT TERM
  [[ -n "$PROBE_PID" ]] && bh_stop "$PROBE_PID"
  bh_stop "$AGENT_PID"
  for sid in "${LAB_SERVERS[@]}"; do
    pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
    [[ -n "$pids" ]] && bh_stop $pids
  done
  lab_destroy client server
  umount "$WORK/bpffs" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

lab_create_node
lab_add_pod client 10.244.1.10 10.244.0.1
lab_add_pod server 10.244.1.20 10.244.0.2
{
  echo "workloads:"
  echo "  - {namespace: bench, name: client, addresses: [10.244.1.10]}"
  echo "  - {namespace: bench, name: server, addresses: [10.244.1.20]}"
  for i in $(seq 0 99); do
    echo "  - {namespace: bench, name: w$i, addresses: [10.244.50.$((i + 1))]}"
  done
} >"$WORK/inventory.yaml"
mkdir -p "$WORK/bpffs"
mount -t bpf bpf "$WORK/bpffs"
setsid ip netns exec "$(lab_pod_ns server)" /usr/bin/python3 "$(dirname "$0")/apply_probe.py" \
  serve 8080 </dev/null >/dev/null 2>&1 &
LAB_SERVERS+=($!)
lab_wait_port server 8080

# policy FILE N WITH_PROBED: N-1 filler segments, and the probed one or not.
policy() {
  local file=$1 n=$2 with=$3
  {
    printf 'apiVersion: bulkhead.dev/v1alpha1\nkind: SegmentPolicy\nsegments:\n'
    [[ $with == 1 ]] && printf '  - {from: bench/client, to: bench/server, protocol: UDP, port: 8080}\n'
    awk -v n="$n" 'BEGIN { for (i = 0; i < n - 1; i++)
      printf "  - {from: bench/w%d, to: bench/w%d, protocol: TCP, port: %d}\n", i % 100, int(i / 100) % 100, 1000 + int(i / 10000) }'
    printf 'modes: {bench/client: enforce, bench/server: enforce}\n'
  } >"$file"
}

ip netns exec "$(lab_node_ns)" "$BUILD_DIR/controlplane/bulkheadd" --inventory "$WORK/inventory.yaml" \
  --interfaces 'lxc-*' --pin-dir "$WORK/bpffs" --state-dir "$WORK/state" \
  --socket "$BULKHEAD_SOCKET" --mode enforce 2>"$WORK/agent.log" &
AGENT_PID=$!
bh_wait_agent "$BULKHEAD_SOCKET" "$AGENT_PID" "$BULKHEAD"

# measure SIZE: ROUNDS removes and adds of the probed segment in a policy of
# SIZE segments; prints the latencies (ms) of each kind.
measure() {
  local size=$1 kind start
  policy "$WORK/with.yaml" "$size" 1
  policy "$WORK/without.yaml" "$size" 0
  "$BULKHEAD" policy apply "$WORK/with.yaml" >/dev/null
  ip netns exec "$(lab_pod_ns client)" /usr/bin/python3 "$(dirname "$0")/apply_probe.py" \
    probe 10.244.1.20 8080 0.001 0.05 >"$WORK/probes" &
  PROBE_PID=$!
  sleep 0.5
  : >"$WORK/starts"
  for round in $(seq 1 "$ROUNDS"); do
    for kind in without with; do
      start=$(date +%s.%N)
      "$BULKHEAD" policy apply "$WORK/$kind.yaml" >/dev/null
      echo "$kind $start" >>"$WORK/starts"
      sleep 0.4
    done
  done
  sleep 0.2
  kill -TERM "$PROBE_PID"; wait "$PROBE_PID" 2>/dev/null || true; PROBE_PID=""
  /usr/bin/python3 - "$WORK/starts" "$WORK/probes" "$size" <<'PY'
import sys
starts = [l.split() for l in open(sys.argv[1])]
probes = sorted((float(t), int(ok)) for t, ok in (l.split() for l in open(sys.argv[2])))
size = sys.argv[3]
lat = {"without": [], "with": []}
for i, (kind, start) in enumerate(starts):
    start = float(start)
    end = float(starts[i + 1][1]) if i + 1 < len(starts) else probes[-1][0] + 1
    want = 0 if kind == "without" else 1
    window = [(t, ok) for t, ok in probes if start <= t < end]
    # The first probe from which on every probe has the new verdict.
    change = None
    for j in range(len(window)):
        if all(ok == want for _, ok in window[j:]):
            change = window[j][0]
            break
    if change is None:
        print(f"{size} {kind}: round {i // 2 + 1}: the verdict never changed", file=sys.stderr)
        continue
    lat[kind].append((change - start) * 1000)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
for kind, name in (("without", "removed"), ("with", "added")):
    v = lat[kind]
    if v:
        print(f"{size:>6} segments, one {name}: p50 {pct(v, 50):7.1f} ms  p99 {pct(v, 99):7.1f} ms  max {max(v):7.1f} ms  ({len(v)} rounds)")
PY
}

echo "# baseline: a policy of the probed segment alone"
measure 1
echo "# a policy of $N segments"
measure "$N"
echo "# where the time went, in the agent (the last rounds of $N)"
grep -o 'policy applied from [^:]*with.yaml.*' "$WORK/agent.log" | tail -1 | sed 's/.*(read/  read/; s/)$//'
