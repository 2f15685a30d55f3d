import multiprocessing

import gevent


def square(n):
    return n * n


if __name__ == "__main__":
    gevent.sleep(0)
    pool = multiprocessing.Pool(2)
    print(pool.map(square, range(5)))
    pool.close()
    pool.join()
