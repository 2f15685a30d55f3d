# hangmatrix: what = concurrent.futures.ProcessPoolExecutor mapping a function over a range (its queue feeder and management threads meet gevent's patched threading).
# hangmatrix: success = exits 0 and prints "squares: [0, 1, 4, 9, 16, 25, 36, 49]"
# hangmatrix: expect = ^squares: \[0, 1, 4, 9, 16, 25, 36, 49\]$
# hangmatrix: python = >=3.2
# hangmatrix: progress = square
# hangmatrix: workers = square
import concurrent.futures

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def square(x):
    return x * x


if __name__ == "__main__":
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
        squares = list(executor.map(square, range(8)))
    print("squares: %s" % squares)
