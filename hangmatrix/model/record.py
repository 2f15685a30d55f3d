"""The record: what one run of one cell left behind, as one typed value with one JSON form.

The supervisor writes it, the store keeps it (hangmatrix.store.records), reports and checks read it. The
JSON form is the contract on disk: `Record.from_json` reads every record hangmatrix ever wrote, so old
stores and `docs/compat.json` stay readable; `to_json` writes the current schema.

Schema versions (the `schema` field; a record without one is version 1):
  1  every record before the field existed (up to 0.1.0, df38e63).
  2  `schema` and `kept` added. kept "full": the record as the supervisor made it; kept "compact": a cell
     that worked or did not run (see hangmatrix.store.compact), whose diagnosis is a summary of its tree
     (`diagnosis["compact"]` says what was left out). Every other field is as in version 1.
     A proven hang (deadlock, stall) may carry `cause` (hangmatrix.model.cause.Cause): an optional field, so
     records without it, of any version, still read; no version change.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Hashable, Iterable, List, Mapping, Optional, TypeVar, overload

from . import verdicts, versions
from .cause import Cause

SCHEMA = 2
KEEP_FULL, KEEP_COMPACT = "full", "compact"

JSON = Dict[str, Any]


def cell_id(case: str, python: str, gevent: str, config: str, start: str) -> str:
    """`seed_original-py3.11-gevent26.9.0-patch_all-fork`: python is the short version (X.Y)."""
    return "%s-py%s-gevent%s-%s-%s" % (case, python, gevent, config, start)


@dataclass(frozen=True)
class Record:
    """One cell run. The axes and the verdict are always there; the rest is what the run produced (an
    env-error or a cell decided before launch has no diagnosis, proof or output)."""

    id: str
    case: str
    config: str
    start: str
    python: str
    gevent: str
    verdict: str
    greenlet: str = ""
    signature: str = ""
    elapsed_s: float = 0.0
    diagnosis: JSON = field(default_factory=dict)
    provenance: JSON = field(default_factory=dict)
    recorded_at: str = ""
    detect: bool = True
    timeout_s: Optional[float] = None
    # what a run that launched adds (absent from records of cells decided before launch)
    proof: Optional[JSON] = None
    events: Optional[JSON] = None
    start_used: Optional[JSON] = None
    patch_point: Optional[JSON] = None
    quiescent_at_s: Optional[float] = None
    exit_code: Optional[int] = None
    stdout_tail: Optional[str] = None
    stderr_tail: Optional[str] = None
    cleanup: Optional[JSON] = None
    containment: Optional[JSON] = None
    cpu_s: Optional[JSON] = None
    cause: Optional[Cause] = None  # why a proven hang hangs (observe/cause.py), absent from every other record
    run: Optional[JSON] = None  # which run (and shard) wrote it: `run --shard` says, `merged` reads it
    kept: str = KEEP_FULL
    schema: int = SCHEMA
    # keys this version does not name (a newer writer's, a report's such as compat.json's `trimmed`): kept
    extra: JSON = field(default_factory=dict)

    # ------------------------------------------------------------ JSON

    @classmethod
    def from_json(cls, data: object) -> "Record":
        """A record from its JSON object, of any schema version. ValueError (one line) if it is none."""
        if not isinstance(data, Mapping) or not isinstance(data.get("verdict"), str):
            raise ValueError("not a record (no verdict)")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        for axis in ("case", "config", "start", "python", "gevent", "greenlet", "signature"):
            values[axis] = "" if values.get(axis) is None else str(values[axis])
        for key in ("diagnosis", "provenance"):
            values[key] = values.get(key) or {}
            if not isinstance(values[key], Mapping):
                raise ValueError("not a record (its %s is not an object)" % key)
        if not isinstance(data.get("schema") or 1, int):
            raise ValueError("not a record (schema %r is not a version number)" % data.get("schema"))
        values["schema"] = data.get("schema") or 1
        values.setdefault("kept", KEEP_FULL)
        if values.get("cause") is not None:
            values["cause"] = Cause.from_json(values["cause"])
        if not values.get("id"):
            values["id"] = cell_id(
                values["case"],
                _short(values["python"], values["provenance"]),
                values["gevent"],
                values["config"],
                values["start"],
            )
        return cls(extra=extra, **values)

    def to_json(self) -> JSON:
        """The JSON object of this record in the current schema; fields a run did not produce are left out,
        as version 1 left them out."""
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and not (value is None and f.default is None):
                out[f.name] = value.as_json() if isinstance(value, Cause) else value
        out["schema"] = SCHEMA
        return out

    # ------------------------------------------------------------ what readers ask of a record

    @property
    def axes(self) -> Dict[str, str]:
        """The cell's coordinates: case, config, start, python (full version), gevent."""
        return {
            "case": self.case,
            "config": self.config,
            "start": self.start,
            "python": self.python,
            "gevent": self.gevent,
        }

    @property
    def python_short(self) -> str:
        """X.Y of the record's Python (`3.11` of `3.11.7`)."""
        return _short(self.python, self.provenance)

    @property
    def hangs(self) -> bool:
        """The program stopped making progress: proven (deadlock, stall) or unfinished at the timeout."""
        return self.verdict in verdicts.HANG

    @property
    def failed(self) -> bool:
        """The program ended badly (error, crash)."""
        return self.verdict in verdicts.FAIL

    @property
    def works(self) -> bool:
        """It ended well, or an endless case was seen making progress."""
        return self.verdict in verdicts.WORKS

    @property
    def untested(self) -> bool:
        """The combination did not run (unsupported, env-error): it says nothing about gevent."""
        return self.verdict in verdicts.UNTESTED

    @property
    def cause_kind(self) -> str:
        """The kind of the hang's cause (`hub-blocked`), '' when it has none (not a hang, or written before)."""
        return self.cause.kind if self.cause else ""

    @property
    def compact(self) -> bool:
        """Whether the diagnosis is a summary (stacks, greenlets, fds and waits left out)."""
        return self.kept == KEEP_COMPACT

    @property
    def processes(self) -> List[JSON]:
        """The process tree as sampled before the kill (each with its threads), [] when none was."""
        return list(self.diagnosis.get("processes") or [])

    @property
    def timings(self) -> Dict[str, Optional[float]]:
        """Seconds: from launch to the verdict, to the tree's stillness (a deadlock's), to kill the tree;
        CPU of the cell and of its watcher."""
        cpu = self.cpu_s or {}
        return {
            "elapsed_s": self.elapsed_s,
            "quiescent_at_s": self.quiescent_at_s,
            "kill_s": (self.cleanup or {}).get("kill_s"),
            "cpu_cell_s": cpu.get("cell"),
            "cpu_watch_s": cpu.get("watch"),
        }

    def replace(self, **changes: Any) -> "Record":
        return dataclasses.replace(self, **changes)


