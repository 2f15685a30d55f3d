# hangmatrix: what = The parent waits in flock() on a file that a process outside the tree has locked for it ($WAIT_PARTY/lock.RANDOM).
# hangmatrix: expect = ^locked$
import fcntl

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

from party_lock import locked_by_party

if __name__ == "__main__":
    with open(locked_by_party("lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        print("locked")
