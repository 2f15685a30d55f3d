# hangmatrix: what = A setsid child that ignores SIGTERM and SIGINT, and a parent that waits for it forever.
# hangmatrix: endless = true
import os
import signal
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    pid = os.fork()
    if pid == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            time.sleep(0.05)
    os.waitpid(pid, 0)
