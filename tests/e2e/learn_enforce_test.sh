#!/usr/bin/env bash
# End to end, for real: the agent on a "node" namespace, three "pods" joined
# to it by veth, real TCP, UDP and ICMP between them. The demo's story, with
# assertions:
#   learn    the paths used are learned as segments, by server port;
#   monitor  a flow outside the allow-list into db passes and is reported;
#   enforce  learned paths still work, unlearned ones time out and are
#            reported DROPPED; the datapath counts the drops;
#   new pod  a pod created while the agent runs is attached, bound to its
#            workload by its route, and enforced;
#   restart  a new agent on the same state keeps enforcing.
# Usage: learn_enforce_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhe2e$$-"
FRONTEND=$SHOP_FRONTEND API=$SHOP_API DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

start_agent() { shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"; }

# --- the node, three pods, servers, the agent. shop/cache is in the
# inventory but its pod only appears later.
CACHE=10.244.1.40
shop_create "$WORK"
echo "  - {namespace: shop, name: cache, labels: {app: cache}, addresses: [$CACHE]}" >>"$WORK/inventory.yaml"
lab_serve api 8080
lab_serve db 5432
lab_serve_udp db 5353
lab_wait_port api 8080 && lab_wait_port db 5432 && lab_wait_port db 5353
start_agent
check "agent attached to the three pod interfaces" \
  test "$("$BULKHEAD" status -o json | jq '.interfaces | length')" -eq 3
check "each interface is bound to the workload routed through it" \
  test "$("$BULKHEAD" status -o json | jq -r '.interfaces | sort | join(",")')" == \
  "lxc-api (shop/api),lxc-db (shop/db),lxc-frontend (shop/frontend)"

echo "# learn"
for i in 1 2 3; do
  check "learn: frontend -> api tcp/8080 connects ($i)" lab_connect frontend $API 8080
  check "learn: api -> db tcp/5432 connects ($i)" lab_connect api $DB 5432
done
check "learn: api -> db udp/5353 is echoed" lab_connect api $DB 5353 udp
check "learn: api -> db ping is answered" lab_ping api $DB
expected_segments="shop/api shop/db ICMP 8
shop/api shop/db TCP 5432
shop/api shop/db UDP 5353
shop/frontend shop/api TCP 8080"
check "learn: exactly the used paths became segments, by server port" \
  test "$(segments)" == "$expected_segments"
ip netns exec "$(lab_pod_ns frontend)" hping3 -q -S -p ++20000 -c 200 -i u2000 $API >/dev/null 2>&1 || true
check "learn: a scan of 200 closed ports teaches no segment (never answered)" \
  test "$(segments)" == "$expected_segments"
check "learn: ... each scanned flow waits for an answer or was given up" \
  test $(($(counter learner_waiting_for_answer) + $(counter learner_skipped_unanswered))) -ge 200

echo "# monitor"
"$BULKHEAD" mode set shop/db monitor >/dev/null
check "monitor: frontend -> db tcp/5432 still connects" lab_connect frontend $DB 5432
check "monitor: it is reported as AUDIT by a monitoring workload" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .verdict=="AUDIT" and .mode=="MONITOR"')" -ge 1
check "monitor: and it was not learned" test "$(segments)" == "$expected_segments"

echo "# enforce"
"$BULKHEAD" mode set --all enforce >/dev/null
check "enforce: every workload enforces" \
  test "$("$BULKHEAD" status -o json | jq '[.workloads[] | select(.mode=="ENFORCE")] | length')" -eq 4
check "enforce: learned frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
check "enforce: learned api -> db tcp/5432 connects" lab_connect api $DB 5432
check "enforce: learned api -> db udp/5353 is echoed" lab_connect api $DB 5353 udp
check "enforce: learned api -> db ping is answered" lab_ping api $DB
check "enforce: unlearned frontend -> db tcp/5432 times out" refused lab_connect frontend $DB 5432
check "enforce: unlearned frontend -> db udp/5353 gets no echo" refused lab_connect frontend $DB 5353 udp
check "enforce: unlearned frontend -> api ping is not answered" refused lab_ping frontend $API
check "enforce: unlearned db -> api tcp/8080 (reverse of nothing) times out" refused lab_connect db $API 8080
check "enforce: frontend -> db tcp/5432 is reported DROPPED" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .destination.port==5432 and .protocol=="TCP" and .verdict=="DROPPED"')" -ge 1
check "enforce: the datapath counted policy drops" \
  test "$("$BULKHEAD" status -o json | jq '.datapath_counters.dropped_policy | tonumber')" -gt 0

echo "# new pod"
SHOP_EXTRA_PODS+=(cache)
lab_add_pod cache $CACHE 10.244.0.4
bound_cache() { "$BULKHEAD" status -o json | jq -e '.interfaces | index("lxc-cache (shop/cache)")' >/dev/null; }
for i in $(seq 1 50); do bound_cache && break; sleep 0.1; done
check "new pod: its interface is attached and bound to shop/cache" bound_cache
check "new pod: cache -> db tcp/5432 (never learned) times out" refused lab_connect cache $DB 5432
check "new pod: and is reported DROPPED from shop/cache" test "$(flows_matching \
  '.source.workload=="shop/cache" and .destination.workload=="shop/db" and .verdict=="DROPPED"')" -ge 1

echo "# a second agent"
second_rc=0
ip netns exec "$(lab_node_ns)" timeout 10 "$BUILD_DIR/controlplane/bulkheadd" \
  --inventory "$WORK/inventory.yaml" --interfaces 'lxc-*' --pin-dir "$WORK/bpffs" \
  --state-dir "$WORK/state2" --socket "$WORK/second.sock" --mode learn 2>"$WORK/second.log" ||
  second_rc=$?
check "second agent: exits with an error at once" test "$second_rc" -ne 0 -a "$second_rc" -ne 124
check "second agent: says another one runs" grep -q "another bulkheadd is running" "$WORK/second.log"
check "second agent: the first still answers, every workload still enforcing" \
  test "$("$BULKHEAD" status -o json | jq '[.workloads[] | select(.mode=="ENFORCE")] | length')" -eq 4
check "second agent: learned frontend -> api tcp/8080 still connects" lab_connect frontend $API 8080
check "second agent: unlearned cache -> api tcp/8080 still times out" refused lab_connect cache $API 8080
check "second agent: ... reported DROPPED by the first agent" test "$(flows_matching \
  '.source.workload=="shop/cache" and .destination.workload=="shop/api" and .verdict=="DROPPED"')" -ge 1

echo "# restart under a probe stream"
# Allowed (frontend -> api tcp/8080) and denied (frontend -> db tcp/5432)
# probes at a fixed pace while the agent is stopped with SIGTERM and
# restarted, then killed with SIGKILL and restarted: enforcement must not
# blink in either direction.
probe() {  # probe NAME ADDR PORT SECONDS: one attempt every 0.25 s
  local name=$1 addr=$2 port=$3 until=$((SECONDS + $4))
  while ((SECONDS < until)); do
    if lab_connect frontend "$addr" "$port"; then echo ok; else echo refused; fi >>"$WORK/probe.$name"
    sleep 0.25
  done
}
: >"$WORK/probe.allowed"; : >"$WORK/probe.denied"
probe allowed $API 8080 12 &
allowed_pid=$!
probe denied $DB 5432 12 &
denied_pid=$!
sleep 1
shop_stop_agent          # SIGTERM
sleep 2
check "restart: nothing of ours is detached while the agent is down" \
  test "$(ip netns exec "$(lab_node_ns)" tc filter show dev lxc-db egress | grep -c 'bpf')" -ge 1
start_agent
sleep 2
kill -KILL "$SHOP_AGENT_PID"; wait "$SHOP_AGENT_PID" 2>/dev/null || true; SHOP_AGENT_PID=""
sleep 2
start_agent
wait $allowed_pid $denied_pid
allowed_total=$(wc -l <"$WORK/probe.allowed"); allowed_ok=$(grep -c '^ok' "$WORK/probe.allowed" || true)
denied_total=$(wc -l <"$WORK/probe.denied"); denied_ok=$(grep -c '^ok' "$WORK/probe.denied" || true)
echo "      probes: allowed $allowed_ok/$allowed_total connected, denied $denied_ok/$denied_total connected"
check "restart: every allowed probe connected across SIGTERM and SIGKILL restarts" \
  test "$allowed_total" -ge 10 -a "$allowed_ok" -eq "$allowed_total"
check "restart: no denied probe connected" test "$denied_total" -ge 3 -a "$denied_ok" -eq 0
check "restart: the denied probes are reported DROPPED by the restarted agent" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .verdict=="DROPPED"')" -ge 1
check "restart: modes came back as enforce" \
  test "$("$BULKHEAD" status -o json | jq '[.workloads[] | select(.mode=="ENFORCE")] | length')" -eq 4
check "restart: learned frontend -> api tcp/8080 connects" lab_connect frontend $API 8080
check "restart: unlearned frontend -> db tcp/5432 still times out" refused lab_connect frontend $DB 5432

if ((failures)); then echo "e2e: $failures check(s) failed"; exit 1; fi
echo "e2e: all checks passed"
