# hangmatrix: what = The parent waits in accept() on a Unix socket it listens on in its own TMPDIR (the cell's folder, whose name nobody outside knows): nobody can connect, a deadlock.
import os
import socket
import tempfile

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(tempfile.mkdtemp(), "listen"))  # a 0700 folder, as multiprocessing's pymp-*
    listener.listen(1)
    listener.accept()
