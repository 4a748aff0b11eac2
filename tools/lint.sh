#!/usr/bin/env bash
# clang-tidy (configuration: .clang-tidy at the root) over Bulkhead's own C++
# sources, with the build's compile_commands.json; generated code (protobuf,
# BPF skeletons) is never linted. Exits non-zero on any finding.
#
#   tools/lint.sh                      # every source file
#   tools/lint.sh controlplane/agent.cc api/framing.cc
#
# BUILD_DIR (default build) is the tree whose compile commands are used; it is
# configured and built first if needed (the generated headers must exist).
# JOBS (default: the number of CPUs) clang-tidy processes run at once.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

BUILD_DIR=${BUILD_DIR:-$BH_ROOT/build}
JOBS=${JOBS:-$(nproc)}
CLANG_TIDY=${CLANG_TIDY:-$(command -v clang-tidy-14 || command -v clang-tidy || true)}
if [[ -z "$CLANG_TIDY" ]]; then
  echo "lint: clang-tidy not found (Debian: clang-tidy; tools/install-deps.sh)" >&2
  exit 2
fi

bh_build "$BUILD_DIR" >/dev/null
db="$BUILD_DIR/compile_commands.json"

cd "$BH_ROOT"
if (($#)); then
  files=("$@")
else
  # Tracked and new (not ignored) sources of the C++ folders that the build
  # compiles; a file the build does not know has no flags to lint it with.
  mapfile -t files < <(
    git ls-files --cached --others --exclude-standard -- \
      'api/*.cc' 'controlplane/*.cc' 'datapath/*.cc' 'tools/*.cc' 'tests/*.cc' 'bench/*.cc' |
      sort -u | while read -r f; do
        [[ -f "$f" ]] && grep -qF "\"file\": \"$BH_ROOT/$f\"" "$db" && echo "$f"
      done)
fi
if ((${#files[@]} == 0)); then
  echo "lint: nothing to lint" >&2
  exit 2
fi

echo "lint: $CLANG_TIDY on ${#files[@]} files, $JOBS at a time"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%s\n' "${files[@]}" |
  xargs -P "$JOBS" -I{} sh -c 'log="$4/$(echo "$3" | tr / _)"; "$1" -p "$2" --quiet "$3" >"$log.log" 2>&1; echo $? >"$log.rc"' \
    sh "$CLANG_TIDY" "$BUILD_DIR" {} "$out"

# A finding is "file:line:col: error: message [check]". A header's shows up
# once per file including it: each is listed once. Generated code (the build
# tree: protobuf, BPF skeletons) is not ours to fix.
build_abs=$(cd "$BUILD_DIR" && pwd)
finding='^[^ :]+:[0-9]+:[0-9]+: (error|warning): '
cat "$out"/*.log | grep -E "$finding" | grep -v "^$build_abs/" | sed "s|^$BH_ROOT/||" | sort -u >"$out/findings" || true
# clang-tidy failing without a finding (a crash, a missing file) fails too.
failed=0
for rc in "$out"/*.rc; do
  log=${rc%.rc}.log
  if [[ $(cat "$rc") != 0 ]] && ! grep -qE "$finding" "$log"; then
    echo "lint: clang-tidy failed on ${log##*/}:" >&2
    cat "$log" >&2
    failed=1
  fi
done
if [[ -s "$out/findings" ]]; then
  cat "$out/findings"
  echo "lint: $(wc -l <"$out/findings") finding(s); details: $CLANG_TIDY -p $BUILD_DIR FILE" >&2
  exit 1
fi
((failed == 0)) || exit 1
echo "lint: no findings"
