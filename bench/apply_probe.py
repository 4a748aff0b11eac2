#!/usr/bin/env python3
"""Probes for bench/apply_latency.sh.

  apply_probe.py serve PORT
      a UDP echo server (one socket: it keeps up with a probe a millisecond)
  apply_probe.py probe ADDR PORT PERIOD TIMEOUT
      a datagram to ADDR:PORT every PERIOD seconds, each from a socket of its
      own (a new source port: a new flow, which the datapath judges against
      the policy, not against conntrack); prints "SEND_TIME OK" lines
      (CLOCK_REALTIME; OK 1: echoed within TIMEOUT) until SIGTERM.
"""
import selectors
import signal
import socket
import sys
import time


def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(64)
        s.sendto(data, peer)


def probe(addr, port, period, timeout):
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    sel = selectors.DefaultSelector()
    pending = {}  # socket -> send time
    next_send = time.time()
    out = sys.stdout
    while running[0]:
        now = time.time()
        if now >= next_send:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            s.sendto(b"probe", (addr, port))
            pending[s] = now
            sel.register(s, selectors.EVENT_READ)
            next_send += period
        for key, _ in sel.select(timeout=max(0.0, min(next_send - time.time(), 0.0005))):
            s = key.fileobj
            try:
                ok = s.recv(64) == b"probe"
            except OSError:  # ICMP unreachable
                ok = False
            out.write(f"{pending.pop(s):.6f} {1 if ok else 0}\n")
            sel.unregister(s)
            s.close()
        now = time.time()
        for s, sent in list(pending.items()):
            if now - sent > timeout:
                out.write(f"{sent:.6f} 0\n")
                del pending[s]
                sel.unregister(s)
                s.close()
    out.flush()


if sys.argv[1] == "serve":
    serve(int(sys.argv[2]))
else:
    probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
