"""Deadlines, backstops and sample times run on the monotonic clock: a wall-clock step (NTP, an admin's
`date -s`) must not shorten the 2 s stall window or a timeout. Here the wall clock jumps an hour at every
read, in this process, while real samples of a real process are taken and real waits run."""

import os
import subprocess
import time

from hangmatrix.observe import stacks, watch


def test_a_wall_clock_step_does_not_move_sample_times_or_deadlines(monkeypatch, tmp_path):
    wall = [time.time()]

    def jumping():
        wall[0] += 3600.0
        return wall[0]

    child = subprocess.Popen(["sleep", "30"])
    try:
        monkeypatch.setattr(time, "time", jumping)
        first = watch.sample(os.getpid())
        assert child.pid in first.procs
        time.sleep(0.05)
        second = watch.sample(os.getpid())
        assert 0.04 <= second.t - first.t < 5, "sample times followed the wall clock"
        path = tmp_path / "dump"
        path.write_text("x")
        started = time.monotonic()
        stacks._wait_stable(str(path), 10, 0.3)  # never grows past 10 bytes: waits its whole limit
        assert time.monotonic() - started >= 0.29, "a deadline was cut short by the wall clock"
    finally:
        child.kill()
        child.wait()
