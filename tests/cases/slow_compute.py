# hangmatrix: what = A child that computes for about two seconds (no waits, no output) while the parent waits in join.
# hangmatrix: expect = ^computed \d+$
import multiprocessing
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def compute(queue):
    end, n = time.time() + 2.0, 0
    while time.time() < end:
        n += 1
    queue.put(n)


if __name__ == "__main__":
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=compute, args=(queue,))
    child.start()
    n = queue.get()
    child.join()
    print("computed %d" % n)
