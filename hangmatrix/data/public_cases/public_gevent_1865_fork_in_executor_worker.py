# hangmatrix: what = concurrent.futures.thread imported before patch_all(); two ThreadPoolExecutor workers (greenlets) each run subprocess.Popen: a worker forks while another greenlet holds the native _global_shutdown_lock, which os.register_at_fork's hook then takes
# hangmatrix: source = https://github.com/gevent/gevent/pull/2193 (gevent#1865; fixed by PR #2191)
# hangmatrix: reported = "importing concurrent.futures.thread before patch_all() leaves a native lock registered with os.register_at_fork, and a greenlet that forks while another holds it hangs the process." (ddorian, PR #2193); PR #2191: "Executor.submit holds it across Thread.start(), so a worker greenlet that forks runs the os.register_at_fork handlers it is registered with while another greenlet holds it. A native lock deadlocks the process" (merged by the maintainer)
# hangmatrix: expect = ^\[0, 0\]$
import concurrent.futures.thread # MUST come before patch_all(); that's the bug

from gevent import monkey; monkey.patch_all()

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def _spawn(_i):
    return subprocess.Popen([sys.executable, '-c', 'pass']).wait()


with ThreadPoolExecutor(max_workers=2) as pool:
    print(list(pool.map(_spawn, range(2))))
