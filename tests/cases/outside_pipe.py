# hangmatrix: what = The parent reads a pipe whose only writer is a process outside the tree (it takes the write end with pidfd_getfd through $WAIT_PARTY).
# hangmatrix: expect = ^answer$
import os
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    r, w = os.pipe()
    note = os.path.join(os.environ["WAIT_PARTY"], "pipe.%d" % os.getpid())
    with open(note + ".tmp", "w") as f:
        f.write("%d %d" % (os.getpid(), w))
    os.rename(note + ".tmp", note)
    while not os.path.exists(note + ".held"):  # the outside party takes the write end first
        time.sleep(0.02)
    os.close(w)
    print(os.read(r, 7).decode().strip())
