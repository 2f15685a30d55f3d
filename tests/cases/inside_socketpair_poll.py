# hangmatrix: what = A parent polls its end of a socketpair() with select() every 0.1 s while its child, which holds the other end, waits in recv() on it and never writes: every end inside the tree, a stall.
import select

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

from socketpair_ends import with_reading_child

if __name__ == "__main__":
    mine = with_reading_child()
    while not select.select([mine], [], [], 0.1)[0]:
        pass
