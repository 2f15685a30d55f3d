"""Runs `pip --version` as a subprocess, as install helpers and build scripts do: `pip` must be the
environment's own (it says where it lives), not the next one on PATH."""
import subprocess
import sys

from gevent import monkey

monkey.patch_all()

out = subprocess.check_output(["pip", "--version"]).decode().strip()
print(out)
print("in the environment:", " from %s/" % sys.prefix in out)
