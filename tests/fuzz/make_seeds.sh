#!/usr/bin/env bash
# Writes the binary seed corpora of the protobuf targets from the readable
# seeds/*.textproto (protoc --encode), plus a few raw API byte streams.
# Re-run after changing a seed or the .proto files, and commit both:
#
#   tests/fuzz/make_seeds.sh
set -euo pipefail
fuzz=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$fuzz/../.." && pwd)
encode() {  # MESSAGE PROTO FILE: the binary message
  protoc --proto_path="$root" --encode="bulkhead.v1.$1" "$2" <"$3"
}
varint() {  # N: protobuf's varint of N, as bytes
  python3 -c 'import sys
n = int(sys.argv[1]); out = bytearray()
while True:
    b = n & 0x7f; n >>= 7
    out.append(b | (0x80 if n else 0))
    if not n: break
sys.stdout.buffer.write(out)' "$1"
}

cd "$root"
mkdir -p "$fuzz/corpus/state_file" "$fuzz/corpus/policy_yaml" "$fuzz/corpus/api_request"
for seed in "$fuzz"/seeds/state_*.textproto; do
  name=$(basename "$seed" .textproto)
  encode AgentState proto/policy.proto "$seed" >"$fuzz/corpus/state_file/${name#state_}.pb"
done
for seed in "$fuzz"/seeds/policy_*.textproto; do
  name=$(basename "$seed" .textproto)
  encode Policy proto/policy.proto "$seed" >"$fuzz/corpus/policy_yaml/${name#policy_}.pb"
done
stream=()
for seed in "$fuzz"/seeds/request_*.textproto; do
  name=$(basename "$seed" .textproto)
  out="$fuzz/corpus/api_request/${name#request_}.bin"
  body=$(mktemp)
  encode Request proto/api.proto "$seed" >"$body"
  { varint "$(stat -c %s "$body")"; cat "$body"; } >"$out"
  rm -f "$body"
  stream+=("$out")
done
# One connection, several requests; then frames the agent must refuse.
cat "${stream[@]}" >"$fuzz/corpus/api_request/stream.bin"
printf '\xff\xff\xff\xff\x0f' >"$fuzz/corpus/api_request/prefix_too_big.bin"
printf '\xff\xff\xff\xff\xff\x01' >"$fuzz/corpus/api_request/prefix_too_long.bin"
printf '\x80\x80\x04' >"$fuzz/corpus/api_request/prefix_64k.bin"
printf '\x80\x80' >"$fuzz/corpus/api_request/prefix_unfinished.bin"
