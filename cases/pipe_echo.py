# hangmatrix: what = multiprocessing.Pipe between two processes: the child echoes what the parent sends, doubled.
# hangmatrix: success = exits 0 and prints "echoed: [0, 2, 4, 6, 8]"
# hangmatrix: expect = ^echoed: \[0, 2, 4, 6, 8\]$
# hangmatrix: progress = echo
# hangmatrix: workers = echo
import multiprocessing

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def echo(conn):
    while True:
        item = conn.recv()
        if item is None:
            break
        conn.send(item * 2)
    conn.close()


if __name__ == "__main__":
    parent_end, child_end = multiprocessing.Pipe()
    child = multiprocessing.Process(target=echo, args=(child_end,))
    child.start()
    echoed = []
    for i in range(5):
        parent_end.send(i)
        echoed.append(parent_end.recv())
    parent_end.send(None)
    child.join()
    print("echoed: %s" % echoed)
