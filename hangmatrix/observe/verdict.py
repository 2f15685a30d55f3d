"""Verdicts, each proven from what was observed.

- deadlock: every thread of the tree in an untimed blocking wait, and nothing (CPU, wake-ups, threads,
  processes, output, events) changed over consecutive samples. Nothing inside can wake anything then.
- stall: a hang proven by absence of progress, not a deadlock: some threads only poll (wake, find nothing,
  wait again), every other thread waits untimed, and the program made no progress for a window.
- running: an endless case whose progress functions were seen ticking.
- timeout: the backstop ran out without either proof. ok / error / crash come from how the program ended.
This module proposes (the Detector's proofs) and reads (a traceback, a failure the hub swallowed, the
one-line signature of where a tree is stuck); the verdict is decided in one place, hangmatrix.run.conclusion.
The names and their groups are hangmatrix.model.verdicts'.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from . import waits, wakers
from .watch import Sample

NAMED_SLEEP_S = 60.0  # a timed wait this long is what a timed-out tree waits for: the signature names it


@dataclass
class Marks:
    """The program's own progress so far, as counters that only grow."""

    events: int = 0  # progress events (calls and ticks of the case's functions, process starts)
    ticks: int = 0
    output: int = 0  # bytes on stdout + stderr

    def key(self) -> Tuple[int, int]:
        return (self.events, self.output)


@dataclass
class Detector:
    """Fed one sample at a time; returns (verdict, proof) once a verdict is proven, else None."""

    endless: bool = False
    quiet_samples: int = 3  # identical, all-untimed samples needed for deadlock
    min_quiet_s: float = 0.1
    stall_s: float = 2.0  # no progress for this long while only polling -> stall
    min_polls: int = 2  # a poller must have woken at least this often in the window
    _prev: Optional[dict] = None
    _quiet: int = 0
    _quiet_since: float = 0.0
    _window: list = field(default_factory=list)
    _progress_key: Optional[tuple] = None
    _progress_t: float = 0.0
    _last_t: Optional[float] = None

    def feed(self, snap: Sample, marks: Marks, io_total: int = 0) -> Optional[Tuple[str, Dict[str, Any]]]:
        if self.endless and marks.ticks >= 2:
            return "running", {"ticks": marks.ticks, "events": marks.events}
        threads = {(pid, th.tid): th for pid, p in snap.procs.items() for th in p.threads.values()}
        if not threads:
            return None
        self._last_t = snap.t
        now_key = {k: (th.run_ns, th.slices, th.syscall, th.args) for k, th in threads.items()}
        progress = (marks.key(), io_total, frozenset(threads))
        if progress != self._progress_key:
            self._progress_key, self._progress_t, self._window = progress, snap.t, []
        all_untimed = all(waits.wait_kind(th) == "untimed" for th in threads.values())
        if all_untimed and now_key == self._prev:
            self._quiet += 1
        else:
            self._quiet, self._quiet_since = (1 if all_untimed else 0), snap.t
        self._prev = now_key
        if (
            self._quiet >= self.quiet_samples
            and snap.t - self._quiet_since >= self.min_quiet_s
            and snap.t - self._progress_t >= self.min_quiet_s
        ):
            return "deadlock", {"quiet_samples": self._quiet, "quiet_for_s": round(snap.t - self._quiet_since, 3)}
        self._window.append((snap.t, threads))
        return self._stall(snap.t)

    @property
    def quiet_since(self) -> float:
        """When the current run of still, all-untimed samples began (its first sample's time)."""
        return self._quiet_since

    @property
    def still_samples(self) -> int:
        """How many consecutive samples so far were still and all-untimed (0: the last one was not)."""
        return self._quiet

    def proof_due(self) -> Optional[Tuple[float, int]]:
        """(time, samples) of the current still run: the first moment its samples can prove a deadlock
        (min_quiet_s after it began and after the last progress), and how many more samples that takes
        (one at least at that moment; 0 when the last sample completed it). None when the last sample was
        not still and all-untimed."""
        if not self._quiet:
            return None
        at = max(self._quiet_since, self._progress_t) + self.min_quiet_s
        last = self._last_t if self._last_t is not None else at  # set: a still run has samples
        return at, max(self.quiet_samples - self._quiet, 1 if last < at else 0)

    def moving(self) -> bool:
        """Whether the program's own progress (events, output, ticks, io, its set of threads) changed at the
        last sample: no deadlock or stall can be proven until min_quiet_s or stall_s after it stops."""
        return self._last_t is not None and self._progress_t == self._last_t

    def _stall(self, now):
        """Stall: no progress for stall_s; over that window every thread waits (a poller may be caught
        awake now and then, but not busy), each thread that woke is back in a wait, and each thread in a
        timed wait woke repeatedly (a poller) rather than sleeping once for long."""
        while self._window and self._window[0][0] < now - self.stall_s:
            self._window.pop(0)
        if now - self._progress_t < self.stall_s or len(self._window) < 5:
            return None
        t0, first = self._window[0]
        last = self._window[-1][1]
        pollers = []
        for key, th in last.items():
            kind = waits.wait_kind(th)
            waiting = sum(1 for _, threads in self._window if waits.wait_kind(threads[key]) is not None)
            if kind is None or waiting < 0.7 * len(self._window):
                return None
            woke = th.slices - first[key].slices
            if (th.run_ns - first[key].run_ns) / 1e9 > 0.2 * (now - t0):
                return None  # busy, maybe computing: not a stall
            if kind == "timed" and woke < self.min_polls:
                return None  # one long timed wait: it may still end in progress
            if woke:
                pollers.append({"pid": key[0], "tid": key[1], "name": th.name, "syscall": th.syscall, "wakeups": woke})
        if not pollers:
            return None
        return "stall", {"no_progress_for_s": round(now - self._progress_t, 2), "pollers": pollers}


