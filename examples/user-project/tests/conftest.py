# The whole suite runs patched, as the service does.
from gevent import monkey

monkey.patch_all(thread=False)
