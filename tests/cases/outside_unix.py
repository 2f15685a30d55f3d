# hangmatrix: what = A child process waits in recv() on a Unix socket to a server outside the tree ($WAIT_PARTY/unix); the parent joins it.
# hangmatrix: expect = ^answer$
import multiprocessing
import os
import socket

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def ask(path):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    print(conn.recv(64).decode().strip(), flush=True)


if __name__ == "__main__":
    child = multiprocessing.Process(target=ask, args=(os.path.join(os.environ["WAIT_PARTY"], "unix"),))
    child.start()
    child.join()
