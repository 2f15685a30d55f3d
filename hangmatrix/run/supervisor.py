"""The supervisor: the process that runs and watches one cell.

The supervisor server (run/server.py) forks one supervisor per cell. Each supervisor:

- dies with the server (PR_SET_PDEATHSIG), which dies with the harness (its stdin closes), and adopts every
  orphan of the cell (PR_SET_CHILD_SUBREAPER), so setsid'd children and double-forked daemons stay in view
  and none outlives the run;
- launches the case in its own session, stdout/stderr to files (a hung grandchild holding a pipe can never
  hang the harness), TMPDIR in a private folder;
- samples the tree, lets the Detector prove a verdict (or hits the timeout backstop), diagnoses, then
  kills the whole tree and checks it is gone, removes named semaphores and the folder it made;
- writes the record as one JSON line on its connection to the harness.
"""

import contextlib
import functools
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time

from ..envs import deps
from ..model import configs, settings, verdicts, versions
from ..observe import cause, diagnosis, schedule, spin, stacks, verdict, wakers, watch
from ..store import compact
from . import cellside, contain, records

RECHECK_S = 0.5  # after a proof failed on a wait an outside party can end, look again at most this often
OUTPUT_CAP = 16 * 1024 * 1024  # disk a cell's stdout or stderr may use: over it, the middle is freed
KEEP_ENDS = 1024 * 1024  # what of each end of an output over the cap stays on disk
TAIL = 4000
KILL_S = 10  # the kill loop gives up after this: a thousand SIGKILLed processes on a loaded machine took over 5 s
MAX_PROCESSES = 400  # a case that forks more is stopped: the harness must stay responsive
STOP: list = []  # set by SIGTERM (the server or the harness died): the watch loop ends and the tree is killed
NOTES: list = []  # the write end of a pipe to the server: what this supervisor made, for the server to remove if
# it dies without doing so itself (server._clean_after)


def _note(**made):
    """Tell the server what this supervisor made (one JSON line on its notes pipe), before making use of it."""
    if NOTES:
        os.write(NOTES[0], (json.dumps(made) + "\n").encode())


