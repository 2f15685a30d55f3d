# hangmatrix: what = a module that patches at import and ten parametrized tests that pass, run by pytest-xdist with four workers (`-n 4`; the report shows at least three, gw0..gw2)
# hangmatrix: source = https://github.com/pytest-dev/pytest-xdist/issues/254
# hangmatrix: cmd = python -m pytest -p no:cacheprovider -c /dev/null --rootdir={dir} --confcutdir={dir} -n 4 {path}
# hangmatrix: requires = pytest-xdist
# hangmatrix: reported = "pytest-xdist does not work, produces long stack trace": with gevent patching, pytest-xdist "breaks quite spectacularly": INTERNALERROR ... gevent.hub.LoopExit: ('This operation would block forever', <Hub ...>) in the controller (maintainer nicoddemus, 2017-12-06, Windows, Python 3.5.0, pytest 3.3.1, pytest-xdist 1.20.1)
from gevent import monkey; monkey.patch_all()
import pytest

@pytest.mark.parametrize('i', range(10))
def test(i):
	pass
