"""Runs `python -c "import gevent"` as a subprocess, as build scripts and test helpers do (issue 25's third
row): `python` must be the environment's, with gevent in it."""
import subprocess
import sys

from gevent import monkey

monkey.patch_all()

out = subprocess.check_output(["python", "-c", "import gevent, sys; print(gevent.__version__, sys.prefix)"])
print("child:", out.decode().strip())
print("same interpreter:", out.decode().split()[1] == sys.prefix)
