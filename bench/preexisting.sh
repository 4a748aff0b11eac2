#!/usr/bin/env bash
# Installed on a running application: how long the agent takes to learn the
# server side of N TCP connections that were opened before it started
# (issue 7, "time to learn the server side of 10k pre-existing connections").
#
# The lab (tools/lib/common.sh, as the end-to-end tests build it): a node
# namespace, a client pod and a server pod joined to it by veths with /32
# routes, addresses in 10.244.0.0/16; nothing leaves the machine and the
# root namespace is not touched. The inventory names the two pods
# (bench/client, bench/server), both in learn mode.
#
# Per repetition, each in a fresh lab:
#   1. The server pod listens on --port (default 50051: inside the ephemeral
#      range, as gRPC's is), one Python process echoing on every connection
#      (bench/preexisting_pool.py). The client pod opens N connections to it
#      (--connections, default 10000) and keeps them open and idle.
#   2. No agent yet: rounds over the pool, `warmup`, then --same-rounds
#      (default 3) `baseline` rounds. In a round every connection sends one
#      16-byte request (in slices of 64, replies read between slices) and
#      reads its echo; a round's duration is from its first request to its
#      last echo.
#   3. bulkheadd starts in the node namespace (--mode learn, its own bpffs,
#      state directory and socket); once it answers and has bound both
#      interfaces, a watcher polls `bulkhead status -o json` every
#      --interval seconds and the `learn` round runs: the agent meets all N
#      connections mid-stream, at once.
#   4. --same-rounds `steady` rounds with the agent (every connection
#      tracked by then); its status, flows and exported policy are saved,
#      its CPU time and VmHWM read. Then the agent is stopped and
#      --same-rounds `stopped` rounds run (a stopped agent leaves its
#      programs attached: the programs' cost without the process's).
#   5. `bulkheadd --uninstall`, then --same-rounds `after` rounds: the bare
#      path once more, so the baseline's drift over the repetition shows.
#   6. The checks, in raw.jsonl and summary.md: the exported policy is
#      exactly one segment `bench/client -> bench/server : TCP <port>` (no
#      segment on a client's ephemeral port); every connection answered in
#      every round; how many flows were seen mid-stream, and how many TCP
#      flows to the server's port were not (their server side not found).
#   Of each group of --same-rounds rounds the one of median duration stands
#   for the group (a shared 2-core machine moves a single round by +-25%).
#
# What it reports per repetition (raw.jsonl, one line each), times from the
# learn round's first request (wall clock, the same clock as the agent's log):
#   learn_log_s        to the agent's "learned segment" log line (ms stamps)
#   learn_api_s        to the first status answer counting the segment
#   all_tracked_s      to the first status answer whose ct_created grew by
#                      >= N: the datapath made a conntrack entry for every
#                      connection (one each: a mid-stream connection's entry
#                      is made by its first packet)
#   all_confirmed_s    ... whose ct_confirmed grew by >= N: every entry
#                      confirmed (the client's ACK after the echo)
#   all_accounted_s    ... whose flows_seen + events_suppressed grew by >= N:
#                      every connection's flow event reached the agent or was
#                      held back by the forwarded-events rate limit
#   learn_log_s is good to the log's millisecond (its stamps are truncated:
#   it can read up to 1 ms early). The *_api_s are upper bounds: a poll is
#   --interval plus one run of the CLI, ~30 ms on an idle machine and more
#   while the pool keeps both CPUs busy; null when not reached within
#   --timeout.
#   rounds             duration (first request to last echo), ok / missing /
#                      broken connections, latency p50/p99/max, of warmup,
#                      baseline, learn, steady, stopped and after
#   learn_vs_baseline  learn round duration / baseline round duration (same
#                      lab, same run); steady_, stopped_ and
#                      after_vs_baseline likewise
#   counters_learn     deltas from the watch's first sample (just before
#                      the learn round) to just after the watch ended:
#                      ct_created, ct_confirmed, flows_seen,
#                      events_suppressed, events_lost, audit, forwarded,
#                      reply, dropped_policy, learner_*; counters_end: all
#                      of `bulkhead status` after the steady rounds
#   flows              from `bulkhead flows`: events marked mid_stream, and
#                      TCP flows to the server NOT marked mid_stream (a
#                      connection whose server side the agent could not find)
#   segments           the exported policy; exactly_one_segment
#   agent              CPU seconds (utime + stime) at ready and at the end,
#                      VmHWM (max RSS) and VmRSS at the end, in kB
#   bpf_programs       only if kernel.bpf_stats_enabled is 1 (machine-wide;
#                      this script leaves it alone): runs of the attached TC
#                      programs and ns per run, over the learn round, the
#                      steady rounds and the stopped rounds
# summary.md: per metric, median [min-max] over the repetitions.
#
# Usage: bench/preexisting.sh [BUILD_DIR] [--connections 10000] [--repeat 1]
#          [--same-rounds 3] [--port 50051] [--interval 0.025] [--timeout 60] [--out DIR]
#          [--agent-args "EXTRA BULKHEADD FLAGS"]
# BUILD_DIR (default: build) must hold controlplane/bulkheadd and
# tools/bulkhead. Needs root, python3, jq. Output in --out (default
# /tmp/bulkhead-preexisting-DATE-TIME): raw.jsonl, summary.md, env.txt, logs/.
# Cleans up everything it made on any exit, Ctrl-C included.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../tools/lib/common.sh disable=SC1091  # followed with -x
source "$(dirname "$0")/../tools/lib/common.sh"

