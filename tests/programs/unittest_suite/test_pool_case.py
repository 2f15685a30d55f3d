"""A unittest suite, patched at import: one case maps over a fork Pool, which hangs under patch_all()."""
import multiprocessing
import unittest

from gevent import monkey

monkey.patch_all()


def square(x):
    return x * x


class PoolTest(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(sum(range(4)), 6)

    def test_pool_map(self):
        with multiprocessing.get_context("fork").Pool(2) as pool:
            self.assertEqual(pool.map(square, range(8)), [x * x for x in range(8)])
