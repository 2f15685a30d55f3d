# hangmatrix: what = A parent in one long timed wait (3 s) while a child sleeps too: timed waits are never deadlocks or stalls.
# hangmatrix: expect = ^slept$
import multiprocessing
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def nap():
    time.sleep(3)


if __name__ == "__main__":
    child = multiprocessing.Process(target=nap)
    child.start()
    time.sleep(3)
    child.join()
    print("slept")
