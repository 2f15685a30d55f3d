# hangmatrix: what = The parent reads an eventfd that a process outside the tree is handed over its Unix socket in $WAIT_PARTY (SCM_RIGHTS) and writes to later.
# hangmatrix: expect = ^counted 1$
# hangmatrix: python = >=3.10
import os
import socket

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def hand_to_party(kind, fd):
    """Give fd to the outside party over its Unix socket (SCM_RIGHTS) and wait until it holds it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as party:
        party.connect(os.path.join(os.environ["WAIT_PARTY"], "fds.sock"))
        socket.send_fds(party, [kind], [fd])
        party.recv(4)


if __name__ == "__main__":
    efd = os.eventfd(0)
    hand_to_party(b"eventfd", efd)
    print("counted %d" % os.eventfd_read(efd))
