# hangmatrix: what = os.fork() while another thread holds a lock: the child inherits a lock whose owner does not exist in it.
# hangmatrix: success = exits 0 and prints "forked child finished"
# hangmatrix: expect = ^forked child finished$
# hangmatrix: progress = hold_lock
import os
import threading
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

lock = threading.Lock()
holding = threading.Event()


def hold_lock():
    with lock:
        holding.set()
        time.sleep(0.3)


if __name__ == "__main__":
    holder = threading.Thread(target=hold_lock)
    holder.start()
    holding.wait()
    pid = os.fork()
    if pid == 0:
        with lock:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    holder.join()
    print("forked child finished")
