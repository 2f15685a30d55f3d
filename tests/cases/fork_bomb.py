# hangmatrix: what = A case that forks a thousand sleeping processes.
import os
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
    time.sleep(600)
