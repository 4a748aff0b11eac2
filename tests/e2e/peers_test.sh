#!/usr/bin/env bash
# End to end: peers outside the workloads (issue 7, CIDR identities). Two
# hosts the agent does not attach to stand for the world around the pods:
# `payments` (10.244.200.10) is in the inventory's network set
# payments-api, `legacy` (10.244.201.10) in no set, so it is `private`.
#   learn    calls out to them, and their calls in, become segments named by
#            the peer (payments-api, private), by server port, and nothing else;
#   enforce  the learned calls still work; an unused port on a known peer and
#            a peer never called are dropped and reported DROPPED, naming it;
#   reload   legacy's range moved into a network set of its own: the segment
#            learned for `private` no longer admits it (it is a new peer).
# And guardrails (issue 7 point 5): frontend -> db is denied by one from the
# start, so even in learn mode it is dropped, named, and never learned; a
# guardrail added while enforcing overrides a learned segment at once.
# Usage: peers_test.sh BUILD_DIR. Needs root. Cleans up on any exit.
set -euo pipefail
source "$(dirname "$0")/../../tools/lib/common.sh"
bh_require_root

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BULKHEAD="$BUILD_DIR/tools/bulkhead"
LAB_PREFIX="bhpeer$$-"
API=$SHOP_API
PAYMENTS=10.244.200.10 LEGACY=10.244.201.10

WORK=$(mktemp -d /tmp/bulkhead-e2e.XXXXXX)
export BULKHEAD_SOCKET="$WORK/bulkhead.sock"
source "$(dirname "$0")/lib.sh"
shop_cleanup_on_exit

shop_create "$WORK"
SHOP_EXTRA_PODS+=(payments legacy)
LAB_LINK_PREFIX=ext- lab_add_pod payments $PAYMENTS 10.244.0.200
LAB_LINK_PREFIX=ext- lab_add_pod legacy $LEGACY 10.244.0.201
inventory_with() {  # the shop's workloads, then the networks given
  sed '/^networks:/,$d' "$WORK/inventory.yaml" >"$WORK/inventory.new"
  printf 'networks:\n%s\n' "$1" >>"$WORK/inventory.new"
  mv "$WORK/inventory.new" "$WORK/inventory.yaml"
}
inventory_with "  - {name: payments-api, cidrs: [10.244.200.0/24]}"
lab_serve payments 443
lab_serve payments 8443
lab_serve legacy 5432
lab_serve legacy 443
lab_serve api 8080
for port in 443 8443; do lab_wait_port payments $port; done
lab_serve db 5432
lab_wait_port legacy 5432 && lab_wait_port legacy 443 && lab_wait_port api 8080
lab_wait_port db 5432
cat >"$WORK/guardrails.yaml" <<'YAML'
guardrails:
  - {name: frontend-never-db, from: {workload: shop/frontend}, to: {namespace: shop-db-only}}
  - {name: frontend-never-db-workload, from: {workload: shop/frontend}, to: {workload: shop/db}}
YAML
SHOP_AGENT_ARGS=(--guardrails "$WORK/guardrails.yaml")
shop_start_agent "$WORK" "$BUILD_DIR" 2>>"$WORK/agent.log"
check "the agent attached to the pods only, not to the outside hosts" \
  test "$("$BULKHEAD" status -o json | jq '.interfaces | length')" -eq 3

echo "# learn"
for i in 1 2; do
  check "learn: api -> payments tcp/443 connects ($i)" lab_connect api $PAYMENTS 443
  check "learn: api -> legacy tcp/5432 connects ($i)" lab_connect api $LEGACY 5432
  check "learn: payments -> api tcp/8080 connects ($i)" lab_connect payments $API 8080
done
check "learn: frontend -> db tcp/5432 is refused by a guardrail, even while learning" \
  refused lab_connect frontend $SHOP_DB 5432
check "learn: ... reported DROPPED naming the guardrail" test "$(flows_matching \
  '.source.workload=="shop/frontend" and .destination.workload=="shop/db" and .verdict=="DROPPED" and .reason=="GUARDRAIL" and .guardrail=="frontend-never-db-workload"')" -ge 1
