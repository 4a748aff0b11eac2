#!/usr/bin/env bash
# End-to-end benchmark: what an enforcer on the node costs traffic between
# two pods, against no enforcer at all, for policies of N allow rules.
#
# The lab (tools/lib/common.sh): a node namespace, a client pod and a server
# pod routed through it over veths with /32 routes, addresses in 10.244.0.0/16;
# nothing leaves the machine. Each measurement gets a fresh lab, so no
# configuration inherits another's netfilter hooks, conntrack entries or maps.
#
# Configurations (--configs):
#   none      no enforcer.
#   bulkhead  bulkheadd on the node (its own bpffs, state dir and socket),
#             every workload in enforce mode, N segments in its policy map
#             (bench/make_bench_state: filler segments, 100 per filler
#             workload, then the benchmark's flows: iperf3's tcp and udp 5201
#             and the flood's ports, so N counts them too).
#   iptables  the node's FORWARD chain: conntrack ESTABLISHED,RELATED accept,
#             then the same N rules one ACCEPT each, the flood's ports last,
#             then DROP. Whatever backend Debian's `iptables` is (see env.txt).
#   nftables  one table: ct state established,related accept, then
#             `ip saddr . ip daddr . meta l4proto . th dport @allowed accept`
#             with the same N rules as set elements, then drop.
# Every configuration is checked before it is timed: an allowed connection
# (client -> server tcp/8080) must succeed and, except under `none`, an
# unlisted one (tcp/9090) must be refused.
#
# Metrics, each over --duration seconds, client pod -> server pod:
#   tcp      iperf3 TCP throughput, one flow (receiver's bits/s).
#   udp      iperf3 -u -l 64 -b 0, one flow: 64-byte datagrams per second that
#            arrive at the server pod's eth0 (an nft netdev ingress counter in
#            the server pod; the same counter under every configuration).
#   newflow  hping3 -S --flood to an open port, source port +1 per packet:
#            SYNs per second that arrive at the server pod's eth0. A source
#            port sequence wraps after 64,512 packets, so the flood runs in
#            slices of at most 0.3 s, each to the next of the open ports
#            8080, 8081, ... (ceil(duration / 0.3) of them): every SYN is a
#            new flow up to 215k SYN/s (the progress line warns above). Rates
#            are per second of flooding (restarts between slices excluded).
#            Each SYN also costs a SYN-ACK back and the client kernel's RST.
#
# Rounds (--rounds): each round runs every (size, configuration) once, the
# order of configurations rotated by one each round, so slow drifts of a
# shared machine spread over all of them. `none` runs once per size per round
# and is the reference for the configurations measured next to it.
#
# How to read it: the table gives, per configuration and N, the median over
# rounds of the absolute number, and the median [min-max] over rounds of the
# ratio to `none` measured in the same round at the same N. 1.00 means no
# cost; 0.50 means half of what the bare path does. Compare ratios, not
# absolute numbers: on a shared 2-core VM those move by +-25% between runs,
# and the client, the forwarding and the server share the two cores, so a
# configuration that costs CPU anywhere (also in user space: the agent reading
# flow events) shows up. A cell that failed (e.g. the policy does not fit the
# agent's maps) is listed with its reason and left out of the statistics.
#
# Output (--out DIR, default /tmp/bulkhead-e2e-DATE-TIME): raw.jsonl and
# raw.csv (one line per measurement, with what was sent, the node's conntrack
# entries and the agent's CPU seconds), summary.csv, summary.json, summary.md
# (the table printed on stdout), ratios.png (gnuplot), env.txt (kernel,
# iptables backend, versions), logs/. Progress goes to stderr. The defaults
# make 60 measurements of about 3 x duration + 3 s each: some 20 minutes.
#
# Usage: bench/e2e.sh BUILD_DIR [--rounds 5] [--duration 5]
#          [--sizes "100 10000 100000"] [--configs "none bulkhead iptables nftables"]
#          [--out DIR] [--agent-args "EXTRA BULKHEADD FLAGS"] [--quick]
# --agent-args are added to bulkheadd's command line (e.g. map sizes, where
# the agent has flags for them: a policy larger than its policy map fails).
# --quick is 1 round of 2 s at N=100 (options given too win): a smoke test.
# Needs root, iperf3, hping3, nftables, iptables, gnuplot, jq, socat
# (tools/install-deps.sh) and BUILD_DIR built (bulkheadd, bulkhead,
# bench/make_bench_state).
# Cleans up everything it made on any exit, Ctrl-C included.
set -euo pipefail
source "$(dirname "$0")/../tools/lib/common.sh"

