# hangmatrix: what = A case that closes every fd it has (the harness's output files included), then keeps working: a pool of 2 computes and it exits.
import multiprocessing
import os

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def square(x):
    return x * x


if __name__ == "__main__":
    os.closerange(0, 65536)
    with multiprocessing.Pool(2) as pool:
        result = pool.map(square, range(10))
    os._exit(0 if result == [x * x for x in range(10)] else 3)
