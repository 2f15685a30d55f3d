import multiprocessing

import grequests_like


def square(n):
    return n * n


if __name__ == "__main__":
    print(grequests_like.fetch(1))
    pool = multiprocessing.Pool(2)
    print(pool.map(square, range(5)))
    pool.close()
    pool.join()