usage() { sed -n '/^# Usage:/,/^# Cleans up/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

BUILD_DIR="" ROUNDS="" DURATION="" SIZES="" CONFIGS="none bulkhead iptables nftables"
OUT="" AGENT_ARGS="" QUICK=""
while (($#)); do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --sizes) SIZES=${2:?}; shift 2 ;;
    --configs) CONFIGS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --agent-args) AGENT_ARGS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "e2e.sh: unknown option $1" >&2; usage ;;
    *) [[ -z $BUILD_DIR ]] || usage; BUILD_DIR=$1; shift ;;
  esac
done
[[ -n $BUILD_DIR ]] || usage
# Options given explicitly win over --quick's, in any order.
if [[ -n $QUICK ]]; then : "${ROUNDS:=1}" "${DURATION:=2}" "${SIZES:=100}"; fi
: "${ROUNDS:=5}" "${DURATION:=5}" "${SIZES:=100 10000 100000}"
bh_require_root
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BULKHEADD="$BUILD_DIR/controlplane/bulkheadd"
BULKHEAD="$BUILD_DIR/tools/bulkhead"
MAKE_STATE="$BUILD_DIR/bench/make_bench_state"
read -ra SIZES <<<"$SIZES"
read -ra CONFIGS <<<"$CONFIGS"
for c in "${CONFIGS[@]}"; do
  [[ $c =~ ^(none|bulkhead|iptables|nftables)$ ]] || { echo "e2e.sh: unknown configuration $c" >&2; exit 2; }
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ ]] || usage
FLOOD_PORTS=$(((DURATION * 10 + 2) / 3))  # one per flood slice of <= 0.3 s
min_size=$((2 + FLOOD_PORTS))             # the benchmark's own flows: iperf3's two, the flood's
for n in "${SIZES[@]}"; do
  [[ $n =~ ^[0-9]+$ && $n -ge $min_size ]] ||
    { echo "e2e.sh: size $n: need an integer >= $min_size (the benchmark's own flows)" >&2; exit 2; }
done
needed=(iperf3 hping3 nft iptables iptables-restore gnuplot jq socat "$MAKE_STATE")
[[ " ${CONFIGS[*]} " == *" bulkhead "* ]] && needed+=("$BULKHEADD" "$BULKHEAD")
for tool in "${needed[@]}"; do
  command -v "$tool" >/dev/null || { echo "e2e.sh: $tool not found (tools/install-deps.sh; build $BUILD_DIR)" >&2; exit 1; }
done

OUT=${OUT:-/tmp/bulkhead-e2e-$(date +%Y%m%d-%H%M%S)}
if [[ -s $OUT/raw.jsonl ]]; then
  echo "e2e.sh: $OUT already holds results; name another --out" >&2
  exit 2
fi
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
: >"$OUT/raw.jsonl"

# --- the lab, and cleanup on any exit. Only what this run started is ended:
# the agent by its pid, servers by the session ids lab_serve records.
LAB_PREFIX="bhb$$-"
CLIENT=10.244.1.10 SERVER=10.244.1.20
PORT_IPERF=5201 PORT_FLOOD=8080 PORT_DENIED=9090
PORT_FLOOD_LAST=$((PORT_FLOOD + FLOOD_PORTS - 1))
WORK=$(mktemp -d /tmp/bulkhead-e2e-work.XXXXXX)
AGENT_PID="" BPFFS="" TOOL_PID=""

log() { echo "e2e: $*" >&2; }

stop_servers() {
  local sid pids
  for sid in "${LAB_SERVERS[@]}"; do
    pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
    # shellcheck disable=SC2086  # one pid a word
    if [[ -n "$pids" ]]; then bh_stop $pids; fi
  done
  LAB_SERVERS=()
}

lab_down() {
  bh_stop "$AGENT_PID"
  AGENT_PID=""
  stop_servers
  lab_destroy client server
  if [[ -n $BPFFS ]]; then umount "$BPFFS" 2>/dev/null || true; BPFFS=""; fi
}