expected_segments="payments-api shop/api TCP 8080
shop/api payments-api TCP 443
shop/api private TCP 5432"
check "learn: the outside peers are segments by name and server port, nothing else" \
  test "$(segments)" == "$expected_segments"
check "learn: flows name the network set" test "$(flows_matching \
  '.source.workload=="shop/api" and .destination.workload=="payments-api" and .destination.port==443')" -ge 1

echo "# enforce"
"$BULKHEAD" mode set --all enforce >/dev/null
check "enforce: learned api -> payments tcp/443 connects" lab_connect api $PAYMENTS 443
check "enforce: learned api -> legacy tcp/5432 connects" lab_connect api $LEGACY 5432
check "enforce: learned payments -> api tcp/8080 connects" lab_connect payments $API 8080
check "enforce: api -> payments tcp/8443 (never used) times out" \
  refused lab_connect api $PAYMENTS 8443
check "enforce: ... and is reported DROPPED to payments-api:8443" test "$(flows_matching \
  '.source.workload=="shop/api" and .destination.workload=="payments-api" and .destination.port==8443 and .verdict=="DROPPED"')" -ge 1
check "enforce: api -> legacy tcp/443 (never used) times out" refused lab_connect api $LEGACY 443
check "enforce: ... and is reported DROPPED to private:443" test "$(flows_matching \
  '.source.workload=="shop/api" and .destination.workload=="private" and .destination.port==443 and .verdict=="DROPPED"')" -ge 1
check "enforce: legacy -> api tcp/8080 (never called in) times out" \
  refused lab_connect legacy $API 8080
check "enforce: ... and is reported DROPPED from private" test "$(flows_matching \
  '.source.workload=="private" and .destination.workload=="shop/api" and .destination.port==8080 and .verdict=="DROPPED"')" -ge 1

echo "# reload"
reloads=$(counter agent_inventory_reloads)
inventory_with "  - {name: payments-api, cidrs: [10.244.200.0/24]}
  - {name: legacy-db, cidrs: [10.244.201.0/24]}"
for i in $(seq 1 50); do
  [[ $(counter agent_inventory_reloads) -gt $reloads ]] && break
  sleep 0.1
done
check "reload: the new network set is in force" \
  test "$(counter agent_inventory_reloads)" -gt "$reloads"
check "reload: api -> legacy tcp/5432 (learned as private) now times out" \
  refused lab_connect api $LEGACY 5432
check "reload: ... and is reported DROPPED to legacy-db:5432" test "$(flows_matching \
  '.source.workload=="shop/api" and .destination.workload=="legacy-db" and .destination.port==5432 and .verdict=="DROPPED"')" -ge 1
check "reload: api -> payments tcp/443 still connects" lab_connect api $PAYMENTS 443

echo "# guardrail added while enforcing"
cat >>"$WORK/guardrails.yaml" <<'YAML'
  - {name: no-payments, from: {namespace: shop}, to: {peer: payments-api}, except: [tcp/8443]}
YAML
for i in $(seq 1 50); do
  [[ $("$BULKHEAD" status -o json | jq '.guardrails | length') -eq 3 ]] && break
  sleep 0.1
done
check "guardrails: the new one is in force" \
  test "$("$BULKHEAD" status -o json | jq '.guardrails | length')" -eq 3
check "guardrails: learned api -> payments tcp/443 is refused now" \
  refused lab_connect api $PAYMENTS 443
check "guardrails: ... reported DROPPED naming it" test "$(flows_matching \
  '.destination.workload=="payments-api" and .destination.port==443 and .reason=="GUARDRAIL" and .guardrail=="no-payments"')" -ge 1
check "guardrails: the policy export lists it for review" test "$("$BULKHEAD" policy export |
  awk '/^guardrails:/ {g=1} g && /name: no-payments/ {n++} END {print n+0}')" -eq 1
check "guardrails: status counts its drops" test "$("$BULKHEAD" status -o json |
  jq '.guardrails[] | select(.name=="no-payments") | .dropped_flows | tonumber')" -ge 1
check "guardrails: payments -> api tcp/8080 (another direction) still connects" \
  lab_connect payments $API 8080
check "guardrails: the learned segment stays in the policy (the guardrail overrides it)" \
  test "$(segments)" == "$expected_segments"

echo
if [[ $failures -ne 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
