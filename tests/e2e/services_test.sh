#!/usr/bin/env bash
# End to end: Services (issue 9, point 2). kube-proxy rewrites a ClusterIP
# (or a node address and NodePort) in the node's PREROUTING, after the
# packet has passed the hook on the client's own interface; here iptables
# DNAT rules in the node namespace do what kube-proxy does:
#   10.244.250.10:80  -> api 10.244.1.20:8080   (ClusterIP, learned)
#   10.244.250.10:81  -> api 10.244.1.20:9090   (ClusterIP, never used)
#   10.244.0.1:30080  -> api 10.244.1.20:8080   (NodePort on the node)
#   learn    calls through the Service are segments to shop/api:8080: never
#            the Service's address, never world, never port 80 or 30080;
#   enforce  the learned calls through the ClusterIP and the NodePort, and a
#            pooled connection opened through the Service before the agent
#            started, keep working; the Service's other port (api:9090), and a workload
#            that never called api, are dropped at the source and reported
#            DROPPED as flows to shop/api on the target port;
#   reload   the Service leaves the inventory: its address is a peer like
#            any other again (private), and no segment admits it.
# Usage: services_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhsvc$$-"
API=$SHOP_API
VIP=10.244.250.10 NODE=10.244.0.1

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

shop_create "$WORK"
cat >>"$WORK/inventory.yaml" <<YAML
services:
  - namespace: shop
    name: api
    workload: shop/api
    clusterIPs: [$VIP]
    ports:
      - {port: 80, targetPort: 8080, nodePort: 30080}
      - {port: 81, targetPort: 9090}
YAML
node_nat() { ip netns exec "$(lab_node_ns)" iptables -w -t nat "$@"; }
node_nat -A PREROUTING -d $VIP -p tcp --dport 80 -j DNAT --to-destination $API:8080
node_nat -A PREROUTING -d $VIP -p tcp --dport 81 -j DNAT --to-destination $API:9090
node_nat -A PREROUTING -d $NODE -p tcp --dport 30080 -j DNAT --to-destination $API:8080
lab_serve api 8080
lab_serve api 9090
lab_wait_port api 8080 && lab_wait_port api 9090
echo "# before the agent: the DNAT rules work"
check "frontend -> $VIP:81 reaches api:9090 through the DNAT rule" lab_connect frontend $VIP 81
# A pooled connection through the Service, opened before the agent: its
# side is seen mid-stream (the socket, connected to the Service, says it
# is the client).
setsid ip netns exec "$(lab_pod_ns frontend)" /usr/bin/python3 "$(dirname "$0")/pool.py" \
  echo-client $VIP 80 "$WORK/pool.log" >/dev/null 2>&1 </dev/null &
SHOP_EXTRA_PIDS+=($!)
for i in $(seq 1 50); do [[ -s "$WORK/pool.log" ]] && break; sleep 0.1; done
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
sleep 1
check "learn: the pooled connection's flow through the Service is seen mid-stream as frontend -> shop/api:8080" \
  test "$(flows_matching '.source.workload=="shop/frontend" and .destination.workload=="shop/api" and .destination.port==8080 and .service=="shop/api" and .mid_stream')" -ge 1

echo "# learn"
for i in 1 2; do
  check "learn: frontend -> Service $VIP:80 connects ($i)" lab_connect frontend $VIP 80
  check "learn: frontend -> NodePort $NODE:30080 connects ($i)" lab_connect frontend $NODE 30080
done
# frontend -> api:9090 through port 81 was called before the agent (above)
# and never again: it must not be a segment.
check "learn: the only segment is frontend -> shop/api tcp/8080 (not the Service's address or ports)" \
  test "$(segments)" == "shop/frontend shop/api TCP 8080"
check "learn: the flow names the Service and both ports" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/api" and .destination.port==8080 and .service=="shop/api" and .service_port==80 and .destination.ip=="'$VIP'"')" -ge 1
check "learn: the NodePort flow names the Service too" test "$(flows_matching \
  '.destination.workload=="shop/api" and .destination.port==8080 and .service=="shop/api" and .service_port==30080')" -ge 1
check "learn: no flow went to the Service's address as a peer (private, world)" test "$(flows_matching \
  '.destination.workload=="private" or .destination.workload=="world"')" -eq 0

echo "# enforce"
"$BULKHEAD" mode set --all enforce >/dev/null
pool_lines=$(wc -l <"$WORK/pool.log")
check "enforce: frontend -> Service $VIP:80 connects" lab_connect frontend $VIP 80
check "enforce: frontend -> NodePort $NODE:30080 connects" lab_connect frontend $NODE 30080
check "enforce: frontend -> api:8080 directly connects" lab_connect frontend $API 8080
check "enforce: frontend -> Service $VIP:81 (api:9090, never learned) is refused" \
  refused lab_connect frontend $VIP 81
check "enforce: ... reported DROPPED at frontend's hook as the flow to shop/api:9090" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/api" and .destination.port==9090 and .service=="shop/api" and .service_port==81 and .verdict=="DROPPED" and .hook=="FROM_ENDPOINT"')" -ge 1
check "enforce: db -> Service $VIP:80 (db never called api) is refused" \
  refused lab_connect db $VIP 80
check "enforce: ... reported DROPPED as the flow db -> shop/api:8080" test "$(flows_matching \
  '.source.workload=="shop/db" and .destination.workload=="shop/api" and .destination.port==8080 and .service=="shop/api" and .verdict=="DROPPED"')" -ge 1
sleep 1
check "enforce: the pooled connection through the Service kept going" \
  test "$(wc -l <"$WORK/pool.log")" -gt "$pool_lines"
check "enforce: ... without a miss" test "$(grep -c miss "$WORK/pool.log" || true)" -eq 0

echo "# the Service leaves the inventory"
reloads=$(counter agent_inventory_reloads)
sed -i '/^services:/,$d' "$WORK/inventory.yaml"
for i in $(seq 1 50); do
  [[ $(counter agent_inventory_reloads) -gt $reloads ]] && break
  sleep 0.1
done
check "reload: frontend -> $VIP:80 is now a flow to its address (private), refused" \
  refused lab_connect frontend $VIP 80
check "reload: ... reported DROPPED to private:80" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="private" and .destination.port==80 and .service=="" and .verdict=="DROPPED"')" -ge 1
check "reload: frontend -> api:8080 directly still connects" lab_connect frontend $API 8080

echo
if [[ $failures -ne 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
