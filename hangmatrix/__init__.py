"""hangmatrix: measures where gevent's monkey.patch_all() + multiprocessing deadlock holds, and where each fix works."""

__version__ = "0.1.0"