cleanup() {
  local rc=${1:-$?}
  trap - EXIT INT TERM
  bh_stop "$TOOL_PID"
  lab_down
  rm -rf "$WORK"
  ((rc == 0)) || log "stopped (exit $rc); partial results in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

in_node() { ip netns exec "$(lab_node_ns)" "$@"; }
in_client() { ip netns exec "$(lab_pod_ns client)" "$@"; }
in_server() { ip netns exec "$(lab_pod_ns server)" "$@"; }

# lab_up: node, two pods, the servers and the server pod's arrival counters.
lab_up() {
  lab_create_node
  lab_add_pod client $CLIENT 10.244.0.1
  lab_add_pod server $SERVER 10.244.0.2
  setsid ip netns exec "$(lab_pod_ns server)" iperf3 -s -p $PORT_IPERF \
    </dev/null >/dev/null 2>&1 &
  LAB_SERVERS+=($!)
  local port
  for port in $(seq $PORT_FLOOD $PORT_FLOOD_LAST) $PORT_DENIED; do lab_serve server "$port"; done
  for port in $PORT_IPERF $(seq $PORT_FLOOD $PORT_FLOOD_LAST) $PORT_DENIED; do
    lab_wait_port server "$port"
  done
  in_server nft -f - <<NFT
table netdev bench_rx {
  counter udp_in {}
  counter syn_in {}
  chain ingress {
    type filter hook ingress device "eth0" priority 0; policy accept;
    udp dport $PORT_IPERF counter name "udp_in"
    tcp dport $PORT_FLOOD-$PORT_FLOOD_LAST tcp flags & (syn | ack) == syn counter name "syn_in"
  }
}
NFT
}

server_count() {  # server_count udp_in|syn_in: packets that arrived at the server pod
  in_server nft -j list counter netdev bench_rx "$1" | jq '.nftables[1].counter.packets'
}

# --- per size: the inventory, state file and rules, generated once.
gen_dir() { echo "$WORK/gen/$1"; }

generate() {
  local n=$1 dir
  dir=$(gen_dir "$n")
  mkdir -p "$dir"
  # The flood's ports last: the rules a new flow reaches after all the others.
  local allow=(--allow "tcp/$PORT_IPERF" --allow "udp/$PORT_IPERF") port
  for port in $(seq $PORT_FLOOD $PORT_FLOOD_LAST); do allow+=(--allow "tcp/$port"); done
  "$MAKE_STATE" --segments "$n" --client $CLIENT --server $SERVER "${allow[@]}" --out "$dir"
  awk 'BEGIN {
      print "*filter"; print ":INPUT ACCEPT [0:0]"; print ":FORWARD ACCEPT [0:0]"; print ":OUTPUT ACCEPT [0:0]"
      print "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
    }
    { printf "-A FORWARD -s %s/32 -d %s/32 -p %s -m %s --dport %s -j ACCEPT\n", $1, $2, $3, $3, $4 }
    END { print "-A FORWARD -j DROP"; print "COMMIT" }' "$dir/rules.tsv" >"$dir/iptables.rules"
  awk 'BEGIN {
      print "table ip bulkhead_bench {"
      print "  set allowed { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }"
      print "  chain forward {"
      print "    type filter hook forward priority filter; policy accept;"
      print "    ct state established,related accept"
      print "    ip saddr . ip daddr . meta l4proto . th dport @allowed accept"
      print "    counter drop"
      print "  }"
      print "}"
    }
    # 5,000 elements a command
    (NR - 1) % 5000 == 0 { if (NR > 1) print " }"; printf "add element ip bulkhead_bench allowed {" }
    { printf "%s %s . %s . %s . %s", ((NR - 1) % 5000 ? "," : ""), $1, $2, $3, $4 }
    END { if (NR) print " }" }' \
    "$dir/rules.tsv" >"$dir/nft.rules"
}

