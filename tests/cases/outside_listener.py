# hangmatrix: what = The parent waits in accept() on a Unix socket it listens on in $WAIT_PARTY, a 0700 folder made outside the cell, where a process outside the tree connects later: never a deadlock.
# hangmatrix: expect = ^accepted$
import os
import socket
import uuid

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(os.environ["WAIT_PARTY"], "listen." + uuid.uuid4().hex))
    listener.listen(1)
    listener.accept()
    print("accepted")
