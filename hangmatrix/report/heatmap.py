"""The table at a glance: one small map per case and configuration, Python down, gevent releases across
(in release order), each square the verdict its start methods gave
(those that can run there). All maps share the same axes, so
they compare side by side ("thread_false turned red at 25.4.1"). Markdown draws them as text grids,
the HTML page as coloured squares."""

from dataclasses import dataclass
from typing import List, Optional

from ..model import versions
from .cells import TableCell, TableModel


@dataclass(frozen=True)
class Square:
    """The cells of one Python × gevent pair of a map (one per start method seen) and the verdict they share,
    None when they disagree."""

    cells: List[TableCell]
    verdict: Optional[str]


@dataclass(frozen=True)
class Heatmap:
    """One case and configuration: a square (or None: no record) per gevent release, per Python."""

    case: str
    config: str
    pythons: List[str]
    gevents: List[str]
    squares: List[List[Optional[Square]]]


def heatmaps(m: TableModel) -> List[Heatmap]:
    """The maps of a table model (hangmatrix.report.cells.model). A start method the Python cannot have
    (`unsupported`, such as spawn on 2.7) does not make a square mixed: the others speak for it."""
    pythons = sorted({py for py, _ in m.rows}, key=versions.key)
    gevents = sorted({gv for _, gv in m.rows}, key=versions.key)
    out = []
    for case in m.cases:
        for config in m.configs:
            if not any(col[:2] == (case, config) for col in m.cols):
                continue
            squares = []
            for py in pythons:
                row: List[Optional[Square]] = []
                for gv in gevents:
                    got = [m.grid[(py, gv, case, config, s)] for s in m.starts if (py, gv, case, config, s) in m.grid]
                    ran = [c for c in got if c.verdict != "unsupported"] or got
                    shared = {c.verdict for c in ran}
                    row.append(Square(got, shared.pop() if len(shared) == 1 else None) if got else None)
                squares.append(row)
            out.append(Heatmap(case, config, pythons, gevents, squares))
    return out


def title(hm: Heatmap, several_cases: bool) -> str:
    return "%s / %s" % (hm.case, hm.config) if several_cases else hm.config