class Cell:
    """One supervised run of a case: its folder, its process, what it printed and reported."""

    def __init__(self, spec):
        self.spec = spec
        self.root = spec.root
        os.makedirs(spec.tmp_base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="hangmatrix-cell-", dir=spec.tmp_base)
        self.paths = {k: os.path.join(self.dir, k) for k in ("stdout", "stderr", "events", "stacks", "greenlets")}
        os.mkdir(os.path.join(self.dir, "tmp"))
        self.proc = None
        self.events = []
        self.progress_events = 0
        self.ticks = {}
        self._events_offset = 0
        self.shm_seen = set()
        self.private_shm = False
        self.cgroups_left = []
        self._pidfd = None
        self.trimmed = {}  # stdout/stderr whose middle was freed (trim_output): their head, their size then
        self.layers = None  # the copy-on-write view's (contain.overlay_layers), when the cell has one

    def inside(self, path):
        """The path as the cell sees it (inside the chroot, for Debian-root interpreters)."""
        return path[len(self.root) :] if self.root and path.startswith(self.root) else path

    def launch(self):
        began = time.monotonic()
        spec = self.spec
        cell_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX", "VIRTUAL_ENV"))}
        if settings.owner():  # lets a test suite tell its own cells from others'
            cell_env["HANGMATRIX_OWNER"] = settings.owner()
        memory = spec.memory  # decided by the harness (hangmatrix.run.plan.memory_cap): never guessed here
        self.cgroups = contain.Cgroups(os.path.basename(self.dir), memory).setup()
        shm = contain.shm_mechanism(self.root)
        seal = contain.seal_mechanism()
        overlay = contain.overlay_mechanism(self.root) if seal else None
        self.layers = contain.overlay_layers(self.dir, spec.writable, memory) if overlay else None
        _note(dir=self.dir, cgroups=self.cgroups.dirs, events=self.paths["events"], root=self.root, names=not shm)
        told = functools.partial(
            cellside.cell_env, spec, *(self.inside(self.paths[k]) for k in ("events", "stacks", "greenlets"))
        )
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

    def writes(self):
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

    def sample(self, full=False, previous=None):
        """The cell's tree as the host sees it: below the namespace's init, or below us (previous: the last
        sample, whose threads' waits are taken over where they cannot have changed, see watch.sample)."""
        return watch.sample(getattr(self.proc, "init_pid", None) or os.getpid(), full=full, previous=previous)

    def wait_exit(self, seconds):
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

    def read_events(self):
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

    def diagnose(self, snap=None, summary=False):
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

    def output_size(self):
        return sum(os.path.getsize(self.paths[k]) for k in ("stdout", "stderr") if os.path.exists(self.paths[k]))

    def trim_output(self):
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

    def tail(self, key, upto=None):
        """The end of stdout or stderr as it was at the verdict (upto), capped."""
        try:
            with open(self.paths[key], "rb") as f:
                size = os.fstat(f.fileno()).st_size if upto is None else upto
                f.seek(max(0, size - TAIL))
                return f.read(min(size, TAIL)).decode("utf-8", "replace")
        except OSError:
            return ""

    def reap_orphans(self):
        """Reap zombies that were re-parented to us (we are their subreaper), never the root's status."""
        for pid in watch.children(os.getpid()):
            if self.proc and pid == self.proc.pid:
                continue
            if _zombie(pid):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def note_shm(self, pids):
        """Without a private /dev/shm: the named semaphores and shared memory the tree has mapped, to report
        those the cell did not create and leaves behind."""
        if self.private_shm:
            return
        for pid in pids:
            for line in (watch._read("/proc/%d/maps" % pid, 1 << 20) or "").splitlines():
                i = line.find("/dev/shm/")
                if i >= 0:
                    self.shm_seen.add(line[i:].replace(" (deleted)", ""))

    def kill_tree(self):
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

    def clean(self):
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


BLIND = (
    "this supervisor cannot see its own process under /proc (a /proc of another PID namespace is "
    "mounted over it?): it cannot watch a cell"
)


def proc_shows_us():
    """Whether /proc is this process's PID namespace's: every look at the tree, and its kill, rely on it."""
    return os.path.exists("/proc/%d/stat" % os.getpid())


def supervise(spec):
    """The supervisor's whole job for one cell: launch, watch until a verdict, conclude, kill; the record."""
    if not proc_shows_us():
        return records.without_run(spec, "env-error", BLIND)
    if spec.case.cwd and not spec.root and not os.path.isdir(spec.case.cwd):
        return records.without_run(
            spec,
            "env-error",
            "the working folder %s does not exist (run hangmatrix from the program's folder, or name one with "
            "--project)" % spec.case.cwd,
        )
    launched = records.base_record(spec)  # recorded_at: the launch
    rec = {}  # what the run adds, as conclude() and the clean-up make it
    cell = Cell(spec)
    try:
        cell.launch()
        rec.update(conclude(cell, spec, **watch_until_verdict(cell, spec)))
    finally:
        kill_s, survivors = cell.kill_tree()
        if getattr(cell, "containment", None) is not None and getattr(cell, "layers", None):
            cell.containment["wrote_outside"] = cell.writes()
        capped = (
            contain.cap_hit(cell.cgroups, getattr(cell, "containment", {}), rec)
            if getattr(cell, "cgroups", None)
            else None
        )
        cleaned_at = time.monotonic()
        removed = cell.clean()
        rec["cleanup"] = {
            "kill_s": kill_s,
            "clean_s": round(time.monotonic() - cleaned_at, 3),
            "survivors": survivors,
            "shm_removed": removed,
            "private_shm": getattr(cell, "private_shm", False),
            "cgroups_left": cell.cgroups_left,
            "shm_left_alone": getattr(cell, "shm_left_alone", []),
        }
        rec["containment"] = getattr(cell, "containment", {})
        if capped:  # the cap decided how the cell ended, whatever the watch saw
            rec["proof"] = dict(
                rec.get("proof") or {}, before_cap={"verdict": rec.get("verdict"), "signature": rec.get("signature")}
            )
            rec.update(verdict="error", signature=capped)
        rec["cpu_s"] = {
            "cell": round(sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]), 3),
            "watch": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 3),
        }
    return launched.replace(**rec)


