# hangmatrix: what = The parent waits in signal.pause() with no alarm set (a SIGALRM handler, but no alarm): only a signal ends it, which any process allowed to signal it can send, so never a deadlock.
# hangmatrix: expect = ^woken$
import signal

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    signal.signal(signal.SIGALRM, lambda *_: None)
    signal.pause()
    print("woken")
