# Shared by tools/demo.sh, tools/test.sh and tests/e2e/*.sh: building, and a
# small "node" made of network namespaces. Source it; it defines functions
# and sets nothing global besides BH_ROOT.
BH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

bh_require_root() {
  if [[ $EUID -ne 0 ]]; then
    echo "$(basename "$0"): must run as root (BPF programs, network namespaces)" >&2
    exit 1
  fi
}

# bh_build BUILD_DIR: configure (once) and build everything.
bh_build() {
  local build_dir=$1
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$BH_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build_dir" -j "$(nproc)"
}

# --- the lab: one "node" namespace, each "pod" a namespace joined to it by veth.
# Pod P gets address ADDR on eth0; the node side is lxc-P with gateway GW/32
# and a /32 route to ADDR, the way CNI plugins such as Calico and Cilium wire
# routed pods. Names: LAB_PREFIX + name, so two labs never collide.

lab_node_ns() { echo "${LAB_NODE:-${LAB_PREFIX}node}"; }
lab_pod_ns() { echo "${LAB_PREFIX}$1"; }

lab_create_node() {
  local node
  node=$(lab_node_ns)
  ip netns add "$node"
  ip -n "$node" link set lo up
  ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$node" sysctl -qw net.ipv6.conf.all.forwarding=1
}

# lab_add_pod NAME ADDR GW [ADDR6 GW6]: with ADDR6, the pod also gets that
# IPv6 address, routed the same way (GW6/128 on the node side). The node
# side is named ${LAB_LINK_PREFIX:-lxc-}NAME: another prefix makes a host the
# agent does not attach to (a peer outside the workloads).
lab_add_pod() {
  local name=$1 addr=$2 gw=$3 addr6=${4:-} gw6=${5:-} node pod link
  node=$(lab_node_ns)
  pod=$(lab_pod_ns "$name")
  link="${LAB_LINK_PREFIX:-lxc-}$name"
  ip netns add "$pod"
  ip -n "$node" link add "$link" type veth peer name eth0 netns "$pod"
  ip -n "$pod" link set lo up
  ip -n "$pod" link set eth0 up
  ip -n "$pod" addr add "$addr/32" dev eth0
  ip -n "$pod" route add "$gw" dev eth0 scope link
  ip -n "$pod" route add default via "$gw" dev eth0
  ip -n "$node" addr add "$gw/32" dev "$link"
  ip -n "$node" link set "$link" up
  ip -n "$node" route add "$addr/32" dev "$link"
  if [[ -n "$addr6" ]]; then
    ip -n "$pod" -6 addr add "$addr6/128" dev eth0 nodad
    ip -n "$pod" -6 route add "$gw6" dev eth0
    ip -n "$pod" -6 route add default via "$gw6" dev eth0
    ip -n "$node" -6 addr add "$gw6/128" dev "$link" nodad
    ip -n "$node" -6 route add "$addr6/128" dev "$link"
  fi
}

# lab_destroy POD...: deletes the pods' and the node's namespaces (their veths
# go with them). Missing ones are fine.
lab_destroy() {
  local name
  for name in "$@"; do ip netns del "$(lab_pod_ns "$name")" 2>/dev/null || true; done
  ip netns del "$(lab_node_ns)" 2>/dev/null || true
}

# Servers run in a session of their own (setsid), so that lab_teardown ends
# each server and every child it forked, and nothing else. Their session ids
# collect in LAB_SERVERS; call them directly, not in $(...).
LAB_SERVERS=()

# lab_serve POD PORT: a TCP echo server in POD, in the background.
lab_serve() {
  setsid ip netns exec "$(lab_pod_ns "$1")" socat TCP-LISTEN:"$2",fork,reuseaddr EXEC:cat \
    </dev/null >/dev/null 2>&1 &
  LAB_SERVERS+=($!)
}

# lab_serve_udp POD PORT: a UDP echo server in POD, in the background. Each
# peer gets a forked child that exits after 2 s without traffic.
lab_serve_udp() {
  setsid ip netns exec "$(lab_pod_ns "$1")" socat -T 2 UDP-LISTEN:"$2",fork,reuseaddr EXEC:cat \
    </dev/null >/dev/null 2>&1 &
  LAB_SERVERS+=($!)
}

