"""Long-lived TCP connections for the end-to-end tests, like an application's
pooled connections (gRPC channels, database pools, HTTP keep-alive).

  pool.py echo-client HOST PORT LOG   one connection; a line every 0.2 s, each
                                      answer awaited for 1 s; "ok" or "miss"
                                      per round trip into LOG
  pool.py push-server PORT            accepts connections and writes a line to
                                      each every 0.2 s (the server talks first)
  pool.py push-client HOST PORT LOG   one connection, never writes; logs the
                                      time of every line received into LOG

Clients run until killed; each LOG line is flushed as it is written.
"""
import socket
import sys
import threading
import time


def echo_client(host, port, log_path):
    with socket.create_connection((host, port), timeout=5) as conn, open(log_path, "w") as log:
        conn.settimeout(1.0)
        reader = conn.makefile("r")
        n = 0
        while True:
            n += 1
            line = f"round {n}\n"
            try:
                conn.sendall(line.encode())
                ok = reader.readline() == line
            except OSError:
                ok = False
            log.write(("ok" if ok else "miss") + f" {time.monotonic():.3f}\n")
            log.flush()
            time.sleep(0.2)


def push_server(port):
    listener = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)

    def push(conn):
        with conn:
            n = 0
            while True:
                n += 1
                try:
                    conn.sendall(f"push {n}\n".encode())
                except OSError:
                    return
                time.sleep(0.2)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=push, args=(conn,), daemon=True).start()


def push_client(host, port, log_path):
    with socket.create_connection((host, port), timeout=5) as conn, open(log_path, "w") as log:
        conn.settimeout(None)
        for _ in conn.makefile("r"):
            log.write(f"{time.monotonic():.3f}\n")
            log.flush()


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "echo-client":
        echo_client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif kind == "push-server":
        push_server(int(sys.argv[2]))
    elif kind == "push-client":
        push_client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown kind {kind}")
