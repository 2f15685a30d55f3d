# hangmatrix: what = The parent polls a Unix-socket connection to a server outside the tree ($WAIT_PARTY/unix) with select() every 0.1 s: a poll an outside party can end is never a stall.
# hangmatrix: expect = ^answer$
import os
import select
import socket

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(os.path.join(os.environ["WAIT_PARTY"], "unix"))
    while not select.select([conn], [], [], 0.1)[0]:
        pass
    print(conn.recv(64).decode().strip())
