# hangmatrix: what = A parent and its child each wait in recv() on their end of one socketpair(): both ends inside the tree, a deadlock.
from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

from socketpair_ends import with_reading_child

if __name__ == "__main__":
    with_reading_child().recv(1)
