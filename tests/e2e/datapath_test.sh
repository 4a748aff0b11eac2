#!/usr/bin/env bash
# End to end, the datapath the way an attacker and a user meet it, in
# network namespaces with the real agent and real traffic:
#   ipv6      TCP, UDP and ICMPv6 learned and enforced like IPv4;
#   vlan      a pod in enforce sends frames with two VLAN tags (also under
#             another pod's address): nothing arrives, each is reported;
#   fragments 3000-byte UDP datagrams to a learned port pass (no UDP/0
#             segment is learned), to a denied port they do not;
#   node      the node probes a pod in enforce (kubelet-style) and gets in;
#   flood     a SYN flood from one pod, to a denied and to an allowed port,
#             while another pair's idle connection survives;
#   uplink    a second node behind a veth "uplink" with the XDP program:
#             learned flows in pass, denied ones are dropped at XDP.
# Every refused flow is tied to its own DROPPED event, so a check cannot
# pass because a server was down or a port mistyped.
# Usage: datapath_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhdp$$-"
PY=/usr/bin/python3  # Debian's, which sees python3-scapy
FE=10.244.1.10 API=10.244.1.20 DB=10.244.1.30 REMOTE=10.244.2.10
FE6=fd00:244::1:10 API6=fd00:244::1:20 DB6=fd00:244::1:30
NODE2="${LAB_PREFIX}node2"
REMOTE_NS="${LAB_PREFIX}remote"