# lab_connect POD ADDR PORT [tcp|udp]: sends one line from POD (TCP by
# default) and succeeds if it is echoed within 2 seconds. ADDR: IPv4 or IPv6.
lab_connect() {
  local pod=$1 addr=$2 port=$3 proto=${4:-tcp} reply address
  [[ $addr == *:* ]] && addr="[$addr]"
  if [[ $proto == udp ]]; then address="UDP:$addr:$port"; else address="TCP:$addr:$port,connect-timeout=2"; fi
  reply=$(echo "hello from $pod" |
    ip netns exec "$(lab_pod_ns "$pod")" timeout 3 socat -T 2 - "$address" 2>/dev/null) || true
  [[ "$reply" == "hello from $pod" ]]
}

# lab_ping POD ADDR: one ICMP echo from POD; succeeds if answered within 2 s.
lab_ping() {
  ip netns exec "$(lab_pod_ns "$1")" ping -c 1 -W 2 "$2" >/dev/null 2>&1
}

# lab_wait_port POD PORT: waits until a server listens on PORT in POD.
lab_wait_port() {
  local i
  for i in $(seq 1 50); do
    ip netns exec "$(lab_pod_ns "$1")" ss -ltunH "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  echo "nothing listens on port $2 in $(lab_pod_ns "$1")" >&2
  return 1
}

# bh_wait_agent SOCKET PID: waits until the agent answers, or fails if it died.
bh_wait_agent() {
  local socket=$1 pid=$2 cli=$3 i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { echo "bulkheadd exited during start-up" >&2; return 1; }
    "$cli" --socket "$socket" status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bulkheadd did not answer on $socket within 10 s" >&2
  return 1
}

# bh_stop PID...: SIGTERM each process we started, wait up to 5 s, then SIGKILL.
bh_stop() {
  local pid i
  for pid in "$@"; do
    [[ -n "$pid" ]] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# --- the shop: the cluster of the demo and the end-to-end test. Three pods,
# their addresses, and the inventory that names them.
SHOP_PODS=(frontend api db)
SHOP_FRONTEND=10.244.1.10 SHOP_API=10.244.1.20 SHOP_DB=10.244.1.30
SHOP_AGENT_PID=""
SHOP_EXTRA_PODS=()  # pods a caller adds with lab_add_pod, for shop_teardown

# shop_create WORK: the node and three pods; WORK/inventory.yaml; a bpffs
# mounted on WORK/bpffs (inside `ip netns exec`, /sys/fs/bpf is not one).
shop_create() {
  local work=$1
  lab_create_node
  lab_add_pod frontend $SHOP_FRONTEND 10.244.0.1
  lab_add_pod api $SHOP_API 10.244.0.2
  lab_add_pod db $SHOP_DB 10.244.0.3
  cat >"$work/inventory.yaml" <<YAML
workloads:
  - {namespace: shop, name: frontend, labels: {app: frontend}, addresses: [$SHOP_FRONTEND]}
  - {namespace: shop, name: api, labels: {app: api}, addresses: [$SHOP_API]}
  - {namespace: shop, name: db, labels: {app: db}, addresses: [$SHOP_DB]}
YAML
  mkdir -p "$work/bpffs"
  mount -t bpf bpf "$work/bpffs"
}

# shop_start_agent WORK BUILD_DIR: bulkheadd in learn mode on the node, its
# state in WORK, its socket at $BULKHEAD_SOCKET; stderr is the agent's log.
# SHOP_AGENT_ARGS: more flags (an array). Waits until it answers; its pid is
# in SHOP_AGENT_PID.
SHOP_AGENT_ARGS=()
shop_start_agent() {
  local work=$1 build_dir=$2
  ip netns exec "$(lab_node_ns)" "$build_dir/controlplane/bulkheadd" \
    --inventory "$work/inventory.yaml" --interfaces 'lxc-*' --pin-dir "$work/bpffs" \
    --state-dir "$work/state" --socket "$BULKHEAD_SOCKET" --mode learn "${SHOP_AGENT_ARGS[@]}" &
  SHOP_AGENT_PID=$!
  bh_wait_agent "$BULKHEAD_SOCKET" "$SHOP_AGENT_PID" "$build_dir/tools/bulkhead"
}

shop_stop_agent() {
  bh_stop "$SHOP_AGENT_PID"
  SHOP_AGENT_PID=""
}

# shop_teardown WORK: ends the agent and the servers, deletes the namespaces
# (their veths go with them), unmounts the bpffs, removes WORK.
shop_teardown() {
  local work=$1 sid pids
  shop_stop_agent
  for sid in "${LAB_SERVERS[@]}"; do
    pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
    [[ -n "$pids" ]] && bh_stop $pids
  done
  LAB_SERVERS=()
  lab_destroy "${SHOP_PODS[@]}" "${SHOP_EXTRA_PODS[@]}"
  umount "$work/bpffs" 2>/dev/null || true
  rm -rf "$work"
}
