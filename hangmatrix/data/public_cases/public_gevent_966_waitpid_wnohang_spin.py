# hangmatrix: what = A gevent-unaware waitpid(pid, WNOHANG) loop after SIGKILLing its child, under patch_all: the patched waitpid never sees the exit, so the loop spins forever, printing a line each turn
# hangmatrix: source = https://github.com/gevent/gevent/issues/966
# hangmatrix: reported = "if an application checks `waitpid(..., WNOHANG)` in a synchronous loop, it will never get the result ... The imported code will break." (reporter asterite3, 2017; the loop is the issue's, its Python 2 print statement as a print() call)
# hangmatrix: python = >=3
# gevent-bases app
from gevent import monkey
monkey.patch_all()
#...

# imported gevent-unaware code
import os
import time
import signal

pid = os.fork()
if not pid:
    time.sleep(1000)
    exit(0)
os.kill(pid, signal.SIGKILL)
while True:
    p, status = os.waitpid(pid, os.WNOHANG)
    if (p, status) == (0, 0): # child is still running
        # do something synchronously, for example:
        print('Wtf child did not die from SIGKILL! Disk sleep or something?')
        continue
    # handle return status somehow here
    break
