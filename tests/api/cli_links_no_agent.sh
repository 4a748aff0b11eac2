#!/bin/sh
# The bulkhead CLI links the API library and nothing of the agent: no
# libbpf, no libnl, no datapath or agent code. Usage: cli_links_no_agent.sh CLI
set -u
cli=$1
status=0
if ldd "$cli" | grep -E 'libbpf|libnl'; then
  echo "FAIL: $cli loads the libraries above" >&2
  status=1
fi
if nm -C "$cli" | grep -E 'bulkhead::(Agent|ApiServer|Datapath|Reconciler|IdentityTable)\b'; then
  echo "FAIL: $cli contains the agent code above" >&2
  status=1
fi
if ! nm -C "$cli" | grep -q 'bulkhead::EncodeDelimited'; then
  echo "FAIL: $cli has no bulkhead::EncodeDelimited: is this the CLI?" >&2
  status=1
fi
exit $status
