"""Shards (issue 14): `hangmatrix plan --shards N` splits any selection into N disjoint shards that cover
it, by environment and balanced by expected cost; `run --shard K/N` runs one; a merged sharded run of a
small real matrix equals the unsharded run cell for cell, and `hangmatrix merged` (and table, diff) report
shards missing or run twice and cells recorded by two runs."""

import json
import os
import random
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GEVENT, PY
from hangmatrix.cli import shards as shard_cli
from hangmatrix.model.record import Record
from hangmatrix.run import runner
from hangmatrix.shard import cost, merged, split
from hangmatrix.store import records

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

HM = [sys.executable, "-m", "hangmatrix.cli"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = [
    "--case",
    "seed_original",
    "--python",
    PY,
    "--gevent",
    GEVENT,
    "--config",
    "none,patch_all,lazy",
    "--start",
    "fork,spawn",
]


def hm(*args, **kwargs):
    return subprocess.run(HM + list(args), capture_output=True, text=True, timeout=900, **kwargs)


def check_partition(cells, shards, n):
    """Disjoint, covering, n non-empty shards, and every cut of an environment paid for by a shard."""
    assert len(shards) == n and all(shards)
    ids = [c.id for shard in shards for c in shard]
    assert len(ids) == len(set(ids)), "a cell is in two shards"
    assert set(ids) == {c.id for c in cells}, "the shards do not cover the selection"
    envs = len({c.env for c in cells})
    assert sum(len({c.env for c in shard}) for shard in shards) <= envs + n  # an env is cut only to fill a shard


# ---------------------------------------------------------------- the split, on real plans and generated ones


@pytest.fixture(scope="module")
def full_items():
    return runner.plan(matrix="full", warn=lambda _: None)


@pytest.mark.parametrize("n", [1, 2, 7, 16, 64, 256])
def test_shards_of_the_full_matrix_are_disjoint_cover_it_and_build_few_environments(full_items, n):
    costs = cost.Costs()
    shards = shard_cli.shards_of(full_items, n, costs)
    cells = [c for shard in shards for c in shard]
    check_partition(cells, shards, n)
    assert {c.id for c in cells} == {item.id for item in full_items}
    loads = [sum(c.cost for c in shard) for shard in shards]
    assert max(loads) <= 1.10 * sum(loads) / n, loads  # 256 shards: environments cut in line (1.30x whole)
    if n <= 16:  # at most a few hundred cells a shard: whole environments, and balanced
        assert max(loads) <= 1.05 * sum(loads) / n, loads
        assert max(len({c.env for c in s}) for s in shards) <= -(-len({c.env for c in cells}) // n) + 2
    shuffled = list(full_items)
    random.Random(n).shuffle(shuffled)
    again = shard_cli.shards_of(shuffled, n, costs)
    assert [[c.id for c in s] for s in again] == [[c.id for c in s] for s in shards], "not deterministic"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.floats(0, 50, allow_nan=False)), min_size=1, max_size=300),
    st.integers(1, 40),
    st.randoms(use_true_random=False),
)
def test_any_split_is_disjoint_covering_deterministic_and_bounded(spec, n, rnd):
    cells = [split.Cell("c%03d" % i, "e%d" % env, seconds) for i, (env, seconds) in enumerate(spec)]
    if len(cells) < n:
        with pytest.raises(split.ShardError):
            split.split(cells, n)
        return
    shards = split.split(cells, n)
    check_partition(cells, shards, n)
    shuffled = list(cells)
    rnd.shuffle(shuffled)
    assert split.split(shuffled, n) == shards
    weight = [sum(max(c.cost, 0.001) for c in s) for s in shards]
    total = sum(weight)
    biggest = max(max(c.cost, 0.001) for c in cells)
    assert max(weight) <= 2 * total / n + biggest + 1e-6  # LPT over pieces no larger than a share and a cell


def test_shard_arguments_are_checked():
    assert split.parse("3/16") == (3, 16)
    for bad in ("0/4", "5/4", "1/257", "x", "1/2/3"):
        with pytest.raises(split.ShardError):
            split.parse(bad)


