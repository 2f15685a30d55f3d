"""The matrix as pytest nodes: the matrix file is a collector, each planned cell (each run of it, with
--hangmatrix-repeat) a test item named by its cell id. Items do not run anything themselves: they ask the
process's Runs for their record, which was started with every other selected cell, and report the
verdict as hangmatrix.pytest.judge decides it. Selection happens before anything runs, so -k, --lf,
-x and xdist's distribution decide which cells run at all."""

import os

import pytest

from . import judge

# What each cell's report carries (junitxml writes them; the flake summary reads them back): its id, verdict
# and signature.
PROPERTIES = ("hangmatrix_cell", "verdict", "signature")


class CellFailed(Exception):
    """A cell whose verdict its expectation does not allow; the text is the whole report."""


def item_name(planned, run, repeat):
    return planned.id if repeat == 1 else "%s[run%d]" % (planned.id, run)


class MatrixFile(pytest.File):
    """The file the collected matrix comes from (matrix.toml, pyproject.toml or the built-in one)."""

    def __init__(self, *args, plan=(), repeat=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan, self.repeat = plan, repeat

    def collect(self):
        for planned in self.plan:
            for run in range(1, self.repeat + 1):
                yield CellItem.from_parent(self, name=item_name(planned, run, self.repeat), planned=planned)


def node_id(rootpath, source):
    """The matrix file's node id: its path below the rootdir, else its name (the built-in file)."""
    rel = os.path.relpath(source, str(rootpath))
    return os.path.basename(source) if rel.startswith("..") else rel.replace(os.sep, "/")


class CellItem(pytest.Item):
    def __init__(self, *args, planned, **kwargs):
        super().__init__(*args, **kwargs)
        self.planned = planned
        self.add_marker("hangmatrix")

    def runtest(self):
        from .plugin import state

        current = state(self.config)
        rec = current.runs.record(self.nodeid, self.planned)
        self.user_properties += list(zip(PROPERTIES, (rec.id, rec.verdict, rec.signature)))
        outcome, text = judge.judge(rec, current.expectations, current.settings.records, current.settings.expectations)
        if outcome == judge.FAILED:
            raise CellFailed(text)
        if outcome == judge.SKIPPED:
            pytest.skip(text)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CellFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, "hangmatrix cell %s" % self.name
