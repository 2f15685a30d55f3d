"""A cell's process lifecycle: its folder, its launch in containment, what the supervisor reads of it while
it runs (samples of its tree, its events, its output), its diagnosis, and its end: the kill of the whole
tree, checked, and the removal of what it made (named semaphores, cgroups, its folder).

The supervisor (run/supervisor.py) owns one Cell per run; the watch (run/watching.py) and the look after it
(run/evidence.py) read it. Each supervisor dies with the server (PR_SET_PDEATHSIG) and adopts every
orphan of its cell (PR_SET_CHILD_SUBREAPER, set by run/server.py), so setsid'd children and double-forked
daemons stay in view and none outlives the run. The case runs in its own session, stdout/stderr to files
(a hung grandchild holding a pipe can never hang the harness), TMPDIR in a private folder.
"""

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ..model import settings
from ..model.cellspec import CellSpec
from ..observe import diagnosis, wakers, watch
from . import cellside, contain

OUTPUT_CAP = 16 * 1024 * 1024  # disk a cell's stdout or stderr may use: over it, the middle is freed
KEEP_ENDS = 1024 * 1024  # what of each end of an output over the cap stays on disk
TAIL = 4000
KILL_S = 10  # the kill loop gives up after this: a thousand SIGKILLed processes on a loaded machine took over 5 s
MAX_PROCESSES = 400  # a case that forks more is stopped: the harness must stay responsive
NOTES: list = []  # the write end of a pipe to the server: what this supervisor made, for the server to remove if
# it dies without doing so itself (server._clean_after)


def _note(**made):
    """Tell the server what this supervisor made (one JSON line on its notes pipe), before making use of it."""
    if NOTES:
        os.write(NOTES[0], (json.dumps(made) + "\n").encode())


