"""A stand-in for grequests: it monkey-patches at import time, with its own flags."""
from gevent import monkey as curious_george
curious_george.patch_all(thread=False, select=False)


def fetch(n):
    return "response %d" % n
