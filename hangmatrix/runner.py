"""Running cells. Each cell gets its own supervisor process (`python -m hangmatrix.runner`), which:

- dies with the harness (PR_SET_PDEATHSIG) and adopts every orphan of the cell (PR_SET_CHILD_SUBREAPER),
  so setsid'd children and double-forked daemons stay in view and none outlives the run;
- launches the case in its own session, stdout/stderr to files (a hung grandchild holding a pipe can never
  hang the harness), TMPDIR in a private folder;
- samples the tree, lets the Detector prove a verdict (or hits the timeout backstop), diagnoses, then
  kills the whole tree and checks it is gone, removes named semaphores and the folder it made;
- prints the record as one JSON line.
"""
import ctypes
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from . import __version__, cases, configs, records, verdict, watch

INJECT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inject")
UNSUPPORTED_EXIT = 86
OUTPUT_CAP = 16 * 1024 * 1024
TAIL = 4000
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x00020000, 0x4000, 1 << 18
MAX_PROCESSES = 400  # a case that forks more is stopped: the harness must stay responsive
STOP = []  # set by SIGTERM (the harness died): the watch loop ends and the tree is killed


# ---------------------------------------------------------------- the harness side

def make_spec(case, config, start, env, timeout=30.0, detect=True, harness_pid=None):
    """Everything the supervisor needs, as JSON-able data (env is an envs.Env)."""
    interp = env.interpreter
    return {
        "id": records.cell_id(case.name, interp.short, env.gevent, config["name"], start),
        "case": {"name": case.name, "path": case.path, "sha256": case.sha256, "endless": case.endless,
                 "expect": case.expect, "progress": case.progress, "workers": case.workers},
        "config": config, "start": start, "timeout": timeout, "detect": detect,
        "argv": [env.python, env.stage(case.path)],
        "inject": env.stage(INJECT_DIR), "root": interp.root or "", "tmp_base": env.tmp_base,
        "harness_pid": harness_pid or os.getpid(),
        "provenance": {
            "python": interp.version, "python_short": interp.short, "implementation": interp.implementation,
            "build": interp.build, "interpreter": interp.path, "interpreter_source": interp.source,
            "default_start": interp.default_start, "env_python": env.python, "env_path": env.path,
            "gevent": env.gevent, "greenlet": env.greenlet, "packages": env.packages,
            "resolved_as_of": env.resolved_as_of,
        },
    }


def base_record(spec):
    prov = spec["provenance"]
    return {
        "id": spec["id"], "case": spec["case"]["name"], "config": spec["config"]["name"], "start": spec["start"],
        "python": prov["python"], "gevent": prov["gevent"], "greenlet": prov["greenlet"],
        "verdict": "", "signature": "", "elapsed_s": 0.0, "diagnosis": {},
        "provenance": dict(prov, case_path=spec["case"]["path"], case_sha256=spec["case"]["sha256"],
                           os=platform.platform(), kernel=platform.release(), machine=platform.machine(),
                           cpus=os.cpu_count(), hangmatrix=__version__),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "detect": spec["detect"], "timeout_s": spec["timeout"],
    }


def without_run(spec, verdict_name, reason):
    """A record for a cell decided before launch (unsupported start method, broken case, env-error)."""
    rec = base_record(spec)
    rec.update(verdict=verdict_name, signature=reason)
    return rec


