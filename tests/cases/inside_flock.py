# hangmatrix: what = A child takes a file lock and waits for an event nobody sets; the parent then waits for the lock: a deadlock inside the tree.
import fcntl
import multiprocessing
import os
import tempfile

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def hold(path, locked, never):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        locked.set()
        never.wait()


if __name__ == "__main__":
    path = os.path.join(tempfile.gettempdir(), "lock")
    locked, never = multiprocessing.Event(), multiprocessing.Event()
    child = multiprocessing.Process(target=hold, args=(path, locked, never))
    child.start()
    locked.wait()
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
