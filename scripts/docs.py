"""Writes docs/compat.{md,html,csv,json} from a records file of a full-matrix run (`hangmatrix run
--matrix full`). Cells that worked (ok, running) or did not run (unsupported, env-error) keep their
signature and provenance but not the process tree: it shows nothing to explain and would make the
committed pages ten times larger. The JSONL store of the run keeps everything.

    .venv/bin/python scripts/docs.py results/full.jsonl
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hangmatrix.model import verdicts  # noqa: E402
from hangmatrix.report import write  # noqa: E402
from hangmatrix.store import records  # noqa: E402

QUIET = verdicts.WORKS + verdicts.UNTESTED


def slim(rec):
    if rec.get("verdict") in QUIET:
        rec = dict(rec, diagnosis={}, events={"counts": rec.get("events", {}).get("counts", {})})
    return rec


def main(paths):
    recs = [slim(r) for r in records.read_many(paths)]
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
    for path in write.write_all(recs, out).values():
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main(sys.argv[1:])
