"""Python stacks, from inside, on a signal: every thread's (faulthandler, SIGUSR1) and gevent's greenlets
(SIGUSR2), which the injected sitecustomize writes to files the supervisor names. Only after the verdict:
signals wake blocked calls, so this would disturb the observation it explains.
"""

import os
import re
import signal
import time
from typing import Dict, List, Tuple

from . import syscalls, watch


def _tgkill(pid, signum):
    """Signal the main thread itself: a Python-level handler only runs there."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(syscalls.number("tgkill"), pid, pid, signum)


def _wait_stable(path, before, limit):
    """Wait until path grew past `before` and stopped growing (a dump is written in many small writes)."""
    deadline, last = time.monotonic() + limit, -1
    while time.monotonic() < deadline:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size > before and size == last:
            return size
        last = size
        time.sleep(0.01)
    return os.path.getsize(path) if os.path.exists(path) else 0


def python_stacks(
    pids: List[int], stacks_path: str, greenlets_path: str, faulthandler: bool = True
) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Every thread's stack (SIGUSR1) and gevent's greenlets (SIGUSR2), from inside each process. Only
    after the verdict: signals wake blocked calls, so this would disturb the observation it explains.
    faulthandler writes a dump in many small writes, so those processes are asked one at a time; the
    Python-level handlers (greenlets; threads where faulthandler is missing, Python 2.7) write one
    marked block each, so those are asked all at once."""
    stacks = {}
    if faulthandler:
        for pid in pids:
            stacks[str(pid)] = thread_stacks(pid, stacks_path)
    else:
        stacks = _marked_blocks(pids, signal.SIGUSR1, stacks_path, "stacks")
    return stacks, _marked_blocks(pids, signal.SIGUSR2, greenlets_path, "greenlets")


def thread_stacks(pid: int, stacks_path: str) -> str:
    """One faulthandler dump of every thread of pid (SIGUSR1), as text, or why there is none."""
    if not watch.caught(pid, signal.SIGUSR1):
        return "(no faulthandler in this process)"
    before = os.path.getsize(stacks_path) if os.path.exists(stacks_path) else 0
    _tgkill(pid, signal.SIGUSR1)
    after = _wait_stable(stacks_path, before, 0.3)
    if after <= before:
        return "(no dump within 0.3 s)"
    with open(stacks_path, "rb") as f:
        f.seek(before)
        return f.read(after - before).decode("utf-8", "replace").strip()


def _marked_blocks(pids, signum, path, label, limit=0.5):
    """Signal every process that handles signum, then collect the `=== label pid=N ===` blocks they append."""
    blocks = {}
    targets = [p for p in pids if watch.caught(p, signum)]
    for pid in targets:
        _tgkill(pid, signum)
    deadline = time.monotonic() + limit
    pattern = re.compile(r"=== %s pid=(\d+) ===\n(.*?)\n=== end pid=\1 ===" % label, re.S)
    host = {watch.ns_pids(p)[-1]: p for p in targets}  # a block names its writer by its pid inside its namespace
    while targets and time.monotonic() < deadline:
        text = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
        for m in pattern.finditer(text):
            blocks[str(host.get(int(m.group(1)), m.group(1)))] = m.group(2)
        if all(str(p) in blocks for p in targets):
            break
        time.sleep(0.02)
    for pid in targets:
        blocks.setdefault(str(pid), "(no answer within %.1f s: the main thread did not run Python code)" % limit)
    return blocks
