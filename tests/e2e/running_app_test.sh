#!/usr/bin/env bash
# Installed on an application that is already running: its pooled
# connections were opened before the agent, so the agent meets them
# mid-stream. Two kinds:
#   frontend -> api:8080    the client talks first (an echo every 0.2 s);
#   api -> db:50051         the server talks first (db pushes every 0.2 s,
#                           api never writes), on a port inside the
#                           ephemeral range, as gRPC's 50051 is;
#   client6 -> server6:40443  the same over IPv6.
# The agent starts in learn, learns both with their server ports (from the
# workloads' listening sockets, not from port numbers), and after a switch
# to enforce neither connection misses a beat, nor when every conntrack
# entry is deleted under them (as a map layout upgrade starts); a path the
# application never used is dropped and reported.
# Usage: running_app_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
POOL="$(cd "$(dirname "$0")" && pwd)/pool.py"
LAB_PREFIX="bhrun$$-"
FRONTEND=$SHOP_FRONTEND API=$SHOP_API DB=$SHOP_DB

WORK=$(mktemp -d /tmp/bulkhead-running-app.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

# pool POD ARGS...: pool.py in POD, in a session of its own (ended by
# shop_teardown with the servers).
pool() {
  local pod=$1; shift
  setsid ip netns exec "$(lab_pod_ns "$pod")" /usr/bin/python3 "$POOL" "$@" \
    </dev/null >>"$WORK/pool.log" 2>&1 &
  LAB_SERVERS+=($!)
}

# Lines of LOG from time T on (monotonic seconds, the last field).
since() { awk -v t="$2" '$NF >= t' "$1"; }
now() { /usr/bin/python3 -c 'import time; print(time.monotonic())'; }  # pool.py's clock
largest_gap() {  # largest_gap LOG T: the longest silence (s) from T until now
  { echo "$2"; since "$1" "$2"; now; } |
    awk '{t=$NF} NR>1 && t-p>g {g=t-p} {p=t} END {printf "%.2f", g+0}'
}

shop_create "$WORK"
# Two more pods, IPv6 only between them: a pooled connection over IPv6.
CLIENT6=fd00:244::1:50 SERVER6=fd00:244::1:60
SHOP_EXTRA_PODS+=(client6 server6)
lab_add_pod client6 10.244.1.50 10.244.0.50 $CLIENT6 fd00:244::ff:50
lab_add_pod server6 10.244.1.60 10.244.0.60 $SERVER6 fd00:244::ff:60
cat >>"$WORK/inventory.yaml" <<YAML
  - {namespace: shop, name: client6, addresses: [10.244.1.50, "$CLIENT6"]}
  - {namespace: shop, name: server6, addresses: [10.244.1.60, "$SERVER6"]}
YAML
lab_serve api 8080
pool db push-server 50051
pool server6 push-server 40443
lab_wait_port api 8080 && lab_wait_port db 50051 && lab_wait_port server6 40443

echo "# the application runs before the agent"
pool frontend echo-client $API 8080 "$WORK/echo.log"
pool api push-client $DB 50051 "$WORK/push.log"
pool client6 push-client $SERVER6 40443 "$WORK/push6.log"
for i in $(seq 1 50); do
  [[ -s "$WORK/echo.log" && -s "$WORK/push.log" && -s "$WORK/push6.log" ]] && break
  sleep 0.1
done
check "before: the pooled echo connection answers" grep -q '^ok' "$WORK/echo.log"
check "before: the pooled push connection delivers" test -s "$WORK/push.log"

echo "# the agent starts in learn, mid-stream"
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
t_agent=$(now)
sleep 2
expected_segments="shop/api shop/db TCP 50051
shop/client6 shop/server6 TCP 40443
shop/frontend shop/api TCP 8080"
check "learn: exactly the pooled connections became segments, by their server ports" \
  test "$(segments)" == "$expected_segments"
check "learn: the connection db talks first on is reported client -> server, mid-stream" \
  test "$(flows_matching '.source.workload=="shop/api" and .destination.workload=="shop/db" and .destination.port==50051 and .mid_stream')" -ge 1

echo "# enforce"
"$BULKHEAD" mode set --all enforce >/dev/null
t_enforce=$(now)
sleep 3
echo "      echo round trips since the agent started: $(since "$WORK/echo.log" "$t_agent" | grep -c '^ok') ok," \
  "$(since "$WORK/echo.log" "$t_agent" | grep -c '^miss' || true) missed;" \
  "longest push silence $(largest_gap "$WORK/push.log" "$t_agent") s"
check "enforce: the echo connection answered every round trip since the agent started" \
  test "$(since "$WORK/echo.log" "$t_agent" | grep -c '^miss' || true)" -eq 0 -a \
  "$(since "$WORK/echo.log" "$t_enforce" | grep -c '^ok')" -ge 10
check "enforce: the push connection never went silent for 1 s" \
  awk -v g="$(largest_gap "$WORK/push.log" "$t_agent")" 'BEGIN {exit !(g < 1.0)}'
check "enforce: and it still delivers" \
  test "$(since "$WORK/push.log" "$t_enforce" | wc -l)" -ge 10
check "enforce: the IPv6 push connection never went silent for 1 s, and delivers" \
  awk -v g="$(largest_gap "$WORK/push6.log" "$t_agent")" 'BEGIN {exit !(g < 1.0)}'
check "enforce: ... it is reported client -> server over IPv6, mid-stream" test "$(flows_matching \
  '.source.workload=="shop/client6" and .destination.workload=="shop/server6" and .destination.port==40443 and .ipv6 and .mid_stream')" -ge 1
echo "# conntrack lost (as after a map layout upgrade): picked up again mid-stream"
flush_conntrack() {  # deletes every entry; prints how many it deleted
  local m keys deleted=0
  for m in bh_ct bh_ct_new; do
    keys=$(bpftool -j map dump pinned "$WORK/bpffs/v3/$m" | jq -r '.[] | .key | join(" ")')
    while read -r key; do
      [[ -n "$key" ]] && bpftool map delete pinned "$WORK/bpffs/v3/$m" key hex $key &&
        deleted=$((deleted + 1))
    done <<<"$keys"
  done
  echo "$deleted"
}
t_flush=$(now)
check "flush: the entries of the three pooled connections (and any other) are deleted" \
  test "$(flush_conntrack)" -ge 3
sleep 2
check "flush: the echo connection answered every round trip since" \
  test "$(since "$WORK/echo.log" "$t_flush" | grep -c '^miss' || true)" -eq 0 -a \
  "$(since "$WORK/echo.log" "$t_flush" | grep -c '^ok')" -ge 5
check "flush: the push connections never went silent for 1 s" \
  awk -v g="$(largest_gap "$WORK/push.log" "$t_flush")" -v h="$(largest_gap "$WORK/push6.log" "$t_flush")" \
  'BEGIN {exit !(g < 1.0 && h < 1.0)}'
check "enforce: a new connection on a learned path connects" lab_connect frontend $API 8080
check "enforce: frontend -> db:50051, never used, times out" \
  refused lab_connect frontend $DB 50051
check "enforce: ... and is reported DROPPED" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .destination.port==50051 and .verdict=="DROPPED"')" -ge 1
echo "# a pod posing as a server to open a denied connection"
# The node listens on 9999; host -> pod is allowed on every port by
# default, pod -> host:9999 is not.
setsid ip netns exec "$(lab_node_ns)" socat TCP-LISTEN:9999,fork,reuseaddr EXEC:cat \
  </dev/null >/dev/null 2>&1 &
LAB_SERVERS+=($!)
sleep 0.3
check "posing: frontend listening and connecting from port 7000 (SO_REUSEPORT) plus a crafted ACK does not reach host:9999" \
  refused ip netns exec "$(lab_pod_ns frontend)" /usr/bin/python3 \
  "$(dirname "$POOL")/reuseport_attack.py" $FRONTEND 10.244.0.1 9999 7000
check "posing: ... the attempt is reported DROPPED" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="host" and .destination.port==9999 and .verdict=="DROPPED"')" -ge 1
check "enforce: nothing else was learned" test "$(segments)" == "$expected_segments"

if ((failures)); then echo "running-app: $failures check(s) failed"; exit 1; fi
echo "running-app: all checks passed"
