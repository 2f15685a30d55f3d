# hangmatrix: what = A parent that double-forks a setsid daemon (sleeping forever) and exits: the daemon must not outlive the cell.
# hangmatrix: expect = ^daemon started$
import os
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                time.sleep(1)
        os._exit(0)
    time.sleep(0.2)
    print("daemon started")
