# hangmatrix: what = A case that sends SIGKILL to every process it can (kill(-1)): only ever run inside its own PID namespace, once a test has checked that from outside and written `go` into its folder.
# hangmatrix: expect = ^survived kill\(-1\)$
import os
import signal
import sys
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    os.chdir(os.environ["TMPDIR"])  # its own folder, where the test writes the decision (/proc/PID/cwd)
    print("waiting")
    sys.stdout.flush()
    for _ in range(600):
        if os.path.exists("decision"):
            break
        time.sleep(0.05)
    with open("decision") as f:
        if f.read() != "go":
            sys.exit(0)
    if os.fork() == 0:  # a process of its own tree, so the kill has something of ours to take
        time.sleep(600)
        os._exit(0)
    time.sleep(0.1)
    os.kill(-1, signal.SIGKILL)
    time.sleep(0.2)
    print("survived kill(-1)")
