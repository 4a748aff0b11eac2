#!/usr/bin/env bash
# End to end: the review loop (issue 8, points 2 and 5). The shop learns,
# its policy is exported, reviewed and applied back:
#   round trip  export -> apply -> export gives the same bytes;
#   enforce     a reviewed file sets the modes: what it lists connects, the
#               rest is dropped and reported DROPPED;
#   broken      a dozen kinds of broken file are each refused with a precise
#               error and its line, and change nothing, asserted by traffic
#               (each would have removed frontend -> api and allowed
#               frontend -> db);
#   change      a segment taken out of the file is dropped in the kernel, one
#               added connects; a dry run changes nothing;
#   --policy    bulkheadd applies a file at start and whenever it changes; a
#               bad change is logged and the last good policy stays.
# Usage: review_loop_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhrev$$-"
API=$SHOP_API DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

shop_create "$WORK"
lab_serve api 8080
lab_serve db 5432
lab_wait_port api 8080 && lab_wait_port db 5432
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"

# dropped SRC DST PORT: DROPPED events of that flow so far.
dropped() {
  flows_matching ".source.workload==\"shop/$1\" and .destination.workload==\"shop/$2\" and .destination.port==$3 and .verdict==\"DROPPED\""
}
# refused_and_dropped SRC DST_ADDR DST PORT: the connection fails, and its
# own DROPPED event is there (not a server that is down).
refused_and_dropped() {
  local before
  before=$(dropped "$1" "$3" "$4")
  ! lab_connect "$1" "$2" "$4" && [[ $(dropped "$1" "$3" "$4") -gt $before ]]
}

echo "# learn"
check "learn: frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
check "learn: api -> db tcp/5432 connects" lab_connect api $DB 5432
expected="shop/api shop/db TCP 5432
shop/frontend shop/api TCP 8080"
for i in $(seq 1 50); do [[ "$(segments)" == "$expected" ]] && break; sleep 0.1; done
check "learn: two segments" test "$(segments)" == "$expected"

echo "# kubernetes"
NP_CHECK="$(dirname "$0")/../kubernetes/np_check.py"  # run by Debian's python3: python3-kubernetes
"$BULKHEAD" policy export --format kubernetes -f "$WORK/np.yaml" 2>"$WORK/np.warnings"
"$BULKHEAD" policy export --format kubernetes -o json -f "$WORK/np.json" 2>/dev/null
"$BULKHEAD" policy export -o json -f "$WORK/export.json"
check "kubernetes: one NetworkPolicy per workload" test "$(grep -c '^kind: NetworkPolicy' "$WORK/np.yaml")" -eq 3
check "kubernetes: they load into python3-kubernetes and allow exactly the learned segments" \
  /usr/bin/python3 "$NP_CHECK" --policies "$WORK/np.yaml" --export-json "$WORK/export.json"
check "kubernetes: the JSON List says the same" \
  /usr/bin/python3 "$NP_CHECK" --policies "$WORK/np.json" --export-json "$WORK/export.json"
"$BULKHEAD" policy export --format kubernetes --namespace shop -f "$WORK/np-shop.yaml" 2>/dev/null
check "kubernetes: --namespace narrows to the same policies here (one namespace)" \
  cmp -s "$WORK/np.yaml" "$WORK/np-shop.yaml"

check "kubernetes: applied back, nothing changes" grep -q 'applied: 0 segments added, 0 removed, 2 kept' \
  <("$BULKHEAD" policy apply "$WORK/np.yaml" 2>/dev/null)
"$BULKHEAD" policy export --format kubernetes -f "$WORK/np-again.yaml" 2>/dev/null
check "kubernetes: export -> apply -> export gives the same bytes" cmp -s "$WORK/np.yaml" "$WORK/np-again.yaml"
check "kubernetes: the JSON List applies too" grep -q 'applied: 0 segments added, 0 removed, 2 kept' \
  <("$BULKHEAD" policy apply "$WORK/np.json" 2>/dev/null)
sed 's/port: 8080/port: 8081/' "$WORK/np.yaml" >"$WORK/np-8081.yaml"
check "kubernetes: a port changed in the NetworkPolicies changes the segment" \
  grep -q 'applied: 1 segments added, 1 removed, 1 kept' <("$BULKHEAD" policy apply "$WORK/np-8081.yaml" 2>/dev/null)
