# hangmatrix: what = The parent reads a FIFO it made in $WAIT_PARTY, which a process outside the tree opens and writes to later.
# hangmatrix: expect = ^answer$
import os
import uuid

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    path = os.path.join(os.environ["WAIT_PARTY"], "fifo." + uuid.uuid4().hex)
    os.mkfifo(path)
    with open(path, "rb", buffering=0) as fifo:
        print(fifo.read(7).decode().strip())
