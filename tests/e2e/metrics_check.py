#!/usr/bin/env python3
"""Reads the agent's HTTP endpoint for tests/e2e/metrics_test.sh.

  metrics_check.py URL
      fetches URL/metrics, parses it with the Prometheus client library's own
      text parser (python3-prometheus-client) and prints every sample as one
      JSON object a line: {"family", "type", "name", "labels", "value"}
  metrics_check.py URL PATH
      prints the HTTP status and body of URL + PATH
  metrics_check.py URL PATH HOLD
      the same, while HOLD other connections to URL's host and port are
      open and idle (clients that never send a request)
"""
import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", e.read().decode()


if len(sys.argv) >= 3:
    held = []
    if len(sys.argv) == 4:
        host, port = urllib.parse.urlsplit(sys.argv[1]).netloc.rsplit(":", 1)
        held = [socket.create_connection((host, int(port))) for _ in range(int(sys.argv[3]))]
    status, _, body = fetch(sys.argv[1] + sys.argv[2])
    print(status, body.strip())
    sys.exit(0)

status, content_type, text = fetch(sys.argv[1] + "/metrics")
if status != 200 or not content_type.startswith("text/plain"):
    sys.exit(f"GET /metrics: {status} {content_type}")
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        print(json.dumps({"family": family.name, "type": family.type, "name": sample.name,
                          "labels": sample.labels, "value": sample.value}))
