# hangmatrix: what = A parent and its child each wait in recv() on their end of one Unix-socket connection (the child listens, accepts the parent and closes its listener): both ends inside the tree, a deadlock.
import multiprocessing
import os
import socket
import tempfile
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def listen(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    end = listener.accept()[0]
    listener.close()
    end.recv(1)


if __name__ == "__main__":
    path = os.path.join(tempfile.gettempdir(), "pair")
    child = multiprocessing.Process(target=listen, args=(path,))
    child.start()
    mine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            mine.connect(path)
            break
        except OSError:
            time.sleep(0.02)
    mine.recv(1)