def run_cell(spec):
    """Run one cell under its own supervisor; always returns a record (a supervisor failure is `error`)."""
    proc = subprocess.Popen([sys.executable, "-m", "hangmatrix.runner"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out, err = proc.communicate(json.dumps(spec).encode())
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        msg = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return without_run(spec, "error", "harness supervisor failed (exit %s): %s" % (proc.returncode, msg[:300]))


# ---------------------------------------------------------------- the supervisor side

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option, value):
    return _libc.prctl(option, value, 0, 0, 0)


def _private_shm(root):
    """In the cell's first process, before exec: a mount namespace of its own with a fresh tmpfs on
    /dev/shm, so every named semaphore and shared-memory segment of the tree vanishes with it; and
    death with the supervisor, in case the supervisor itself is killed."""
    def setup():
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
        target = (root + "/dev/shm").encode()
        if _libc.mount(b"tmpfs", target, b"tmpfs", 0, b"mode=1777,size=256m") != 0:
            raise OSError(ctypes.get_errno(), "mount tmpfs on " + target.decode())
    return setup


class Cell:
    """One supervised run of a case: its folder, its process, what it printed and reported."""

    def __init__(self, spec):
        self.spec = spec
        self.root = spec["root"]
        os.makedirs(spec["tmp_base"], exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="hangmatrix-cell-", dir=spec["tmp_base"])
        self.paths = {k: os.path.join(self.dir, k) for k in ("stdout", "stderr", "events", "stacks", "greenlets")}
        os.mkdir(os.path.join(self.dir, "tmp"))
        self.proc = None
        self.events = []
        self.progress_events = 0
        self.ticks = {}
        self._events_offset = 0
        self.shm_seen = set()

    def inside(self, path):
        """The path as the cell sees it (inside the chroot, for Debian-root interpreters)."""
        return path[len(self.root):] if self.root and path.startswith(self.root) else path

    def launch(self):
        spec = self.spec
        cell_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX", "VIRTUAL_ENV"))}
        if os.environ.get("HANGMATRIX_OWNER"):  # lets a test suite tell its own cells from others'
            cell_env["HANGMATRIX_OWNER"] = os.environ["HANGMATRIX_OWNER"]
        cell_env.update({
            "PYTHONPATH": spec["inject"], "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": self.inside(os.path.join(self.dir, "tmp")),
            "HANGMATRIX_CELL": json.dumps({
                "config": spec["config"], "start": spec["start"],
                "progress": spec["case"]["progress"], "workers": spec["case"]["workers"],
                "events": self.inside(self.paths["events"]), "stacks": self.inside(self.paths["stacks"]),
                "greenlets": self.inside(self.paths["greenlets"])}),
        })
        with open(self.paths["stdout"], "wb") as out, open(self.paths["stderr"], "wb") as err:
            kwargs = dict(stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=os.path.join(self.dir, "tmp"),
                          env=cell_env, start_new_session=True)
            argv = spec["argv"]
            if self.root:  # chroot resets the working directory: set it again inside
                argv = ["chroot", self.root, "/usr/bin/env", "--chdir=" + self.inside(kwargs["cwd"])] + argv
            try:
                self.proc = subprocess.Popen(argv, preexec_fn=_private_shm(self.root), **kwargs)
                self.private_shm = True
            except (OSError, subprocess.SubprocessError):  # not root: clean /dev/shm by what the tree mapped
                self.proc = subprocess.Popen(argv, **kwargs)
                self.private_shm = False
        self.launched = time.time()

    def read_events(self):
        try:
            with open(self.paths["events"], "rb") as f:
                f.seek(self._events_offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._events_offset += end
        for line in data[:end].splitlines():
            try:
                event = json.loads(line.decode())
            except ValueError:
                continue
            self.events.append(event)
            if event["ev"] in ("call", "tick", "process", "start"):
                self.progress_events += 1
            if event["ev"] == "tick":  # loop ticks per (process, function): 2 in one prove `running`
                key = (event["pid"], event["fn"])
                self.ticks[key] = self.ticks.get(key, 0) + 1

    def output_size(self):
        return sum(os.path.getsize(self.paths[k]) for k in ("stdout", "stderr") if os.path.exists(self.paths[k]))

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
            stat = watch._read("/proc/%d/stat" % pid) or ""
            if ") Z " in stat:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def note_shm(self, pids):
        """Without a private /dev/shm: the named semaphores and shared memory the tree has mapped, to
        remove after the kill."""
        if self.private_shm:
            return
        for pid in pids:
            for line in (watch._read("/proc/%d/maps" % pid, 1 << 20) or "").splitlines():
                i = line.find("/dev/shm/")
                if i >= 0:
                    self.shm_seen.add(line[i:].replace(" (deleted)", ""))

    def kill_tree(self):
        """SIGKILL every descendant until none is left; returns (seconds taken, survivors)."""
        t0 = time.time()
        me = os.getpid()
        while time.time() - t0 < 5:
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
        survivors = watch.descendants(me)
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(1)
            except subprocess.TimeoutExpired:
                survivors.append(self.proc.pid)
        return round(time.time() - t0, 3), survivors

    def clean(self):
        removed = []
        for path in sorted(self.shm_seen):
            if os.path.exists(path):
                try:
                    os.unlink(path)
                    removed.append(path)
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        return removed


def interval(elapsed):
    """Sample fast while a verdict is likeliest (the seed deadlock is still at ~0.15 s), slower later."""
    return 0.025 if elapsed < 1.5 else 0.05 if elapsed < 4 else 0.1


def supervise(spec):
    """The supervisor's whole job for one cell; returns the record."""
    rec = base_record(spec)
    cell = Cell(spec)
    harness_files = {cell.inside(p) for p in cell.paths.values()}
    try:
        cell.launch()
        detector = verdict.Detector(endless=spec["case"]["endless"])
        marks = verdict.Marks()
        snap, result, proof = None, None, {}
        quiet_at = fixed_mode_found = proven_diag = None
        dump = open(os.environ["HANGMATRIX_DUMP_SAMPLES"], "a") if os.environ.get("HANGMATRIX_DUMP_SAMPLES") else None
        while True:
            elapsed = time.time() - cell.launched
            snap = watch.sample(os.getpid())
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
            if STOP:
                result = "interrupted"
                break
            if marks.output > OUTPUT_CAP:
                result, proof = "error", {"why": "output over the %d MiB cap" % (OUTPUT_CAP >> 20)}
                break
            if len(snap.procs) > MAX_PROCESSES:
                result, proof = "error", {"why": "more than %d processes in the tree" % MAX_PROCESSES}
                break
            io_total = sum(p.rchar + p.wchar for p in snap.procs.values())
            found = detector.feed(snap, marks, io_total)
            if found and not spec["detect"]:
                fixed_mode_found = found  # fixed-timeout mode: observe the same way, but wait it out
                found = None
            elif not spec["detect"]:
                fixed_mode_found = None
            if found:
                if found[0] == "deadlock":
                    diag = proven_diag = watch.diagnose(watch.sample(os.getpid(), full=True), cell.proc.pid, _names(cell.events),
                                          harness_files)
                    outside = _outside(diag)
                    if outside:  # something outside could still write: no proof, keep watching
                        proof["unproven"] = "pipe also held outside the tree: %s" % outside
                        found = None
                if found:
                    result, proof = found[0], dict(proof, **found[1])
                    quiet_at = round(detector._quiet_since - cell.launched, 3) if result == "deadlock" else None
                    break
            if elapsed > spec["timeout"]:
                result = "timeout"
                if not spec["detect"] and fixed_mode_found:
                    result, proof = fixed_mode_found[0], dict(proof, **fixed_mode_found[1])
                break
            time.sleep(interval(elapsed) if spec["detect"] else 0.25)
        rec["elapsed_s"] = round(time.time() - cell.launched, 3)
        out_at, err_at = (os.path.getsize(cell.paths[k]) for k in ("stdout", "stderr"))
        diag = {}
        if snap is not None and snap.procs and result != "interrupted":  # interrupted: kill at once
            cell.note_shm(snap.procs)
            diag = proven_diag if result == "deadlock" and proven_diag else watch.diagnose(
                watch.sample(os.getpid(), full=True), cell.proc.pid, _names(cell.events), harness_files)
            if result == "deadlock" and _outside(diag):  # fixed-timeout mode decides here, not in the loop
                result, proof["unproven"] = "timeout", "pipe also held outside the tree: %s" % _outside(diag)
            if result != "ended":
                pids = [p["pid"] for p in diag["processes"]]
                diag["python_stacks"], diag["greenlets"] = watch.python_stacks(
                    pids, cell.paths["stacks"], cell.paths["greenlets"],
                    faulthandler=not spec["provenance"]["python"].startswith("2."))
        stdout, stderr = cell.tail("stdout", out_at), cell.tail("stderr", err_at)
        if result == "ended":
            unsupported = next((e["reason"] for e in cell.events if e["ev"] == "unsupported"), "")
            if code == UNSUPPORTED_EXIT and unsupported:
                name, sig = "unsupported", unsupported
            else:
                name, sig = verdict.ended(code, spec["case"]["endless"], spec["case"]["expect"], stdout, stderr)
            left = [{"pid": p["pid"], "role": p["role"]} for p in diag.get("processes", [])
                    if p["pid"] != cell.proc.pid]
            if left:
                proof["left_running_at_exit"] = left
            rec["exit_code"] = code
        elif result in ("error", "interrupted"):
            name, sig = "error", proof.get("why", "the harness stopped before a verdict")
        elif result == "running":
            name, sig = "running", ""
        else:
            name, sig = result, verdict.signature(result, diag, proof, stderr)
        rec.update(verdict=name, signature=sig, diagnosis=diag, proof=proof, stdout_tail=stdout, stderr_tail=stderr)
        rec["quiescent_at_s"] = quiet_at
        rec["events"] = _event_summary(cell.events)
        rec["start_used"] = _start_used(spec, cell.events, diag)
    finally:
        kill_s, survivors = cell.kill_tree()
        rec["cleanup"] = {"kill_s": kill_s, "survivors": survivors, "shm_removed": cell.clean(),
                          "private_shm": getattr(cell, "private_shm", False)}
        rec["cpu_s"] = {"cell": round(sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]), 3),
                        "watch": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 3)}
    return rec


