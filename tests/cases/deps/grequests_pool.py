# hangmatrix: what = a program whose only patching is `import grequests`, which calls patch_all(thread=False, select=False) at import
# hangmatrix: requires = grequests
# hangmatrix: expect = ^squares \[0, 1, 4, 9\]$
import multiprocessing

import grequests
from gevent import monkey


def square(n):
    return n * n


if __name__ == "__main__":
    print("grequests %s patched socket: %s" % (getattr(grequests, "__version__", "?"), monkey.is_module_patched("socket")))
    pool = multiprocessing.Pool(2)
    print("squares %s" % pool.map(square, range(4)))
    pool.close()
    pool.join()
