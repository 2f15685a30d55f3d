"""What many cell runs came to, as one value (as libregrtest's TestResults): the records in the order they
came, the count of each verdict, the line each cell and the whole run are said in, and, for cells run
more than once, how often each verdict came with its 95% interval. `run`, `upgrade-check` and the pytest
plugin all say their results through it, so a result reads the same wherever it is printed."""

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple

from .record import Record


def outcome(rec: Record) -> str:
    """A run's verdict and seconds, padded to line up in a column (`deadlock      2.31s`): how every line
    that says one run (run's, bisect's, minimal's) starts."""
    return "%-11s %6.2fs" % (rec.verdict, rec.elapsed_s or 0.0)


def result_line(rec: Record, width: int = 0) -> str:
    """One cell's result as `run` prints it as each cell ends: verdict, seconds, id, signature (cut to
    width characters when width is given)."""
    signature = rec.signature[:width] if width else rec.signature
    return "%s  %s  %s" % (outcome(rec), rec.id, signature)


def wilson(k: int, n: int, z: float = 1.96) -> Tuple[float, float]:
    """95% Wilson score interval of a rate k/n: honest for the small n of repeated cells."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Repeated:
    """The runs of one cell: how often each verdict came, and the 95% interval of the commonest."""

    id: str
    counts: Dict[str, int]

    @property
    def runs(self) -> int:
        return sum(self.counts.values())

    @property
    def top(self) -> Tuple[str, int]:
        return max(self.counts.items(), key=lambda kv: kv[1])

    @property
    def verdict(self) -> str:
        """The verdict every run gave, or `flaky` when they disagree."""
        verdict, k = self.top
        return verdict if k == self.runs else "flaky"

    @property
    def rate(self) -> str:
        """`deadlock 9/10, timeout 1/10`, commonest first."""
        ordered = sorted(self.counts.items(), key=lambda kv: -kv[1])
        return ", ".join("%s %d/%d" % (v, c, self.runs) for v, c in ordered)

    @property
    def ci(self) -> Tuple[float, float]:
        lo, hi = wilson(self.top[1], self.runs)
        return round(lo, 2), round(hi, 2)

    def line(self) -> str:
        return "%-11s %-28s 95%% CI %.2f-%.2f  %s" % (self.verdict, self.rate, self.ci[0], self.ci[1], self.id)


@dataclass
class Results:
    """Records as they come in; what they add up to."""

    records: List[Record] = field(default_factory=list)

    def add(self, rec: Record) -> None:
        self.records.append(rec)

    @property
    def counts(self) -> Dict[str, int]:
        """{verdict: how many}, by name (the order `run`'s last line has always had: scripts read it)."""
        found: Dict[str, int] = {}
        for rec in self.records:
            found[rec.verdict] = found.get(rec.verdict, 0) + 1
        return dict(sorted(found.items()))

    def summary(self) -> str:
        """`deadlock 1, running 1`, or `nothing to run`."""
        return ", ".join("%s %d" % kv for kv in self.counts.items()) or "nothing to run"

    def repeated(self) -> Dict[str, Repeated]:
        """The cells run more than once, by id."""
        return repeated((rec.id, rec.verdict) for rec in self.records)


def repeated(runs: Iterable[Tuple[str, str]]) -> Dict[str, Repeated]:
    """The cells among (cell id, verdict) runs that ran more than once, by id, in id order (the pytest
    plugin has only these two of each run, from its reports)."""
    counts: Dict[str, Dict[str, int]] = {}
    for cid, verdict in runs:
        mine = counts.setdefault(cid, {})
        mine[verdict] = mine.get(verdict, 0) + 1
    return {cid: Repeated(cid, c) for cid, c in sorted(counts.items()) if sum(c.values()) > 1}
