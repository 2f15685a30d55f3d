# hangmatrix: what = A case that would print gigabytes: the harness keeps the head and tail of its output, frees the middle, and lets it spin to the backstop.
import sys

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

line = "x" * 1023 + "\n"
while True:
    sys.stdout.write(line * 1024)
