"""The pooled connections, and a watch on the agent, for bench/preexisting.sh.

  preexisting_pool.py server PORT N
      One process, one thread: accepts every connection on PORT (IPv4) and
      echoes what each sends; N: how many connections to make room for.
      Runs until killed.

  preexisting_pool.py client HOST PORT N COMMANDS RESULTS
      Opens N TCP connections to HOST:PORT, one after another, keeps them
      open and idle, then writes {"event": "ready", ...} to RESULTS. Then
      reads commands, one a line, from the FIFO COMMANDS:
        round NAME TIMEOUT_S  every connection sends one 16-byte request
                              ("NAME-INDEX" padded) and reads its echo; one
                              JSON line to RESULTS (below)
        quit                  closes everything and exits
      A round sends in slices of 64 requests, reading what has come back
      between slices, then waits up to TIMEOUT_S for the rest. Its line:
        t_first_send, t_last_send, t_last_reply  wall clock (time.time())
        duration_s       first send to last reply
        ok               connections whose echo came back intact
        missing          no echo within the timeout
        broken           closed or reset by the peer, or a wrong echo
        latency_ms       p50, p99, max of send -> echo, over the ok ones
        failed_ports     the client ports of the first 20 that did not answer

  preexisting_pool.py watch CLI SOCKET INTERVAL_S TIMEOUT_S N OUT
      Runs `CLI --socket SOCKET status -o json` every INTERVAL_S and writes
      one JSON line a sample to OUT: the wall clock just before the request
      and just after the answer, the learned segments, the datapath and
      learner counters. The first sample is the baseline; the watch ends
      TIMEOUT_S after it, or earlier once every condition of N (below) held
      for the deltas since the baseline, or on SIGTERM:
        segments >= 1, ct_created >= N, ct_confirmed >= N,
        flows_seen + events_suppressed >= N.

Every process raises its open-file limit to what it needs (the caller is
root). Times are wall clock so that they compare with the agent's log.
"""
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time

REQUEST_BYTES = 16
SEND_SLICE = 64


