# hangmatrix: what = a test module that patches at import, two tests, run by pytest-xdist on one worker with execnet's gevent execution model (`-d --tx popen//execmodel=gevent`), as reported
# hangmatrix: source = https://github.com/pytest-dev/execnet/issues/75 (also https://github.com/pytest-dev/pytest-xdist/issues/653)
# hangmatrix: cmd = python -m pytest -p no:cacheprovider -c /dev/null --rootdir={dir} --confcutdir={dir} -d --tx popen//execmodel=gevent {path}
# hangmatrix: requires = pytest-xdist
# hangmatrix: reported = "Gevent execmode hangs in Python 3.6.5": on Python 3 the run hangs before scanning for tests, while Python 2 runs both tests and reports test_assert_0's failure (reporter sputnikus, 2018, execnet 1.5.0, gevent 1.2.2; again pcw109550 in pytest-xdist#653, 2021: Python 3.7.5, gevent 21.1.2, execnet 1.8.0); Zac-HD, 2023-07-04: "Fixed by #100"
from gevent import monkey
monkey.patch_all()


def test_assert_0():
    assert 0


def test_assert_1():
    assert 1