WORK=$(mktemp -d /tmp/bulkhead-dp.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
cleanup() {
  local rc=${1:-$?}
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    echo "--- agent log"; tail -50 "$WORK/agent.log" 2>/dev/null || true
  fi
  ip netns del "$REMOTE_NS" 2>/dev/null || true
  ip netns del "$NODE2" 2>/dev/null || true
  SHOP_PODS=(frontend api db)
  shop_teardown "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

source "$(dirname "$0")/lib.sh"
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
dropped() {  # dropped SRC_WORKLOAD DST_WORKLOAD JQ_EXTRA: a DROPPED event exists
  test "$(flows_matching ".verdict==\"DROPPED\" and .source.workload==\"$1\" and .destination.workload==\"$2\" and ($3)")" -ge 1
}
counter() { "$BULKHEAD" status -o json | jq ".datapath_counters.$1 // 0 | tonumber"; }
segs_in() { in_ns "$(lab_pod_ns "$1")" nstat -az TcpInSegs | awk '/TcpInSegs/ {print $2}'; }

# A UDP datagram of SIZE bytes from POD to ADDR:PORT; succeeds if it comes
# back whole within 2 s.
big_udp() {
  local pod=$1 addr=$2 port=$3 size=$4
  in_ns "$(lab_pod_ns "$pod")" timeout 4 "$PY" - "$addr" "$port" "$size" <<'PY'
import socket, sys
addr, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(2)
payload = bytes(i % 251 for i in range(size))
s.sendto(payload, (addr, port))
data, _ = s.recvfrom(65535)
sys.exit(0 if data == payload else 1)
PY
}

# --- two nodes: this one with three dual-stack pods, node2 with one pod,
# joined by a veth "uplink" that carries the XDP program on this side.
lab_create_node
lab_add_pod frontend $FE 10.244.0.1 $FE6 fd00:244::ff:1
lab_add_pod api $API 10.244.0.2 $API6 fd00:244::ff:2
lab_add_pod db $DB 10.244.0.3 $DB6 fd00:244::ff:3
NODE=$(lab_node_ns)
ip netns add "$NODE2"
ip -n "$NODE" link add up0 type veth peer name up0 netns "$NODE2"
ip -n "$NODE" addr add 10.244.255.1/24 dev up0
ip -n "$NODE2" addr add 10.244.255.2/24 dev up0
ip -n "$NODE" link set up0 up
ip -n "$NODE2" link set up0 up
ip -n "$NODE2" link set lo up
in_ns "$NODE2" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NODE" route add 10.244.2.0/24 via 10.244.255.2
ip -n "$NODE2" route add 10.244.1.0/24 via 10.244.255.1
ip netns add "$REMOTE_NS"
ip -n "$NODE2" link add lxc-remote type veth peer name eth0 netns "$REMOTE_NS"
ip -n "$REMOTE_NS" link set lo up
ip -n "$REMOTE_NS" link set eth0 up
ip -n "$REMOTE_NS" addr add $REMOTE/32 dev eth0
ip -n "$REMOTE_NS" route add 10.244.2.1 dev eth0 scope link
ip -n "$REMOTE_NS" route add default via 10.244.2.1 dev eth0
ip -n "$NODE2" addr add 10.244.2.1/32 dev lxc-remote
ip -n "$NODE2" link set lxc-remote up
ip -n "$NODE2" route add $REMOTE/32 dev lxc-remote

cat >"$WORK/inventory.yaml" <<YAML
workloads:
  - {namespace: shop, name: frontend, addresses: [$FE, "$FE6"]}
  - {namespace: shop, name: api, addresses: [$API, "$API6"]}
  - {namespace: shop, name: db, addresses: [$DB, "$DB6"]}
  - {namespace: shop, name: remote, addresses: [$REMOTE]}
YAML
mkdir -p "$WORK/bpffs"
mount -t bpf bpf "$WORK/bpffs"

serve_tcp() {  # POD PORT: dual-stack TCP echo
  setsid ip netns exec "$(lab_pod_ns "$1")" socat TCP6-LISTEN:"$2",fork,reuseaddr,ipv6only=0 EXEC:cat \
    </dev/null >/dev/null 2>&1 &
  LAB_SERVERS+=($!)
}
serve_udp() {  # POD PORT: dual-stack UDP echo, large datagrams whole
  setsid ip netns exec "$(lab_pod_ns "$1")" "$PY" - "$2" </dev/null >/dev/null 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
PY
  LAB_SERVERS+=($!)
}
serve_tcp api 8080
serve_tcp api 9999
serve_tcp db 5432
serve_udp db 5353
lab_wait_port api 8080 && lab_wait_port api 9999 && lab_wait_port db 5432 && lab_wait_port db 5353

ip netns exec "$NODE" "$BUILD_DIR/controlplane/bulkheadd" \
  --inventory "$WORK/inventory.yaml" --interfaces 'lxc-*' --uplink up0 --pin-dir "$WORK/bpffs" \
  --state-dir "$WORK/state" --socket "$BULKHEAD_SOCKET" --mode learn 2>>"$WORK/agent.log" &
SHOP_AGENT_PID=$!
bh_wait_agent "$BULKHEAD_SOCKET" "$SHOP_AGENT_PID" "$BULKHEAD"

echo "# learn"
for i in 1 2; do
  check "learn: frontend -> api tcp/8080 over IPv6" lab_connect frontend "$API6" 8080
  check "learn: frontend -> api tcp/8080 over IPv4" lab_connect frontend $API 8080
  check "learn: api -> db 3000-byte UDP datagram over IPv4" big_udp api $DB 5353 3000
  check "learn: api -> db 3000-byte UDP datagram over IPv6" big_udp api "$DB6" 5353 3000
  check "learn: frontend -> api ping over IPv6" lab_ping frontend "$API6"
  check "learn: remote (other node) -> api tcp/8080 through the uplink" \
    bash -c "echo hi | ip netns exec $REMOTE_NS timeout 3 socat -T 2 - TCP:$API:8080,connect-timeout=2 | grep -q hi"
done
check "learn: exactly these segments, one per family-independent path, none for port 0" \
  test "$(segments)" == "shop/api shop/db UDP 5353
shop/frontend shop/api ICMPV6 128
shop/frontend shop/api TCP 8080
shop/remote shop/api TCP 8080"

"$BULKHEAD" mode set --all enforce >/dev/null
echo "# ipv6 in enforce"
check "ipv6: learned frontend -> api tcp/8080 connects" lab_connect frontend "$API6" 8080
check "ipv6: learned ping6 frontend -> api is answered" lab_ping frontend "$API6"
check "ipv6: unlearned frontend -> db tcp/5432 times out" refused lab_connect frontend "$DB6" 5432
check "ipv6: ... and is reported DROPPED (policy, IPv6)" \
  dropped shop/frontend shop/db '.destination.port==5432 and .ipv6==true and .reason=="POLICY"'
check "ipv6: unlearned ping6 frontend -> db is not answered" refused lab_ping frontend "$DB6"
check "ipv6: ... and is reported DROPPED" dropped shop/frontend shop/db '.protocol=="ICMPV6"'
check "ipv6: unlearned UDP frontend -> db gets no echo" refused lab_connect frontend "$DB6" 5353 udp
check "ipv6: ... and is reported DROPPED" \
  dropped shop/frontend shop/db '.protocol=="UDP" and .destination.port==5353 and .ipv6==true'

echo "# fragments in enforce"
check "fragments: 3000-byte datagram api -> db on the learned port is echoed (IPv4)" big_udp api $DB 5353 3000
check "fragments: and over IPv6" big_udp api "$DB6" 5353 3000
check "fragments: 3000-byte datagram frontend -> db (denied) is not" refused big_udp frontend $DB 5353 3000
check "fragments: ... its first fragment is reported DROPPED (policy)" \
  dropped shop/frontend shop/db '.protocol=="UDP" and .destination.port==5353 and .reason=="POLICY" and .ipv6==false'

echo "# node -> pod in enforce"
check "node: a probe from the node reaches api tcp/8080 (no segment needed)" \
  bash -c "echo probe | ip netns exec $NODE timeout 3 socat -T 2 - TCP:$API:8080,connect-timeout=2 | grep -q probe"
check "node: and over IPv6" \
  bash -c "echo probe | ip netns exec $NODE timeout 3 socat -T 2 - TCP:[$API6]:8080,connect-timeout=2 | grep -q probe"

echo "# vlan tags from a pod in enforce"
# The node side's MAC: frames must be addressed to the node, or the node
# would drop them whatever Bulkhead did and the checks could not fail.
NODE_MAC=$(ip -n "$NODE" -j link show lxc-frontend | jq -r '.[0].address')
vlan_send() {  # SRC DST DPORT [TAGS]: 5 SYNs with VID-0 tags (802.1ad, then 802.1Q) out of frontend
  in_ns "$(lab_pod_ns frontend)" "$PY" - "$1" "$2" "$3" "${4:-2}" "$NODE_MAC" <<'PY'
import sys
from scapy.all import Ether, Dot1AD, Dot1Q, IP, TCP, sendp, conf, get_if_hwaddr
conf.verb = 0
src, dst, dport, tags, mac = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
frame = Ether(src=get_if_hwaddr("eth0"), dst=mac) / Dot1AD(vlan=0)
for _ in range(tags - 1):
    frame = frame / Dot1Q(vlan=0)
frame = frame / IP(src=src, dst=dst) / TCP(sport=41000, dport=dport, flags="S")
sendp(frame, iface="eth0", count=5)
PY
}
# The checks below are worth something only if a tagged frame to the node
# does get through when allowed: while both learn, frontend -> db passes.
"$BULKHEAD" mode set shop/frontend learn >/dev/null
"$BULKHEAD" mode set shop/db learn >/dev/null
before=$(segs_in db)
vlan_send $FE $DB 6000  # a port no later check uses: this teaches frontend -> db tcp/6000
sleep 1
check "vlan: (control) double-tagged SYNs frontend -> db arrive while both learn" test "$(segs_in db)" -gt "$before"
before=$(segs_in db)
vlan_send $API $DB 5432 4
sleep 1
check "vlan: four tags under api's address, frontend learning: nothing arrives in db" test "$(segs_in db)" -eq "$before"
check "vlan: ... reported DROPPED as unparseable at frontend's interface" \
  test "$(flows_matching '.verdict=="DROPPED" and .reason=="UNPARSEABLE" and .interface=="lxc-frontend"')" -ge 1
"$BULKHEAD" mode set --all enforce >/dev/null
before=$(segs_in db)
vlan_send $API $DB 5432
sleep 1
check "vlan: double-tagged SYNs under api's address reach nothing in db" test "$(segs_in db)" -eq "$before"
check "vlan: ... they are reported DROPPED as spoofed at frontend's interface" \
  test "$(flows_matching '.verdict=="DROPPED" and .reason=="SPOOFED" and .interface=="lxc-frontend" and .destination.port==5432')" -ge 1
before=$(segs_in db)
vlan_send $FE $DB 5432
sleep 1
check "vlan: double-tagged SYNs frontend -> db (denied) reach nothing" test "$(segs_in db)" -eq "$before"
check "vlan: ... and are reported DROPPED (policy)" \
  dropped shop/frontend shop/db '.destination.port==5432 and .source.port==41000 and .reason=="POLICY"'

echo "# flood"
# api keeps an idle connection to db:5432 (a learned path? no: api -> db tcp
# was never learned, so learn it now under a short learn window).
"$BULKHEAD" mode set shop/api learn >/dev/null
"$BULKHEAD" mode set shop/db learn >/dev/null
check "flood: api -> db tcp/5432 learned" lab_connect api $DB 5432
"$BULKHEAD" mode set --all enforce >/dev/null
in_ns "$(lab_pod_ns api)" "$PY" - $DB <<'PY' >"$WORK/idle.out" 2>&1 &
import socket, sys, time
s = socket.create_connection((sys.argv[1], 5432), timeout=3)
s.sendall(b"before\n"); assert s.recv(100) == b"before\n"
time.sleep(8)  # idle while the flood runs
s.settimeout(3)
s.sendall(b"after\n"); assert s.recv(100) == b"after\n"
print("idle connection survived")
PY
idle_pid=$!
sleep 1
in_ns "$(lab_pod_ns frontend)" timeout 3 hping3 -q -S -p 5432 --flood $DB >/dev/null 2>&1 || true
in_ns "$(lab_pod_ns frontend)" timeout 3 hping3 -q -S -p 8080 --flood $API >/dev/null 2>&1 || true
check "flood: api's idle connection to db still works after 3 s of denied and 3 s of allowed SYN floods" \
  wait $idle_pid
check "flood: the denied flood was dropped" test "$(counter dropped_policy)" -gt 10000
check "flood: the agent still answers" bash -c "timeout 5 $BULKHEAD status >/dev/null"

echo "# uplink (XDP) in enforce"
check "uplink: learned remote -> api tcp/8080 connects" \
  bash -c "echo hi | ip netns exec $REMOTE_NS timeout 3 socat -T 2 - TCP:$API:8080,connect-timeout=2 | grep -q hi"
xdp_before=$(counter xdp_dropped)
check "uplink: unlearned remote -> api tcp/9999 times out" \
  refused bash -c "echo hi | ip netns exec $REMOTE_NS timeout 3 socat -T 2 - TCP:$API:9999,connect-timeout=2 | grep -q hi"
check "uplink: ... dropped at XDP, before an skb existed" test "$(counter xdp_dropped)" -gt "$xdp_before"
check "uplink: ... and reported DROPPED from the uplink hook" \
  dropped shop/remote shop/api '.destination.port==9999 and .hook=="FROM_UPLINK"'

if ((failures)); then echo "datapath e2e: $failures check(s) failed"; exit 1; fi
echo "datapath e2e: all checks passed"