# --- enforcers. Each sets up in a fresh lab and fails with a reason on stderr.
setup_bulkhead() {
  local n=$1 cell=$2 dir status
  dir=$(gen_dir "$n")
  mkdir -p "$cell/bpffs" "$cell/state"
  mount -t bpf bpf "$cell/bpffs" || return 1
  BPFFS="$cell/bpffs"
  cp "$dir/state.pb" "$cell/state/state.pb" || return 1
  # shellcheck disable=SC2086  # AGENT_ARGS: extra flags, split on purpose
  ip netns exec "$(lab_node_ns)" "$BULKHEADD" --inventory "$dir/inventory.yaml" \
    --interfaces 'lxc-*' --pin-dir "$cell/bpffs" --state-dir "$cell/state" \
    --socket "$cell/bulkhead.sock" --mode enforce $AGENT_ARGS 2>"$cell/agent.log" &
  AGENT_PID=$!
  if ! bh_wait_agent "$cell/bulkhead.sock" "$AGENT_PID" "$BULKHEAD" 2>/dev/null; then
    # The agent logs "TIME LEVEL message": its last error says why.
    echo "bulkheadd did not start: $( (grep ' ERROR ' "$cell/agent.log" || cat "$cell/agent.log") |
      tail -1 | sed 's/^[^ ]* [A-Z]* //')" >&2
    return 1
  fi
  status=$("$BULKHEAD" --socket "$cell/bulkhead.sock" status -o json)
  jq -e --argjson n "$n" '.segments == $n
      and ([.workloads[] | select(.mode != "ENFORCE")] | length) == 0
      and ([.interfaces[] | select(test("lxc-(client|server) \\(bench/"))] | length) == 2' \
    <<<"$status" >/dev/null || {
    echo "bulkheadd is not in the expected state: $(jq -c '{segments, interfaces}' <<<"$status")" >&2
    return 1
  }
}

setup_iptables() { in_node iptables-restore <"$(gen_dir "$1")/iptables.rules"; }
setup_nftables() { in_node nft -f "$(gen_dir "$1")/nft.rules"; }

tcp_connects() {  # tcp_connects PORT: client -> server echo within 1 s
  local reply
  reply=$(echo ping | in_client timeout 2 socat -T 1 - "TCP:$SERVER:$1,connect-timeout=1" 2>/dev/null) || true
  [[ $reply == ping ]]
}

# --- measurements. Each sets globals: what arrived per second (TCP_BPS,
# UDP_PPS, NEWFLOW_PPS) and for UDP and new flows what the client sent per
# second (UDP_SENT_PPS, NEWFLOW_SENT_PPS): with the client, the node and the
# server sharing the CPUs, arrived < sent means drops on the way, arrived ==
# sent a sender slowed down by the rest. "null" where a tool gave nothing.

# client_tool OUTFILE TIMEOUT_ARGS -- CMD...: CMD in the client pod under
# timeout(1), in the background, waited for. A background job does not get
# Ctrl-C, but `wait` returns at once when the script's trap fires, and the
# cleanup ends the job by its pid (ip netns exec and timeout exec, so that pid
# is timeout's, which passes the signal on to CMD).
client_tool() {
  local out=$1 rc=0
  shift
  ip netns exec "$(lab_pod_ns client)" timeout "$@" >"$out" 2>&1 &
  TOOL_PID=$!
  wait "$TOOL_PID" || rc=$?
  TOOL_PID=""
  return "$rc"
}

measure_tcp() {
  client_tool "$CELL/tcp.json" $((DURATION + 20)) iperf3 -c $SERVER -p $PORT_IPERF \
    -t "$DURATION" -J || true
  TCP_BPS=$(jq '.end.sum_received.bits_per_second // null' "$CELL/tcp.json" 2>/dev/null) ||
    TCP_BPS=null
}

measure_udp() {
  local before after
  before=$(server_count udp_in)
  client_tool "$CELL/udp.json" $((DURATION + 20)) iperf3 -c $SERVER -p $PORT_IPERF \
    -u -l 64 -b 0 -t "$DURATION" -J || true
  after=$(server_count udp_in)
  UDP_PPS=$(((after - before) / DURATION))
  UDP_SENT_PPS=$(jq --argjson d "$DURATION" '(.end.sum.packets // null) / $d | round' \
    "$CELL/udp.json" 2>/dev/null) || UDP_SENT_PPS=null
}

