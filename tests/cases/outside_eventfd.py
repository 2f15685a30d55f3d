# hangmatrix: what = The parent reads an eventfd that a process outside the tree takes (pidfd_getfd) through $WAIT_PARTY and writes to later.
# hangmatrix: expect = ^counted 1$
# hangmatrix: python = >=3.10
import os

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    efd = os.eventfd(0)
    note = os.path.join(os.environ["WAIT_PARTY"], "eventfd.%d" % os.getpid())
    with open(note + ".tmp", "w") as f:
        f.write("%d %d" % (os.getpid(), efd))
    os.rename(note + ".tmp", note)
    print("counted %d" % os.eventfd_read(efd))
