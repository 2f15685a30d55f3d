import multiprocessing

from gevent import monkey
monkey.patch_all()


def square(n):
    return n * n


if __name__ == "__main__":
    pool = multiprocessing.Pool(2)
    print(pool.map(square, range(5)))
    pool.close()
    pool.join()
