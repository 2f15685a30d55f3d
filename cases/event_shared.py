# hangmatrix: what = A multiprocessing.Event (a named semaphore and a condition) set by a child while the parent waits on it.
# hangmatrix: success = exits 0 and prints "event set by child"
# hangmatrix: expect = ^event set by child$
# hangmatrix: progress = signal_parent
# hangmatrix: workers = signal_parent
import multiprocessing

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def signal_parent(event):
    event.set()


if __name__ == "__main__":
    event = multiprocessing.Event()
    child = multiprocessing.Process(target=signal_parent, args=(event,))
    child.start()
    event.wait()
    child.join()
    print("event set by child")