measure_newflow() {
  local before after flood_ms port slice_ms=$((DURATION * 1000 / FLOOD_PORTS)) wrapped
  before=$(server_count syn_in)
  : >"$CELL/hping3.log"
  for port in $(seq $PORT_FLOOD $PORT_FLOOD_LAST); do
    client_tool "$CELL/hping3.slice" -s INT "$(printf '%d.%03d' $((slice_ms / 1000)) $((slice_ms % 1000)))" \
      hping3 -S -p "$port" -s 1024 --flood -q $SERVER || true
    cat "$CELL/hping3.slice" >>"$CELL/hping3.log"
  done
  sleep 0.5  # let what is in flight arrive
  after=$(server_count syn_in)
  # Per second of flooding: the slices' time, not the restarts between them.
  flood_ms=$((FLOOD_PORTS * slice_ms))
  NEWFLOW_PPS=$(((after - before) * 1000 / flood_ms))
  NEWFLOW_SENT_PPS=$(awk -v ms="$flood_ms" '/packets transmitted/ {sent += $1; f = 1}
    END {print f ? int(sent * 1000 / ms) : "null"}' "$CELL/hping3.log")
  wrapped=$(awk '/packets transmitted/ && $1 > 64512 {n++} END {print n + 0}' "$CELL/hping3.log")
  ((wrapped == 0)) || log "  warning: $wrapped flood slice(s) sent over 64,512 SYNs: source ports repeated"
}

# run_cell CONFIG N ROUND ORDER: one measurement of everything, as a JSON line.
run_cell() {
  local config=$1 n=$2 round=$3 order=$4 t0 setup_ms conntrack agent_cpu=null error=""
  TCP_BPS=null UDP_PPS=null UDP_SENT_PPS=null NEWFLOW_PPS=null NEWFLOW_SENT_PPS=null
  CELL="$WORK/cell"
  rm -rf "$CELL"
  mkdir -p "$CELL"
  lab_up
  t0=$(date +%s%N)
  if [[ $config != none ]] && ! "setup_$config" "$n" "$CELL" 2>"$CELL/setup.err"; then
    error=$(tail -1 "$CELL/setup.err")
  fi
  setup_ms=$((($(date +%s%N) - t0) / 1000000))
  if [[ -z $error ]] && ! tcp_connects $PORT_FLOOD; then
    error="allowed client -> server tcp/$PORT_FLOOD does not connect"
  elif [[ -z $error && $config != none ]] && tcp_connects $PORT_DENIED; then
    error="unlisted client -> server tcp/$PORT_DENIED connects: not enforcing"
  fi
  if [[ -z $error ]]; then
    measure_tcp
    measure_udp
    measure_newflow
  fi
  conntrack=$(in_node cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo null)
  if [[ $config == bulkhead && -n $AGENT_PID ]]; then
    "$BULKHEAD" --socket "$CELL/bulkhead.sock" status -o json >"$CELL/agent-status.json" 2>/dev/null || true
    # CPU seconds the agent used in this cell (start-up included): utime + stime.
    agent_cpu=$(sed 's/^.*) //' "/proc/$AGENT_PID/stat" 2>/dev/null |
      awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}') || agent_cpu=null
    [[ -n $agent_cpu ]] || agent_cpu=null
  fi
  lab_down
  local tag="$config-n$n-r$round"
  for f in agent.log agent-status.json setup.err tcp.json udp.json hping3.log; do
    [[ -s $CELL/$f ]] && cp "$CELL/$f" "$OUT/logs/$tag-$f"
  done
  jq -nc --arg config "$config" --argjson n "$n" --argjson round "$round" --argjson order "$order" \
    --argjson tcp_bps "$TCP_BPS" --argjson udp_pps "$UDP_PPS" --argjson newflow_pps "$NEWFLOW_PPS" \
    --argjson udp_sent_pps "$UDP_SENT_PPS" --argjson newflow_sent_pps "$NEWFLOW_SENT_PPS" \
    --argjson setup_ms "$setup_ms" --argjson node_conntrack "$conntrack" \
    --argjson agent_cpu_s "$agent_cpu" --arg error "$error" \
    '{$config, $n, $round, $order, $tcp_bps, $udp_pps, $udp_sent_pps, $newflow_pps, $newflow_sent_pps,
      setup_s: ($setup_ms / 1000), $node_conntrack, $agent_cpu_s,
      error: (if $error == "" then null else $error end)}' | tee -a "$OUT/raw.jsonl" |
    jq -r '"e2e:   -> " + (if .error then "FAILED: " + .error else
      "tcp \((.tcp_bps // 0) / 1e7 | round / 100) Gb/s, " +
      "udp \((.udp_pps // 0) / 1e3 | round) kpps (sent \((.udp_sent_pps // 0) / 1e3 | round)), " +
      "new flows \((.newflow_pps // 0) / 1e3 | round) k/s (sent \((.newflow_sent_pps // 0) / 1e3 | round)), " +
      "node conntrack \(.node_conntrack), setup \(.setup_s) s" +
      (if .agent_cpu_s then ", agent CPU \(.agent_cpu_s) s" else "" end) end)' >&2
}