def watch_until_verdict(cell, spec):
    """Sample the tree until the program ends, a verdict is proven, a limit is hit or the timeout runs
    out. In fixed-timeout mode (detect off) the same observation runs, but the verdict waits for the
    timeout. Returns how the watch ended, for conclude()."""
    detector = verdict.Detector(endless=spec.case.endless)
    marks = verdict.Marks()
    snap, code, result, proof = None, None, None, {}
    quiet_at = fixed_mode_found = proven_diag = look = None
    recheck_at = 0.0
    dump_path = settings.dump_samples()  # recorded samples for the classifier's tests
    with open(dump_path, "a") if dump_path else contextlib.nullcontext() as dump:
        while True:
            elapsed = time.monotonic() - cell.launched
            snap = cell.sample(previous=snap)
            cell.read_events()
            marks.events = cell.progress_events
            marks.ticks = max(cell.ticks.values(), default=0)
            marks.output = cell.output_size()
            if dump:
                dump.write(json.dumps({"sample": watch.to_json(snap), "marks": vars(marks)}) + "\n")
            code = cell.proc.poll()
            if code is not None:
                result = "ended"
                break
            if not snap.procs and not proc_shows_us():
                result, proof = "env-error", {"why": BLIND}
                break
            if STOP:
                result = "interrupted"
                break
            if marks.output > OUTPUT_CAP:
                cell.trim_output()  # keeps the head and the tail on disk: the cap never decides the verdict
            if len(snap.procs) > MAX_PROCESSES:
                result, proof = "error", {"why": "more than %d processes in the tree" % MAX_PROCESSES}
                break
            io_total = sum(p.rchar + p.wchar for p in snap.procs.values())
            found = detector.feed(snap, marks, io_total)
            if found and not spec.detect:
                fixed_mode_found = found  # fixed-timeout mode: observe the same way, but wait it out
                found = None
            elif not spec.detect:
                fixed_mode_found = None
            if found and found[0] in verdicts.PROVEN_HANG:
                if time.monotonic() < recheck_at:
                    found = None  # the last look found a wait an outside party can end: not again so soon
                else:
                    if found[0] == "deadlock" and _look_holds(look, detector, snap):
                        _, proven_diag, unproven = look  # looked at during this still run, and still since
                        after = snap
                    else:
                        proven_diag = cell.diagnose()
                        unproven, after = _unproven(found[0], found[1], proven_diag), None
                    look = None  # one decision per look
                    if unproven:  # something outside could still end a wait: no proof, keep watching
                        proof["unproven"] = unproven
                        found, recheck_at = None, time.monotonic() + RECHECK_S
                    elif found[0] == "deadlock" and not verdict.still(snap, after or cell.sample()):
                        found = None  # a wait ended during the look (a timer fired, say): no proof, watch on
            elif not found and spec.detect and _look_ahead(look, detector, recheck_at):
                full = cell.sample(full=True)  # still for two samples: look now, while the proof's time runs
                ahead = cell.diagnose(full)
                look = (full, ahead, _unproven("deadlock", {}, ahead))
            if found:
                proof.pop("unproven", None)  # an earlier look's, no longer true: this look proved it
                result, proof = found[0], dict(proof, **found[1])
                quiet_at = round(detector.quiet_since - cell.launched, 3) if result == "deadlock" else None
                break
            if elapsed > spec.timeout:
                result = "timeout"
                if not spec.detect and fixed_mode_found:
                    result, proof = fixed_mode_found[0], dict(proof, **fixed_mode_found[1])
                break
            cell.wait_exit(schedule.next_sample_in(elapsed, detector, time.monotonic()) if spec.detect else 0.25)
    return {
        "result": result,
        "proof": proof,
        "snap": snap,
        "code": code,
        "quiet_at": quiet_at,
        "proven_diag": proven_diag,
    }