def _short(python: str, provenance: Mapping[str, object]) -> str:
    return str(provenance.get("python_short") or versions.short(python))


# ------------------------------------------------------------ the record of a cell


def python_short(rec: Record) -> str:
    """X.Y of a record's Python (`3.11` of `3.11.7`), as the run recorded it or from its version."""
    return rec.python_short


def id_of(rec: Record) -> str:
    """A record's cell id (records before ids were written got theirs from their axes when read)."""
    return rec.id


K = TypeVar("K", bound=Hashable)  # what cells are told apart by: the id, or the axes a diff matches on


@overload
def by_cell(records: Iterable[Record]) -> Dict[str, List[Record]]: ...
@overload
def by_cell(records: Iterable[Record], key: Callable[[Record], K]) -> Dict[K, List[Record]]: ...
def by_cell(records: Iterable[Record], key: Callable[[Record], Any] = id_of) -> Dict[Any, List[Record]]:
    """Every run of each cell, by cell id (or by `key`, such as the axes a diff matches cells on), oldest
    first as the store has them (cells in the order their first run came). The record of a cell is its
    newest run, the last: what tables show, baselines check and diffs compare.

    Newest means last in store order, not latest `recorded_at`: the store's order is the order runs were
    appended (a run appends each cell as it ends; several stores are read in the order named, a folder's by
    file name), while `recorded_at` is the wall clock of whichever machine ran the cell (shards on machines
    whose clocks differ, records that lack it), so ordering by it would let a diff disagree with the tables
    it compares."""
    out: Dict[Any, List[Record]] = {}
    for rec in records:
        out.setdefault(key(rec), []).append(rec)
    return out


@overload
def newest(records: Iterable[Record], oldest: bool = False) -> Dict[str, Record]: ...
@overload
def newest(records: Iterable[Record], oldest: bool = False, *, key: Callable[[Record], K]) -> Dict[K, Record]: ...
def newest(records: Iterable[Record], oldest: bool = False, key: Callable[[Record], Any] = id_of) -> Dict[Any, Record]:
    """{cell id (or `key`): the record of the cell}: its newest run (its first, when oldest is asked for);
    newest as by_cell says."""
    return {k: runs[0] if oldest else runs[-1] for k, runs in by_cell(records, key).items()}
