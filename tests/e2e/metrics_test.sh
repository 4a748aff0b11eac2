#!/usr/bin/env bash
# End to end: the agent's metrics (issue 10, point 5) and map fill (point 4).
# The agent serves /metrics on the node's loopback; Debian's
# python3-prometheus-client parses it (tests/e2e/metrics_check.py). After
# the shop learns and enforces, with one flow dropped:
#   - the text parses, with counter, gauge and summary families;
#   - flows by verdict and reason equal the agent's own flow history;
#   - drops by reason and per-workload flows name the dropped pair;
#   - map capacity is what --policy-max set, map entries what was compiled,
#     and `bulkhead status` shows the same fill;
#   - /healthz answers ok, also while idle clients hold every connection;
#     an unknown path is 404;
#   - a bad --metrics-address stops the start with an error naming it.
# Usage: metrics_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhmet$$-"
API=$SHOP_API DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

shop_create "$WORK"
lab_serve api 8080
lab_serve db 5432
lab_wait_port api 8080 && lab_wait_port db 5432
SHOP_AGENT_ARGS=(--metrics-address 127.0.0.1:0 --policy-max 2048)
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
URL=$(grep -o 'metrics on http://[^/]*' "$WORK/agent.log" | head -1 | sed 's/metrics on //')
check "the agent says where its metrics are" test -n "$URL"

lab_connect frontend $API 8080 || true
lab_connect api $DB 5432 || true
"$BULKHEAD" mode set --all enforce >/dev/null
check "setup: db -> api tcp/8080 is refused in enforce" refused lab_connect db $API 8080

in_node() { ip netns exec "$(lab_node_ns)" "$@"; }
in_node /usr/bin/python3 "$(dirname "$0")/metrics_check.py" "$URL" >"$WORK/metrics.json"
# sample NAME LABELS_JQ: the value of the sample with that name whose labels match.
sample() {
  jq -r "select(.name==\"$1\" and ($2)) | .value" "$WORK/metrics.json" | head -1
}
check "the text parses, with counters, gauges and summaries" test \
  "$(jq -r .type "$WORK/metrics.json" | sort -u | tr '\n' ' ')" == "counter gauge summary "
for family in bulkhead_build_info bulkhead_flows bulkhead_workload_flows bulkhead_drops \
  bulkhead_events_lost bulkhead_map_entries bulkhead_map_capacity bulkhead_workloads \
  bulkhead_segments bulkhead_learner_events bulkhead_compile_seconds bulkhead_policy_apply_seconds; do
  check "family $family is there" test "$(jq -c "select(.family==\"$family\")" "$WORK/metrics.json" | wc -l)" -ge 1
done
history_drops=$("$BULKHEAD" flows --last 0 -o json | jq -c 'select(.verdict=="DROPPED" and .reason=="POLICY")' | wc -l)
check "flows_total{dropped,policy} = the DROPPED flows in the history ($history_drops)" test \
  "$(sample bulkhead_flows_total '.labels.verdict=="dropped" and .labels.reason=="policy"')" == "$history_drops"
check "drops_total{reason=policy} counts the dropped packets" test \
  "$(sample bulkhead_drops_total '.labels.reason=="policy"' | cut -d. -f1)" -ge 1
check "workload_flows_total names the dropped pair's source" test \
  "$(sample bulkhead_workload_flows_total '.labels.workload=="shop/db" and .labels.verdict=="dropped"' | cut -d. -f1)" -ge 1
check "map_capacity{bh_policy} is --policy-max" test "$(sample bulkhead_map_capacity '.labels.map=="bh_policy"')" == "2048"
check "map_entries{bh_policy}: the 2 learned segments" test "$(sample bulkhead_map_entries '.labels.map=="bh_policy"')" == "2"
check "map_entries{bh_ct}: the flows conntrack holds" test \
  "$(sample bulkhead_map_entries '.labels.map=="bh_ct" or .labels.map=="bh_ct_new"' | cut -d. -f1)" -ge 1
check "workloads{mode=enforce}: all 3" test "$(sample bulkhead_workloads '.labels.mode=="enforce"')" == "3"
check "learner_events_total{learned}: 2" test "$(sample bulkhead_learner_events_total '.labels.event=="learned"')" == "2"
check "status -o json shows the same map fill" test \
  "$("$BULKHEAD" status -o json | jq -r '.maps[] | select(.name=="bh_policy") | "\(.entries)/\(.capacity)"')" == "2/2048"
check "status shows a map table" bash -c "'$BULKHEAD' status | grep -Eq '^bh_policy +2 +2048 +0\.1%'"
check "/healthz answers ok" test "$(in_node /usr/bin/python3 "$(dirname "$0")/metrics_check.py" "$URL" /healthz)" == "200 ok"
check "/healthz answers while 20 idle clients hold connections (more than the 16 allowed)" test \
  "$(in_node /usr/bin/python3 "$(dirname "$0")/metrics_check.py" "$URL" /healthz 20)" == "200 ok"
check "an unknown path is 404" bash -c "ip netns exec '$(lab_node_ns)' /usr/bin/python3 '$(dirname "$0")/metrics_check.py' '$URL' /nope | grep -q '^404 '"

echo "# a bad --metrics-address"
shop_stop_agent
rc=0
in_node timeout 10 "$BUILD_DIR/controlplane/bulkheadd" --inventory "$WORK/inventory.yaml" \
  --interfaces 'lxc-*' --pin-dir "$WORK/bpffs" --state-dir "$WORK/state" \
  --socket "$BULKHEAD_SOCKET" --metrics-address localhost:9402 2>"$WORK/bad.log" || rc=$?
check "the agent refuses to start" test "$rc" -ne 0 -a "$rc" -ne 124
check "... naming the address and what it expects" grep -q 'metrics address "localhost:9402": not an IP address' "$WORK/bad.log"

echo
if [[ $failures -ne 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
