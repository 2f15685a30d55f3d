# hangmatrix: what = A multiprocessing.Manager server process holding a dict that a child process fills through its proxy.
# hangmatrix: success = exits 0 and prints "shared: [(0, 0), (1, 10), (2, 20)]"
# hangmatrix: expect = ^shared: \[\(0, 0\), \(1, 10\), \(2, 20\)\]$
# hangmatrix: progress = fill
# hangmatrix: workers = fill
import multiprocessing

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def fill(shared):
    for i in range(3):
        shared[i] = i * 10


if __name__ == "__main__":
    manager = multiprocessing.Manager()
    shared = manager.dict()
    child = multiprocessing.Process(target=fill, args=(shared,))
    child.start()
    child.join()
    print("shared: %s" % sorted(shared.items()))
    manager.shutdown()