# --- the run.
{
  echo "date: $(date -Is)"
  echo "kernel: $(uname -r), $(nproc) CPUs"
  echo "script tree: $BH_ROOT, commit $(git -C "$BH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$BH_ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "build: $BUILD_DIR"
  echo "iptables: $(iptables -V)"
  echo "nft: $(nft -v)"
  echo "iperf3: $(iperf3 --version | head -1)"
  echo "rounds: $ROUNDS, duration: $DURATION s, sizes: ${SIZES[*]}, configs: ${CONFIGS[*]}"
  echo "agent args: ${AGENT_ARGS:-none}"
} >"$OUT/env.txt"
log "results in $OUT; $(iptables -V)"
for n in "${SIZES[@]}"; do generate "$n"; done

declare -A FAILED=()  # config/n -> reason: not retried in later rounds
total=$((ROUNDS * ${#SIZES[@]} * ${#CONFIGS[@]})) done_cells=0
for ((round = 1; round <= ROUNDS; round++)); do
  for n in "${SIZES[@]}"; do
    for ((i = 0; i < ${#CONFIGS[@]}; i++)); do
      config=${CONFIGS[$(((i + round - 1) % ${#CONFIGS[@]}))]}
      done_cells=$((done_cells + 1))
      if [[ -n ${FAILED[$config/$n]:-} ]]; then
        log "[$done_cells/$total] round $round N=$n $config: skipped (failed before: ${FAILED[$config/$n]})"
        continue
      fi
      log "[$done_cells/$total] round $round N=$n $config"
      run_cell "$config" "$n" "$round" "$i"
      err=$(tail -1 "$OUT/raw.jsonl" | jq -r '.error // empty')
      [[ -z $err ]] || FAILED[$config/$n]=$err
    done
  done
done

# --- statistics: per (config, N), medians and [min, max] over rounds, of the
# absolute numbers and of the ratios to `none` of the same N and round.
jq -s '
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def stats: if length == 0 then {median: null, min: null, max: null}
    else {median: median, min: min, max: max} end;
  . as $all
  | [$all[] | select(.config == "none" and .error == null)] as $none
  | [$all | group_by([.config, .n])[] | {config: .[0].config, n: .[0].n, cells: .}]
  | map(. as $g | {config, n,
      rounds_ok: ([$g.cells[] | select(.error == null)] | length),
      error: ([$g.cells[] | .error // empty] | first),
      metrics: (["tcp_bps", "udp_pps", "newflow_pps"] | map(. as $m | {key: $m, value: {
        absolute: ([$g.cells[] | select(.error == null) | .[$m] | select(. != null)] | stats),
        ratio: ([$g.cells[] | select(.error == null) | . as $c
                 | ($none[] | select(.n == $c.n and .round == $c.round) | .[$m]) as $base
                 | select($c[$m] != null and $base != null and $base > 0) | $c[$m] / $base] | stats)}})
        | from_entries)})
  | sort_by(.n, (.config as $c | ["none", "bulkhead", "iptables", "nftables"] | index($c)))
' "$OUT/raw.jsonl" >"$OUT/summary.json"

jq -r '["config", "n", "rounds_ok", "metric", "median", "min", "max",
        "ratio_median", "ratio_min", "ratio_max", "error"],
  (.[] | . as $r | .metrics | to_entries[] |
    [$r.config, $r.n, $r.rounds_ok, .key, .value.absolute.median, .value.absolute.min,
     .value.absolute.max, .value.ratio.median, .value.ratio.min, .value.ratio.max, $r.error])
  | @csv' "$OUT/summary.json" >"$OUT/summary.csv"
jq -rs '["config", "n", "round", "order", "tcp_bps", "udp_pps", "udp_sent_pps", "newflow_pps",
        "newflow_sent_pps", "setup_s", "node_conntrack", "agent_cpu_s", "error"] as $k | ($k | @csv), (.[] | [.[$k[]]] | @csv)' \
  "$OUT/raw.jsonl" >"$OUT/raw.csv"

{
  echo "Client pod -> node -> server pod; medians over rounds; ratio to \`none\` of the same round: median [min-max]."
  echo "$ROUNDS round(s) of $DURATION s; $(iptables -V); kernel $(uname -r), $(nproc) CPUs."
  echo
  echo "| config | N | TCP Gb/s | TCP vs none | UDP 64 B kpps | UDP vs none | new flows k/s | new flows vs none |"
  echo "|---|---:|---:|---|---:|---|---:|---|"
  jq -r '
    def r2: if . == null then "-" else (. * 100 | round) as $c
      | "\($c / 100 | floor).\($c % 100 | tostring | if length == 1 then "0" + . else . end)" end;
    def cell($scale): .absolute.median | if . == null then "-" else (. / $scale * 10 | round) as $d
      | "\($d / 10 | floor).\($d % 10)" end;
    def ratio: if .ratio.median == null then "-"
      else "\(.ratio.median | r2) [\(.ratio.min | r2)-\(.ratio.max | r2)]" end;
    .[] | if .rounds_ok == 0 then "| \(.config) | \(.n) | failed: \(.error) | | | | | |"
      else "| \(.config) | \(.n) | \(.metrics.tcp_bps | cell(1e9)) | \(.metrics.tcp_bps | ratio) " +
        "| \(.metrics.udp_pps | cell(1e3)) | \(.metrics.udp_pps | ratio) " +
        "| \(.metrics.newflow_pps | cell(1e3)) | \(.metrics.newflow_pps | ratio) |" end
  ' "$OUT/summary.json"
} >"$OUT/summary.md"

# --- the plot: one panel per metric, ratio to none by N, one bar per
# enforcer with its [min, max] over rounds.
enforcers=()
for c in bulkhead iptables nftables; do [[ " ${CONFIGS[*]} " == *" $c "* ]] && enforcers+=("$c"); done
if ((${#enforcers[@]})) && [[ " ${CONFIGS[*]} " == *" none "* ]]; then
  for m in tcp_bps udp_pps newflow_pps; do
    jq -r --arg m "$m" --argjson cs "$(printf '%s\n' "${enforcers[@]}" | jq -R . | jq -s .)" '
      group_by(.n)[] | . as $g
      | [($g[0].n | tostring)] + ($cs | map(. as $c | ($g[] | select(.config == $c)
          | .metrics[$m].ratio | [.median, .min, .max]) // [null, null, null])
          | flatten | map(if . == null then "NaN" else tostring end))
      | join(" ")' "$OUT/summary.json" >"$OUT/logs/$m.dat"
  done
  {
    echo "set terminal pngcairo size 1500,500 font 'sans,10'"
    echo "set output '$OUT/ratios.png'"
    echo "set multiplot layout 1,3 title 'Bulkhead e2e: ratio to no enforcer (median, bars: min-max over $ROUNDS round(s) of $DURATION s)'"
    echo "set style data histogram; set style histogram errorbars gap 1 lw 1; set style fill solid 0.7 border -1"
    echo "set yrange [0:1.1<*]; set grid ytics; set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2; set xlabel 'N (segments / rules / set elements)'; set key below horizontal"
    for m in tcp_bps:TCP\ throughput udp_pps:UDP\ 64\ B\ packet\ rate newflow_pps:new\ flows\ \(SYN\)\ rate; do
      plot="plot"
      for ((i = 0; i < ${#enforcers[@]}; i++)); do
        col=$((2 + 3 * i))
        plot+=" '$OUT/logs/${m%%:*}.dat' using $col:$((col + 1)):$((col + 2)):xtic(1) title '${enforcers[$i]}',"
      done
      echo "set title '${m#*:}'"
      echo "${plot%,}"
    done
    echo "unset multiplot"
  } >"$OUT/logs/plot.gp"
  if awk '{for (i = 2; i <= NF; i++) if ($i != "NaN") found = 1} END {exit !found}' "$OUT"/logs/*.dat; then
    gnuplot "$OUT/logs/plot.gp" 2>"$OUT/logs/gnuplot.err" ||
      log "gnuplot failed: $(grep . "$OUT/logs/gnuplot.err" | tail -1)"
  else
    log "no enforcer has a ratio to plot"
  fi
fi

cat "$OUT/summary.md"
log "done: $OUT/summary.md, summary.csv, summary.json, raw.csv, ratios.png"
