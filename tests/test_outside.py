"""Waits an outside party can end are never deadlocks or stalls: real cells whose programs wait on a TCP, UDP or
Unix-socket server, a client of their own Unix listener, a file or POSIX lock, a FIFO, an eventfd or a shared page that
this test (a process outside the cell's tree) serves, answering late or never; waits that time or a signal end; and the
all-inside twins, still deadlocks (or a stall, for the poller).

The parties live in this process and find the cells through $WAIT_PARTY, a folder the cells inherit: made by
mkdtemp, so 0700 like the cell's own folder, but outside it, so whatever the cells name in it (a FIFO, a listener) an
outside party can reach."""

import contextlib
import ctypes
import fcntl
import mmap
import os
import re
import socket
import stat
import struct
import tempfile
import threading
import types

import pytest

from conftest import wait_of
from hangmatrix.observe import wakers
from hangmatrix.run import runner

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

CASES = os.path.join(os.path.dirname(__file__), "cases")
LATE_S = 2.5  # how long the parties make a waiting cell wait before answering
CONFIGS, STARTS = ["none", "patch_all"], ["fork", "spawn"]


class Parties:
    """A TCP server, a Unix-socket server, a UDP peer, a client of the cells' listeners, file and POSIX locks,
    FIFO, pipe and eventfd writers, all outside the cells' trees. `late`: each answers LATE_S after a cell starts
    waiting on it; else it never answers (but keeps its end open, as a slow server would)."""

    def __init__(self, folder, late):
        self.folder, self.late, self.stop, self.kept = folder, late, threading.Event(), []
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700  # private, as the cell's folder: no proof either way
        self.tcp = socket.create_server(("127.0.0.1", 0))
        with open(os.path.join(folder, "tcp"), "w") as f:
            f.write("127.0.0.1:%d" % self.tcp.getsockname()[1])
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(os.path.join(folder, "unix"))
        self.unix.listen(64)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        with open(os.path.join(folder, "udp"), "w") as f:
            f.write("127.0.0.1:%d" % self.udp.getsockname()[1])
        self.fds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # cells hand their pipe and eventfd ends here
        self.fds.bind(os.path.join(folder, "fds.sock"))
        self.fds.listen(64)
        self.threads = [
            threading.Thread(target=t, daemon=True)
            for t in (
                lambda: self._serve(self.tcp),
                lambda: self._serve(self.unix),
                self._answer_datagrams,
                self._watch_folder,
                self._take_fds,
            )
        ]
        for t in self.threads:
            t.start()

    def _later(self, answer):
        """Run answer() LATE_S from now when answering late; never otherwise."""
        if self.late:
            timer = threading.Timer(LATE_S, answer)
            timer.daemon = True
            timer.start()

    def _serve(self, listener):
        listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn = listener.accept()[0]
            except socket.timeout:
                continue
            self.kept.append(conn)
            self._later(lambda c=conn: c.sendall(b"answer\n"))

    def _answer_datagrams(self):
        """Answer each datagram a cell sends (late, or never)."""
        self.udp.settimeout(0.1)
        while not self.stop.is_set():
            try:
                sender = self.udp.recvfrom(64)[1]
            except socket.timeout:
                continue
            self._later(lambda sender=sender: self.udp.sendto(b"answer\n", sender))

    def _watch_folder(self):
        """Lock each file a cell asks for (flock for lock.*, a POSIX lock for lockf.*), take the write end of each
        FIFO a cell makes, and connect to each Unix socket a cell listens on (listen.*, late or never)."""
        done = set()
        while not self.stop.wait(0.05):
            for name in sorted(os.listdir(self.folder)):
                if (
                    name in done
                    or not name.startswith(("fifo.", "lock.", "lockf.", "listen."))
                    or name.endswith(".held")
                ):
                    continue
                path = os.path.join(self.folder, name)
                if name.startswith("listen."):
                    self._later(lambda path=path: self._connect(path))
                    fd = None
                elif name.startswith(("lock.", "lockf.")):
                    take = fcntl.flock if name.startswith("lock.") else fcntl.lockf
                    lock = open(path, "a")
                    take(lock, fcntl.LOCK_EX)
                    open(path + ".held", "w").close()
                    self._later(lambda f=lock, take=take: take(f, fcntl.LOCK_UN))
                    fd = lock
                else:
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                    except OSError:
                        continue  # its reader has not opened it yet
                    self._later(lambda fd=fd: os.write(fd, b"answer\n"))
                if fd is not None:
                    self.kept.append(fd)
                done.add(name)

    def _connect(self, path):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        self.kept.append(conn)

    def _take_fds(self):
        """Receive the pipe write end or eventfd a cell hands over (SCM_RIGHTS: no pid needed, so it works
        from inside the cell's PID namespace), say so, and write to it when answering."""
        self.fds.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn = self.fds.accept()[0]
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                kind, fds, _, _ = socket.recv_fds(conn, 16, 1)
                conn.sendall(b"held")
            fd = fds[0]
            if kind == b"shm":  # a page whose futex the cell waits on: map it, keep only the mapping
                page = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED)
                os.close(fd)
                self._later(lambda page=page: _futex_wake(page))
                self.kept.append(page)
                continue
            payload = struct.pack("Q", 1) if kind == b"eventfd" else b"answer\n"
            self._later(lambda fd=fd, payload=payload: os.write(fd, payload))
            self.kept.append(fd)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        for kept in self.kept:
            with contextlib.suppress(OSError):
                kept.close() if hasattr(kept, "close") else os.close(kept)
        self.tcp.close()
        self.unix.close()
        self.udp.close()
        self.fds.close()


