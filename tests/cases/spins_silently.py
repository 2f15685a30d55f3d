# hangmatrix: what = gevent#966's waitpid(pid, WNOHANG) loop after SIGKILLing its child, printing nothing: the same spin as public_gevent_966_waitpid_wnohang_spin, silent, for the same verdict and cause
import os
import signal
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    pid = os.fork()
    if not pid:
        time.sleep(1000)
        os._exit(0)
    os.kill(pid, signal.SIGKILL)
    while os.waitpid(pid, os.WNOHANG) == (0, 0):  # the patched waitpid never sees the exit
        pass
