# hangmatrix: what = A process stopped by SIGSTOP is paused, not deadlocked: it must never be called deadlock.
import os
import signal

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

os.kill(os.getpid(), signal.SIGSTOP)
print("resumed")