def _futex_wake(page):
    """Set the futex word at the start of a shared page and wake its waiters (FUTEX_WAKE, not private)."""
    word = ctypes.c_int.from_buffer(page)
    word.value = 1
    ctypes.CDLL(None).syscall(202, ctypes.c_void_p(ctypes.addressof(word)), 1, 1)
    del word


def run_with_parties(monkeypatch, case_names, late, timeout, jobs=None):
    """Every cell of case_names × none/patch_all × fork/spawn on Python 3.11, in parallel (jobs at once, else
    the runner's default), with the parties answering late or never. Returns {(case, config, start): record}."""
    with tempfile.TemporaryDirectory(prefix="hangmatrix-party-") as folder:
        monkeypatch.setenv("WAIT_PARTY", folder)
        monkeypatch.setenv("HANGMATRIX_WRITABLE", folder)  # the cells ask for locks and FIFOs by making them there
        parties = Parties(folder, late)
        try:
            items = runner.plan(
                [os.path.join(CASES, n + ".py") for n in case_names],
                CONFIGS,
                STARTS,
                ["3.11"],
                ["26.9.0"],
                timeout=timeout,
            )
            found = {(r.case, r.config, r.start): r for r in runner.execute(items, jobs=jobs)}
            found["tcp port"] = parties.tcp.getsockname()[1]
            found["udp port"] = parties.udp.getsockname()[1]
            return found
        finally:
            parties.close()


OUTSIDE = [
    "outside_tcp",
    "outside_tcp_poll",
    "outside_tcp_sleep_poll",
    "outside_unix",
    "outside_unix_poll",
    "outside_udp",
    "outside_listener",
    "outside_flock",
    "outside_lockf",
    "outside_fifo",
    "outside_pipe",
    "outside_eventfd",
    "outside_shared_futex",
]
INSIDE = ["inside_unix_pair", "inside_socketpair", "inside_listener", "inside_flock"]
LATE = OUTSIDE + ["outside_timerfd", "outside_alarm_pause"] + INSIDE + ["inside_socketpair_poll"]
NEVER = OUTSIDE + ["outside_pause", "long_sleep"]


@pytest.fixture(scope="module")
def answered_late(env311):
    with pytest.MonkeyPatch.context() as mp:
        return run_with_parties(mp, LATE, late=True, timeout=20.0)


@pytest.fixture(scope="module")
def never_answered(env311):
    with pytest.MonkeyPatch.context() as mp:
        # cells that wait out their backstop asleep: twice the runner's default at once costs no CPU
        return run_with_parties(mp, NEVER, late=False, timeout=5.0, jobs=2 * runner.default_jobs())


def why(rec):
    """The evidence, for an assertion message: signature, proof, output, and every thread's wait."""
    waits = [
        "%s %s: %s %s" % (p["role"], t["tid"], t["call"][:120], t.get("wake"))
        for p in (rec.diagnosis or {}).get("processes", [])
        for t in p["threads"]
    ]
    return "\n".join([rec.signature, str(rec.proof), "stdout: " + (rec.stdout_tail or "")[-200:]] + waits)


def cells(names):
    return [(n, c, s) for n in names for c in CONFIGS for s in STARTS]


@pytest.mark.parametrize("cell", cells([n for n in LATE if n.startswith("outside")]), ids="-".join)
def test_a_wait_ended_from_outside_runs_to_its_end(answered_late, cell):
    rec = answered_late[cell]
    assert rec.verdict == "ok", why(rec)
    assert rec.elapsed_s >= 1.5  # it really waited (for the party, or for its timer or alarm)


@pytest.mark.parametrize("cell", cells(INSIDE), ids="-".join)
def test_the_all_inside_twins_are_still_deadlocks(answered_late, cell):
    rec = answered_late[cell]
    assert rec.verdict == "deadlock", why(rec)
    assert not rec.proof.get("unproven")
    call = "recvfrom()" if cell[1] == "none" else "epoll_wait()"  # patch_all: gevent's hub waits for the socket
    if cell[0] == "inside_flock":
        assert wait_of(rec).startswith("parent blocked in flock() on FLOCK lock on ")
        assert wait_of(rec).endswith("who could end it: child Process-1 (in futex())")
    elif cell[0] == "inside_listener":  # nobody outside knows the cell's folder, and nobody inside connects
        call = "accept4()" if cell[1] == "none" else call
        assert wait_of(rec).startswith("parent blocked in %s on " % call), rec.signature
        assert "/tmp/tmp" in rec.signature and "/listen (listening)" in rec.signature, rec.signature
        assert wait_of(rec).endswith("who could end it: the parent itself")
    else:
        assert wait_of(rec).startswith("parent blocked in %s on " % call)
        assert "Unix socket socket:[" in rec.signature.split(";")[0]
        assert wait_of(rec).endswith("who could end it: child Process-1 (in %s)" % call)