def test_an_earlier_run_balances_by_its_own_cell_times():
    recs = [
        Record.from_json(
            {"id": "a", "verdict": "ok", "elapsed_s": 9.0, "start": "fork", "config": "none", "python": "3.11.7"}
        ),
        Record.from_json(
            {"id": "b", "verdict": "ok", "elapsed_s": 1.0, "start": "fork", "config": "none", "python": "3.11.7"}
        ),
    ]
    costs = cost.Costs.from_records(recs)
    feats = cost.features("3.11", "26.9.0", "fork", "none")
    assert costs.of("a", feats) == 9.0 and costs.of("b", feats) == 1.0
    assert costs.of("c", feats) == 5.0  # a cell it has not seen: the mean of its likes in those records
    assert cost.Costs().of("c", feats) == cost.predict(cost.builtin(), feats)


def test_the_cost_models_error_is_measured_on_cells_it_was_not_fitted_on():
    from hangmatrix.report import selection

    result = cost.error(selection.load(os.path.join(REPO, "docs", "compat.json")), shards=16)
    assert result["cells"] == 5376 and 0 < result["cell_mae_s"] < result["cell_mean_s"]
    assert 0 < result["shard_mean_abs_pct"] <= result["shard_max_abs_pct"]


# ---------------------------------------------------------------- the command line


def test_plan_json_is_a_ci_matrix_with_each_shards_cells():
    out = hm("plan", "--matrix", "default", "--shards", "5", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert list(data) == ["include"] and len(data["include"]) == 5
    ids = [c for entry in data["include"] for c in entry["cells"]]
    planned = {item.id for item in runner.plan(matrix="default", warn=lambda _: None)}
    assert len(ids) == len(set(ids)) and set(ids) == planned
    assert [e["shard"] for e in data["include"]] == ["%d/5" % k for k in range(1, 6)]
    assert len({e["plan"] for e in data["include"]}) == 1
    too_many = hm("plan", "--matrix", "default", "--shards", "257", "--json")
    assert too_many.returncode == 2 and too_many.stdout == ""
    assert len(too_many.stderr.strip().splitlines()) == 2 and "256" in too_many.stderr  # the matrix line, the error


def test_plan_with_records_uses_them():
    out = hm("plan", "--matrix", "full", "--shards", "16", "--records", os.path.join(REPO, "docs", "compat.json"))
    assert out.returncode == 0, out.stderr
    assert "records of 5376 cells" in out.stdout.splitlines()[-1]


# ---------------------------------------------------------------- real runs: sharded equals unsharded


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, env311):
    """The small matrix run whole, then as 3 shards (two split here, one from the plan file)."""
    base = tmp_path_factory.mktemp("shards")
    whole = str(base / "whole.jsonl")
    out = hm("run", *SMALL, "--records", whole, "--quiet")
    assert out.returncode == 0, out.stderr
    plan = base / "plan.json"
    planned = hm("plan", *SMALL, "--shards", "3", "--json")
    assert planned.returncode == 0, planned.stderr
    plan.write_text(planned.stdout)
    folder = base / "merged"
    for k, extra in ((1, []), (2, ["--plan", str(plan)]), (3, [])):
        out = hm(
            "run", *SMALL, "--shard", "%d/3" % k, "--records", str(folder / ("shard-%d.jsonl" % k)), "--quiet", *extra
        )
        assert out.returncode == 0, out.stderr
    return {"whole": whole, "folder": folder, "plan": plan, "base": base}


def test_a_merged_sharded_run_equals_the_unsharded_run(sharded):
    whole = {r.id: r.verdict for r in records.read(sharded["whole"])}
    parts = records.read_many([str(sharded["folder"])])
    assert len(whole) == 6 and len(parts) == 6
    assert {r.id: r.verdict for r in parts} == whole
    hangs = [r for r in parts if r.verdict in ("deadlock", "stall")]
    assert hangs and len(hangs) < len(parts), "the comparison needs a hang and a cell that is not one"
    assert all(r.signature for r in hangs) and not [r for r in parts if r.verdict == "env-error"]
    plan = json.loads(sharded["plan"].read_text())
    for rec in parts:
        shard = rec.run["shard"]
        assert rec.id in plan["include"][shard - 1]["cells"]
        assert rec.run["plan"] == plan["include"][0]["plan"]  # split here or read from the file: one plan
        assert rec.provenance["hostname"]
    audit = hm("merged", str(sharded["folder"]), "--plan", str(sharded["plan"]))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "no shard missing or run twice" in audit.stdout
    diff = hm("diff", sharded["whole"], str(sharded["folder"]))
    assert diff.returncode == 0 and "0 changed, 6 unchanged" in diff.stdout and "merged records" not in diff.stderr


