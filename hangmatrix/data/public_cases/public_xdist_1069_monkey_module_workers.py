# hangmatrix: what = a test module that asserts threading is patched, run as `python -m gevent.monkey --module pytest -n auto` with pytest-xdist, as reported: the monkey-patching of the controller does not reach the xdist workers (execnet subprocesses), so test_auto exits "not patched!" there
# hangmatrix: source = https://github.com/pytest-dev/pytest-xdist/issues/1069
# hangmatrix: cmd = python -m gevent.monkey --module pytest -p no:cacheprovider -c /dev/null --rootdir={dir} --confcutdir={dir} -n auto {path}
# hangmatrix: requires = pytest-xdist
# hangmatrix: reported = "Geven monkey patching not being set in subprocesses": `python -m gevent.monkey --module pytest` passes, `python -m gevent.monkey --module pytest -n auto` fails test_auto (F) in the workers (reporter ddorian, 2024-04-17, Python 3.12.2, pytest 8.1.1, pytest-xdist 3.5.0; open)
from gevent.monkey import is_module_patched, saved


def test_auto():
    if not is_module_patched("threading"):
        print(saved)
        print(saved.keys())
        exit("not patched!")
