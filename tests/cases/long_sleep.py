# hangmatrix: what = The parent sleeps for two hours: a timed wait that ends by itself, a timeout, never a deadlock.
# hangmatrix: expect = ^slept$
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    time.sleep(7200)
    print("slept")