def _outside(diag):
    """Pipes a blocked thread waits on that a process outside the tree also holds."""
    return [t["pipe"]["outside_holders"] for p in diag.get("processes", []) for t in p["threads"]
            if t.get("pipe", {}).get("outside_holders")]


def _names(events):
    return {e["pid"]: e["name"] for e in events if e["ev"] == "process"}


def _event_summary(events):
    """Counts per event kind and function, plus the patch and start-method events verbatim."""
    counts = {}
    keep = []
    for e in events:
        key = e["ev"] + (":" + e["fn"] if "fn" in e else "")
        counts[key] = counts.get(key, 0) + 1
        if e["ev"] in ("patched", "start_method", "start_method_refused", "unsupported", "process"):
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
    return {"requested": spec["start"], "reported": reported, "seen_in_tree": seen or None,
            "refused": next((e["error"] for e in events if e["ev"] == "start_method_refused"), None)}


def main():
    spec = json.loads(sys.stdin.read())
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != spec["harness_pid"]:
        return 1  # the harness is already gone
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, lambda *_: STOP.append(True))
    rec = supervise(spec)
    sys.stdout.write(json.dumps(rec, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- planning and executing a matrix

class PlanError(ValueError):
    """A selection that names nothing runnable; one line."""


def default_jobs():
    """Cells at once: blocked cells use no CPU, so more than the cores, but not so many that start-up
    (interpreter and gevent imports) thrashes."""
    return max(2, 3 * (os.cpu_count() or 1))  # 6 here: measured best in benchmarks/ (4 and 8 were slower)


def _installed_gevent():
    try:
        from importlib.metadata import version
        return version("gevent")
    except Exception:
        return None


def plan(case_names=(), config_names=(), starts=(), pythons=(), gevents=(), matrix=None, matrix_file=None,
         timeout=30.0, detect=True, warn=print):
    """The cells a selection names: a matrix of matrix.toml (or, with none named, this interpreter and
    the harness's own gevent), any axis overridden by explicit options. A missing interpreter is reported
    in one line and the rest is still planned; an unknown gevent release becomes env-error records."""
    import dataclasses
    from . import envs, matrix as matrix_mod
    if matrix or matrix_file:
        m = matrix_mod.load_matrix(matrix_file, matrix or "default")
    else:
        m = matrix_mod.Matrix(pythons=["%d.%d" % sys.version_info[:2]], gevents=[_installed_gevent() or "default"],
                              starts=list(configs.STARTS), configs=list(configs.NAMED))
    overrides = {"cases": case_names, "configs": config_names, "starts": starts, "pythons": pythons,
                 "gevents": gevents}
    m = dataclasses.replace(m, **{axis: list(v) for axis, v in overrides.items() if v})
    chosen_cases = cases.select(m.cases)
    chosen_configs = [configs.parse(c) for c in m.configs]
    chosen_starts = [configs.check_start(s) for s in m.starts]
    debian_root = m.debian_root or os.environ.get("HANGMATRIX_DEBIAN_ROOT") == "1"
    if m.pythons == ["discovered"]:
        interps = envs.discover(debian_root=debian_root)
    else:
        interps = []
        for spec in m.pythons:
            try:
                interps.append(envs.find_interpreter(spec, debian_root=debian_root))
            except envs.EnvError as exc:
                warn(str(exc))
    if m.gevents in (["default"], ["all"]):
        pairs = m.pairs(interps, envs.gevent_releases)
    else:
        pairs = [(interp, gv) for interp in interps for gv in m.gevents]
    items = []
    for interp, gv in pairs:
        for case in chosen_cases:
            for config in chosen_configs:
                for start in chosen_starts:
                    items.append({"id": records.cell_id(case.name, interp.short, gv, config["name"], start),
                                  "case": case, "config": config, "start": start, "interpreter": interp,
                                  "gevent": gv, "timeout": timeout, "detect": detect})
    if not items:
        raise PlanError("the selection names no cell (no interpreter found, or an empty axis)")
    return items


def _decided_before_launch(item):
    """Verdicts that need no run: a broken case, a case or start method the interpreter cannot have."""
    case, interp = item["case"], item["interpreter"]
    if case.problem:
        return "error", case.problem
    if not case.supports(interp.version):
        return "unsupported", "%s needs Python %s" % (case.name, case.python)
    if item["start"] in ("spawn", "forkserver") and interp.version.startswith("2."):
        return "unsupported", "Python %s has no %s start method (fork only)" % (interp.version, item["start"])
    return None


def _unbuilt_spec(item, env_error=""):
    """A spec good enough for a record when there is no env (env-error) or no run."""
    interp = item["interpreter"]
    prov = {"python": interp.version, "python_short": interp.short, "implementation": interp.implementation,
            "build": interp.build, "interpreter": interp.path, "interpreter_source": interp.source,
            "default_start": interp.default_start, "gevent": item["gevent"], "greenlet": "", "packages": {}}
    return {"id": item["id"], "case": {"name": item["case"].name, "path": item["case"].path,
                                       "sha256": item["case"].sha256},
            "config": item["config"], "start": item["start"], "timeout": item["timeout"],
            "detect": item["detect"], "provenance": prov}


def execute(items, jobs=None, on_record=None, progress=False, ensure=None):
    """Build each (interpreter, gevent) environment once, in a pool of its own, and start that env's
    cells as soon as it is ready, so builds overlap runs. Returns the records. `ensure(interp, gevent)`
    makes an environment (default envs.ensure_env; upgrade-check passes one for local wheels)."""
    from concurrent.futures import as_completed
    from . import envs
    jobs = jobs or default_jobs()
    out = []
    display = _Progress(len(items)) if progress else None

    def finish(rec):
        out.append(rec)
        if display:
            display.advance(rec)
        if on_record:
            on_record(rec)

    groups = {}
    for item in items:
        groups.setdefault((item["interpreter"], item["gevent"]), []).append(item)
    try:
        with ThreadPoolExecutor(max_workers=2) as builders, ThreadPoolExecutor(max_workers=jobs) as cells:
            builds = {builders.submit(ensure or envs.ensure_env, interp, gv): (interp, gv) for interp, gv in groups}
            running = []
            for fut in as_completed(builds):
                group = groups[builds[fut]]
                try:
                    env = fut.result()
                except envs.EnvError as exc:
                    for item in group:
                        finish(without_run(_unbuilt_spec(item), "env-error", str(exc)))
                    continue
                for item in group:
                    decided = _decided_before_launch(item)
                    if decided:
                        rec = without_run(_unbuilt_spec(item), *decided)
                        rec.update(greenlet=env.greenlet)
                        finish(rec)
                        continue
                    spec = make_spec(item["case"], item["config"], item["start"], env, item["timeout"], item["detect"])
                    running.append(cells.submit(run_cell, spec))
            for fut in as_completed(running):
                finish(fut.result())
    finally:
        if display:
            display.close()
    return out


class _Progress:
    """A live line on stderr (rich): cells done/total, verdict counts, ETA."""

    def __init__(self, total):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        self.counts = {}
        self.bar = Progress(TextColumn("{task.completed}/{task.total} cells"), BarColumn(),
                            TextColumn("{task.description}"), TimeRemainingColumn(), transient=True)
        self.task = self.bar.add_task("", total=total)
        self.bar.start()

    def advance(self, rec):
        self.counts[rec["verdict"]] = self.counts.get(rec["verdict"], 0) + 1
        self.bar.update(self.task, advance=1, description=" ".join("%s %d" % kv for kv in sorted(self.counts.items())))

    def close(self):
        self.bar.stop()
