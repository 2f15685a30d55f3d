# hangmatrix: what = The parent waits in recv() on a TCP connection to a server outside the tree ($WAIT_PARTY/tcp): ok if it answers, never a deadlock.
# hangmatrix: expect = ^answer$
import os
import socket

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    host, port = open(os.path.join(os.environ["WAIT_PARTY"], "tcp")).read().split(":")
    conn = socket.create_connection((host, int(port)))
    print(conn.recv(64).decode().strip())
