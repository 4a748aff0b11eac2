#!/usr/bin/env bash
# End to end: `bulkhead flows` (issue 10, points 1 and 2) against a real
# agent. The shop learns frontend -> api tcp/8080 and api -> db tcp/5432,
# then enforces; db -> api tcp/8080 and frontend -> db udp/5353 are dropped.
#   filters   each flag picks exactly the flows it names (checked against
#             jq over the unfiltered JSON); the same flag twice ORs,
#             different flags AND, --not negates the next one
#   output    -o json has the documented fields; compact is one line a flow
#   --input   a saved `-o json` replays to the same answer as the live agent
#   --follow  a flow that happens after it started is printed, filtered
#   graph     the service map renders with Graphviz; segments solid, the
#             refused flow red; Mermaid too
#   flow log  dropped and audited flows as the JSON lines of -o json,
#             rotated by size
#   errors    a bad CIDR, duration or flag, --not without a flag, no agent:
#             one line on stderr, a non-zero exit, no hang
# Usage: flows_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhflw$$-"
API=$SHOP_API DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

shop_create "$WORK"
lab_serve api 8080
lab_serve db 5432
lab_serve_udp db 5353
lab_wait_port api 8080 && lab_wait_port db 5432 && lab_wait_port db 5353
SHOP_AGENT_ARGS=(--node-name node-a --flow-log "$WORK/flows.log" --flow-log-max-bytes 4096
  --flow-log-files 2)
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"

for i in 1 2; do
  lab_connect frontend $API 8080 || true
  lab_connect api $DB 5432 || true
done
"$BULKHEAD" mode set --all enforce >/dev/null
lab_connect frontend $API 8080 || true
check "setup: db -> api tcp/8080 is refused in enforce" refused lab_connect db $API 8080
check "setup: frontend -> db udp/5353 is refused in enforce" refused lab_connect frontend $DB 5353 udp

"$BULKHEAD" flows --last 0 -o json >"$WORK/all.json"
total=$(wc -l <"$WORK/all.json")
check "all: the history has flows of every verdict" test "$(jq -r .verdict "$WORK/all.json" | sort -u | tr '\n' ' ')" == "AUDIT DROPPED FORWARDED "

# same "flags..." JQ: the flows the flags pick are exactly those jq picks.
same() {
  local jq_filter=$1; shift
  local got want
  got=$("$BULKHEAD" flows --last 0 -o json "$@" | jq -c '{time, source, destination, verdict}' | sort)
  want=$(jq -c "select($jq_filter) | {time, source, destination, verdict}" "$WORK/all.json" | sort)
  [[ -n "$want" && "$got" == "$want" ]]
}
# When the live history moved on (new flows since all.json), compare within
# all.json's time window: every check below uses --until.
until_time=$(jq -r .time "$WORK/all.json" | sort | tail -1)
until_arg=(--until "$(date -u -d "$until_time + 1 second" +%Y-%m-%dT%H:%M:%SZ)")

echo "# filters"
check "--from shop/db" same '.source.workload=="shop/db"' --from shop/db "${until_arg[@]}"
check "--to shop/db" same '.destination.workload=="shop/db"' --to shop/db "${until_arg[@]}"
check "--workload shop/db (either end)" same '.source.workload=="shop/db" or .destination.workload=="shop/db"' \
  --workload shop/db "${until_arg[@]}"
check "--namespace shop" same '.source.namespace=="shop" or .destination.namespace=="shop"' \
  --namespace shop "${until_arg[@]}"
check "--label app=db" same '.source.labels.app=="db" or .destination.labels.app=="db"' \
  --label app=db "${until_arg[@]}"
check "--ip $DB/32" same ".source.ip==\"$DB\" or .destination.ip==\"$DB\"" --ip $DB/32 "${until_arg[@]}"
check "--ip 10.244.1.0/24 (every pod)" same 'true' --ip 10.244.1.0/24 "${until_arg[@]}"
check "--port 5432" same '.source.port==5432 or .destination.port==5432' --port 5432 "${until_arg[@]}"
check "--proto udp" same '.protocol=="UDP"' --proto udp "${until_arg[@]}"
check "--verdict dropped" same '.verdict=="DROPPED"' --verdict dropped "${until_arg[@]}"
check "--reason policy" same '.reason=="POLICY"' --reason policy "${until_arg[@]}"
segment_id=$(jq -r 'select(.verdict=="FORWARDED" and .destination.workload=="shop/api") | .segment_id' "$WORK/all.json" | head -1)
check "--segment $segment_id" same ".segment_id==$segment_id" --segment "$segment_id" "${until_arg[@]}"
check "--segment by its description" same '.segment=="shop/frontend -> shop/api : tcp/8080"' \
  --segment "shop/frontend -> shop/api : tcp/8080" "${until_arg[@]}"
