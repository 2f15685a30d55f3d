"""The record store: one JSON object per cell run, appended to a JSONL file.

Appends are one write() each; a line left partial by a killed run is terminated before the next append
and reported (never fatal) when reading, so nothing recorded before or after it is lost.
"""
import json
import os
import sys

REQUIRED = ("case", "config", "start", "python", "gevent", "greenlet", "verdict", "signature", "elapsed_s",
            "diagnosis")


def cell_id(case, python, gevent, config, start):
    """`seed_original-py3.11-gevent26.9.0-patch_all-fork`: python is the short version."""
    return "%s-py%s-gevent%s-%s-%s" % (case, python, gevent, config, start)


def append(path, record):
    """Append one record atomically enough: one O_APPEND write of a whole line."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line  # a killed writer left a partial line: close it off
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path, warn=None):
    """All intact records of a file; damaged lines are reported through warn (default: stderr) and skipped."""
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    records = []
    try:
        f = open(path, "rb")
    except OSError as exc:
        warn("hangmatrix: cannot read records %s: %s" % (path, exc.strerror))
        return records
    with f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
                if not isinstance(rec, dict) or "verdict" not in rec:
                    raise ValueError("not a record")
            except ValueError as exc:
                warn("hangmatrix: %s line %d is damaged (%s), skipped" % (path, n, str(exc)[:80]))
                continue
            records.append(rec)
    return records


def read_many(paths, warn=None):
    """Records of several files or folders (every *.jsonl inside a folder)."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".jsonl"):
                    out.extend(read(os.path.join(path, name), warn))
        else:
            out.extend(read(path, warn))
    return out


def latest(records):
    """The newest record of each cell id (a store keeps every run; tables show the last)."""
    by_id = {}
    for rec in records:
        by_id[rec.get("id")] = rec
    return list(by_id.values())


def wilson(k, n, z=1.96):
    """95% Wilson score interval of a rate k/n: honest for the small n of repeated cells."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(records):
    """Per cell id, every run's verdict kept: {id: {"runs": n, "counts": {verdict: k}, "verdict": the
    verdict if all runs agree else "flaky", "rate": "deadlock 10/10", "ci": (lo, hi) of the top verdict}}."""
    by_id = {}
    for rec in records:
        by_id.setdefault(rec.get("id"), []).append(rec.get("verdict"))
    out = {}
    for cid, verdicts in by_id.items():
        counts = {}
        for v in verdicts:
            counts[v] = counts.get(v, 0) + 1
        top, k = max(counts.items(), key=lambda kv: kv[1])
        n = len(verdicts)
        out[cid] = {"runs": n, "counts": counts, "verdict": top if k == n else "flaky",
                    "rate": ", ".join("%s %d/%d" % (v, c, n) for v, c in sorted(counts.items(), key=lambda kv: -kv[1])),
                    "ci": tuple(round(x, 2) for x in wilson(k, n))}
    return out