LOOK_AHEAD_SAMPLES = 2  # still samples after which the deadlock proof's look is made, before the proof is due


def _look_ahead(look, detector, recheck_at):
    """Whether to look at who can end the tree's waits now: the tree has been still and all-untimed for
    LOOK_AHEAD_SAMPLES samples, this still run has no look yet and no recheck is pending. The look then
    runs while the proof's window (min_quiet_s) runs, instead of after it: the proof comes that much sooner,
    and is as strong (_look_holds)."""
    return (
        detector.still_samples >= LOOK_AHEAD_SAMPLES
        and time.monotonic() >= recheck_at
        and (look is None or look[0].t < detector.quiet_since)
    )


def _look_holds(look, detector, snap):
    """Whether a look made ahead (full sample, diagnosis, unproven) speaks for the proof at `snap`: it was
    made during the current still run, and every thread is as it was then (verdict.still), so no wait
    ended since the look began and what it saw is what the proof is about."""
    return look is not None and look[0].t >= detector.quiet_since and verdict.still(look[0], snap)


def conclude(cell, spec, result, proof, snap, code, quiet_at, proven_diag):
    """From how the watch ended to the record's verdict, signature and diagnosis (stacks included),
    taken while the tree is still there to look at. A verdict whose record the store keeps as a summary of
    its tree (a cell that worked, under --keep compact) gets only that: no look outside the tree, no stacks."""
    elapsed = round(time.monotonic() - cell.launched, 3)
    cell.read_events()  # what the program reported just before it ended (a patch point, say)
    out_at, err_at = (os.path.getsize(cell.paths[k]) for k in ("stdout", "stderr"))
    stdout, stderr = cell.tail("stdout", out_at), cell.tail("stderr", err_at)
    point = _patch_point(cell.events, cell.proc.pid)
    unapplied = configs.needs_patch_point(spec.config) and point is None
    if result == "ended":
        name, sig = _ended(cell, spec, code, stdout, stderr, unapplied)
    summary = (
        result in ("ended", "running")
        and compact.summarized(name if result == "ended" else "running", spec.keep)
        and not (
            getattr(cell, "cgroups", None) and contain.counted_cap(cell.cgroups, cell.containment)
        )  # a cap hit turns it into an error (supervise), which keeps its whole diagnosis
    )
    diag, fields = {}, {}
    if snap is not None and snap.procs and result != "interrupted":  # interrupted: kill at once
        cell.note_shm(snap.procs)
        diag = proven_diag if result in verdicts.PROVEN_HANG and proven_diag else cell.diagnose(summary=summary)
        if result in verdicts.PROVEN_HANG and not spec.detect:  # fixed-timeout mode decides here
            diag = _look_while_awake(cell, diag, [(p["pid"], p["tid"]) for p in proof.get("pollers", [])])
            unproven = _unproven(result, proof, diag)
            if unproven:
                result, proof["unproven"] = "timeout", unproven
        if result == "timeout":
            root = diag["processes"][0]["pid"] if diag.get("processes") else None
            diag = _look_while_awake(cell, diag, [(root, root)] if root else [])  # the signature names its wait
            proof.setdefault("unproven", _unproven(result, proof, diag))
        if result != "ended" and not summary:
            pids = [p["pid"] for p in diag["processes"]]
            diag["python_stacks"], diag["greenlets"] = stacks.python_stacks(
                pids,
                cell.paths["stacks"],
                cell.paths["greenlets"],
                faulthandler=not versions.python2(spec.provenance.python),
            )
    if result == "ended":
        left = [{"pid": p["pid"], "role": p["role"]} for p in diag.get("processes", []) if p["pid"] != cell.proc.pid]
        if left:
            proof["left_running_at_exit"] = left
        fields["exit_code"] = code
    elif result in ("error", "interrupted", "env-error"):
        name = "env-error" if result == "env-error" else "error"
        sig = proof.get("why", "the harness stopped before a verdict")
    elif result == "running":
        name, sig = "running", ""
    else:
        name, sig = result, verdict.signature(result, diag, proof, stderr)
    if name in verdicts.PROVEN_HANG and diag.get("processes"):  # why it hangs: named once, after the proof
        fields["cause"] = cause.name(diag, cell.events, name, functools.partial(_source_line, cell), stderr)
        sig = cause.lead(fields["cause"], sig)
    elif name == "timeout" and diag.get("processes") and not summary:  # a spin: the one cause a timeout gets
        spun = spin.evidence(diag["processes"][0]["pid"], cell.paths["stacks"])
        fields["cause"] = cause.busy_loop(spun, diag["processes"][0]) if spun else None
        sig = cause.lead(fields["cause"], sig) if fields["cause"] else sig
    if unapplied and result not in (
        "ended",
        "interrupted",
    ):  # no proof it never patches: the verdict stands, with that said
        proof["patch_point"] = "not reached before the verdict: %s was never applied" % spec.config["name"]
        sig = (sig + "; " if sig else "") + "before any patch_all() call (%s not applied)" % spec.config["name"]
    if cell.trimmed:
        proof["output_trimmed"] = dict(cell.trimmed, cap_bytes=OUTPUT_CAP)
    tests = running_tests(cell.events) if name in verdicts.PROVEN_HANG + ("timeout",) else []
    if tests:  # the test the hang is in: pytest's node id, unittest's `test_x (module.Class)`
        proof["running_tests"] = tests
        sig = (sig + "; " if sig else "") + "in test %s" % ", ".join(tests)
    fields["patch_point"] = point
    fields.update(
        verdict=name,
        signature=sig,
        elapsed_s=elapsed,
        diagnosis=diag,
        proof=proof,
        stdout_tail=stdout,
        stderr_tail=stderr,
        quiescent_at_s=quiet_at,
        events=_event_summary(cell.events),
        start_used=_start_used(spec, cell.events, diag),
    )
    return fields


