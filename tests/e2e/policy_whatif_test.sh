#!/usr/bin/env bash
# End to end: "can I enforce now?" (issue 8, points 3 and 4). The shop
# learns three calls; a reviewer drops one of them from the candidate file.
#   diff      the agent against the file: the dropped call is "in force, not
#             in the file" (exit 1); after the file is applied, nothing
#             differs (exit 0); a call learned after that shows up again;
#   simulate  the recorded flows against the candidate: it predicts that the
#             dropped call's flows, and only they, would be dropped (exit 1);
#             from saved flows, offline, the same; then the candidate is
#             applied in enforce, the same traffic is replayed, and what the
#             kernel drops (DROPPED events) is exactly what was predicted.
# Usage: policy_whatif_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhwif$$-"
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
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"

# The application's traffic, the same each time it is played.
play() {
  lab_connect frontend $API 8080 || true
  lab_connect frontend $API 8080 || true
  lab_connect api $DB 5432 || true
  lab_connect frontend $DB 5432 || true
  lab_connect frontend $DB 5432 || true
  lab_connect frontend $DB 5432 || true
  lab_connect api $DB 5353 udp || true
}

echo "# learn"
play
expected="shop/api shop/db TCP 5432
shop/api shop/db UDP 5353
shop/frontend shop/api TCP 8080
shop/frontend shop/db TCP 5432"
for i in $(seq 1 50); do [[ "$(segments)" == "$expected" ]] && break; sleep 0.1; done
check "learn: four segments" test "$(segments)" == "$expected"

# The candidate: frontend -> db taken out (the reviewer does not believe it).
"$BULKHEAD" policy export -f "$WORK/learned.yaml"
/usr/bin/python3 - "$WORK/learned.yaml" >"$WORK/candidate.yaml" <<'PY'
import sys, yaml
policy = yaml.load(open(sys.argv[1]), Loader=yaml.BaseLoader)  # every value a string, as written
policy["segments"] = [s for s in policy["segments"]
                      if (s["from"], s["to"]) != ("shop/frontend", "shop/db")]
yaml.safe_dump(policy, sys.stdout, sort_keys=False)
PY
check "the candidate has three segments" test "$(grep -c 'from: ' "$WORK/candidate.yaml")" -eq 3
check "... and not frontend -> db" refused grep -q 'to: shop/db' <(grep -A1 'from: shop/frontend' "$WORK/candidate.yaml")

echo "# diff"
rc=0
"$BULKHEAD" policy diff "$WORK/candidate.yaml" >"$WORK/diff.out" 2>"$WORK/diff.err" || rc=$?
check "diff: exit 1, different" test "$rc" -eq 1
check "diff: frontend -> db is in force, not in the file" \
  grep -q '^+ shop/frontend -> shop/db : tcp/5432    in force, not in the file (learned, ' "$WORK/diff.out"
check "diff: ... and nothing else" test "$(wc -l <"$WORK/diff.out")" -eq 1
rc=0
"$BULKHEAD" policy diff "$WORK/learned.yaml" >"$WORK/diff.out" 2>&1 || rc=$?
check "diff: against the export itself, exit 0" test "$rc" -eq 0
rc=0
"$BULKHEAD" policy diff --unused-for 0s "$WORK/learned.yaml" >"$WORK/diff.out" 2>&1 || rc=$?
check "diff: --unused-for 0s lists every segment as unused, and still exit 0" \
  test "$rc" -eq 0 -a "$(grep -c '^! ' "$WORK/diff.out")" -eq 4
rc=0
"$BULKHEAD" policy diff "$WORK/missing.yaml" >/dev/null 2>"$WORK/diff.err" || rc=$?
check "diff: a missing file is exit 2 with a one-line error" \
  test "$rc" -eq 2 -a "$(wc -l <"$WORK/diff.err")" -eq 1

echo "# simulate"
"$BULKHEAD" flows --last 0 -o json >"$WORK/flows.json"
rc=0
"$BULKHEAD" policy simulate "$WORK/candidate.yaml" >"$WORK/sim.out" 2>"$WORK/sim.err" || rc=$?
check "simulate: exit 1, something would break" test "$rc" -eq 1
check "simulate: frontend -> db tcp/5432, its 3 flows, would be dropped" \
  grep -q '^shop/frontend -> shop/db : tcp/5432    3 flows would be dropped (no segment)' "$WORK/sim.out"
check "simulate: ... and nothing else" test "$(wc -l <"$WORK/sim.out")" -eq 1
rc=0
BULKHEAD_SOCKET=$WORK/nobody.sock "$BULKHEAD" policy simulate --flows "$WORK/flows.json" \
  "$WORK/candidate.yaml" >"$WORK/sim-offline.out" 2>/dev/null || rc=$?
check "simulate --flows: offline (no agent), the same prediction" \
  test "$rc" -eq 1 -a "$(cut -d, -f1 "$WORK/sim-offline.out")" == "$(cut -d, -f1 "$WORK/sim.out")"
rc=0
"$BULKHEAD" policy simulate "$WORK/learned.yaml" >/dev/null 2>&1 || rc=$?
check "simulate: the learned policy itself breaks nothing (exit 0)" test "$rc" -eq 0

echo "# enforce the candidate and replay"
sed 's/: learn$/: enforce/' "$WORK/candidate.yaml" >"$WORK/candidate-enforce.yaml"
"$BULKHEAD" policy apply "$WORK/candidate-enforce.yaml" >/dev/null
rc=0
"$BULKHEAD" policy diff "$WORK/candidate-enforce.yaml" >/dev/null 2>&1 || rc=$?
check "diff: after apply, what is in force is the file (exit 0)" test "$rc" -eq 0
before=$("$BULKHEAD" flows --last 0 -o json | wc -l)
play
sleep 0.5
"$BULKHEAD" flows --last 0 -o json | tail -n +$((before + 1)) |
  jq -r 'select(.verdict=="DROPPED") | "\(.source.workload) -> \(.destination.workload) : \(.protocol|ascii_downcase)/\(.destination.port)"' |
  sort | uniq -c | awk '{print $2, $3, $4, $5, $6, $1}' >"$WORK/dropped.txt"
awk '{print $1, $2, $3, $4, $5, $6}' "$WORK/sim.out" >"$WORK/predicted.txt"
check "replay: what the kernel dropped is exactly what simulate predicted" \
  diff <(cut -d' ' -f1-5 "$WORK/dropped.txt") <(cut -d' ' -f1-5 "$WORK/predicted.txt")
check "replay: ... flow for flow (3 of frontend -> db)" \
  test "$(cut -d' ' -f6 "$WORK/dropped.txt")" == "3"

echo "# learned since"
"$BULKHEAD" mode set shop/api shop/db learn >/dev/null
lab_serve db 6379
lab_wait_port db 6379
check "learn again: api -> db tcp/6379 connects" lab_connect api $DB 6379
for i in $(seq 1 50); do segments | grep -q '6379' && break; sleep 0.1; done
rc=0
"$BULKHEAD" policy diff "$WORK/candidate-enforce.yaml" >"$WORK/diff.out" 2>&1 || rc=$?
check "diff: a call learned after the file is in force, not in it" \
  grep -q '^+ shop/api -> shop/db : tcp/6379' "$WORK/diff.out"
check "diff: ... and api's mode is not the file's" grep -q '^~ shop/api    mode learn, the file says enforce' "$WORK/diff.out"
check "diff: ... nor db's" grep -q '^~ shop/db    mode learn, the file says enforce' "$WORK/diff.out"
check "diff: exit 1" test "$rc" -eq 1

echo "$failures failures"
[[ $failures -eq 0 ]]
