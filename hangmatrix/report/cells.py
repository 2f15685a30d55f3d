"""The table model: records become cells (one per cell id: its newest record, how many runs it had and every
verdict they gave), and cells a grid of rows (Python × gevent) and columns (case × configuration × start
method), each axis in hangmatrix.model.order's order. Every rendering reads this model, by attribute."""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from ..model import order, versions
from ..model.record import Record, by_cell

AXES = ("case", "config", "start", "python", "gevent")

Row = Tuple[str, str]  # (python, gevent)
Col = Tuple[str, str, str]  # (case, config, start)
Place = Tuple[str, str, str, str, str]  # (python, gevent, case, config, start)


def case_what(rec: Record) -> str:
    """The case's one-line description as the run recorded it ("" for records from before it was kept)."""
    return str(rec.provenance.get("case_what") or "")


@dataclass(frozen=True)
class TableCell:
    """One cell of the table: its newest record (newest as hangmatrix.model.record.by_cell says), how many runs
    it had and every verdict they gave, oldest first; its axes, verdict and signature are the record's."""

    id: str
    runs: int
    verdicts: Tuple[str, ...]
    record: Record

    @classmethod
    def of(cls, cid: str, runs: List[Record]) -> "TableCell":
        """The cell of these runs of one cell id, oldest first."""
        seen: List[str] = []
        for run in runs:
            if run.verdict not in seen:
                seen.append(run.verdict)
        return cls(cid, len(runs), tuple(seen), runs[-1])

    @property
    def case(self) -> str:
        return self.record.case

    @property
    def config(self) -> str:
        return self.record.config

    @property
    def start(self) -> str:
        return self.record.start

    @property
    def python(self) -> str:
        return self.record.python

    @property
    def gevent(self) -> str:
        return self.record.gevent

    @property
    def verdict(self) -> str:
        return self.record.verdict

    @property
    def signature(self) -> str:
        return self.record.signature

    @property
    def flaky(self) -> bool:
        """Its runs disagree."""
        return len(self.verdicts) > 1

    @property
    def row(self) -> Row:
        return self.python, self.gevent

    @property
    def col(self) -> Col:
        return self.case, self.config, self.start

    @property
    def place(self) -> Place:
        return self.row + self.col


def cells(records: Iterable[Record]) -> List[TableCell]:
    """One cell per id (hangmatrix.model.record.by_cell): the newest record, how many runs it had and every
    verdict they gave."""
    return [TableCell.of(cid, runs) for cid, runs in by_cell(records).items()]


@dataclass(frozen=True)
class TableModel:
    """Rows (Python x gevent), columns (case x config x start) and the grid of cells between them, each axis in
    table order; `whats` holds each case's description from its newest record that has one."""

    rows: List[Row]
    cols: List[Col]
    grid: Dict[Place, TableCell]
    cells: List[TableCell]
    cases: List[str]
    configs: List[str]
    starts: List[str]
    whats: Dict[str, str]

    def at(self, row: Row, col: Col) -> Optional[TableCell]:
        """The cell at a row and column, None where no record is."""
        return self.grid.get(row + col)


def model(records: Iterable[Record]) -> TableModel:
    """The table model of these records (see TableModel)."""
    cs = cells(records)
    rows = sorted({c.row for c in cs}, key=lambda r: (versions.key(r[0]), versions.key(r[1])))
    cols = sorted({c.col for c in cs}, key=lambda k: (order.case(k[0]), order.config(k[1]), order.start(k[2])))
    whats: Dict[str, Tuple[str, str]] = {}
    for c in cs:
        what = case_what(c.record)
        if what and (c.record.recorded_at or "") >= whats.get(c.case, ("", ""))[0]:
            whats[c.case] = (c.record.recorded_at or "", what)
    return TableModel(
        rows=rows,
        cols=cols,
        grid={c.place: c for c in cs},
        cells=cs,
        cases=sorted({k[0] for k in cols}, key=order.case),
        configs=sorted({k[1] for k in cols}, key=order.config),
        starts=sorted({k[2] for k in cols}, key=order.start),
        whats={case: what for case, (_, what) in whats.items()},
    )
