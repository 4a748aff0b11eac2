#!/usr/bin/env bash
# run_fuzz.sh FUZZER CORPUS REGRESSIONS WORK SECONDS [libFuzzer flags...]
#
# One fuzz target's CTest test (tests/fuzz/CMakeLists.txt):
#  1. every input in REGRESSIONS (crashes found before, kept) runs once;
#  2. the target fuzzes for SECONDS from a fresh copy of CORPUS in WORK, so
#     nothing is ever written into the source tree. A crash is saved in
#     WORK/crashes/; README.md says how to keep it as a regression.
set -euo pipefail
fuzzer=$1 corpus=$2 regressions=$3 work=$4 seconds=$5
shift 5

# Reports on this test's own output, not in the sanitizer build's report
# directory (tests/sanitizers/): here a report is this test failing.
strip_log_path() { sed -E 's/(^|:)log_path=[^:]*//; s/^://' <<<"$1"; }
export ASAN_OPTIONS=$(strip_log_path "${ASAN_OPTIONS:-}")
export UBSAN_OPTIONS=$(strip_log_path "${UBSAN_OPTIONS:-}")

shopt -s nullglob
kept=("$regressions"/*)
if ((${#kept[@]})); then
  echo "== ${#kept[@]} regression input(s) from $regressions"
  "$fuzzer" "$@" "${kept[@]}"
fi

rm -rf "$work"
mkdir -p "$work/corpus" "$work/crashes"
cp -r "$corpus"/. "$work/corpus/"
echo "== fuzzing ${seconds}s from $(ls "$work/corpus" | wc -l) seed(s) of $corpus"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" "$@" "$work/corpus" || status=$?
if ((status != 0)); then
  echo "== $(basename "$fuzzer") failed; inputs in $work/crashes/:" >&2
  ls -l "$work/crashes" >&2
  echo "keep one as a regression: cp $work/crashes/<file> $regressions/<what-it-is>" >&2
fi
exit "$status"