check "kubernetes: ... to tcp/8081" grep -q 'shop/frontend shop/api TCP 8081' <(segments)
"$BULKHEAD" policy apply "$WORK/np.yaml" >/dev/null 2>&1
check "kubernetes: and back" grep -q 'shop/frontend shop/api TCP 8080' <(segments)
sed 's/      - port: 8080/      - port: http/' "$WORK/np.yaml" >"$WORK/np-named.yaml"
rc=0
"$BULKHEAD" policy apply "$WORK/np-named.yaml" >/dev/null 2>"$WORK/err" || rc=$?
check "kubernetes: a named port is refused, with its line" \
  test "$rc" -eq 1 -a "$(grep -c 'np-named.yaml:[0-9]*:.*named port' "$WORK/err")" -ge 1

echo "# round trip"
"$BULKHEAD" policy export -f "$WORK/learned.yaml"
check "round trip: the export names every workload's mode" \
  grep -qx '  shop/frontend: learn' "$WORK/learned.yaml"
check "round trip: apply says nothing changes" \
  test "$("$BULKHEAD" policy apply "$WORK/learned.yaml")" == \
  "$WORK/learned.yaml: applied: 0 segments added, 0 removed, 2 kept; 0 guardrails"
"$BULKHEAD" policy export -f "$WORK/again.yaml"
check "round trip: export -> apply -> export gives the same bytes" \
  cmp -s "$WORK/learned.yaml" "$WORK/again.yaml"

echo "# enforce through the file"
sed 's/: learn$/: enforce/' "$WORK/learned.yaml" >"$WORK/reviewed.yaml"
check "enforce: the reviewed file applies and sets three modes" \
  grep -q 'modes: shop/api: enforce, shop/db: enforce, shop/frontend: enforce' \
  <("$BULKHEAD" policy apply "$WORK/reviewed.yaml")
check "enforce: frontend -> api tcp/8080 (in the file) connects" lab_connect frontend $API 8080
check "enforce: frontend -> db tcp/5432 (not in the file) is dropped, and reported" \
  refused_and_dropped frontend $DB db 5432

echo "# broken files change nothing"
# Each starts from the reviewed file with frontend -> api taken out and
# frontend -> db added: applied even in part, the probes below would tell.
good_head() { sed -n '1,/^segments:/p' "$WORK/reviewed.yaml"; }
tail_after_segments() { sed -n '/^modes:/,$p' "$WORK/reviewed.yaml"; }
broken() {  # broken NAME SEGMENT_LINES [EXTRA]: writes $WORK/broken-NAME.yaml
  { good_head
    printf '  - {from: shop/api, to: shop/db, protocol: TCP, port: 5432}\n'
    printf '  - {from: shop/frontend, to: shop/db, protocol: TCP, port: 5432}\n'
    printf '%s\n' "$2"
    [[ -n "${3:-}" ]] && printf '%s\n' "$3"
    tail_after_segments
  } >"$WORK/broken-$1.yaml"
}
broken unknown-field '  - {from: shop/api, to: shop/db, protocol: TCP, port: 5433, colour: red}'
broken bad-port '  - {from: shop/api, to: shop/db, protocol: TCP, port: 70000}'
broken port-zero '  - {from: shop/api, to: shop/db, protocol: TCP, port: 0}'
broken protocol '  - {from: shop/api, to: shop/db, protocol: GRE, port: 1}'
broken duplicate '  - {from: shop/frontend, to: shop/db, protocol: TCP, port: 5432}'
broken unknown-workload '  - {from: shop/api, to: shop/ghost, protocol: TCP, port: 80}'
broken guardrail-conflict '' 'guardrails:
  - {name: no-frontend-db, from: {workload: shop/frontend}, to: {workload: shop/db}}'
broken end-below-port '  - {from: shop/api, to: shop/db, protocol: TCP, port: 90, endPort: 80}'
broken bad-mode '' 'modes: {shop/api: sometimes}'
{ good_head; printf '  - {from: shop/frontend, to: shop/db, protocol: TCP, port: 5432\n'; } \
  >"$WORK/broken-yaml.yaml"
: >"$WORK/broken-empty.yaml"
sed 's/^apiVersion: .*/apiVersion: bulkhead.dev\/v9/' "$WORK/reviewed.yaml" >"$WORK/broken-version.yaml"
{ cat "$WORK/broken-duplicate.yaml"; head -c $((17 << 20)) /dev/zero | tr '\0' '#'; } \
  >"$WORK/broken-huge.yaml"
