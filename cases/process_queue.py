# hangmatrix: what = A multiprocessing.Process producing into a multiprocessing.Queue (a pipe fed by a feeder thread), the parent consuming.
# hangmatrix: success = exits 0 and prints "got: [0, 1, 4, 9, 16]"
# hangmatrix: expect = ^got: \[0, 1, 4, 9, 16\]$
# hangmatrix: progress = produce
# hangmatrix: workers = produce
import multiprocessing

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def produce(queue):
    for i in range(5):
        queue.put(i * i)
    queue.put(None)


if __name__ == "__main__":
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=produce, args=(queue,))
    child.start()
    got = []
    while True:
        item = queue.get()
        if item is None:
            break
        got.append(item)
    child.join()
    print("got: %s" % got)
