"""Whether a process that did not end spins: its main thread's CPU share over a short window, and where its
own code is in repeated stack samples. Looked at only once a cell has timed out (each sample is a signal
to the process and a faulthandler dump); observe/cause.py names a `busy-loop` from what this returns.
"""

import time
from typing import Any, Dict, Optional

from . import pystacks, stacks, watch

WINDOW_S = 0.2  # CPU share measured over this
SAMPLES = 3  # stack samples of the main thread, SAMPLE_GAP_S apart
SAMPLE_GAP_S = 0.05
BUSY_SHARE = 0.8  # the main thread ran, or was ready to run, at least this share of the window: it never waits


def _on_cpu_or_ready_ns(pid):
    """Nanoseconds the main thread has spent on a CPU or ready for one (schedstat's first two fields): a
    spinner on a loaded machine waits for a CPU, never for an event."""
    fields = (watch._read("/proc/%d/task/%d/schedstat" % (pid, pid)) or "").split()
    return int(fields[0]) + int(fields[1]) if len(fields) >= 2 else None


def evidence(pid: int, stacks_path: str) -> Optional[Dict[str, Any]]:
    """{cpu_share (on a CPU or ready for one), frames: [the program's own frame of each sample]} of pid's
    main thread, or None when it is gone, waits (under BUSY_SHARE), or a sample shows none of the program's
    own frames."""
    before, t0 = _on_cpu_or_ready_ns(pid), time.monotonic()
    time.sleep(WINDOW_S)
    after, t1 = _on_cpu_or_ready_ns(pid), time.monotonic()
    if before is None or after is None:
        return None
    share = min(1.0, (after - before) / 1e9 / (t1 - t0))
    if share < BUSY_SHARE:
        return None
    frames = []
    for i in range(SAMPLES):
        if i:
            time.sleep(SAMPLE_GAP_S)
        own = pystacks.own_frame(pystacks.main_thread_frames(stacks.thread_stacks(pid, stacks_path)))
        if own is None:
            return None
        frames.append(own)
    return {"cpu_share": round(share, 2), "frames": frames}
