"""Reading records for a table (JSONL files, folders of them, or a JSON file written by
hangmatrix.report.tabular.json_text, such as docs/compat.json) and selecting them by axis."""

import fnmatch
import json
import os

from ..store import records as records_mod


def load(paths, warn=None):
    """Records from stores, folders or JSON documents, read as the store reads them (damaged input is
    reported through warn and skipped, never raised)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return records_mod.read_many([os.fspath(p) for p in paths], warn=warn)


def load_json_records(text):
    """The records of a JSON document: a list of records, or json_text()'s object."""
    return records_mod.json_records(json.loads(text))


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
            not pats or _match_any(getattr(rec, axis), pats, axis in ("python", "gevent"))
            for axis, pats in want.items()
        ):
            out.append(rec)
    return out
