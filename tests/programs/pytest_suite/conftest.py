# The suite patches once, for every test, as many gevent projects' conftest.py do.
from gevent import monkey

monkey.patch_all()
