# hangmatrix: what = A case that SIGKILLs its parent and every ancestor it can find in /proc (its supervisor, were it reachable), then reports and exits.
# hangmatrix: expect = ^ancestors signalled: 
import os
import signal

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    hit, pid = [], os.getppid()
    while pid > 0 and pid not in hit:
        try:
            os.kill(pid, signal.SIGKILL)
            hit.append(pid)
        except OSError:
            pass
        with open("/proc/%d/status" % pid) as f:
            pid = int([line.split()[1] for line in f if line.startswith("PPid:")][0])
    print("ancestors signalled: %s" % hit)
