#!/usr/bin/env bash
# Runs the benchmarks (root) and prints a Markdown table of medians, with the
# per-packet ones as ratios to BM_ParseOnly measured in the same run.
#   bench/run.sh [BUILD_DIR] [REPETITIONS]
set -euo pipefail
BUILD_DIR=${1:-build}
REPS=${2:-5}
json=$(mktemp)
trap 'rm -f "$json"' EXIT
"$BUILD_DIR/bench/datapath_bench" --benchmark_repetitions="$REPS" \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$json" 2>/dev/null
jq -r '
  [.benchmarks[] | select(.aggregate_name == "median")] as $m
  | ($m[] | select(.run_name | startswith("BM_ParseOnly")) | .items_per_second) as $base
  | "| benchmark | median | per item | ratio to parse-only |",
    "|---|---|---|---|",
    ($m[] | "| \(.run_name | sub("/manual_time"; "")) | \(.real_time | . * 1000 | round / 1000) \(.time_unit) | \(1e9 / .items_per_second | . * 10 | round / 10) ns | " +
      (if (.run_name | test("Parse|Established|Reply|Dropped")) then "\($base / .items_per_second | . * 100 | round / 100)x" else "" end) + " |")
' "$json"
