# hangmatrix: what = A case that reaches out of its folder: from its TMPDIR it writes a file two levels up through /proc/self/cwd, tries to remount / writable and to write /proc/sys, and plants symlinks in its folder pointing outside, for the harness's clean-up to follow.
# hangmatrix: expect = ^(wrote|refused) 
import os
import subprocess
import sys

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def attempt(what, act):
    try:
        act()
        print("%s: done" % what)
    except (OSError, subprocess.CalledProcessError) as exc:
        print("%s: refused (%s)" % (what, exc))


def write(path):
    with open(path, "w") as f:
        f.write("written from a cell\n")


if __name__ == "__main__":
    target = os.environ["CELL_TEST_OUTSIDE"]  # a folder outside the cell, made by the test
    os.chdir(os.environ["TMPDIR"])  # its own folder's tmp, whatever working folder it was started in
    escaped = os.path.join("/proc/self/cwd", "..", "..", "escaped-%d" % os.getpid())
    try:
        write(escaped)
        print("wrote %s" % os.path.realpath(escaped))
    except OSError as exc:
        print("refused %s (%s)" % (os.path.realpath(escaped), exc))
    attempt("write into the outside folder", lambda: write(os.path.join(target, "from-the-cell")))
    attempt("remount / writable", lambda: subprocess.check_call(["mount", "-o", "remount,rw", "/"], stderr=subprocess.DEVNULL))
    attempt("write /proc/sys", lambda: write("/proc/sys/kernel/hostname"))
    attempt("write inside its folder", lambda: write("/proc/self/cwd/../inside"))
    os.symlink(target, "/proc/self/cwd/../link-to-outside")
    os.symlink(target, "/proc/self/cwd/link-to-outside")
    sys.stdout.flush()
