# hangmatrix: what = The parent reads a timerfd armed to fire in 2 s: a timed wait, never a deadlock.
# hangmatrix: expect = ^fired$
import ctypes
import os
import struct

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    libc = ctypes.CDLL(None, use_errno=True)
    tfd = libc.timerfd_create(1, 0)  # CLOCK_MONOTONIC
    spec = (ctypes.c_long * 4)(0, 0, 2, 0)  # no interval, fire once in 2 s
    if tfd < 0 or libc.timerfd_settime(tfd, 0, spec, None) != 0:
        raise OSError(ctypes.get_errno(), "timerfd")
    struct.unpack("Q", os.read(tfd, 8))
    print("fired")
