# hangmatrix: what = The parent waits in fcntl(F_SETLKW) (lockf) for a POSIX lock that a process outside the tree holds on $WAIT_PARTY/lockf.RANDOM.
# hangmatrix: expect = ^locked$
import fcntl

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

from party_lock import locked_by_party

if __name__ == "__main__":
    with open(locked_by_party("lockf"), "a") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        print("locked")