usage() { sed -n '/^# Usage:/,/^# Cleans up/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

BUILD_DIR="" N=10000 REPEAT=1 SAME_ROUNDS=3 PORT=50051 INTERVAL=0.025 TIMEOUT=60 OUT="" AGENT_ARGS=""
while (($#)); do
  case $1 in
    --connections) N=${2:?}; shift 2 ;;
    --repeat) REPEAT=${2:?}; shift 2 ;;
    --same-rounds) SAME_ROUNDS=${2:?}; shift 2 ;;
    --port) PORT=${2:?}; shift 2 ;;
    --interval) INTERVAL=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --agent-args) AGENT_ARGS=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) echo "preexisting.sh: unknown option $1" >&2; usage ;;
    *) [[ -z $BUILD_DIR ]] || usage; BUILD_DIR=$1; shift ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ && $REPEAT =~ ^[1-9][0-9]*$ && $SAME_ROUNDS =~ ^[1-9][0-9]*$ && $PORT =~ ^[1-9][0-9]*$ &&
  $TIMEOUT =~ ^[1-9][0-9]*$ && $INTERVAL =~ ^[0-9.]+$ ]] || usage
((PORT < 65536)) || usage
# The client's ports (ip_local_port_range, 32768-60999 by default) toward
# one server address and port: about 28,000 connections at most.
((N <= 28000)) || { echo "preexisting.sh: at most 28000 connections (one client address)" >&2; exit 2; }
bh_require_root
BUILD_DIR=$(cd "${BUILD_DIR:-build}" && pwd)
BULKHEADD="$BUILD_DIR/controlplane/bulkheadd"
BULKHEAD="$BUILD_DIR/tools/bulkhead"
POOL="$(cd "$(dirname "$0")" && pwd)/preexisting_pool.py"
PYTHON=/usr/bin/python3
for tool in "$BULKHEADD" "$BULKHEAD" "$PYTHON" jq; do
  command -v "$tool" >/dev/null || { echo "preexisting.sh: $tool not found" >&2; exit 1; }