def test_a_missing_shard_and_a_shard_run_twice_are_reported(sharded):
    folder = sharded["base"] / "broken"
    folder.mkdir()
    shutil.copy(sharded["folder"] / "shard-1.jsonl", folder / "shard-1.jsonl")
    shutil.copy(sharded["folder"] / "shard-3.jsonl", folder / "shard-3.jsonl")
    out = hm("run", *SMALL, "--shard", "1/3", "--records", str(folder / "shard-1-again.jsonl"), "--quiet")
    assert out.returncode == 0, out.stderr
    audit = hm("merged", str(folder), "--plan", str(sharded["plan"]), "--json")
    assert audit.returncode == 1
    result = json.loads(audit.stdout)
    plan = json.loads(sharded["plan"].read_text())
    digest = plan["include"][0]["plan"]
    assert result["missing_shards"] == {digest: [2]}
    assert list(result["duplicated_shards"][digest]) == ["1"]
    assert sorted(result["twice"]) == sorted(plan["include"][0]["cells"])
    assert sorted(result["missing_cells"]["2/3"]) == sorted(plan["include"][1]["cells"])
    table = hm("table", "--records", str(folder))
    assert table.returncode == 0
    warned = [line for line in table.stderr.splitlines() if "merged records" in line]
    assert any("shard missing: 2" in line for line in warned)
    assert any("shard 1 was run 2 times" in line for line in warned)
    assert any("recorded by more than one run" in line for line in warned)


def test_a_cell_recorded_by_shards_of_two_plans_is_flagged(sharded):
    """Shard 2/2 of another split of the same cells, merged with the complete 3-shard run: each of its cells
    is now recorded twice, by two different shards; the audit names them, the two plans and the other
    plan's missing shard, and `table` warns instead of counting them twice silently."""
    folder = sharded["base"] / "two-plans"
    shutil.copytree(sharded["folder"], folder)
    out = hm("run", *SMALL, "--shard", "2/2", "--records", str(folder / "other-plan.jsonl"), "--quiet")
    assert out.returncode == 0, out.stderr
    other = records.read(str(folder / "other-plan.jsonl"))
    audit = hm("merged", str(folder), "--json")
    assert audit.returncode == 1
    result = json.loads(audit.stdout)
    assert sorted(result["twice"]) == sorted(r.id for r in other)
    for cid, runs in result["twice"].items():
        assert len(runs) == 2 and len({result["runs"][rid]["plan"] for rid in runs}) == 2, (cid, runs)
    assert result["missing_shards"] == {other[0].run["plan"]: [1]}
    assert any("different shard plans" in p for p in result["problems"])
    table = hm("table", "--records", str(folder))
    assert table.returncode == 0 and "recorded by more than one run" in table.stderr


def test_old_records_read_as_one_untagged_run():
    path = os.path.join(
        REPO, "tests", "data", "compat-v1-2026-11-26.json"
    )  # compat.json as written before runs had ids
    out = hm("merged", path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "untagged on an unnamed machine: 20 cells" in out.stdout.replace("run untagged", "untagged")
    twice = [Record.from_json({"id": "x", "verdict": "ok"})] * 2
    assert merged.problems(twice) == []  # history, not a merge


# ---------------------------------------------------------------- the workflow


def test_the_full_workflow_plans_runs_shards_merges_and_diffs():
    from ruamel.yaml import YAML

    with open(os.path.join(REPO, ".github", "workflows", "full.yml")) as f:
        wf = YAML(typ="safe", pure=True).load(f)
    assert set(wf["on"]["workflow_dispatch"]["inputs"]) == {"matrix", "shards"}
    assert wf["on"]["schedule"][0]["cron"]
    plan, shard, merge = (wf["jobs"][name] for name in ("plan", "shard", "merge"))
    assert "command -v hangmatrix" in repr(plan)  # hm: hangmatrix as root, for the Debian root's Pythons
    assert 'hm plan --matrix "$MATRIX" --shards "$SHARDS" --json' in repr(plan)
    assert "fromJSON(needs.plan.outputs.matrix)" in repr(shard["strategy"]["matrix"])
    assert '--shard "$SHARD" --plan plan.json' in repr(shard) and "actions/cache@" in repr(shard)
    text = repr(merge)
    for needed in (
        "hangmatrix merged",
        "hangmatrix table",
        "hangmatrix diff docs/compat.json",
        "GITHUB_STEP_SUMMARY",
        "actions/upload-artifact@",
    ):
        assert needed in text, needed
    assert "actions/deploy-pages@" in repr(wf["jobs"]["pages"])