AWAKE_RELOOKS = 5  # looks again, AWAKE_RELOOK_S apart, while a thread that matters is caught awake
AWAKE_RELOOK_S = 0.05


def _source_line(cell, path, line):
    """A line of a program's file as the cell saw it (inside the chroot of a Debian-root interpreter)."""
    import linecache

    return linecache.getline(cell.root + path if cell.root else path, line)


def _look_while_awake(cell, diag, threads):
    """The diagnosis, looked at again while one of threads (pid, tid) was caught awake: a poller between
    two polls hides what it watches, and who could end it (wakers.unseen_waits). A thread that stays awake
    (it spins) keeps the last look."""
    for _ in range(AWAKE_RELOOKS):
        if not wakers.unseen_waits(diag, threads):
            break
        time.sleep(AWAKE_RELOOK_S)
        diag = cell.diagnose()
    return diag


def _ended(cell, spec, code, stdout, stderr, unapplied):
    """(verdict, signature) of a cell whose program ended by itself."""
    unsupported = next((e["reason"] for e in cell.events if e["ev"] == "unsupported"), "")
    if code == cellside.UNSUPPORTED_EXIT and unsupported:
        return "unsupported", unsupported
    name, sig = verdict.ended(code, spec.case.endless, spec.case.expect, stdout, stderr)
    if name == "error":  # a module the environment lacks is its defect, not the program's
        program = spec.case.path or os.path.join(spec.case.cwd or "/", "-")  # a command's: its working folder's
        missing = deps.missing_module(_uncaught(cell), program, _env_python(spec))
        read_only = (
            cell.containment.get("filesystem") == contain.seal_mechanism()
            or contain.overlay_fallback(cell.layers)
            or contain.overlay_refused(cell.layers)  # a mount the view left read-only
        )
        if not missing and read_only:  # a write the read-only seal refused is ours (under the view: as at home)
            missing = contain.refused_by_seal(_uncaught(cell))
        name, sig = ("env-error", missing) if missing else (name, sig)
    if unapplied and name != "env-error":  # observed: the run made no patch_all() call to replace
        name, sig = (
            "unsupported",
            "the program never called gevent.monkey.patch_all() (it ran to its end "
            "without one: %s%s), so %s had nothing to replace; its verdicts are under none and as-written"
            % (name, ": " + sig if sig else "", spec.config["name"]),
        )
    return name, sig


