# hangmatrix: what = The parent waits on a futex in a shared file mapping that a process outside the tree also maps (handed over its Unix socket in $WAIT_PARTY, then the file is unlinked and every fd closed) and changes later.
# hangmatrix: expect = ^woken 1$
# hangmatrix: python = >=3.10
import ctypes
import mmap
import os
import socket
import tempfile

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

FUTEX_WAIT = 0


def hand_to_party(kind, fd):
    """Give fd to the outside party over its Unix socket (SCM_RIGHTS) and wait until it holds it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as party:
        party.connect(os.path.join(os.environ["WAIT_PARTY"], "fds.sock"))
        socket.send_fds(party, [kind], [fd])
        party.recv(4)


if __name__ == "__main__":
    fd, path = tempfile.mkstemp(dir=os.environ["WAIT_PARTY"], prefix="shm.")
    os.ftruncate(fd, mmap.PAGESIZE)
    page = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED)
    hand_to_party(b"shm", fd)  # the party maps it and closes its fd: only its mapping is left
    os.unlink(path)
    os.close(fd)
    word = ctypes.c_int.from_buffer(page)
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    while word.value == 0:  # a shared (not FUTEX_PRIVATE) wait: any process mapping the page can wake it
        syscall(202, ctypes.addressof(word), FUTEX_WAIT, 0, None)
    print("woken %d" % word.value)
