#!/usr/bin/env bash
# End to end: learning that a person can switch on without fear (issue 7,
# points 6 and 7), with the real agent and real TCP:
#   hold back  frontend, while learning, connects to 8 open ports of db in a
#              few seconds (a compromised pod exploring): past
#              --hold-back-segments 4 nothing it taught stays in the policy;
#              all 8 candidates are exported under heldBack, counted in
#              status, and its flows are flagged;
#   promotion  with --stable-after and the two promotion flags, every
#              workload moves learn -> monitor -> enforce by itself once
#              quiet, but not while a connection outside its policy is
#              alive; then the learned path works and a held-back one is
#              dropped (and reported DROPPED).
# Usage: learning_rules_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhrules$$-"
DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

shop_create "$WORK"
lab_serve db 5432
lab_serve api 8080
lab_wait_port api 8080
for port in $(seq 7001 7008); do lab_serve db "$port"; done
for port in 5432 $(seq 7001 7008); do lab_wait_port db "$port"; done
SHOP_AGENT_ARGS=(--hold-back-segments 4 --hold-back-window 60s --stable-after 6s
  --promote-to-monitor --promote-to-enforce-after 4s)
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"

workload() { "$BULKHEAD" status -o json | jq -c ".workloads[] | select(.workload==\"$1\")"; }
# all_reach MODE TENTHS: every workload (3) is in MODE within TENTHS x 0.1 s.
all_reach() {
  local i
  for i in $(seq 1 "$2"); do
    [[ $("$BULKHEAD" status -o json | jq "[.workloads[] | select(.mode==\"$1\")] | length") -eq 3 ]] &&
      return 0
    sleep 0.1
  done
  return 1
}

echo "# learn, and hold back"
for i in 1 2 3; do check "learn: api -> db tcp/5432 connects ($i)" lab_connect api $DB 5432; done
for port in $(seq 7001 7008); do
  check "learn: frontend -> db tcp/$port connects (learn mode passes it)" \
    lab_connect frontend $DB "$port"
done
sleep 0.5  # the last candidates wait for their answers (100 ms checks)
check "hold back: the policy is api -> db tcp/5432 alone" \
  test "$(segments)" == "shop/api shop/db TCP 5432"
held=$("$BULKHEAD" policy export | awk '/^heldBack:/ {h=1} h && /^ +port:/ {print $2}' | sort -n | paste -sd,)
check "hold back: all 8 ports are exported under heldBack ($held)" \
  test "$held" == "7001,7002,7003,7004,7005,7006,7007,7008"
check "hold back: status counts 8 held for shop/frontend" \
  test "$(workload shop/frontend | jq '.held_back')" -eq 8
check "hold back: ... and says it is exploring" \
  test "$(workload shop/frontend | jq '.exploring')" == true
# A flow after the trip (which waits for the candidates' answers, so the
# ports above may all have been seen before it) carries the flag.
lab_connect frontend $DB 7008 || true
check "hold back: its later flows are flagged held_back" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.port==7008 and .held_back==true')" -ge 1
check "hold back: the trip is counted" test "$(counter learner_scan_trips)" -eq 1

echo "# promotion"
check "promotion: every workload reached monitor once stable" all_reach MONITOR 300
# A pooled connection outside the policy (frontend -> api:8080, never
# learned), opened while monitoring: reported once, alive for 10 s. While it
# lives, enforce would break it, so no promotion.
(for i in $(seq 1 10); do echo "keep-alive $i"; sleep 1; done) |
  ip netns exec "$(lab_pod_ns frontend)" socat -T 15 - "TCP:$SHOP_API:8080" >/dev/null 2>&1 &
pooled=$!
sleep 8
check "promotion: a live connection outside the policy holds shop/api in monitor" \
  test "$(workload shop/api | jq -r '.mode')" == MONITOR
check "promotion: ... and shop/frontend" test "$(workload shop/frontend | jq -r '.mode')" == MONITOR
wait "$pooled" || true
check "promotion: every workload reached enforce by itself" all_reach ENFORCE 400
check "promotion: shop/api went learn -> monitor (stable) ..." \
  grep -q "promoted shop/api from learn to monitor: no new segment for 6s" "$WORK/agent.log"
check "promotion: ... then monitor -> enforce (no audit verdict)" \
  grep -q "promoted shop/api from monitor to enforce: no audit verdict for 4s" "$WORK/agent.log"
check "enforce: learned api -> db tcp/5432 connects" lab_connect api $DB 5432
check "enforce: held-back frontend -> db tcp/7003 times out" refused lab_connect frontend $DB 7003
check "enforce: ... and is reported DROPPED" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.port==7003 and .verdict=="DROPPED"')" -ge 1

echo "# restart"
shop_stop_agent
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
check "restart: the held-back candidates are still there for review" \
  test "$(workload shop/frontend | jq '.held_back')" -eq 8
check "restart: the modes and their times are kept" \
  test "$(workload shop/api | jq -r '.mode')" == ENFORCE

echo
if [[ $failures -ne 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
