"""Reading records for a table (JSONL files, folders of them, or a JSON file written by
hangmatrix.report.tabular.json_text, such as docs/compat.json) and selecting them by axis."""

import fnmatch
import json
import os

from ..store import records as records_mod


def load(paths, warn=None):
    """Records from JSONL files, folders (every *.jsonl inside) or JSON files written by json_text()."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isfile(path) and path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                out.extend(load_json_records(f.read()))
        else:
            out.extend(records_mod.read_many([path], warn=warn))
    return out


def load_json_records(text):
    """The records of a JSON document: a list of records, or json_text()'s object."""
    data = json.loads(text)
    recs = data.get("records", []) if isinstance(data, dict) else data
    return [r for r in recs if isinstance(r, dict) and "verdict" in r]


def _match_any(value, patterns, version=False):
    value = str(value or "")
    for pat in patterns:
        if fnmatch.fnmatchcase(value, pat):
            return True
        if version and (value == pat or value.startswith(pat + ".")):
            return True
    return False


def select(records, case=(), config=(), start=(), python=(), gevent=(), verdict=()):
    """Records matching every axis given (lists of globs; an empty list means any; python and gevent also
    match by version prefix, `3.11` for 3.11.7)."""
    want = {"case": case, "config": config, "start": start, "python": python, "gevent": gevent, "verdict": verdict}
    out = []
    for rec in records:
        if all(
            not pats or _match_any(rec.get(axis), pats, axis in ("python", "gevent")) for axis, pats in want.items()
        ):
            out.append(rec)
    return out
