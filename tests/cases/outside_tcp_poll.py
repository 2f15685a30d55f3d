# hangmatrix: what = The parent polls a TCP connection to a server outside the tree with select() every 0.1 s: a poll an outside party can end is never a stall.
# hangmatrix: expect = ^answer$
import os
import select
import socket

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    host, port = open(os.path.join(os.environ["WAIT_PARTY"], "tcp")).read().split(":")
    conn = socket.create_connection((host, int(port)))
    while not select.select([conn], [], [], 0.1)[0]:
        pass
    print(conn.recv(64).decode().strip())
