# hangmatrix: what = A case whose child SIGKILLs the whole process group (its parent included).
import os
import signal
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    if os.fork() == 0:
        time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)
    time.sleep(600)
