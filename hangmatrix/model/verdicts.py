"""The verdict vocabulary, in one place: the names a record's `verdict` can hold, the groups every part
reasons with (hangs, failures, working, untested), and how each verdict is drawn (Markdown symbol, a
one-letter code for text grids, the HTML glyph and colour). observe/ decides verdicts; everything after it
(store, report, checks) reads them through these names and predicates.
"""

from dataclasses import dataclass
from typing import Iterable, Optional

# The order records, baselines and messages list verdicts in.
NAMES = ("ok", "running", "deadlock", "stall", "error", "timeout", "crash", "env-error", "unsupported")

HANG = ("deadlock", "stall", "timeout")  # the program stopped making progress (proven, or unfinished)
FAIL = ("error", "crash")  # the program ended badly
WORKS = ("ok", "running")  # ended well, or an endless case seen making progress
UNTESTED = ("unsupported", "env-error")  # the combination did not run: says nothing about gevent
PROVEN_HANG = ("deadlock", "stall")  # a hang proven from observation, not a backstop that ran out

# Groups a baseline rule may name instead of verdicts.
GROUPS = {"hang": HANG, "works": WORKS, "any": NAMES}


@dataclass(frozen=True)
class Look:
    """How one verdict is drawn."""

    symbol: str  # Markdown (emoji)
    letter: str  # fixed-width text grids
    glyph: str  # HTML cell
    colour: str  # HTML background
    ink: str  # HTML text colour on that background
    meaning: str


# In legend order: working, hangs, failures, not run.
LOOKS = {
    "ok": Look("✅", "o", "✓", "#2e7d32", "#fff", "ended and its output check passed"),
    "running": Look("🟢", "r", "▶", "#00897b", "#fff", "endless case, progress seen (its tasks run)"),
    "deadlock": Look(
        "🔴", "D", "✖", "#c62828", "#fff", "proven deadlock: every thread in an untimed wait, nothing changing"
    ),
    "stall": Look("🟠", "S", "≈", "#ef6c00", "#fff", "hang proven by absence of progress; only polling threads"),
    "timeout": Look("⏳", "T", "?", "#f9a825", "#000", "unfinished at the timeout, no proof either way"),
    "error": Look("⚠️", "E", "!", "#6a1b9a", "#fff", "exited with an exception or failed its output check"),
    "crash": Look("💥", "C", "✷", "#37474f", "#fff", "killed by a signal"),
    "env-error": Look("⚙️", "e", "⚙", "#9e9e9e", "#000", "the environment could not be built"),
    "unsupported": Look(
        "➖", "-", "–", "#cfd8dc", "#000", "this combination cannot run (flag, start method or Python)"
    ),
}
MISSING = Look("·", ".", "", "#ffffff", "#000", "no record")
FLAKY_MARK = "±"  # after a cell's symbol: its runs disagree


def is_hang(verdict: Optional[str]) -> bool:
    return verdict in HANG


def failed(verdict: Optional[str]) -> bool:
    return verdict in FAIL


def works(verdict: Optional[str]) -> bool:
    return verdict in WORKS


def untested(verdict: Optional[str]) -> bool:
    return verdict in UNTESTED


# What going from one verdict to another is (change, change_from): the one decision baselines, upgrade checks
# and diffs share.
SAME, REGRESSION, IMPROVEMENT, CHANGE = "same", "regression", "improvement", "change"


def change(old: Optional[str], new: str) -> str:
    """What going from verdict old to verdict new is: a REGRESSION (a new hang, or a failure of what worked),
    an IMPROVEMENT (what hung or failed now works), another CHANGE, or SAME. From an untested verdict
    (unsupported, env-error) nothing is a regression or an improvement: it said nothing about gevent."""
    if old == new:
        return SAME
    if untested(old):
        return CHANGE
    if (is_hang(new) and not is_hang(old)) or (failed(new) and works(old)):
        return REGRESSION
    if works(new) and not works(old):
        return IMPROVEMENT
    return CHANGE


def change_from(expected: Iterable[str], new: str) -> str:
    """What verdict new is against a set of expected ones (a baseline rule's): a REGRESSION from every one,
    an IMPROVEMENT from one of them, SAME when expected, else a CHANGE."""
    options = tuple(expected)
    if new in options:
        return SAME
    steps = [change(old, new) for old in options]
    if steps and all(step == REGRESSION for step in steps):
        return REGRESSION
    return IMPROVEMENT if IMPROVEMENT in steps else CHANGE


def look(verdict: str) -> Look:
    """How a verdict is drawn; an unknown name (a newer record) gets a question mark, never an error."""
    return LOOKS.get(verdict) or Look("?", "?", "?", "#ffffff", "#000", "unknown verdict %r" % (verdict,))
