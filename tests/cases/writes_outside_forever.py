# hangmatrix: what = A case that writes outside its folder without bound (/var/tmp, 16 MiB a step): under the copy-on-write view those writes are memory of the cell's, and its cap must stop them, not the machine's memory or disk.
import os

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    chunk = b"x" * (16 << 20)
    with open("/var/tmp/hangmatrix-fills-%d" % os.getpid(), "wb") as f:
        while True:
            f.write(chunk)
            f.flush()
