"""One slice of the matrix as pytest cells, for tox (`tox -e cells27-geventold`): the default matrix's cases,
configurations and start methods on $HANGMATRIX_PYTHON with gevent $HANGMATRIX_GEVENT (old, mid, new or
a release), each checked against the built-in expectations.toml. Records go to $HANGMATRIX_RESULTS/<slice>.jsonl. Not part of the plain test suite (its file
name does not match test_*.py): tox names it explicitly."""
import os

import pytest

from hangmatrix.checks import baseline
from hangmatrix import envs
from hangmatrix.model import matrix, packaged
from hangmatrix.store import records
from hangmatrix.run import runner
from hangmatrix.model import verdicts

PYTHON = os.environ.get("HANGMATRIX_PYTHON", "3.11")
GEVENT = os.environ.get("HANGMATRIX_GEVENT", "new")
RESULTS = os.environ.get("HANGMATRIX_RESULTS", "results/tox")
EXPECTATIONS = baseline.load(packaged.baseline_path())


def _release():
    interp = envs.find_interpreter(PYTHON)
    picks = matrix.spread(envs.gevent_releases(interp))
    named = {"old": picks[0], "mid": picks[len(picks) // 2], "new": picks[-1]} if picks else {}
    return named.get(GEVENT, GEVENT)


ITEMS = runner.plan(pythons=[PYTHON], gevents=[_release()], matrix="default", matrix_file=packaged.matrix_path(),
                    timeout=30.0)
STORE = os.path.join(RESULTS, "py%s-gevent%s.jsonl" % (PYTHON, GEVENT))


@pytest.fixture(scope="module")
def outcomes():
    """All cells of the slice, run in parallel once; every record appended to the shared results folder."""
    return {rec["id"]: rec for rec in runner.execute(ITEMS, on_record=lambda r: records.append(STORE, r))}


@pytest.mark.parametrize("cell_id", [item["id"] for item in ITEMS])
def test_cell(outcomes, cell_id):
    rec = outcomes[cell_id]
    assert rec["verdict"] in verdicts.NAMES
    assert rec.get("cleanup", {}).get("survivors", []) == [], "processes outlived the cell"
    if rec["verdict"] in ("deadlock", "stall"):
        assert rec["signature"] and rec["diagnosis"]["processes"]
    assert not rec["signature"].startswith("harness supervisor failed"), rec["signature"]
    failures = baseline.check([rec], EXPECTATIONS)
    assert not failures, str(failures[0])