class Cell:
    """One supervised run of a case: its folder, its process, what it printed and reported."""

    def __init__(self, spec: CellSpec) -> None:
        self.spec = spec
        self.root = spec.root
        os.makedirs(spec.tmp_base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="hangmatrix-cell-", dir=spec.tmp_base)
        self.paths = {k: os.path.join(self.dir, k) for k in ("stdout", "stderr", "events", "stacks", "greenlets")}
        os.mkdir(os.path.join(self.dir, "tmp"))
        self.proc: Any = None  # a contain.Namespace, or a subprocess.Popen where there is none
        self.events: List[Dict[str, Any]] = []
        self.progress_events = 0
        self.ticks: Dict[Tuple[int, str], int] = {}
        self._events_offset = 0
        self.shm_seen: Set[str] = set()
        self.private_shm = False
        self.cgroups_left: List[str] = []
        self._pidfd = None
        # stdout/stderr whose middle was freed (trim_output): their head, their size then
        self.trimmed: Dict[str, Dict[str, Any]] = {}
        self.layers: Optional[contain.Layers] = None  # the copy-on-write view (overlay_layers), if any
        self.cgroups: Any = None  # the cell's (contain.Cgroups), from its launch on
        self.containment: Dict[str, Any] = {}  # how the cell is contained, for the record (launch fills it)
        self.shm_left_alone: List[str] = []  # /dev/shm entries the tree mapped but did not create (clean)
        self.launched = 0.0  # time.monotonic() at the launch

    def inside(self, path: str) -> str:
        """The path as the cell sees it (inside the chroot, for Debian-root interpreters)."""
        return path[len(self.root) :] if self.root and path.startswith(self.root) else path

    def launch(self) -> None:
        began = time.monotonic()
        spec = self.spec
        cell_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX", "VIRTUAL_ENV"))}
        owner = settings.owner()
        if owner:  # lets a test suite tell its own cells from others'
            cell_env["HANGMATRIX_OWNER"] = owner
        memory = spec.memory  # decided by the harness (hangmatrix.run.plan.memory_cap): never guessed here
        self.cgroups = contain.Cgroups(os.path.basename(self.dir), memory).setup()
        shm = contain.shm_mechanism(self.root)
        seal = contain.seal_mechanism()
        overlay = contain.overlay_mechanism(self.root) if seal else None
        self.layers = contain.overlay_layers(self.dir, spec.writable, memory) if overlay else None
        _note(dir=self.dir, cgroups=self.cgroups.dirs, events=self.paths["events"], root=self.root, names=not shm)
        events, stacks, greenlets = (self.inside(self.paths[k]) for k in ("events", "stacks", "greenlets"))
        told = functools.partial(cellside.cell_env, spec, events, stacks, greenlets)
        cell_env.update(dict(spec.case.env))
        cell_env.update(self._activated(cell_env.get("PATH", os.defpath)))
        cell_env.update(
            {
                "PYTHONPATH": os.pathsep.join(p for p in (spec.inject, dict(spec.case.env).get("PYTHONPATH")) if p),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "TMPDIR": self.inside(os.path.join(self.dir, "tmp")),
                "HANGMATRIX_CELL": told(shm_names=not shm),
            }
        )
        cwd = spec.case.cwd if spec.case.cwd and not self.root else os.path.join(self.dir, "tmp")
        argv = list(spec.argv)
        if self.root:  # chroot resets the working directory: set it again inside
            argv = ["chroot", self.root, "/usr/bin/env", "--chdir=" + self.inside(cwd)] + argv
        self.containment = {
            "cgroups": self.cgroups.layout or None,
            "memory_cap": memory,
            "memory": self.cgroups.memory or "RLIMIT_DATA",
            "pids": self.cgroups.pids or "watch (more than %d processes)" % MAX_PROCESSES,
            "cgroup_dirs": list(self.cgroups.dirs),
        }
        with open(self.paths["stdout"], "wb") as out, open(self.paths["stderr"], "wb") as err, self._stdin() as stdin:
            launch = contain.Launch(
                argv,
                cell_env,
                cwd,
                stdin.fileno(),
                out.fileno(),
                err.fileno(),
                self.root,
                self.cgroups,
                None if self.cgroups.memory else memory,
                shm,
                writable=[self.dir, *spec.writable] if seal else None,
                layers=self.layers,
            )
            self.proc = None
            if os.geteuid() == 0 and "pidns" not in contain.switched_off():
                try:
                    self.proc = contain.Namespace(launch)
                except OSError as exc:
                    self.containment["pidns_failed"] = str(exc)
            if self.proc is None:
                kwargs = dict(stdin=stdin, stdout=out, stderr=err, cwd=cwd, env=cell_env, start_new_session=True)
                try:
                    self.proc = subprocess.Popen(argv, preexec_fn=launch.prepare_to_exec, **kwargs)
                except (OSError, subprocess.SubprocessError) as exc:  # no namespace: the exact-names fallback
                    self.containment["shm_failed"] = str(exc)
                    if self.layers:
                        self.layers.close()
                    launch.shm = shm = launch.writable = seal = launch.layers = self.layers = None
                    cell_env["HANGMATRIX_CELL"] = told(shm_names=True)
                    self.proc = subprocess.Popen(argv, preexec_fn=launch.prepare_to_exec, **kwargs)
        self.private_shm = bool(shm)
        self.containment.update(
            filesystem=(self.layers and overlay) or seal or "the machine's: the case writes wherever its user may",
            writable=list(spec.writable) if seal and spec.writable else None,
            shm=shm or "names the cell created, unlinked after the kill",
            tree=getattr(self.proc, "mechanism", None)
            or ("subreaper + cgroup.kill" if self.cgroups.kill_file else "subreaper, kill loop"),
        )
        self.launched = time.monotonic()
        self.containment["launch_s"] = round(self.launched - began, 4)

    def _activated(self, path):
        """PATH and VIRTUAL_ENV as in the cell environment activated: `python`, `pip` and the console scripts
        the program runs by name are the cell's, as sys.executable is."""
        python = self.spec.provenance.env_python or (self.spec.argv[0] if self.spec.argv else "")
        if not python:
            return {}
        bin_dir = os.path.dirname(python)
        out = {"PATH": os.pathsep.join([bin_dir, path])}
        if os.path.exists(self.root + os.path.join(os.path.dirname(bin_dir), "pyvenv.cfg")):
            out["VIRTUAL_ENV"] = os.path.dirname(bin_dir)
        return out

    def read_only(self) -> bool:
        """Whether some of the filesystem was read-only to the program: the seal, the view fallen back to it,
        or a mount whose overlay the kernel refused (a write refused there is the harness's, not the program's)."""
        return bool(
            self.containment.get("filesystem") == contain.seal_mechanism()
            or contain.overlay_fallback(self.layers)
            or contain.overlay_refused(self.layers)
        )

    def writes(self) -> Optional[Dict[str, Any]]:
        """What the case wrote outside its folder (its overlays' upper layers), for the record; None unless
        the cell ran in a copy-on-write view."""
        fallback = contain.overlay_fallback(self.layers)
        if fallback:
            self.containment["filesystem"] = contain.seal_mechanism()
            self.containment["overlay_failed"] = fallback
            return None
        if not self.layers:
            return None
        refused = contain.overlay_refused(self.layers)
        if refused:
            self.containment["overlay_refused"] = refused
        return contain.overlay_writes(self.layers)

    def sample(self, full: bool = False, previous: Optional[watch.Sample] = None) -> watch.Sample:
        """The cell's tree as the host sees it: below the namespace's init, or below us (previous: the last
        sample, whose threads' waits are taken over where they cannot have changed, see watch.sample)."""
        return watch.sample(getattr(self.proc, "init_pid", None) or os.getpid(), full=full, previous=previous)

    def wait_exit(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once when the case parent exits, so the record of a program that
        ended is not a sampling interval late (and its slot is free that much sooner)."""
        fd = self._exit_fd()
        if fd is None:
            time.sleep(seconds)
        else:
            select.select([fd], [], [], seconds)

    def _exit_fd(self):
        """The namespace's status pipe, or a pidfd of the case parent (None where the kernel has none)."""
        if isinstance(self.proc, contain.Namespace):
            return self.proc.exit_fd()
        if self._pidfd is None and self.proc is not None and hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(self.proc.pid)
            except OSError:
                self._pidfd = -1
        return self._pidfd if self._pidfd is not None and self._pidfd >= 0 else None

    def _stdin(self):
        """The case's `stdin` text as a file in the cell folder, opened for reading (empty when the case gives
        none: the program reads EOF at once). A file, not a pipe, so no writer has to outlive the launch."""
        path = os.path.join(self.dir, "stdin")
        with open(path, "wb") as f:
            f.write(self.spec.case.stdin.encode("utf-8"))
        return open(path, "rb")

    def read_events(self) -> None:
        try:
            with open(self.paths["events"], "rb") as f:
                f.seek(self._events_offset)
                data = f.read()
        except OSError:
            return
        events, used = cellside.parse_events(data)
        self._events_offset += used
        for event in events:
            self.events.append(self._as_host_sees_it(event))
            if event["ev"] in cellside.PROGRESS_EVENTS:
                self.progress_events += 1
            if event["ev"] == "tick":  # loop ticks per (process, function): 2 in one prove `running`
                key = (event["pid"], event["fn"])
                self.ticks[key] = self.ticks.get(key, 0) + 1

    def _as_host_sees_it(self, event):
        """Pids an event reports from inside a PID namespace (os.getpid() there), as host pids."""
        if isinstance(self.proc, contain.Namespace) and isinstance(event.get("pid"), int):
            for key in ("pid", "ppid"):
                if isinstance(event.get(key), int):
                    host = self.proc.host_pid(event[key])
                    event[key + "_in_ns"], event[key] = event[key], host if host else event[key]
        return event

    def diagnose(self, snap: Optional[watch.Sample] = None, summary: bool = False) -> Dict[str, Any]:
        """The full look at the tree (fds, pipes and their holders, decoded waits, who can end each wait),
        as diagnosis.diagnose with wakers.annotate, of `snap` (a full sample) or of a fresh one. summary: only
        the tree, its fds and decoded waits, for a record the store keeps as a summary (store.compact):
        nothing outside the tree is looked at."""
        harness_files = {self.inside(p) for p in self.paths.values()}
        init = getattr(self.proc, "init_pid", None)
        diag = diagnosis.diagnose(
            snap if snap is not None else self.sample(full=True),
            self.proc.pid,
            _names(self.events),
            harness_files,
            annotate=None if summary else functools.partial(wakers.annotate, cell_dir=self.dir),
            ours=[init] if init else [],
            outside=not summary,
        )
        diag["t"] = time.time()  # recorded: wall time (samples carry the monotonic clock)
        return diag

    def output_size(self) -> int:
        return sum(os.path.getsize(self.paths[k]) for k in ("stdout", "stderr") if os.path.exists(self.paths[k]))

    def trim_output(self) -> None:
        """Each of stdout and stderr whose disk use is over OUTPUT_CAP gets its middle freed (a hole: its size
        and the writer's offset stay), keeping its first and last KEEP_ENDS bytes, or, where the filesystem
        cannot punch holes, is emptied after its head is kept. What was dropped is in self.trimmed."""
        for key in ("stdout", "stderr"):
            try:
                with open(self.paths[key], "r+b") as f:
                    st = os.fstat(f.fileno())
                    if st.st_blocks * 512 <= OUTPUT_CAP:
                        continue
                    entry = self.trimmed.setdefault(key, {"head": f.read(TAIL).decode("utf-8", "replace")})
                    start = -(-KEEP_ENDS // 4096) * 4096
                    length = (st.st_size - KEEP_ENDS) // 4096 * 4096 - start
                    if length > 0 and not _punch_hole(f.fileno(), start, length):
                        f.truncate(0)  # the writer's next write leaves a hole before it: its tail stays
                    entry["size_at_trim"] = st.st_size
            except OSError:
                continue

    def tail(self, key: str, upto: Optional[int] = None) -> str:
        """The end of stdout or stderr as it was at the verdict (upto), capped."""
        try:
            with open(self.paths[key], "rb") as f:
                size = os.fstat(f.fileno()).st_size if upto is None else upto
                f.seek(max(0, size - TAIL))
                return f.read(min(size, TAIL)).decode("utf-8", "replace")
        except OSError:
            return ""

    def reap_orphans(self) -> None:
        """Reap zombies that were re-parented to us (we are their subreaper), never the root's status."""
        for pid in watch.children(os.getpid()):
            if self.proc and pid == self.proc.pid:
                continue
            if _zombie(pid):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def note_shm(self, pids: Iterable[int]) -> None:
        """Without a private /dev/shm: the named semaphores and shared memory the tree has mapped, to report
        those the cell did not create and leaves behind."""
        if self.private_shm:
            return
        for pid in pids:
            for line in (watch._read("/proc/%d/maps" % pid, 1 << 20) or "").splitlines():
                i = line.find("/dev/shm/")
                if i >= 0:
                    self.shm_seen.add(line[i:].replace(" (deleted)", ""))

    def kill_tree(self) -> Tuple[float, List[int]]:
        """SIGKILL every descendant until none is left; returns (seconds taken, survivors)."""
        t0 = time.monotonic()
        me = os.getpid()
        if isinstance(self.proc, contain.Namespace):
            self.proc.kill()  # init dies, the namespace with it: one act
        else:
            if getattr(self, "cgroups", None):
                self.cgroups.kill()
            if self.proc and self.proc.returncode is None:  # not reaped, so its pid (the group's id) is ours:
                try:  # the case parent's process group, found without /proc (a /proc that hides the tree
                    os.killpg(self.proc.pid, signal.SIGKILL)  # must not let a live cell outlive us)
                except ProcessLookupError:
                    pass
        while time.monotonic() - t0 < KILL_S:
            pids = watch.descendants(me)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.proc:
                self.proc.poll()
            self.reap_orphans()
            time.sleep(0.005)
        self.reap_orphans()
        survivors = [pid for pid in watch.descendants(me) if not _zombie(pid)]  # a zombie is dead already
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(1)
            except subprocess.TimeoutExpired:
                survivors.append(self.proc.pid)
                self.proc.kill()  # by the pid we hold unreaped: never someone else's
        return round(time.monotonic() - t0, 3), survivors

    def clean(self) -> List[str]:
        """Unlink exactly the /dev/shm entries the cell created (named by the injected code) that are still
        there, remove its cgroups and its folder; returns the entries removed. Entries the tree mapped but
        did not create may be another program's: they are reported (shm_left_alone), never touched."""
        removed = []
        if self._pidfd is not None and self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = None
        if isinstance(self.proc, contain.Namespace):
            self.proc.close()
        created = set() if self.private_shm else contain.created_shm(self.events, self.root)
        self.shm_left_alone = sorted(p for p in self.shm_seen - created if os.path.exists(p))
        for path in sorted(created):
            if os.path.exists(path):
                try:
                    os.unlink(path)
                    removed.append(path)
                except OSError:
                    pass
        if self.layers:
            self.layers.close()  # frees the tmpfs before its pages' cgroup goes
        self.cgroups_left = self.cgroups.remove() if getattr(self, "cgroups", None) else []
        shutil.rmtree(self.dir, ignore_errors=True)
        return removed


FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


def _punch_hole(fd, offset, length):
    """Free a range of a file's blocks, its size unchanged (fallocate(2)); False where the filesystem or
    the kernel cannot."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
    return libc.fallocate(fd, mode, ctypes.c_long(offset), ctypes.c_long(length)) == 0


def _zombie(pid):
    return ") Z " in (watch._read("/proc/%d/stat" % pid) or "")


def proc_shows_us() -> bool:
    """Whether /proc is this process's PID namespace's: every look at the tree, and its kill, rely on it."""
    return os.path.exists("/proc/%d/stat" % os.getpid())


def _names(events):
    return {e["pid"]: e["name"] for e in events if e["ev"] == "process"}
