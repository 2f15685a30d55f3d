"""The watcher's syscall tables against the kernel's own numbers (issue 24): x86_64's from its unistd_64.h and
aarch64's from the generic table every newer architecture uses (asm-generic/unistd.h), as Debian's
linux-libc-dev installs them (scripts/bootstrap.sh --test makes sure it is there). An architecture with no
table is refused in one line by the command, not decoded as x86_64's."""

import re
import subprocess
import sys

import pytest

from hangmatrix.observe import syscalls
from hangmatrix.observe.waits import FD_WAITS, TIMED_BY_NATURE, UNTIMED_BY_NATURE

HEADERS = {
    "x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    "aarch64": "/usr/include/asm-generic/unistd.h",
}


def kernel_numbers(header):
    """{name: number} of a unistd header's __NR_name (and the generic table's __NR3264_name) defines."""
    with open(header) as f:
        text = f.read()
    return {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$", text, re.M)}


@pytest.mark.parametrize("machine", sorted(HEADERS))
def test_each_table_holds_the_kernels_numbers(machine):
    kernel = kernel_numbers(HEADERS[machine])
    table = syscalls.names(machine)
    assert {name: kernel.get(name) for name in table.values()} == {name: nr for nr, name in table.items()}


@pytest.mark.parametrize("machine", sorted(HEADERS))
def test_every_wait_the_kernel_has_is_named(machine):
    """A waiting call the classifier knows and the architecture has must be decodable there (aarch64 has no
    poll, select, pause or epoll_wait: its libc calls ppoll, pselect6 and epoll_pwait instead)."""
    kernel = kernel_numbers(HEADERS[machine])
    known = FD_WAITS | UNTIMED_BY_NATURE | TIMED_BY_NATURE | {"futex", "ppoll", "pselect6", "epoll_pwait"}
    assert {n for n in known if n in kernel} <= set(syscalls.names(machine).values())


def test_the_harness_calls_are_numbered_on_both():
    assert (syscalls.number("tgkill", "x86_64"), syscalls.number("kcmp", "x86_64")) == (234, 312)
    assert (syscalls.number("tgkill", "aarch64"), syscalls.number("kcmp", "aarch64")) == (131, 272)


def test_another_architecture_is_refused_in_one_line(tmp_path):
    """`hangmatrix run` on a machine that says it is riscv64: exit 2, one line, no cell started."""
    code = (
        "import platform, sys; platform.machine = lambda: 'riscv64'; from hangmatrix.cli import main; "
        "sys.exit(main(['run', '--case', 'seed_original', '--config', 'none', '--start', 'fork', '--python', "
        "'3.11', '--gevent', '26.9.0', '--records', %r]))" % str(tmp_path / "r.jsonl")
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "hangmatrix: hangmatrix reads blocked syscalls by number and knows x86_64's and aarch64's, not riscv64's\n"
    )
    assert not (tmp_path / "r.jsonl").exists()
