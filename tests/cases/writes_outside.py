# hangmatrix: what = A case that reaches out of its folder through /proc/self/cwd: it writes a file two levels up, and plants symlinks in its folder pointing outside, for the harness's clean-up to follow.
# hangmatrix: expect = ^wrote 
import os
import sys

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    target = os.environ["CELL_TEST_OUTSIDE"]  # a folder outside the cell, made by the test
    escaped = os.path.join("/proc/self/cwd", "..", "..", "escaped-%d" % os.getpid())
    with open(escaped, "w") as f:
        f.write("written from a cell\n")
    os.symlink(target, "/proc/self/cwd/../link-to-outside")
    os.symlink(target, "/proc/self/cwd/link-to-outside")
    print("wrote %s" % os.path.realpath(escaped))
    sys.stdout.flush()
