# hangmatrix: what = The parent tries a non-blocking recv() on a TCP connection to a server outside the tree, and sleeps 0.1 s between tries: what it polls between sleeps is not seen in any sample, so the fds its process holds count, and this is never a stall.
# hangmatrix: expect = ^answer$
import os
import socket
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    host, port = open(os.path.join(os.environ["WAIT_PARTY"], "tcp")).read().split(":")
    conn = socket.create_connection((host, int(port)))
    conn.setblocking(False)
    while True:
        try:
            data = conn.recv(64)
            break
        except BlockingIOError:
            time.sleep(0.1)
    print(data.decode().strip())
