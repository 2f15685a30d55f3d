# hangmatrix: what = A case that prints the user and group ids it runs as, and whether it can see /dev/shm entries it did not make.
# hangmatrix: expect = ^uid=\d+ gid=\d+ shm=
import os

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    print("uid=%d gid=%d shm=%s" % (os.getuid(), os.getgid(), ",".join(sorted(os.listdir("/dev/shm")))))
