import multiprocessing

import gevent
from gevent import monkey
monkey.patch_all(thread=False)


def render(side):
    """Stands in for the CPU-bound work we keep out of the event loop."""
    return side * side


def handle_request(pool):
    return pool.map(render, [32, 64, 128])


if __name__ == "__main__":
    pool = multiprocessing.Pool(processes=2)
    request = gevent.spawn(handle_request, pool)
    print("rendered: %s" % request.get())
    pool.close()
    pool.join()
