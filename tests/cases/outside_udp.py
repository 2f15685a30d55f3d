# hangmatrix: what = The parent sends a datagram to a UDP peer outside the tree ($WAIT_PARTY/udp) and waits in recv() for its answer.
# hangmatrix: expect = ^answer$
import os
import socket

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    host, port = open(os.path.join(os.environ["WAIT_PARTY"], "udp")).read().split(":")
    conn = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    conn.connect((host, int(port)))
    conn.send(b"hello")
    print(conn.recv(64).decode().strip())
