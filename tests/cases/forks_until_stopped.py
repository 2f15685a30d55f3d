# hangmatrix: what = A case that forks sleeping children for as long as it can, retrying when a fork is refused.
import os
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    while True:
        try:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
        except OSError:
            time.sleep(0.001)
