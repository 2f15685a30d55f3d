# hangmatrix: what = The parent waits in signal.pause() for the SIGALRM of alarm(2): a signal wait, never a deadlock.
# hangmatrix: expect = ^woken$
import signal

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    signal.signal(signal.SIGALRM, lambda *_: None)
    signal.alarm(2)
    signal.pause()
    print("woken")
