"""The namespace's init mounts a fresh /proc only in a mount namespace of its own: mounted in its caller's, that
proc (of the cell's PID namespace) would hide every process of the machine from everyone. Checked inside a
throwaway mount namespace (unshare --mount), so a failure harms nothing outside this test."""
import os
import subprocess
import sys

import pytest

PROGRAM = r"""
import os
from hangmatrix.run import contain
null = os.open(os.devnull, os.O_RDWR)
launch = contain.Launch(["/bin/true"], dict(os.environ), "/", null, null, null, "", contain.Cgroups("unused", 1), None, None)
cell = contain.Namespace(launch)  # no private /dev/shm asked for, so no mount namespace of its own
cell.wait(10)
cell.kill()
print("own pid visible:", os.path.exists("/proc/%d/stat" % os.getpid()))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="PID namespaces need root")
def test_init_without_its_own_mounts_leaves_the_callers_proc_alone():
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", PROGRAM],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "own pid visible: True" in done.stdout, done.stdout
