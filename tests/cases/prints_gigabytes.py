# hangmatrix: what = A case that would print gigabytes: the harness caps what it keeps and stops it.
import sys

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

line = "x" * 1023 + "\n"
while True:
    sys.stdout.write(line * 1024)