declare -A expect=(
  [unknown-field]=':6: segment: unknown key "colour"'
  [bad-port]=':6: "port": "70000" is not a whole number'
  [port-zero]=':6: "port" 0 is not a server port'
  [protocol]=':6: "protocol": "GRE" is not a protocol'
  [duplicate]=':6: segment shop/frontend -> shop/db : tcp/5432 is listed twice (segments, line 5)'
  [unknown-workload]=':6: segment shop/api -> shop/ghost : tcp/80: workload shop/ghost is not in the inventory'
  [guardrail-conflict]=':5: segment shop/frontend -> shop/db : tcp/5432 is denied by guardrail "no-frontend-db"'
  [end-below-port]=':6: "endPort" 80 is below port 90'
  [bad-mode]='modes: shop/api: unknown mode "sometimes"'
  [yaml]='not YAML'
  [empty]='the file is empty'
  [version]=':1: "apiVersion": expected bulkhead.dev/v1alpha1'
  [huge]='over the limit of 16777216 bytes'
)
for name in "${!expect[@]}"; do
  file="$WORK/broken-$name.yaml"
  rc=0
  "$BULKHEAD" policy apply "$file" >"$WORK/out" 2>"$WORK/err" || rc=$?
  check "broken ($name): refused, exit 1" test "$rc" -eq 1
  check "broken ($name): the error says: ${expect[$name]}" grep -qF -- "${expect[$name]}" "$WORK/err"
  check "broken ($name): ... and that nothing changed" grep -q 'nothing was changed\|nothing was sent' "$WORK/err"
done
check "broken: the agent counted every refusal" test "$(counter agent_policy_applies_refused)" -ge 12
check "broken: frontend -> api tcp/8080 still connects" lab_connect frontend $API 8080
check "broken: frontend -> db tcp/5432 is still dropped, and reported" \
  refused_and_dropped frontend $DB db 5432
check "broken: the segments are the reviewed file's still" test "$(segments)" == "$expected"
check "broken: the modes too" test "$("$BULKHEAD" policy export | grep -c ': enforce$')" -eq 3

echo "# change"
{ good_head
  printf '  - {from: shop/frontend, to: shop/api, protocol: TCP, port: 8080}\n'
  printf '  - {from: shop/frontend, to: shop/db, protocol: TCP, port: 5432}\n'
  tail_after_segments
} >"$WORK/changed.yaml"
check "change: a dry run says what would change" \
  test "$("$BULKHEAD" policy apply --dry-run "$WORK/changed.yaml")" == \
  "$WORK/changed.yaml: would apply: 1 segments added, 1 removed, 1 kept; 0 guardrails"
check "change: ... and changes nothing: api -> db tcp/5432 connects" lab_connect api $DB 5432
check "change: applied" grep -q 'applied: 1 segments added, 1 removed, 1 kept' \
  <("$BULKHEAD" policy apply "$WORK/changed.yaml")
check "change: api -> db tcp/5432 (taken out) is dropped in the kernel, and reported" \
  refused_and_dropped api $DB db 5432
check "change: frontend -> db tcp/5432 (added) connects" lab_connect frontend $DB 5432
check "change: the export says origin reviewed for the added segment" \
  grep -q 'origin: reviewed' <("$BULKHEAD" policy export)

echo "# bulkheadd --policy"
shop_stop_agent
cp "$WORK/reviewed.yaml" "$WORK/policy.yaml"
SHOP_AGENT_ARGS=(--policy "$WORK/policy.yaml")
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
check "--policy: applied at start: api -> db tcp/5432 connects again" lab_connect api $DB 5432
check "--policy: frontend -> db tcp/5432 is dropped again, and reported" \
  refused_and_dropped frontend $DB db 5432
cp "$WORK/broken-port-zero.yaml" "$WORK/policy.yaml.new" && mv "$WORK/policy.yaml.new" "$WORK/policy.yaml"
for i in $(seq 1 50); do [[ $(counter agent_policy_applies_refused) -ge 1 ]] && break; sleep 0.1; done
check "--policy: a bad change is refused" test "$(counter agent_policy_applies_refused)" -ge 1
check "--policy: ... and logged with the file's line" \
  grep -q "policy.yaml:6: \"port\" 0 is not a server port" "$WORK/agent.log"
check "--policy: ... and the last good policy stays: frontend -> api connects" \
  lab_connect frontend $API 8080
cp "$WORK/changed.yaml" "$WORK/policy.yaml.new" && mv "$WORK/policy.yaml.new" "$WORK/policy.yaml"
applies=$(counter agent_policy_applies)
for i in $(seq 1 50); do [[ $(counter agent_policy_applies) -gt $applies ]] && break; sleep 0.1; done
check "--policy: a good change is applied within seconds" \
  test "$(counter agent_policy_applies)" -gt "$applies"
check "--policy: ... frontend -> db tcp/5432 connects now" lab_connect frontend $DB 5432
shop_stop_agent
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
check "--policy: a restart with the file unchanged does not apply it again" \
  test "$(counter agent_policy_applies)" -eq 0

echo "$failures failures"
[[ $failures -eq 0 ]]
