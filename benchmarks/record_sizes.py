"""Benchmark (run by hand): the size of a store of records kept full, compact, and each gzipped, from a
store written with `--keep full` (docs/records.md has the figures).

    .venv/bin/hangmatrix run --matrix default --python 3.11 --keep full --records /tmp/full.jsonl --quiet
    .venv/bin/python benchmarks/record_sizes.py /tmp/full.jsonl

Each record is appended through hangmatrix.store.records.append, so the compact stores hold exactly what
a default run writes. The four stores go to a temporary folder, removed at the end.
"""

import argparse
import collections
import os
import shutil
import tempfile

from hangmatrix.store import records


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", help="a store written with --keep full")
    args = parser.parse_args()
    recs = records.read_many(args.store)
    folder = tempfile.mkdtemp(prefix="hangmatrix-sizes-")
    try:
        for keep in ("full", "compact"):
            for suffix in (".jsonl", ".jsonl.gz"):
                path = os.path.join(folder, keep + suffix)
                per = collections.defaultdict(list)
                for rec in recs:
                    before = os.path.getsize(path) if os.path.exists(path) else 0
                    records.append(path, rec, keep=keep)
                    per[rec.verdict].append(os.path.getsize(path) - before)
                size = os.path.getsize(path)
                print(
                    "%-8s %-9s %7.2f MB, %5.1f KB a record; %s"
                    % (
                        keep,
                        suffix,
                        size / 1e6,
                        size / 1024 / len(recs),
                        ", ".join(
                            "%s %d x %.1f KB" % (v, len(s), sum(s) / len(s) / 1024) for v, s in sorted(per.items())
                        ),
                    )
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
