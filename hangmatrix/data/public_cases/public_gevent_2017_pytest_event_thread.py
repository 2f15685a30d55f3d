# hangmatrix: what = a test module (patch_all at import, a multiprocessing.Event as a default argument) whose test_a forks and starts a daemon thread waiting on that Event, run under pytest as reported: run as `python FILE` it only prints "a" (test_a is never called)
# hangmatrix: source = https://github.com/gevent/gevent/issues/2017 (also https://github.com/pytest-dev/pytest/issues/11919)
# hangmatrix: cmd = python -m pytest -q -s -p no:cacheprovider -c /dev/null --rootdir={dir} --confcutdir={dir} {path}
# hangmatrix: requires = pytest
# hangmatrix: reported = "multiprocessing.event.wait hang after gevent.monkey.patch_all" and "pytest hang when run with multiprocessing": the reporter's pytest run hangs (reporter zdyj3170101136, 2024-02-04; pytest's maintainer bluetech: "too much here for anyone to deal with")
import os
import multiprocessing
import gevent.monkey
gevent.monkey.patch_all()
import threading

class EventThread(threading.Thread):
    def __init__(self, event=multiprocessing.Event()):
        super(EventThread, self).__init__()
        self.daemon = True
        self.event= event
        #forksafe.register(self._restart_on_fork)

    def _restart_on_fork(self):
        new_thread = EventThread(self.event)
        new_thread.start()

    def run(self):
        while self.event.wait():
            print("hello")

print("a")
def test_a():
   pid = os.fork()
   t = EventThread()
   t.start()