def raise_nofile(needed):
    """Soft limit up to `needed`; the hard limit too where allowed (it may
    not be, in a container without CAP_SYS_RESOURCE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(needed, hard)))
    except (ValueError, OSError):
        if hard < needed:
            sys.exit(f"need {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def server(port):
    raise_nofile(int(sys.argv[3]) + 1024 if len(sys.argv) > 3 else 4096)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(4096)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(conn, selectors.EVENT_READ, True)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn)
                conn.close()
                continue
            try:
                conn.sendall(data)  # 16 bytes into an empty send buffer: never blocks
            except OSError:
                sel.unregister(conn)
                conn.close()


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(fraction * (len(sorted_values) - 1) + 0.5))
    return sorted_values[index]


def client(host, port, n, commands_path, results_path):
    raise_nofile(n + 1024)
    results = open(results_path, "a", buffering=1)

    def report(obj):
        results.write(json.dumps(obj) + "\n")

    t0 = time.time()
    conns = []
    try:
        for _ in range(n):
            conn = socket.create_connection((host, port), timeout=10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.setblocking(False)
            conns.append(conn)
    except OSError as e:
        report({"event": "error", "error": f"connection {len(conns) + 1} of {n}: {e}"})
        sys.exit(1)
    ports = [c.getsockname()[1] for c in conns]
    report({"event": "ready", "connections": n, "open_s": round(time.time() - t0, 3),
            "client_ports": [min(ports), max(ports)]})
    sel = selectors.DefaultSelector()
    for i, conn in enumerate(conns):
        sel.register(conn, selectors.EVENT_READ, i)

    with open(commands_path) as commands:  # a FIFO: blocks until the writer opens it
        for line in commands:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "round":
                report(one_round(conns, ports, sel, words[1], float(words[2])))
    for conn in conns:
        conn.close()


def one_round(conns, ports, sel, name, timeout_s):
    n = len(conns)
    requests = [f"{name}-{i}".encode().ljust(REQUEST_BYTES - 1, b".")[:REQUEST_BYTES - 1] + b"\n"
                for i in range(n)]
    received = [b""] * n
    sent_at = [0.0] * n
    latency = [None] * n
    broken = set()
    done = 0

    def read_ready(timeout):
        nonlocal done
        last = None
        for key, _ in sel.select(timeout):
            i = key.data
            if latency[i] is not None or i in broken:
                continue
            try:
                data = key.fileobj.recv(REQUEST_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                broken.add(i)
                continue
            received[i] += data
            if len(received[i]) >= REQUEST_BYTES:
                now = time.time()
                if received[i] == requests[i]:
                    latency[i] = now - sent_at[i]
                    done += 1
                    last = now
                else:
                    broken.add(i)
        return last

    t_last_reply = None
    t_first_send = time.time()
    for start in range(0, n, SEND_SLICE):
        for i in range(start, min(n, start + SEND_SLICE)):
            sent_at[i] = time.time()
            try:
                conns[i].send(requests[i])
            except OSError:
                broken.add(i)
        t_last_reply = read_ready(0) or t_last_reply
    t_last_send = time.time()
    deadline = t_last_send + timeout_s
    while done + len(broken) < n and time.time() < deadline:
        t_last_reply = read_ready(min(0.2, max(0.0, deadline - time.time()))) or t_last_reply

    ok_latencies = sorted(x for x in latency if x is not None)
    missing = [i for i in range(n) if latency[i] is None and i not in broken]
    failed = sorted(set(missing) | broken)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {
        "event": "round", "name": name, "connections": n,
        "t_first_send": t_first_send, "t_last_send": t_last_send, "t_last_reply": t_last_reply,
        "send_s": round(t_last_send - t_first_send, 4),
        "duration_s": None if t_last_reply is None else round(t_last_reply - t_first_send, 4),
        "ok": done, "missing": len(missing), "broken": len(broken),
        "latency_ms": {"p50": ms(percentile(ok_latencies, 0.5)),
                       "p99": ms(percentile(ok_latencies, 0.99)),
                       "max": ms(ok_latencies[-1] if ok_latencies else None)},
        "failed_ports": [ports[i] for i in failed[:20]],
    }


def watch(cli, sock, interval_s, timeout_s, n, out_path):
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    keys = ("ct_created", "ct_confirmed", "events_suppressed", "events_lost", "audit",
            "forwarded", "reply", "dropped_policy", "learner_learned",
            "learner_skipped_untrusted_port", "learner_skipped_not_learning")
    base = None
    with open(out_path, "a", buffering=1) as out:
        t_end = time.time() + timeout_s
        while not stop and time.time() < t_end:
            t_request = time.time()
            try:
                answer = subprocess.run([cli, "--socket", sock, "status", "-o", "json"],
                                        capture_output=True, timeout=5, check=True).stdout
                status = json.loads(answer)
            except (subprocess.SubprocessError, ValueError) as e:
                out.write(json.dumps({"t_request": t_request, "error": str(e)}) + "\n")
                time.sleep(interval_s)
                continue
            t_answer = time.time()
            counters = {k: int(v) for k, v in status.get("datapath_counters", {}).items()
                        if k in keys}
            sample = {"t_request": t_request, "t_answer": t_answer,
                      "segments": int(status.get("segments", 0)),
                      "flows_seen": int(status.get("flows_seen", 0)), **counters}
            out.write(json.dumps(sample) + "\n")
            if base is None:
                base = sample
            else:
                d = {k: sample.get(k, 0) - base.get(k, 0) for k in sample}
                if (sample["segments"] >= 1 and d["ct_created"] >= n and d["ct_confirmed"] >= n
                        and d["flows_seen"] + d["events_suppressed"] >= n):
                    break
            time.sleep(interval_s)


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind == "server":
        server(int(sys.argv[2]))
    elif kind == "client":
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif kind == "watch":
        watch(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]),
              sys.argv[7])
    else:
        sys.exit(__doc__)
