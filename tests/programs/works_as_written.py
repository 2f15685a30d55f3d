import multiprocessing

from gevent import monkey
monkey.patch_all(thread=False, queue=False)


def square(n):
    return n * n


if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(square, range(5)))
