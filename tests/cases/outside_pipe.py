# hangmatrix: what = The parent reads a pipe whose only writer is a process outside the tree (the parent hands it the write end over its Unix socket in $WAIT_PARTY, SCM_RIGHTS).
# hangmatrix: expect = ^answer$
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
    r, w = os.pipe()
    hand_to_party(b"pipe", w)  # the outside party holds the write end now
    os.close(w)
    print(os.read(r, 7).decode().strip())