EXPECTED_PEER = {
    "outside_tcp": "TCP 127.0.0.1:",
    "outside_tcp_poll": "TCP 127.0.0.1:",
    "outside_tcp_sleep_poll": "between two waits it may try fd ",
    "outside_unix": "/unix (peer outside the tree",
    "outside_unix_poll": "/unix (peer outside the tree",
    "outside_udp": "UDP 127.0.0.1:",
    "outside_listener": "/listen.",
    "outside_flock": "FLOCK lock on ",
    "outside_lockf": "POSIX lock on ",
    "outside_pause": "blocked in pause() on a signal (any process allowed to signal it",
    "outside_fifo": "FIFO /",
    "outside_eventfd": "also held outside the tree",
    "outside_pipe": "also held outside the tree by [",
    "outside_shared_futex": "also reachable outside the tree by [",
}


@pytest.mark.parametrize("cell", cells(NEVER), ids="-".join)
def test_a_wait_nobody_inside_ends_is_a_timeout_naming_it(never_answered, cell):
    rec = never_answered[cell]
    assert rec.verdict == "timeout", why(rec)
    if cell[0] == "long_sleep":
        assert "sleeping in" in rec.signature and "for 2.0 h" in rec.signature, rec.signature
        return
    assert EXPECTED_PEER[cell[0]] in rec.signature, rec.signature
    assert rec.proof["unproven"], rec.proof
    if cell[0] in ("outside_tcp", "outside_tcp_poll", "outside_tcp_sleep_poll"):
        assert "→ 127.0.0.1:%d (peer outside the tree)" % never_answered["tcp port"] in rec.signature
    if cell[0] == "outside_udp":
        assert "→ 127.0.0.1:%d (peer outside the tree)" % never_answered["udp port"] in rec.signature
    if cell[0] == "outside_lockf":
        assert re.search(r"POSIX lock on \S+ held by \d+ \(outside the tree\)", rec.signature), rec.signature
    if cell[0] == "outside_listener":  # a 0700 folder outside the cell's own: its owner and root can connect
        assert wakers.NAMED_OUTSIDE in rec.signature, rec.signature


@pytest.mark.parametrize("cell", cells(["inside_socketpair_poll"]), ids="-".join)
def test_a_poller_of_an_all_inside_socket_is_a_stall(answered_late, cell):
    rec = answered_late[cell]
    assert rec.verdict == "stall", why(rec)
    assert not rec.proof.get("unproven")
    call = "pselect6()" if cell[1] == "none" else "epoll_wait()"
    assert re.match(r"no progress for 2\.\d s; only polling: parent python in %s" % re.escape(call), wait_of(rec))
    assert "parent blocked in %s on " % call in rec.signature and "Unix socket socket:[" in rec.signature
    assert wait_of(rec).endswith(
        "who could end it: child Process-1 (in %s)" % ("recvfrom()" if cell[1] == "none" else call)
    )


def test_a_name_is_closed_to_the_outside_only_in_the_cells_own_folder(tmp_path):
    """Folder modes prove nothing (root and the owner pass a 0700 folder): only the cell's own folder, reached
    through real folders, keeps a name from the outside."""
    cell, other = tmp_path / "hangmatrix-cell-x", tmp_path / "private"
    (cell / "tmp" / "pymp-1").mkdir(parents=True)
    other.mkdir(mode=0o700)
    (cell / "tmp" / "out").symlink_to(other)
    world, me = types.SimpleNamespace(cell_dir=str(cell)), os.getpid()
    for view in (True, False):
        assert not wakers._reachable_by_name(world, me, str(cell / "tmp" / "pymp-1" / "listener-1"), view)
        assert wakers._reachable_by_name(world, me, str(other / "listener"), view)  # 0700, but not the cell's
        assert wakers._reachable_by_name(world, me, str(cell / "tmp" / "out" / "listener"), view)  # a link out
        assert wakers._reachable_by_name(world, me, str(cell / "tmp" / ".." / ".." / "private" / "x"), view)
        assert wakers._reachable_by_name(world, me, str(cell) + "-twin/listener", view)
    assert wakers._reachable_by_name(world, me, "@abstract", True)
    assert wakers._reachable_by_name(world, me, "relative/listener", True)
    assert wakers._reachable_by_name(types.SimpleNamespace(cell_dir=None), me, str(cell / "tmp" / "x"), True)
    assert not wakers._reachable_by_name(world, me, str(other / "fifo") + " (deleted)", False)