def running_tests(events):
    """The tests still running when the cell was looked at (a `test` event without its `test_end`), pytest's
    node ids where pytest runs them (its unittest cases report both), in the order they began."""
    began = {}
    for e in events:
        key = (e.get("pid"), e.get("name"))
        if e["ev"] == "test" and isinstance(e.get("name"), str):
            began[key] = e
        elif e["ev"] == "test_end":
            began.pop(key, None)
    pytest_ones = [e["name"] for e in began.values() if e.get("runner") == "pytest"]
    names = pytest_ones or [e["name"] for e in began.values()]
    return list(dict.fromkeys(names))


def _patch_point(events, first_pid):
    """What the program called at its patch point, and where: the cell's first process's if it reached
    one, else the first any process of the tree reached; None if none did."""
    points = [{k: v for k, v in e.items() if k not in ("ev", "t")} for e in events if e["ev"] == "patch_point"]
    return next((p for p in points if p["pid"] == first_pid), points[0] if points else None)


def _unproven(name, proof, diag):
    """Why a deadlock or stall is not proven (or what a timeout waited on): the waits on its chain (the
    parent's, and a stall's pollers') that something outside the tree can end, what the pollers (and a timed
    out parent) may try between two timed waits that something outside can make ready, and pollers caught
    awake, whose waits went unseen; each a line."""
    pollers = proof.get("pollers", []) if name == "stall" else []
    tries = [p["pid"] for p in pollers]  # what they may try between two waits counts too
    if name == "timeout" and diag.get("processes"):
        tries.append(diag["processes"][0]["pid"])  # so does the parent's, for a timeout
    reasons = [text for _, _, text in wakers.outside_reachable(diag, tries)]
    return reasons + wakers.unseen_waits(diag, [(p["pid"], p["tid"]) for p in pollers])


def _uncaught(cell):
    """The exception the cell's first process died of, as it reported it (or None)."""
    cell.read_events()  # what it wrote just before it exited
    return next((e for e in cell.events if e["ev"] == "uncaught" and e["pid"] == cell.proc.pid), None)


def _env_python(spec):
    """The argv that runs the cell env's python (inside the root for chroot envs)."""
    return (["chroot", spec.root] if spec.root else []) + [spec.provenance.env_python]


def _names(events):
    return {e["pid"]: e["name"] for e in events if e["ev"] == "process"}


def _event_summary(events):
    """Counts per event kind and function, plus the patch and start-method events verbatim."""
    counts = {}
    keep = []
    for e in events:
        key = e["ev"] + (":" + e["fn"] if "fn" in e else "")
        counts[key] = counts.get(key, 0) + 1
        if e["ev"] in (
            "patch_point",
            "patched",
            "start_method",
            "start_method_refused",
            "start_method_program",
            "unsupported",
            "process",
            "uncaught",
            "fork",
        ):
            keep.append({k: v for k, v in e.items() if k != "t"})
    return {"counts": counts, "notable": keep[:40]}


def _start_used(spec, events, diag):
    """The start method the cell really used: what the parent reported, confirmed by what the tree shows."""
    reported = next((e.get("current") for e in events if e["ev"] == "start_method"), None)
    seen = ""
    for p in diag.get("processes", []):
        if "forkserver import main" in p["cmdline"]:
            seen = "forkserver"
        elif "spawn_main" in p["cmdline"] and not seen:
            seen = "spawn"
    if not seen and len(diag.get("processes", [])) > 1:
        seen = "fork"
    return {
        "requested": spec.start,
        "reported": reported,
        "seen_in_tree": seen or None,
        "refused": next((e["error"] for e in events if e["ev"] == "start_method_refused"), None),
    }
