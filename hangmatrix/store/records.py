"""The record store: one JSON object per cell run, appended to a JSONL file, plain or gzip.

Appends are one write() each: a line, or in a `.gz` store one gzip member holding one line (`zcat` reads
the whole store). A line or member left partial by a killed run is closed off or skipped, and reported
(never fatal) when reading, so nothing recorded before or after it is lost. What a record keeps is decided
once, at the append (hangmatrix.store.compact).

Reading gives typed Records (hangmatrix.model.record) of every schema version: JSON only at this edge.
"""

import errno
import gzip
import json
import os
import stat
import zlib
from typing import Callable, Iterable, List, Mapping, Optional, Union

from ..model.record import KEEP_COMPACT, Record, by_cell, cell_id  # noqa: F401  (cell_id: the reports import it here)
from ..model.text import say
from . import compact

REQUIRED = ("case", "config", "start", "python", "gevent", "greenlet", "verdict", "signature", "elapsed_s", "diagnosis")
GZIP_MAGIC = b"\x1f\x8b\x08"
STORE_SUFFIXES = (".jsonl", ".jsonl.gz")

Warn = Callable[[str], None]  # where a damaged line or an unreadable store is reported (one line)
PathLike = Union[str, "os.PathLike[str]"]


def append(path: str, record: Union[Record, Mapping[str, object]], keep: str = KEEP_COMPACT) -> None:
    """Append one record (a Record or its JSON object) in the current schema, kept as `keep` says
    (compact.KEEPS). A path ending in .gz gets one gzip member, any other one line."""
    rec = compact.kept(record if isinstance(record, Record) else Record.from_json(record), keep)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = (json.dumps(rec.to_json(), sort_keys=True, default=str) + "\n").encode("utf-8")
    zipped = _zipped(path)
    if zipped:
        data = gzip.compress(data, mtime=0)  # a member cut short is skipped by the reader, no fix-up needed
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)  # not /dev/null or a pipe: nothing to look back at or sync
        size = os.fstat(fd).st_size if regular else 0
        if not zipped and size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a killed writer left a partial line: close it off
        if os.write(fd, data) != len(data):  # a full disk: what got out is a damaged line or member
            raise OSError(errno.ENOSPC, "a record was cut short in %s" % path)
        if regular:
            os.fsync(fd)
    finally:
        os.close(fd)


def _zipped(path: str, head: bytes = b"") -> bool:
    """Whether a store holds gzip members: by its name (`.gz`: how append() decides), or by its first bytes
    (a gzip store renamed)."""
    return path.endswith(".gz") or head.startswith(GZIP_MAGIC)


def read(path: str, warn: Optional[Warn] = None) -> List[Record]:
    """Every intact record of a store (plain or gzip: a `.gz` name or gzip's first bytes), in the order
    stored; a damaged line or member, or an object that is no record, is reported through warn (default:
    stderr) and skipped."""
    warn = warn or say
    try:
        f = open(path, "rb")
    except OSError as exc:
        warn("cannot read records %s: %s" % (path, exc.strerror))
        return []
    records: List[Record] = []
    with f:
        zipped = _zipped(path, f.read(len(GZIP_MAGIC)))
        f.seek(0)
        lines: Iterable[bytes] = _gzip_lines(path, f.read(), warn) if zipped else f
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                records.append(Record.from_json(json.loads(raw.decode("utf-8"))))
            except ValueError as exc:
                warn("%s line %d is damaged (%s), skipped" % (path, n, str(exc)[:80]))
    return records


def _gzip_lines(path: str, data: bytes, warn: Warn) -> List[bytes]:
    """The lines of a store of gzip members. A damaged member (a writer killed mid-write) is skipped up to
    the next member that decompresses whole, and reported once."""
    lines: List[bytes] = []
    at, damaged_at = 0, None
    while at < len(data):
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            text = inflate.decompress(data[at:])
            whole = inflate.eof
        except zlib.error:
            whole = False
        if whole:
            if damaged_at is not None:
                warn("%s has a damaged gzip member at byte %d, skipped" % (path, damaged_at))
                damaged_at = None
            lines.extend(text.split(b"\n"))
            at = len(data) - len(inflate.unused_data)
            continue
        damaged_at = at if damaged_at is None else damaged_at
        nxt = data.find(GZIP_MAGIC, at + 1)
        at = nxt if nxt >= 0 else len(data)
    if damaged_at is not None:
        warn("%s has a damaged gzip member at byte %d, skipped" % (path, damaged_at))
    return lines


def _json_document(path: str, warn: Warn) -> List[Record]:
    """The records of a JSON document written by the table (compat.json: {"records": [...]}) or a list."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        warn("cannot read records %s: %s" % (path, getattr(exc, "strerror", None) or str(exc)[:80]))
        return []
    return json_records(data, warn)


def json_records(data: object, warn: Optional[Warn] = None) -> List[Record]:
    """The records in a JSON document: a list of records, or the table's {"records": [...]}."""
    warn = warn or say
    out: List[Record] = []
    listed = data.get("records", []) if isinstance(data, dict) else data
    if not isinstance(listed, list):
        warn('no records: a JSON document of records is a list or {"records": [...]}')
        return out
    for raw in listed:
        try:
            out.append(Record.from_json(raw))
        except ValueError as exc:
            warn("record %s skipped: %s" % (str(raw.get("id") if isinstance(raw, dict) else raw)[:120], exc))
    return out


def read_many(paths: Union[PathLike, Iterable[PathLike]], warn: Optional[Warn] = None) -> List[Record]:
    """Records of several stores, folders (every store inside: *.jsonl, *.jsonl.gz) or JSON documents
    (*.json, as compat.json); one path may be given alone."""
    out: List[Record] = []
    for given in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        path = os.fspath(given)
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(STORE_SUFFIXES):
                    out.extend(read(os.path.join(path, name), warn))
        elif path.endswith(".json") and os.path.isfile(path):
            out.extend(_json_document(path, warn or say))
        else:
            out.extend(read(path, warn))
    return out
