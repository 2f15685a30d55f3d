"""Waits an outside party can end are never deadlocks or stalls: real cells whose programs wait on a TCP or
Unix-socket server, a file lock, a FIFO, an eventfd or a shared page that this test (a process outside the cell's tree)
serves, answering late or never; waits that time or a signal end; and the all-inside twins, still deadlocks.

The parties live in this process and find the cells through $WAIT_PARTY, a folder the cells inherit."""

import contextlib
import ctypes
import fcntl
import mmap
import os
import socket
import struct
import tempfile
import threading

import pytest

from hangmatrix.run import runner

CASES = os.path.join(os.path.dirname(__file__), "cases")
LATE_S = 2.5  # how long the parties make a waiting cell wait before answering
CONFIGS, STARTS = ["none", "patch_all"], ["fork", "spawn"]


class Parties:
    """A TCP server, a Unix-socket server, file locks, FIFO, pipe and eventfd writers, all outside the
    cells' trees. `late`: each answers LATE_S after a cell starts waiting on it; else it never answers
    (but keeps its end open, as a slow server would)."""

    def __init__(self, folder, late):
        self.folder, self.late, self.stop, self.kept = folder, late, threading.Event(), []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        with open(os.path.join(folder, "tcp"), "w") as f:
            f.write("127.0.0.1:%d" % self.tcp.getsockname()[1])
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(os.path.join(folder, "unix"))
        self.unix.listen(64)
        self.fds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # cells hand their pipe and eventfd ends here
        self.fds.bind(os.path.join(folder, "fds.sock"))
        self.fds.listen(64)
        self.threads = [
            threading.Thread(target=t, daemon=True)
            for t in (lambda: self._serve(self.tcp), lambda: self._serve(self.unix), self._watch_folder, self._take_fds)
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

    def _watch_folder(self):
        """Lock each file a cell asks for, and take the write end of each FIFO a cell makes."""
        done = set()
        while not self.stop.wait(0.05):
            for name in sorted(os.listdir(self.folder)):
                if name in done or not name.startswith(("fifo.", "lock.")) or name.endswith(".held"):
                    continue
                path = os.path.join(self.folder, name)
                if name.startswith("lock."):
                    lock = open(path, "a")
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    open(path + ".held", "w").close()
                    self._later(lambda f=lock: fcntl.flock(f, fcntl.LOCK_UN))
                    fd = lock
                else:
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                    except OSError:
                        continue  # its reader has not opened it yet
                    self._later(lambda fd=fd: os.write(fd, b"answer\n"))
                self.kept.append(fd)
                done.add(name)

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
        self.fds.close()


def _futex_wake(page):
    """Set the futex word at the start of a shared page and wake its waiters (FUTEX_WAKE, not private)."""
    word = ctypes.c_int.from_buffer(page)
    word.value = 1
    ctypes.CDLL(None).syscall(202, ctypes.c_void_p(ctypes.addressof(word)), 1, 1)
    del word


def run_with_parties(monkeypatch, case_names, late, timeout):
    """Every cell of case_names × none/patch_all × fork/spawn on Python 3.11, in parallel, with the
    parties answering late or never. Returns {(case, config, start): record}."""
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
            found = {(r["case"], r["config"], r["start"]): r for r in runner.execute(items)}
            found["tcp port"] = parties.tcp.getsockname()[1]
            return found
        finally:
            parties.close()


OUTSIDE = [
    "outside_tcp",
    "outside_tcp_poll",
    "outside_unix",
    "outside_flock",
    "outside_fifo",
    "outside_pipe",
    "outside_eventfd",
    "outside_shared_futex",
]
LATE = OUTSIDE + ["outside_timerfd", "outside_alarm_pause", "inside_unix_pair", "inside_flock"]
NEVER = OUTSIDE + ["long_sleep"]


@pytest.fixture(scope="module")
def answered_late(env311):
    with pytest.MonkeyPatch.context() as mp:
        return run_with_parties(mp, LATE, late=True, timeout=20.0)


@pytest.fixture(scope="module")
def never_answered(env311):
    with pytest.MonkeyPatch.context() as mp:
        return run_with_parties(mp, NEVER, late=False, timeout=5.0)


def why(rec):
    """The evidence, for an assertion message: signature, proof, output, and every thread's wait."""
    waits = [
        "%s %s: %s %s" % (p["role"], t["tid"], t["call"][:120], t.get("wake"))
        for p in rec.get("diagnosis", {}).get("processes", [])
        for t in p["threads"]
    ]
    return "\n".join([rec["signature"], str(rec.get("proof")), "stdout: " + rec.get("stdout_tail", "")[-200:]] + waits)


def cells(names):
    return [(n, c, s) for n in names for c in CONFIGS for s in STARTS]


@pytest.mark.parametrize("cell", cells([n for n in LATE if n.startswith("outside")]), ids="-".join)
def test_a_wait_ended_from_outside_runs_to_its_end(answered_late, cell):
    rec = answered_late[cell]
    assert rec["verdict"] == "ok", why(rec)
    assert rec["elapsed_s"] >= 1.5  # it really waited (for the party, or for its timer or alarm)


@pytest.mark.parametrize("cell", cells(["inside_unix_pair", "inside_flock"]), ids="-".join)
def test_the_all_inside_twins_are_still_deadlocks(answered_late, cell):
    rec = answered_late[cell]
    assert rec["verdict"] == "deadlock", why(rec)
    assert not rec["proof"].get("unproven")
    call = "recvfrom()" if cell[1] == "none" else "epoll_wait()"  # patch_all: gevent's hub waits for the socket
    if cell[0] == "inside_flock":
        assert rec["signature"].startswith("parent blocked in flock() on FLOCK lock on ")
        assert rec["signature"].endswith("who could end it: child Process-1 (in futex())")
    else:
        assert rec["signature"].startswith("parent blocked in %s on " % call)
        assert "Unix socket socket:[" in rec["signature"].split(";")[0]
        assert rec["signature"].endswith("who could end it: child Process-1 (in %s)" % call)


EXPECTED_PEER = {
    "outside_tcp": "TCP 127.0.0.1:",
    "outside_tcp_poll": "TCP 127.0.0.1:",
    "outside_unix": "/unix (peer outside the tree",
    "outside_flock": "FLOCK lock on ",
    "outside_fifo": "FIFO /",
    "outside_eventfd": "also held outside the tree",
    "outside_pipe": "also held outside the tree by [",
    "outside_shared_futex": "also reachable outside the tree by [",
}


@pytest.mark.parametrize("cell", cells(NEVER), ids="-".join)
def test_a_wait_nobody_inside_ends_is_a_timeout_naming_it(never_answered, cell):
    rec = never_answered[cell]
    assert rec["verdict"] == "timeout", why(rec)
    if cell[0] == "long_sleep":
        assert "sleeping in" in rec["signature"] and "for 2.0 h" in rec["signature"], rec["signature"]
        return
    assert EXPECTED_PEER[cell[0]] in rec["signature"], rec["signature"]
    assert rec["proof"]["unproven"], rec["proof"]
    if cell[0] in ("outside_tcp", "outside_tcp_poll"):
        assert "→ 127.0.0.1:%d (peer outside the tree)" % never_answered["tcp port"] in rec["signature"]