done
# Each pool process holds N sockets (and raises its own soft limit).
hard_nofile=$(ulimit -Hn)
[[ $hard_nofile == unlimited ]] || ((hard_nofile >= N + 1024)) || ulimit -Hn $((N + 1024)) 2>/dev/null ||
  { echo "preexisting.sh: $N connections need $((N + 1024)) open files; the hard limit is $hard_nofile" >&2; exit 1; }
ulimit -Sn $((N + 1024))

OUT=${OUT:-/tmp/bulkhead-preexisting-$(date +%Y%m%d-%H%M%S)}
if [[ -s $OUT/raw.jsonl ]]; then
  echo "preexisting.sh: $OUT already holds results; name another --out" >&2
  exit 2
fi
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
: >"$OUT/raw.jsonl"

# --- the lab, and cleanup on any exit. Only what this run started is
# ended: the agent and the watcher by their pids, the pool processes by the
# session ids in LAB_SERVERS.
# shellcheck disable=SC2034  # read by tools/lib/common.sh's lab_* functions
LAB_PREFIX="bhpre$$-"
CLIENT=10.244.7.10 SERVER=10.244.7.20
WORK=$(mktemp -d /tmp/bulkhead-preexisting-work.XXXXXX)
AGENT_PID="" WATCH_PID="" CLIENT_PID="" BPFFS="" CMD_FD="" REP=""

log() { echo "preexisting: $*" >&2; }

lab_down() {
  if [[ -n $CMD_FD ]]; then
    (echo quit >&"$CMD_FD") 2>/dev/null || true  # a subshell: a SIGPIPE ends only it
    exec {CMD_FD}>&-
    CMD_FD=""
  fi
  bh_stop "$WATCH_PID" "$AGENT_PID"
  WATCH_PID="" AGENT_PID=""
  local sid pids
  for sid in "${LAB_SERVERS[@]}"; do
    pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
    # shellcheck disable=SC2086  # one pid a word
    if [[ -n $pids ]]; then bh_stop $pids; fi
  done
  LAB_SERVERS=()
  lab_destroy client server
  if [[ -n $BPFFS ]]; then umount "$BPFFS" 2>/dev/null || true; BPFFS=""; fi
}

