"""A sibling module of inside_socketpair.py and inside_socketpair_poll.py (not a case: it has no marker)."""

import multiprocessing
import socket
from multiprocessing import reduction


def _read(end):
    end.recv(1)


def _rebuild(dup):
    return socket.socket(fileno=dup.detach())


def _reduce(end):
    """gevent's socket (patch_all) refuses pickling: hand spawn's child a duplicate of its fd instead."""
    return _rebuild, (reduction.DupFd(end.fileno()),)


def with_reading_child():
    """One end of a socketpair(), whose other end a child process holds and waits in recv() on."""
    mine, theirs = socket.socketpair()
    reduction.register(type(theirs), _reduce)
    multiprocessing.Process(target=_read, args=(theirs,)).start()
    return mine
