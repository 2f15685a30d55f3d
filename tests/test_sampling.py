"""A sample reads less where nothing can have changed (observe/watch.py): a thread asleep in the same call
without having run since the last sample keeps its syscall, a process none of whose threads ran keeps its
io counters; anything that ran is read again. Checked on a real process that blocks, is woken, and blocks
again in another call."""

import dataclasses
import subprocess
import sys
import time

from hangmatrix.observe import watch

PROGRAM = "import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n"


def _until(pid, syscall, limit=10.0):
    """The process read afresh once its main thread is asleep in `syscall`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        proc = watch.read_proc(pid, full=False)
        main = proc.threads.get(pid) if proc else None
        if main is not None and main.state == "S" and main.syscall == syscall:
            return proc
        time.sleep(0.01)
    raise AssertionError("process %d never slept in %s()" % (pid, syscall))


def _as_read(proc):
    return [(t.tid, t.state, t.syscall, t.args, t.run_ns, t.slices) for t in proc.threads.values()], (
        proc.rchar,
        proc.wchar,
    )


def test_a_sample_takes_over_only_what_cannot_have_changed():
    child = subprocess.Popen([sys.executable, "-c", PROGRAM], stdin=subprocess.PIPE)
    try:
        first = _until(child.pid, "read")
        again = watch.read_proc(child.pid, full=False, previous=first)
        assert _as_read(again) == _as_read(watch.read_proc(child.pid, full=False))  # the same as read afresh

        # taken over, not read: a previous sample that (falsely) says futex is believed while nothing ran...
        main = first.threads[child.pid]
        told = dataclasses.replace(
            first, threads={**first.threads, child.pid: dataclasses.replace(main, syscall="futex")}
        )
        assert watch.read_proc(child.pid, full=False, previous=told).threads[child.pid].syscall == "futex"
        # ...but never by the diagnosis's full read
        assert watch.read_proc(child.pid, full=True, previous=told).threads[child.pid].syscall == "read"

        child.stdin.write(b"go\n")
        child.stdin.flush()
        slept = _until(child.pid, "clock_nanosleep")
        woken = watch.read_proc(child.pid, full=False, previous=first)  # the thread ran since `first`
        assert woken.threads[child.pid].syscall == "clock_nanosleep"
        assert woken.threads[child.pid].timeout_s is not None and woken.threads[child.pid].timeout_s > 50
        assert woken.rchar > first.rchar  # it read the line: io read again
        assert _as_read(woken)[1] == _as_read(slept)[1]
    finally:
        child.kill()
        child.wait()
