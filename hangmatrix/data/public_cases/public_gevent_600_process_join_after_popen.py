# hangmatrix: what = gevent's own regression test for issue 600: a Popen (libev child watchers) then multiprocessing.Process.start()/join(10) under patch_all
# hangmatrix: source = https://github.com/gevent/gevent/blob/1eeda3e5ba3e01cfc0663ed4320e57d3481e4c7d/src/gevent/tests/test__issue600.py (for https://github.com/gevent/gevent/issues/600)
# hangmatrix: reported = reporter Champax (gevent 1.1a1): "Process.join seem to block until timeout if a Popen has been called before" (join returned only after its 10 s timeout); the test's own comment: "NOTE: This was only reproducible under python 2."
# Make sure that libev child watchers, implicitly installed through the use
# of subprocess, do not cause waitpid() to fail to poll for processes.
# NOTE: This was only reproducible under python 2.
import gevent
from gevent import monkey
monkey.patch_all()

import sys
from multiprocessing import Process
from subprocess import Popen, PIPE

from gevent import testing as greentest

def f(sleep_sec):
    gevent.sleep(sleep_sec)



class TestIssue600(greentest.TestCase):

    __timeout__ = greentest.LARGE_TIMEOUT

    @greentest.skipOnLibuvOnPyPyOnWin("hangs")
    def test_invoke(self):
        # Run a subprocess through Popen to make sure
        # libev is handling SIGCHLD. This could *probably* be simplified to use
        # just hub.loop.install_sigchld
        # (no __enter__/__exit__ on Py2) pylint:disable=consider-using-with
        p = Popen([sys.executable, '-V'], stdout=PIPE, stderr=PIPE)
        gevent.sleep(0)
        p.communicate()
        gevent.sleep(0)

    def test_process(self):
        # Launch
        p = Process(target=f, args=(0.5,))
        p.start()

        with gevent.Timeout(3):
            # Poll for up to 10 seconds. If the bug exists,
            # this will timeout because our subprocess should
            # be long gone by now
            p.join(10)


if __name__ == '__main__':
    greentest.main()
