"""What a blocked thread waits for, from its syscall and arguments alone: which waits only another thread or
process can end (untimed) and which end by themselves (timed); the names come from observe/syscalls.py. The detector's
proof rests on this classification, so it lives apart from how /proc is read (observe/watch.py) and how a
wait is explained (observe/diagnosis.py); it reads nothing itself.
"""

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .watch import Thread

FD_WAITS = {
    "read",
    "write",
    "pread64",
    "readv",
    "writev",
    "recvfrom",
    "recvmsg",
    "sendto",
    "sendmsg",
    "accept",
    "accept4",
    "connect",
}
UNTIMED_BY_NATURE = FD_WAITS | {"wait4", "waitid", "pause", "rt_sigsuspend", "flock", "semop"}
TIMED_BY_NATURE = {"nanosleep", "clock_nanosleep"}
FUTEX_WAITS = {0: "FUTEX_WAIT", 6: "FUTEX_LOCK_PI", 9: "FUTEX_WAIT_BITSET", 11: "FUTEX_WAIT_REQUEUE_PI"}
NO_TIMEOUT = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)  # -1 as a 32- or 64-bit register
# A wait that cannot end within a week counts as untimed: its timeout is a sentinel (gevent's idle hub: libev's
# ~17.4 days; 2**32 ms, ~49.7 days; threading's TIMEOUT_MAX). A shorter one, even time.sleep(7200), ends by itself.
LONG_WAIT_S = 7 * 86400.0
LOCK_WAIT_CMDS = (7, 38)  # fcntl F_SETLKW, F_OFD_SETLKW: the fcntl calls that wait


def wait_kind(th: "Thread") -> Optional[str]:
    """'untimed' when the thread can only be woken by another thread or process (or not within an hour),
    'timed' when it will wake by itself, None when it is not waiting (running, or a call we cannot vouch for)."""
    if th.state not in ("S",) or not th.syscall or th.syscall == "running":
        return None
    sc, a = th.syscall, th.args
    if sc in TIMED_BY_NATURE:
        return "timed"  # a sleep ends by itself, however long (time.sleep(7200) is no deadlock)
    if th.timeout_s is not None and th.timeout_s > LONG_WAIT_S:
        return "untimed"
    if sc in UNTIMED_BY_NATURE:
        return "untimed"
    if sc == "fcntl" and len(a) >= 2:
        return "untimed" if a[1] in LOCK_WAIT_CMDS else None
    if sc in ("rt_sigtimedwait", "semtimedop") and len(a) >= 4:
        return "untimed" if (a[2] if sc == "rt_sigtimedwait" else a[3]) == 0 else "timed"
    if sc == "futex" and len(a) >= 4:
        if (a[1] & 0x7F) not in FUTEX_WAITS:
            return None
        return "untimed" if a[3] == 0 else "timed"
    if sc in ("poll",) and len(a) >= 3:
        return "untimed" if a[2] in NO_TIMEOUT else "timed"
    if sc in ("epoll_wait", "epoll_pwait") and len(a) >= 4:
        return "untimed" if a[3] in NO_TIMEOUT else "timed"
    if sc in ("select", "pselect6") and len(a) >= 5:
        return "untimed" if a[4] == 0 else "timed"
    if sc in ("ppoll", "epoll_pwait2") and len(a) >= 4:
        return "untimed" if (a[2] if sc == "ppoll" else a[3]) == 0 else "timed"
    return None


def duration(seconds: float) -> str:
    """`0.5 s`, `12 min`, `2.0 h`, `17.4 days`: a wait's length as a person says it."""
    if seconds < 90:
        return "%.1f s" % seconds
    if seconds < 5400:
        return "%.0f min" % (seconds / 60)
    if seconds < 2 * 86400:
        return "%.1f h" % (seconds / 3600)
    return "%.1f days" % (seconds / 86400)
