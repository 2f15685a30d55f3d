"""Syscall numbers by architecture: the names the watcher reads out of /proc/PID/task/TID/syscall, and the few
calls the harness makes by number through libc's syscall() (tgkill, kcmp). x86_64 has its own table; aarch64
uses the kernel's generic one (include/uapi/asm-generic/unistd.h), which has no poll, select, pause or
epoll_wait (libc makes ppoll, pselect6 and epoll_pwait of them). tests/test_syscalls.py checks both tables
against the kernel headers. Any other architecture is refused in one line, never decoded as x86_64's."""

import functools
import platform
from typing import Dict, Optional

X86_64 = {
    0: "read",
    1: "write",
    7: "poll",
    17: "pread64",
    19: "readv",
    20: "writev",
    23: "select",
    34: "pause",
    35: "nanosleep",
    42: "connect",
    43: "accept",
    44: "sendto",
    45: "recvfrom",
    46: "sendmsg",
    47: "recvmsg",
    61: "wait4",
    65: "semop",
    72: "fcntl",
    73: "flock",
    128: "rt_sigtimedwait",
    130: "rt_sigsuspend",
    202: "futex",
    220: "semtimedop",
    228: "clock_gettime",
    230: "clock_nanosleep",
    232: "epoll_wait",
    234: "tgkill",
    247: "waitid",
    270: "pselect6",
    271: "ppoll",
    281: "epoll_pwait",
    288: "accept4",
    312: "kcmp",
    441: "epoll_pwait2",
}
AARCH64 = {
    22: "epoll_pwait",
    25: "fcntl",
    32: "flock",
    63: "read",
    64: "write",
    65: "readv",
    66: "writev",
    67: "pread64",
    72: "pselect6",
    73: "ppoll",
    95: "waitid",
    98: "futex",
    101: "nanosleep",
    113: "clock_gettime",
    115: "clock_nanosleep",
    131: "tgkill",
    133: "rt_sigsuspend",
    137: "rt_sigtimedwait",
    192: "semtimedop",
    193: "semop",
    202: "accept",
    203: "connect",
    206: "sendto",
    207: "recvfrom",
    211: "sendmsg",
    212: "recvmsg",
    242: "accept4",
    260: "wait4",
    272: "kcmp",
    441: "epoll_pwait2",
}
TABLES = {"x86_64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


class UnsupportedMachine(ValueError):
    """An architecture whose syscall numbers hangmatrix does not know; one line."""


@functools.lru_cache(maxsize=None)
def names(machine: Optional[str] = None) -> Dict[int, str]:
    """{number: name} for this machine's architecture (or the one named); asked for every sampled thread."""
    machine = machine or platform.machine()
    try:
        return TABLES[machine]
    except KeyError:
        raise UnsupportedMachine(
            "hangmatrix reads blocked syscalls by number and knows x86_64's and aarch64's, not %s's" % machine
        ) from None


def number(name: str, machine: Optional[str] = None) -> int:
    """The number of a syscall the harness calls through libc's syscall()."""
    return {v: k for k, v in names(machine).items()}[name]
