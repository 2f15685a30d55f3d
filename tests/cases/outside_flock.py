# hangmatrix: what = The parent waits in flock() on a file that a process outside the tree has locked for it ($WAIT_PARTY/lock.RANDOM).
# hangmatrix: expect = ^locked$
import fcntl
import os
import uuid
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    path = os.path.join(os.environ["WAIT_PARTY"], "lock." + uuid.uuid4().hex)
    open(path, "w").close()
    while not os.path.exists(path + ".held"):  # the outside party takes the lock first
        time.sleep(0.02)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        print("locked")
