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
}

# lab_add_pod NAME ADDR GW
lab_add_pod() {
  local name=$1 addr=$2 gw=$3 node pod
  node=$(lab_node_ns)
  pod=$(lab_pod_ns "$name")
  ip netns add "$pod"
  ip -n "$node" link add "lxc-$name" type veth peer name eth0 netns "$pod"
  ip -n "$pod" link set lo up
  ip -n "$pod" link set eth0 up
  ip -n "$pod" addr add "$addr/32" dev eth0
  ip -n "$pod" route add "$gw" dev eth0 scope link
  ip -n "$pod" route add default via "$gw" dev eth0
  ip -n "$node" addr add "$gw/32" dev "lxc-$name"
  ip -n "$node" link set "lxc-$name" up
  ip -n "$node" route add "$addr/32" dev "lxc-$name"
}

# lab_destroy POD...: deletes the pods' and the node's namespaces (their veths
# go with them). Missing ones are fine.
lab_destroy() {
  local name
  for name in "$@"; do ip netns del "$(lab_pod_ns "$name")" 2>/dev/null || true; done
  ip netns del "$(lab_node_ns)" 2>/dev/null || true
}

# Servers run in a session of their own (setsid), so that bh_stop_group ends
# the server and every child it forked, and nothing else. Call them directly,
# not in $(...): the session's id (= its leader's pid) is in $! afterwards.

# lab_serve POD PORT: a TCP echo server in POD, in the background.
lab_serve() {
  setsid ip netns exec "$(lab_pod_ns "$1")" socat TCP-LISTEN:"$2",fork,reuseaddr EXEC:cat \
    </dev/null >/dev/null 2>&1 &
}

# lab_connect POD ADDR PORT: sends one line over TCP from POD and prints the
# echo. Exits non-zero if nothing came back within 2 seconds.
lab_connect() {
  local reply
  reply=$(echo "hello from $1" |
    ip netns exec "$(lab_pod_ns "$1")" timeout 3 socat -T 2 - "TCP:$2:$3,connect-timeout=2" 2>/dev/null) || true
  [[ "$reply" == "hello from $1" ]]
}

# lab_serve_udp POD PORT: a UDP echo server in POD, in the background. Each
# peer gets a forked child that exits after 2 s without traffic.
lab_serve_udp() {
  setsid ip netns exec "$(lab_pod_ns "$1")" socat -T 2 UDP-LISTEN:"$2",fork,reuseaddr EXEC:cat \
    </dev/null >/dev/null 2>&1 &
}

# lab_connect_udp POD ADDR PORT: one datagram from POD; succeeds if echoed.
lab_connect_udp() {
  local reply
  reply=$(echo "datagram from $1" |
    ip netns exec "$(lab_pod_ns "$1")" timeout 3 socat -T 2 - "UDP:$2:$3" 2>/dev/null) || true
  [[ "$reply" == "datagram from $1" ]]
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

# bh_stop_group SID...: ends every process in each session we started with
# setsid (the servers and their forked children).
bh_stop_group() {
  local sid pids
  for sid in "$@"; do
    [[ -n "$sid" ]] || continue
    pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
    [[ -n "$pids" ]] && bh_stop $pids
  done
  return 0
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