check "--node node-a (every flow names the node)" same '.node=="node-a"' --node node-a "${until_arg[@]}"
check "--verdict twice ORs" same '.verdict=="DROPPED" or .verdict=="AUDIT"' \
  --verdict dropped --verdict audit "${until_arg[@]}"
check "different flags AND" same '.verdict=="DROPPED" and .protocol=="UDP"' \
  --verdict dropped --proto udp "${until_arg[@]}"
check "--not negates the next flag" same '.verdict!="FORWARDED"' --not --verdict forwarded "${until_arg[@]}"
check "--not applies to its flag only" same '.verdict!="FORWARDED" and .destination.workload=="shop/api"' \
  --to shop/api --not --verdict forwarded "${until_arg[@]}"
check "--since in the future: nothing (and no error)" bash -c \
  "out=\$('$BULKHEAD' flows --last 0 --since 2099-01-01T00:00:00Z) && test -z \"\$out\""
check "--since 1h: everything" same 'true' --since 1h "${until_arg[@]}"
check "--last 2 --verdict dropped: the 2 newest drops" test "$("$BULKHEAD" flows --last 2 -o json \
  --verdict dropped "${until_arg[@]}" | jq -c .time)" == "$(jq -c 'select(.verdict=="DROPPED") | .time' "$WORK/all.json" | tail -2)"

echo "# output"
check "-o json: one object a line with the documented fields" test "$(jq -c 'select(has("time") and has("verdict") and has("reason") and has("segment") and has("protocol") and has("direction") and has("interface") and has("node") and (.source | has("namespace") and has("workload") and has("identity") and has("ip") and has("port")) and (.destination | has("namespace") and has("workload") and has("identity") and has("ip") and has("port")))' "$WORK/all.json" | wc -l)" -eq "$total"
check "-o json: a drop says where it was judged" test "$(jq -c 'select(.verdict=="DROPPED" and .source.workload=="shop/db" and .direction=="EGRESS" and .interface=="lxc-db")' "$WORK/all.json" | wc -l)" -ge 1
check "-o compact: one line a flow" test "$("$BULKHEAD" flows --last 0 -o compact "${until_arg[@]}" | wc -l)" -eq "$total"
check "-o compact: the drop reads as one" \
  bash -c "'$BULKHEAD' flows --last 0 -o compact --verdict dropped --from shop/db | grep -q 'shop/db (10.244.1.30:[0-9]*) -> shop/api (10.244.1.20:8080) TCP DROPPED (policy) egress lxc-db on node-a'"

echo "# --input"
check "--input replays the saved flows with the same filters" test \
  "$("$BULKHEAD" flows --input "$WORK/all.json" --last 0 -o json --not --verdict forwarded)" == \
  "$("$BULKHEAD" flows --last 0 -o json --not --verdict forwarded "${until_arg[@]}")"
check "--input - reads stdin" test "$("$BULKHEAD" flows --input - --last 0 -o json <"$WORK/all.json" | wc -l)" -eq "$total"

echo "# --follow"
"$BULKHEAD" flows --follow -o json --to shop/db >"$WORK/follow.json" 2>"$WORK/follow.err" &
FOLLOW_PID=$!
SHOP_EXTRA_PIDS+=("$FOLLOW_PID")
sleep 1
check "--follow: nothing from before it started" test ! -s "$WORK/follow.json"
lab_connect frontend $DB 5432 || true
lab_connect frontend $API 8080 || true
for i in $(seq 1 50); do [[ -s "$WORK/follow.json" ]] && break; sleep 0.1; done
check "--follow: the new flow to shop/db is printed" test "$(jq -c 'select(.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .destination.port==5432 and .verdict=="DROPPED")' "$WORK/follow.json" | wc -l)" -ge 1
check "--follow: and nothing the filter leaves out" test "$(jq -c 'select(.destination.workload!="shop/db")' "$WORK/follow.json" | wc -l)" -eq 0
check "--follow: still running" kill -0 "$FOLLOW_PID"
bh_stop "$FOLLOW_PID"; SHOP_EXTRA_PIDS=()

echo "# graph"
"$BULKHEAD" graph -o dot >"$WORK/map.dot"
check "graph -o dot: Graphviz's dot renders it" dot -Tsvg -o "$WORK/map.svg" "$WORK/map.dot"
check "graph: the shop namespace is a cluster" grep -q 'label="shop"' "$WORK/map.dot"
check "graph: a learned segment is a solid edge" \
  grep -Eq '"shop/frontend" -> "shop/api" \[label="tcp/8080", color="#2f6f3e"\]' "$WORK/map.dot"
