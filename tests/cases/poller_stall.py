# hangmatrix: what = A stall: the main thread waits forever on a lock nobody releases while a helper thread polls a flag every 0.1 s.
# hangmatrix: endless = true
import threading
import time

from gevent import monkey
monkey.patch_all(thread=False)  # hangmatrix: patch-point

flag = []


def poll():
    while not flag:
        time.sleep(0.1)


if __name__ == "__main__":
    threading.Thread(target=poll, daemon=True).start()
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()
