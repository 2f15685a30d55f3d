# hangmatrix: what = two unittest cases that only log a warning, run by unittest-parallel (one worker, -j 1) under `python -m gevent.monkey --module unittest_parallel` with geventmp 0.0.9 installed, as reported
# hangmatrix: source = https://github.com/karellen/geventmp/issues/30
# hangmatrix: cmd = python -m gevent.monkey --module unittest_parallel -v --failfast -j 1 -t {dir} -s {dir} -p public_geventmp_30*.py
# hangmatrix: requires = geventmp==0.0.9, unittest-parallel
# hangmatrix: reported = "unittest-parallel hangs after tests are finished": the tests run, then `python -m gevent.monkey --module unittest_parallel ...` hangs forever, while `python -m unittest_parallel ...` finishes (reporter oneumyvakin, 2025-02-11, Python 3.12, geventmp 0.0.9); maintainer arcivanov, 2025-08-02: "a bug in unittest_parallel", fixed by craigahobbs/unittest-parallel#26 (a consistent multiprocessing context)
import unittest
import logging

class TestCompute1(unittest.TestCase):

    def test_compute_1(self):

        logging.getLogger().warning("test_compute_1 start")


class TestCompute2(unittest.TestCase):

    def test_compute_2(self):
        logging.getLogger().warning("test_compute_2 start")