check "graph: the refused flow is a red dashed edge with its count" \
  grep -Eq '"shop/db" -> "shop/api" \[label="tcp/8080 dropped x[0-9]+", color="#c0392b".*style=dashed' "$WORK/map.dot"
check "graph -o svg: rendered by dot" bash -c "'$BULKHEAD' graph -o svg --file '$WORK/map2.svg' && grep -q '<svg' '$WORK/map2.svg'"
check "graph -o mermaid: a flowchart with the namespace as a subgraph" \
  bash -c "'$BULKHEAD' graph -o mermaid | grep -q '^  subgraph ns0\[\"shop\"\]'"
check "graph --namespace other: no shop edges" \
  test "$("$BULKHEAD" graph -o dot --namespace other | grep -c -- '->' || true)" -eq 0

echo "# the flow log (SIEM)"
check "flow log: every line is JSON, dropped or audited (forwarded ones are not asked for)" test \
  "$(jq -r .verdict "$WORK"/flows.log* | sort -u | tr '\n' ' ')" == "AUDIT DROPPED "
check "flow log: a drop's line is its \`flows -o json\` line, field for field" test \
  "$(jq -cS 'select(.verdict=="DROPPED" and .source.workload=="shop/db")' "$WORK"/flows.log* | head -1)" == \
  "$(jq -cS 'select(.verdict=="DROPPED" and .source.workload=="shop/db")' "$WORK/all.json" | head -1)"
# 30 denied SYNs from new source ports: 30 drops, past 4096 bytes of log.
ip netns exec "$(lab_pod_ns frontend)" hping3 -q -S -p 5432 -c 30 -i u20000 $DB >/dev/null 2>&1 || true
"$BULKHEAD" status >/dev/null  # the agent reads what the kernel reported
check "flow log: rotated by size into flows.log.1, flows.log.2 at most" \
  test -s "$WORK/flows.log.1" -a ! -e "$WORK/flows.log.3"
check "flow log: no file past its size by more than a line" test \
  "$(stat -c %s "$WORK"/flows.log* | sort -n | tail -1)" -le 6000
check "flow log: status counts its lines and rotations" test \
  "$("$BULKHEAD" status -o json | jq '.datapath_counters.agent_flow_log_rotations | tonumber')" -ge 1

echo "# top"
"$BULKHEAD" top -o json >"$WORK/top.json"
check "top: the most refused pair is the SYN scan frontend -> db tcp/5432" test \
  "$(jq -r '.refused[0] | "\(.from) \(.to) \(.protocol) \(.port) \(.verdict)"' "$WORK/top.json")" == \
  "shop/frontend shop/db TCP 5432 DROPPED"
check "top: ... with at least its 30 flows" test "$(jq -r '.refused[0].flows | tonumber' "$WORK/top.json")" -ge 30
check "top: db -> api tcp/8080 is there too" test "$(jq -c '.refused[] | select(.from=="shop/db" and .to=="shop/api" and .port==8080)' "$WORK/top.json" | wc -l)" -eq 1
check "top: the busiest segments, with their flows" test \
  "$(jq -r '.segments[] | select(.from_workload=="shop/frontend") | .flows | tonumber' "$WORK/top.json")" -ge 1
check "top: as tables" bash -c "'$BULKHEAD' top | grep -Eq '^shop/frontend +shop/db +tcp/5432 +DROPPED +policy +[0-9]+'"

echo "# errors"
# fails_clearly "what" PATTERN args...: a non-zero exit within 5 s, and one
# line on stderr that matches.
fails_clearly() {
  local pattern=$1 rc=0; shift
  timeout 5 "$BULKHEAD" flows "$@" >/dev/null 2>"$WORK/err" || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] && [[ $(wc -l <"$WORK/err") -le 2 ]] && grep -q -- "$pattern" "$WORK/err"
}
check "a bad CIDR" fails_clearly '--ip "10.0.0.0/33": expected a prefix length' --ip 10.0.0.0/33
check "a bad duration" fails_clearly '--since: time "5 minutes"' --since "5 minutes"
check "a bad verdict" fails_clearly 'expected forwarded, dropped or audit' --verdict maybe
check "--not without a flag after it" fails_clearly 'must come before a filter flag' --verdict dropped --not
check "--not before a flag that is not a filter" fails_clearly 'negates a filter flag' --not --last 3
check "an unknown flag" fails_clearly 'verdicts' --verdicts dropped
check "no agent" fails_clearly "$WORK/none.sock" --socket "$WORK/none.sock"
check "--input of a file that is not flows" fails_clearly 'not a flow' --input "$WORK/inventory.yaml"
check "--follow with --input" fails_clearly 'not from --input' --follow --input "$WORK/all.json"

echo
if [[ $failures -ne 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