def still(before: Sample, after: Sample) -> bool:
    """Whether every thread of `before` is in `after`, still asleep in the same wait, not having run since.
    Checked after a deadlock's look at who can end each wait: what the look read (a timerfd that has just
    fired reads as disarmed) proves nothing if a wait ended meanwhile. The state catches a thread woken but
    not yet scheduled, which a loaded machine leaves runnable for a while."""
    if {p: set(proc.threads) for p, proc in before.procs.items()} != {
        p: set(proc.threads) for p, proc in after.procs.items()
    }:
        return False  # a process or thread came or went
    for pid, proc in before.procs.items():
        other = after.procs[pid]
        for tid, th in proc.threads.items():
            now = other.threads.get(tid)
            if (
                now is None
                or now.state != "S"
                or (now.syscall, now.args, now.run_ns, now.slices) != (th.syscall, th.args, th.run_ns, th.slices)
            ):
                return False
    return True


# ---------------------------------------------------------------- what an ending printed, and the one-line signature

_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Timeout)|[A-Za-z_][\w.]*)(: .*)?$")


def last_exception(stderr: str) -> str:
    """`LoopExit: This operation would block forever` from the last traceback on stderr, or ''."""
    lines = stderr.splitlines()
    idx = max((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")), default=None)
    if idx is None:
        return ""
    for line in lines[idx + 1 :]:
        if line and not line.startswith((" ", "\t", "Traceback")) and _EXC_LINE.match(line.strip()):
            return line.strip()[:300]
    return ""


# gevent's Hub.print_exception: `<callback at 0x…> failed with AssertionError` (a timestamp first since 20.x)
_HUB_FAILED = re.compile(r"^(?:\S+Z )?(<.+>) failed with ([A-Za-z_][\w.]*)\s*$", re.M)


def hub_failure(stderr: str) -> str:
    """`<callback …> failed with AssertionError: (None, …)` when gevent's hub printed that a greenlet or
    callback it ran failed (the exception is swallowed: the program goes on and may exit 0), else ''."""
    found = list(_HUB_FAILED.finditer(stderr))
    if not found:
        return ""
    what, kind = found[-1].group(1), found[-1].group(2)
    exc = last_exception(stderr[: found[-1].start()])
    detail = exc if exc.split(":", 1)[0].rsplit(".", 1)[-1] == kind.rsplit(".", 1)[-1] else kind
    more = " (and %d more)" % (len(found) - 1) if len(found) > 1 else ""
    return "%s failed with %s%s" % (what[:200], detail, more)


def _also(stderr):
    exc = last_exception(stderr)
    return "; after %s" % exc if exc else ""


def _call_name(call):
    return call.split("(", 1)[0] + "()"


def signature(verdict: str, diag: Dict[str, Any], proof: Dict[str, Any], stderr: str = "") -> str:
    """One line naming where the tree is stuck: the parent's main-thread wait, and for a pipe, who holds
    the other end and what they are blocked in. A helper thread's exception is appended as the cause."""
    procs = diag.get("processes", []) if diag else []
    if verdict == "stall":
        polls = ", ".join(
            "%s %s in %s() woke %d×" % (_role(procs, p["pid"]), p["name"], p["syscall"], p["wakeups"])
            for p in proof.get("pollers", [])[:4]
        )
        head = "no progress for %.1f s; only polling: %s" % (proof.get("no_progress_for_s", 0), polls)
        root = _root_wait(procs)
        return head + ("; " + root if root else "") + _also(stderr)
    if verdict == "deadlock":
        return (_root_wait(procs) or "every thread in an untimed wait") + _also(stderr)
    if verdict == "timeout":
        root = _root_wait(procs)
        main_tid = procs[0]["pid"] if procs else None
        others = [text for _, tid, text in wakers.outside_reachable(diag) if tid != main_tid]
        main = _main_wake(procs[0]) if procs else {}
        tried = ["between two waits it may try " + why for why in main.get("between", [])]
        extra = (others + tried)[:1]
        if root and (extra or main.get("outside") or main.get("ends_in_s", 0) >= NAMED_SLEEP_S):
            return root + "".join("; " + e for e in extra) + _also(stderr)  # what it waits on, outside
        return "no proof of deadlock or progress before the timeout" + ("; " + root if root else "") + _also(stderr)
    return ""


def _main_wake(proc):
    main = next((t for t in proc["threads"] if t["tid"] == proc["pid"]), None)
    return (main or {}).get("wake") or {}


def _role(procs, pid):
    for p in procs:
        if p["pid"] == pid:
            return p["role"]
    return str(pid)


def _root_wait(procs):
    """`parent blocked in read() on pipe:[…]; its writers: …`, then the parent's other threads that wait on
    a pipe (with thread=False, the Pool's helper threads are real threads and the chain runs through them)."""
    if not procs:
        return ""
    root = procs[0]
    main = next((t for t in root["threads"] if t["tid"] == root["pid"]), None)
    if main is None:
        return ""
    wake = main.get("wake") or {}
    if wake.get("ends_in_s", 0) >= NAMED_SLEEP_S and not wake.get("outside"):  # nothing outside ends it sooner
        return "%s sleeping in %s for %s" % (root["role"], _call_name(main["call"]), waits.duration(wake["ends_in_s"]))
    text = "%s blocked in %s" % (root["role"], _call_name(main["call"])) + _pipe_chain(main, root)
    if not main.get("pipe") and main["call"].startswith("futex") and main.get("wait") == "untimed":
        text += " (an untimed lock wait)"
    if not main.get("pipe"):
        text += _wake_chain(main, root, procs)
    others = [t for t in root["threads"] if t is not main and t.get("pipe")]
    for t in others[:2]:
        text += "; its thread %d in %s%s" % (t["tid"], _call_name(t["call"]), _pipe_chain(t, root))
    return text


def _pipe_chain(thread, root):
    pipe = thread.get("pipe")
    if not pipe:
        return ""
    groups = {}
    for h in pipe["holders"]:
        who = "itself" if h["pid"] == root["pid"] else re.sub(r" \d+$", "", h["role"])
        groups.setdefault(who, []).append(_call_name(h["blocked_in"]))
    parts = []
    for who, calls in groups.items():
        if who == "itself":
            parts.append("the parent itself")
            continue
        counts = {}
        for c in calls:
            counts[c] = counts.get(c, 0) + 1
        plural = who + ("s" if len(calls) > 1 and not who.endswith("s") else "")
        parts.append("%d %s (%s)" % (len(calls), plural, ", ".join("%d in %s" % (n, c) for c, n in counts.items())))
    text = " on %s; its %s: %s" % (
        pipe["target"],
        "writers" if pipe["other_end"] == "write" else "readers",
        ", ".join(parts) or "none",
    )
    if pipe.get("outside_holders"):
        text += "; also held outside the tree by %s" % pipe["outside_holders"]
    return text


def _wake_chain(thread, root, procs):
    """` on TCP a → b (peer outside the tree)` for a wait something outside can end; for a socket or lock
    wait ended only from inside, what it waits on and the processes that could end it."""
    wake = thread.get("wake") or {}
    if wake.get("outside"):
        text = " on " + wake["outside"][0]
        return text + (" for up to %s" % waits.duration(wake["ends_in_s"]) if "ends_in_s" in wake else "")
    if not wake.get("on") or not (
        thread["syscall"] in waits.FD_WAITS
        or thread["syscall"] in ("flock", "fcntl")
        or thread["syscall"] in wakers.POLLS
    ):
        return ""
    who = [
        "%s (in %s)" % (p["role"], _call_name(_main_call(p)))
        for p in procs
        if p["pid"] in wake.get("inside", []) and p["pid"] != root["pid"]
    ]
    return " on %s; who could end it: %s" % (", ".join(wake["on"][:3]), ", ".join(who) or "the parent itself")


def _main_call(proc):
    return next((t["call"] for t in proc["threads"] if t["tid"] == proc["pid"]), "?")
