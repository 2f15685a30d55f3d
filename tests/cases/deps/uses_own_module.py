# hangmatrix: what = imports a sibling module of its own folder, as a normal script run allows
# hangmatrix: expect = ^doubled \[0, 2, 4\]$
import multiprocessing

import gevent  # hangmatrix: patch-point
from own_helper import double

if __name__ == "__main__":
    pool = multiprocessing.Pool(2)
    print("doubled %s" % pool.map(double, range(3)))
    pool.close()
    pool.join()