cleanup() {
  local rc=${1:-$?} f
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -n $REP && -d $REP ]]; then
    # What the failed repetition left, for the post-mortem.
    mkdir -p "$OUT/logs/failed"
    for f in "$REP"/*.log "$REP"/*.jsonl "$REP"/*.json "$REP"/watch.err; do
      [[ -s $f ]] && cp "$f" "$OUT/logs/failed/"
    done
    [[ -s $REP/agent.log ]] && { echo "--- the agent's log, last lines"; tail -5 "$REP/agent.log"; } >&2
  fi
  lab_down
  rm -rf "$WORK"
  ((rc == 0)) || log "stopped (exit $rc); partial results in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

now() { date +%s.%N; }

# wait_lines FILE COUNT TIMEOUT_S PID: until FILE has COUNT lines; fails if
# PID (the writer) exits first or the time runs out.
wait_lines() {
  local file=$1 count=$2 timeout_s=$3 pid=$4 end
  end=$((SECONDS + timeout_s))
  while (($(wc -l <"$file" 2>/dev/null || echo 0) < count)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the writer of $file (pid $pid) exited"
      return 1
    fi
    ((SECONDS < end)) || { log "no line $count in $file after $timeout_s s"; return 1; }
    sleep 0.05
  done
}

# run_round NAME: one round over the pool; its JSON line is appended to
# $REP/rounds.jsonl by the client.
run_round() {
  local lines
  lines=$(wc -l <"$REP/rounds.jsonl")
  (echo "round $1 $TIMEOUT" >&"$CMD_FD") 2>/dev/null || { log "the pool client is gone"; return 1; }
  wait_lines "$REP/rounds.jsonl" $((lines + 1)) $((TIMEOUT + 30)) "$CLIENT_PID"
  tail -1 "$REP/rounds.jsonl" | jq -r --arg n "$1" \
    '"preexisting:   round \($n): \(.duration_s) s, ok \(.ok), missing \(.missing), broken \(.broken), p99 \(.latency_ms.p99) ms"' >&2
}

agent_cpu_s() {  # utime + stime of the agent, in seconds
  sed 's/^.*) //' "/proc/$AGENT_PID/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}'
}
agent_mem_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$AGENT_PID/status"; }

# bpf_stats TAG: with kernel.bpf_stats_enabled=1 (this script never sets
# it: it is machine-wide), appends {"tag", "run_cnt", "run_time_ns"}, summed
# over the TC programs attached in the node namespace, to $REP/bpf_stats.jsonl.
bpf_stats() {
  [[ $(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null) == 1 ]] || return 0
  local id ids=() progs="[]"
  read -ra ids <<<"$(ip netns exec "$(lab_node_ns)" bpftool -j net show 2>/dev/null |
    jq -r '[.[].tc[]?.id] | unique | join(" ")')"
  for id in "${ids[@]}"; do
    progs=$(jq -c --argjson p "$(bpftool -j prog show id "$id")" '. + [$p]' <<<"$progs")
  done
  jq -c --arg tag "$1" '{tag: $tag, programs: length, run_cnt: (map(.run_cnt // 0) | add // 0),
    run_time_ns: (map(.run_time_ns // 0) | add // 0)}' <<<"$progs" >>"$REP/bpf_stats.jsonl"
}

run_once() {
  local rep=$1 i f t_ready cpu_ready cpu_end hwm rss status loadavg
  loadavg=$(cut -d' ' -f1-3 /proc/loadavg)  # the machine is shared: how busy it was
  REP="$WORK/rep$rep"
  mkdir -p "$REP/bpffs" "$REP/state"
  : >"$REP/rounds.jsonl"
  : >"$REP/watch.jsonl"
  : >"$REP/bpf_stats.jsonl"

  lab_create_node
  lab_add_pod client $CLIENT 10.244.0.1
  lab_add_pod server $SERVER 10.244.0.2
  cat >"$REP/inventory.yaml" <<YAML
workloads:
  - {namespace: bench, name: client, addresses: [$CLIENT], mode: learn}
  - {namespace: bench, name: server, addresses: [$SERVER], mode: learn}
YAML
  mount -t bpf bpf "$REP/bpffs"
  BPFFS="$REP/bpffs"

  setsid ip netns exec "$(lab_pod_ns server)" "$PYTHON" "$POOL" server "$PORT" "$N" \
    </dev/null >"$REP/server.log" 2>&1 &
  LAB_SERVERS+=($!)
  lab_wait_port server "$PORT"

  log "rep $rep: opening $N connections client -> $SERVER:$PORT"
  mkfifo "$REP/commands"
  setsid ip netns exec "$(lab_pod_ns client)" "$PYTHON" "$POOL" client $SERVER "$PORT" "$N" \
    "$REP/commands" "$REP/rounds.jsonl" </dev/null >"$REP/client.log" 2>&1 &
  CLIENT_PID=$!
  LAB_SERVERS+=($!)
  wait_lines "$REP/rounds.jsonl" 1 300 "$CLIENT_PID"
  jq -e '.event == "ready"' "$REP/rounds.jsonl" >/dev/null ||
    { log "the pool did not open: $(cat "$REP/rounds.jsonl")"; return 1; }
  exec {CMD_FD}>"$REP/commands"  # the client reads it from now on
  log "  $(jq -r '"opened in \(.open_s) s, client ports \(.client_ports[0])-\(.client_ports[1])"' "$REP/rounds.jsonl")"

  run_round warmup
  for ((i = 1; i <= SAME_ROUNDS; i++)); do run_round "baseline-$i"; done

  log "rep $rep: starting bulkheadd (learn)"
  # shellcheck disable=SC2086  # AGENT_ARGS: extra flags, split on purpose
  ip netns exec "$(lab_node_ns)" "$BULKHEADD" --inventory "$REP/inventory.yaml" \
    --interfaces 'lxc-*' --pin-dir "$REP/bpffs" --state-dir "$REP/state" \
    --socket "$REP/bulkhead.sock" --mode learn $AGENT_ARGS 2>"$REP/agent.log" &
  AGENT_PID=$!
  bh_wait_agent "$REP/bulkhead.sock" "$AGENT_PID" "$BULKHEAD"
  for i in $(seq 1 100); do
    status=$("$BULKHEAD" --socket "$REP/bulkhead.sock" status -o json)
    jq -e '[.interfaces[] | select(test("^lxc-(client|server) \\(bench/"))] | length == 2' \
      <<<"$status" >/dev/null && break
    ((i < 100)) || { log "the agent did not bind both interfaces: $(jq -c .interfaces <<<"$status")"; return 1; }
    sleep 0.1
  done
  t_ready=$(now)
  cpu_ready=$(agent_cpu_s)
  bpf_stats ready

  "$PYTHON" "$POOL" watch "$BULKHEAD" "$REP/bulkhead.sock" "$INTERVAL" "$TIMEOUT" "$N" \
    "$REP/watch.jsonl" 2>"$REP/watch.err" &
  WATCH_PID=$!
  wait_lines "$REP/watch.jsonl" 1 10 "$WATCH_PID"  # the baseline sample

  run_round learn
  # The watch ends once every count reached N, or at --timeout.
  while kill -0 "$WATCH_PID" 2>/dev/null; do sleep 0.1; done
  wait "$WATCH_PID" || true
  WATCH_PID=""
  "$BULKHEAD" --socket "$REP/bulkhead.sock" status -o json >"$REP/status-after-learn.json"
  bpf_stats learn
  for ((i = 1; i <= SAME_ROUNDS; i++)); do run_round "steady-$i"; done
  "$BULKHEAD" --socket "$REP/bulkhead.sock" status -o json >"$REP/status-end.json"
  bpf_stats steady
  "$BULKHEAD" --socket "$REP/bulkhead.sock" flows --last 0 -o json >"$REP/flows.jsonl"
  "$BULKHEAD" --socket "$REP/bulkhead.sock" policy export >"$REP/policy.yaml"
  cpu_end=$(agent_cpu_s)
  hwm=$(agent_mem_kb VmHWM)
  rss=$(agent_mem_kb VmRSS)
  kill -0 "$AGENT_PID" || { log "the agent died"; return 1; }
  # The agent stopped: its programs stay attached (the kernel goes on
  # enforcing), so these rounds tell the programs' cost from the process's.
  bh_stop "$AGENT_PID"
  AGENT_PID=""
  bpf_stats stopped-before
  for ((i = 1; i <= SAME_ROUNDS; i++)); do run_round "stopped-$i"; done
  bpf_stats stopped
  # The drift check: the programs detached, the bare path once more.
  ip netns exec "$(lab_node_ns)" "$BULKHEADD" --uninstall --interfaces 'lxc-*' \
    --pin-dir "$REP/bpffs" 2>"$REP/uninstall.log" || { log "bulkheadd --uninstall failed"; return 1; }
  if [[ -n $(ip netns exec "$(lab_node_ns)" tc filter show dev lxc-client ingress) ]]; then
    log "a TC filter is left on lxc-client after --uninstall"
    return 1
  fi
  for ((i = 1; i <= SAME_ROUNDS; i++)); do run_round "after-$i"; done

  # Kept before anything is computed from them.
  for f in agent.log uninstall.log rounds.jsonl watch.jsonl watch.err status-after-learn.json \
    status-end.json policy.yaml server.log client.log bpf_stats.jsonl; do
    [[ -s $REP/$f ]] && cp "$REP/$f" "$OUT/logs/rep$rep-$f"
  done
  gzip -c "$REP/flows.jsonl" >"$OUT/logs/rep$rep-flows.jsonl.gz"

  # The exported policy as "from to PROTOCOL port" lines (tests/e2e/lib.sh's form).
  awk '/- from:/ {f=$3} /^ +to:/ {t=$2} /protocol:/ {p=$2} /port:/ {print f, t, p, $2}' \
    "$REP/policy.yaml" | sort >"$REP/segments.txt"
  local learned_line t_learned=null
  learned_line=$(grep -m1 ' learned segment ' "$REP/agent.log" || true)
  [[ -z $learned_line ]] || t_learned=$(date -d "${learned_line%% *}" +%s.%N)

  jq -nc --argjson n "$N" --argjson rep "$rep" --argjson port "$PORT" --arg loadavg "$loadavg" \
    --argjson t_ready "$t_ready" --argjson t_learned "$t_learned" \
    --argjson cpu_ready "$cpu_ready" --argjson cpu_end "$cpu_end" \
    --argjson hwm "${hwm:-null}" --argjson rss "${rss:-null}" \
    --slurpfile rounds "$REP/rounds.jsonl" --slurpfile watch "$REP/watch.jsonl" \
    --slurpfile after "$REP/status-after-learn.json" --slurpfile final "$REP/status-end.json" \
    --slurpfile flows "$REP/flows.jsonl" --slurpfile bpf "$REP/bpf_stats.jsonl" \
    --rawfile segments "$REP/segments.txt" '
    def r4: if . == null then null else . * 10000 | round / 10000 end;
    def round_named($x): $rounds | map(select(.event == "round" and .name == $x)) | first;
    # Of the rounds NAME-1, NAME-2, ...: the one of median duration (the
    # lower middle one of an even number).
    def median_round($x): $rounds | map(select(.event == "round" and (.name | startswith($x + "-"))))
      | sort_by(.duration_s) | if length == 0 then null else .[(length - 1) / 2 | floor] end;
    def counters($s): ($s.datapath_counters | map_values(tonumber)) + {flows_seen: ($s.flows_seen // 0 | tonumber), segments: ($s.segments // 0 | tonumber)};
    (median_round("baseline")) as $base | (round_named("learn")) as $learn
    | (median_round("steady")) as $steady | (round_named("warmup")) as $warm
    | (median_round("after")) as $after_round | (median_round("stopped")) as $stopped
    | ($watch | map(select(.error == null))) as $w | $w[0] as $w0
    | def first_at(cond): ([$w[] | select(cond)] | first | if . == null then null
        else (.t_answer - $learn.t_first_send) | r4 end);
    ($segments | split("\n") | map(select(. != ""))) as $seglist
    | ($rounds | map(select(.event == "ready")) | first) as $ready
    | {n: $n, rep: $rep, port: $port, loadavg_at_start: $loadavg, open_s: $ready.open_s,
       client_ports: $ready.client_ports,
       rounds: {warmup: $warm, baseline: $base, learn: $learn, steady: $steady, stopped: $stopped,
                after: $after_round}
         | map_values(del(.event, .t_first_send, .t_last_send, .t_last_reply) // null),
       learn_vs_baseline: (if $base.duration_s and $learn.duration_s then $learn.duration_s / $base.duration_s | r4 else null end),
       steady_vs_baseline: (if $base.duration_s and $steady.duration_s then $steady.duration_s / $base.duration_s | r4 else null end),
       stopped_vs_baseline: (if $base.duration_s and $stopped.duration_s then $stopped.duration_s / $base.duration_s | r4 else null end),
       after_vs_baseline: (if $base.duration_s and $after_round.duration_s then $after_round.duration_s / $base.duration_s | r4 else null end),
       agent_ready_to_first_send_s: ($learn.t_first_send - $t_ready | r4),
       learn_log_s: (if $t_learned == null then null else $t_learned - $learn.t_first_send | r4 end),
       learn_api_s: first_at(.segments >= 1),
       all_tracked_s: first_at(.ct_created - $w0.ct_created >= $n),
       all_confirmed_s: first_at(.ct_confirmed - $w0.ct_confirmed >= $n),
       all_accounted_s: first_at((.flows_seen - $w0.flows_seen) + (.events_suppressed - $w0.events_suppressed) >= $n),
       poll_samples: ($w | length),
       counters_learn: (counters($after[0]) as $a | $w0 as $b
         | ["ct_created", "ct_confirmed", "flows_seen", "events_suppressed", "events_lost", "audit",
            "forwarded", "reply", "dropped_policy", "learner_learned", "learner_skipped_untrusted_port",
            "learner_skipped_not_learning"]
         | map({key: ., value: (($a[.] // 0) - ($b[.] // 0))}) | from_entries),
       counters_end: counters($final[0]),
       flows: {
         kept: ($flows | length),
         mid_stream: ($flows | map(select(.mid_stream)) | length),
         mid_stream_by_verdict: ($flows | map(select(.mid_stream)) | group_by(.verdict)
           | map({key: .[0].verdict, value: length}) | from_entries),
         to_server_port_not_mid_stream: ($flows | map(select((.mid_stream | not)
           and .destination.workload == "bench/server" and .destination.port == $port)) | length),
         client_server_other_port: ($flows | map(select(.destination.port != $port
           and ([.source.workload, .destination.workload] | sort) == ["bench/client", "bench/server"])) | length)},
       segments: $seglist,
       exactly_one_segment: ($seglist == ["bench/client bench/server TCP \($port)"]),
       all_answered: ([$rounds[] | select(.event == "round") | .ok == .connections] | all),
       bpf_programs: (if ($bpf | length) == 0 then null else
         ($bpf | map({key: .tag, value: .}) | from_entries) as $b
         | def phase($from; $to): if $b[$from] and $b[$to] then
             ($b[$to].run_cnt - $b[$from].run_cnt) as $runs
             | {runs: $runs, ns_per_run: (if $runs > 0 then ($b[$to].run_time_ns - $b[$from].run_time_ns) / $runs | round else null end)}
             else null end;
         {learn: phase("ready"; "learn"), steady: phase("learn"; "steady"), stopped: phase("stopped-before"; "stopped")} end),
       agent: {cpu_at_ready_s: $cpu_ready, cpu_end_s: $cpu_end, cpu_during_rounds_s: ($cpu_end - $cpu_ready | r4),
               vmhwm_kb: $hwm, vmrss_kb: $rss}}' >>"$OUT/raw.jsonl"
  tail -1 "$OUT/raw.jsonl" | jq -r '"preexisting: rep \(.rep): learned in \(.learn_log_s) s (log) / \(.learn_api_s) s (API); " +
    "all tracked \(.all_tracked_s) s, confirmed \(.all_confirmed_s) s, accounted \(.all_accounted_s) s; " +
    "round \(.rounds.learn.duration_s) s vs baseline \(.rounds.baseline.duration_s) s (\(.learn_vs_baseline)x); " +
    "segments \(.segments); agent CPU \(.agent.cpu_end_s) s, VmHWM \(.agent.vmhwm_kb) kB"' >&2

  lab_down
}

{
  echo "date: $(date -Is)"
  echo "kernel: $(uname -r), $(nproc) CPUs"
  echo "script: $0, commit $(git -C "$BH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "build: $BUILD_DIR ($(git -C "$BUILD_DIR/.." rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "connections: $N, port: $PORT, repeat: $REPEAT, same rounds: $SAME_ROUNDS, poll interval: $INTERVAL s, timeout: $TIMEOUT s"
  echo "agent args: ${AGENT_ARGS:-none}"
  echo "python: $("$PYTHON" --version 2>&1)"
  echo "ip_local_port_range: $(cat /proc/sys/net/ipv4/ip_local_port_range)"
} >"$OUT/env.txt"
log "results in $OUT"
for ((rep = 1; rep <= REPEAT; rep++)); do
  run_once "$rep"
done

# --- summary: median [min-max] over the repetitions.
jq -rs '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def fmt: if . == null then "-" else (. * 1000 | round / 1000 | if . == 0 then 0 else . end | tostring) end;
  def row($what; f): [.[] | f] as $all | ($all | map(select(. != null))) as $v
    | "| \($what) | \($v | median | fmt) | \($v | min | fmt) | \($v | max | fmt) | \($all | length - ($v | length)) |";
  "N = \(.[0].n) pre-existing connections to tcp/\(.[0].port); \(length) repetition(s); median, min, max (unreached: how many repetitions never got there).",
  "",
  "| metric | median | min | max | unreached |",
  "|---|---:|---:|---:|---:|",
  row("learned, agent log (s after first request)"; .learn_log_s),
  row("learned, seen through the API (s)"; .learn_api_s),
  row("all N tracked: ct_created +N (s)"; .all_tracked_s),
  row("all N confirmed: ct_confirmed +N (s)"; .all_confirmed_s),
  row("all N accounted: flows_seen + events_suppressed +N (s)"; .all_accounted_s),
  row("round, no agent (baseline) (s)"; .rounds.baseline.duration_s),
  row("round, agent meeting them mid-stream (s)"; .rounds.learn.duration_s),
  row("round, agent, all tracked (steady) (s)"; .rounds.steady.duration_s),
  row("round, agent stopped, programs attached (stopped) (s)"; .rounds.stopped.duration_s),
  row("round, agent stopped and uninstalled (after) (s)"; .rounds.after.duration_s),
  row("learn round / baseline"; .learn_vs_baseline),
  row("steady round / baseline"; .steady_vs_baseline),
  row("stopped round / baseline"; .stopped_vs_baseline),
  row("after round / baseline (drift)"; .after_vs_baseline),
  row("learn round p99 latency (ms)"; .rounds.learn.latency_ms.p99),
  row("baseline round p99 latency (ms)"; .rounds.baseline.latency_ms.p99),
  row("connections not answered in the learn round"; .rounds.learn.connections - .rounds.learn.ok),
  row("ct_created over the learn round"; .counters_learn.ct_created),
  row("ct_confirmed over the learn round"; .counters_learn.ct_confirmed),
  row("flow events read by the agent (learn round)"; .counters_learn.flows_seen),
  row("events_suppressed (learn round)"; .counters_learn.events_suppressed),
  row("events_lost (learn round)"; .counters_learn.events_lost),
  row("learner_skipped_untrusted_port (learn round)"; .counters_learn.learner_skipped_untrusted_port),
  row("flows kept marked mid_stream"; .flows.mid_stream),
  row("TCP flows to the server port not mid_stream"; .flows.to_server_port_not_mid_stream),
  row("BPF ns per program run, learn round (bpf_stats only)"; .bpf_programs.learn.ns_per_run),
  row("BPF ns per program run, steady rounds (bpf_stats only)"; .bpf_programs.steady.ns_per_run),
  row("BPF program runs, learn round (bpf_stats only)"; .bpf_programs.learn.runs),
  row("agent CPU at ready (s)"; .agent.cpu_at_ready_s),
  row("agent CPU during the rounds (s)"; .agent.cpu_during_rounds_s),
  row("agent VmHWM (MB)"; .agent.vmhwm_kb / 1024),
  "",
  "Segments learned: \([.[] | .segments | join(", ")] | unique | join(" / ")); exactly one in every repetition: \([.[] | .exactly_one_segment] | all).",
  "Every connection answered in every round: \([.[] | .all_answered] | all)."
' "$OUT/raw.jsonl" | tee "$OUT/summary.md"
log "done: $OUT/summary.md, raw.jsonl, logs/"
