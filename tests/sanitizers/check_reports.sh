#!/usr/bin/env bash
# check_reports.sh clear|check DIR: the sanitizer build's first and last CTest
# tests (cmake/Sanitizers.cmake). Every process a test starts writes its ASan,
# LSan or UBSan report to DIR rather than stderr; "check" fails, printing
# them, if there is any.
set -euo pipefail
action=$1 dir=$2
case $action in
  clear)
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 1777 "$dir"  # also for a process that dropped its privileges
    ;;
  check)
    shopt -s nullglob
    reports=("$dir"/*)
    if ((${#reports[@]} == 0)); then
      echo "no sanitizer reports in $dir"
      exit 0
    fi
    echo "${#reports[@]} sanitizer report(s) in $dir:"
    for f in "${reports[@]}"; do
      echo "=== $f"
      cat "$f"
    done
    exit 1
    ;;
  *)
    echo "usage: $0 clear|check DIR" >&2
    exit 2
    ;;
esac
