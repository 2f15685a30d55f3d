"""Two tests: one sums, one maps over a multiprocessing Pool, which hangs under patch_all() with fork (the
seed program's deadlock, inside a test)."""
import multiprocessing


def square(x):
    return x * x


def test_sum():
    assert sum(range(4)) == 6


def test_pool_map():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(square, range(8)) == [x * x for x in range(8)]
