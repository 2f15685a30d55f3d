"""`hangmatrix diff`, `hangmatrix bisect` and the minimal patch set, each run for real on Python 3.11 (the
answers below are measured facts of those gevent releases), then the properties of their algorithms."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import PY
from hangmatrix.checks import bisect, minimal
from hangmatrix.model import verdicts as verdict_names
from hangmatrix.model.cause import Cause
from hangmatrix.model.record import Record
from hangmatrix.report import diff as diff_mod
from hangmatrix.run import runner
from hangmatrix.store import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE, AFTER = "24.11.1", "25.4.1"  # patch_all(thread=False) stops working for the seed program here


def hangmatrix(*args):
    out = subprocess.run(
        [sys.executable, "-m", "hangmatrix.cli"] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    return out.returncode, out.stdout, out.stderr


def test_bisect_finds_the_release_where_thread_false_stopped_working():
    code, out, err = hangmatrix(
        "bisect",
        "--case",
        "seed_terminating",
        "--config",
        "thread_false",
        "--start",
        "fork",
        "--python",
        PY,
        "--good",
        "24.10.3",
        "--bad",
        "25.4.2",
        "--timeout",
        "20",
    )
    print(out)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == "first changed: %s" % AFTER
    tried = [line.split() for line in lines if line.startswith("  gevent ")]
    assert len(tried) <= bisect.max_tries(4) == 3  # 24.10.3, 24.11.1, 25.4.1, 25.4.2
    assert [t[1] for t in tried][0] == "24.10.3" and len({t[1] for t in tried}) == len(tried)
    verdicts = {t[1]: t[2] for t in tried}
    assert verdicts["24.10.3"] == "ok" and verdicts[AFTER] == "deadlock"
    assert "last like good: gevent %s (ok)   first changed: gevent %s (deadlock)" % (BEFORE, AFTER) in out
    # both diagnoses: the good one's and the deadlock's process tree
    assert "--- last like good: gevent %s ---" % BEFORE in out and "--- first changed: gevent %s ---" % AFTER in out
    assert "process tree" in out.split("--- first changed")[1] and "pool worker" in out


def test_diff_of_two_gevent_releases_lists_the_new_hang_with_both_signatures(tmp_path):
    paths = {}
    for release in (BEFORE, AFTER):
        items = runner.plan(
            case_names=["seed_terminating"],
            config_names=["patch_all", "thread_false", "thread_queue_false"],
            starts=["fork"],
            pythons=[PY],
            gevents=[release],
            timeout=20.0,
        )
        paths[release] = str(tmp_path / ("gevent%s.jsonl" % release))
        for rec in runner.execute(items):
            records.append(paths[release], rec)
    code, out, err = hangmatrix("diff", paths[BEFORE], paths[AFTER])
    print(out)
    assert code == 1, err
    assert "cells matched on case, config, start, python (ignoring gevent)" in out
    block = out.split("new hangs (1):")[1]
    assert "seed_terminating thread_false fork py%s [gevent %s → %s]: ok → deadlock" % (PY, BEFORE, AFTER) in block
    a_sig, b_sig = [line.strip() for line in block.splitlines()[2:4]]
    assert a_sig.endswith("(no signature)") and "parent blocked in" in b_sig.split(": ", 1)[1]
    assert "1 changed, 2 unchanged" in out
    code, out, _ = hangmatrix("diff", "--json", paths[BEFORE], paths[AFTER])
    result = json.loads(out)
    assert [g["direction"] for g in result["groups"]] == ["new hangs"] and result["unchanged"] == 2
    code, out, _ = hangmatrix("diff", paths[AFTER], paths[AFTER])
    assert code == 0 and "0 changed, 3 unchanged" in out


def test_minimal_patch_set_of_the_seed_on_gevent_26_9(env311):
    lines = []
    result = minimal.search(
        "seed_terminating",
        "fork",
        PY,
        env311.gevent,
        universe=["thread", "queue", "socket"],
        rest="off",
        timeout=20.0,
        say=lines.append,
    )
    print("\n".join(lines))
    print(minimal.report(result))
    assert result["full"] == "deadlock"
    assert len(result["minimal"]) == 1 and result["globally_smallest"]
    (flag,) = result["minimal"]
    assert result["minimal_verdict"] == "deadlock"
    assert result["removal_from_minimal"] == {flag: "ok"}  # removing that one flag makes it run
    # the measured fact behind the post's second fix failing on 26.9: thread alone, or queue alone, hangs
    assert result["hangs_alone"] == ["thread", "queue"] and flag in ("thread", "queue")
    assert [f for s in result["also_minimal"] for f in s] == [f for f in ("thread", "queue") if f != flag]
    assert result["runs_after_single_removal"] == []  # no one flag's removal from the three is enough
    assert result["runs"] <= 2**3 and result["single_removals"] == {
        "thread": "deadlock",
        "queue": "deadlock",
        "socket": "deadlock",
    }
    assert minimal.report(result).splitlines()[-1] == "smallest set of enabled flags that still hangs: " + flag


def test_minimal_configurations_name_every_candidate():
    assert minimal.config_for({"thread"}, ["thread", "queue"]) == "flags:queue=0,thread=1"
    assert minimal.config_for(set(), ["thread"], "off", ["os"]) == "flags:os=0,thread=0"


# ---------------------------------------------------------------- properties: bisect


def _fake_bisect(seq, good_last=False):
    """Bisect over releases 1.0 … 1.(n-1) whose verdicts are seq, without running anything."""
    releases = ["1.%d" % i for i in range(len(seq))]
    ran = []

    def run(release):
        ran.append(release)
        return Record.from_json({"verdict": seq[releases.index(release)], "signature": "", "elapsed_s": 0.0})

    good, bad = (releases[-1], releases[0]) if good_last else (releases[0], releases[-1])
    result = bisect.bisect(
        "seed_terminating", "thread_false", "fork", PY, good, bad, say=lambda m: None, releases=releases, run=run
    )
    return releases, ran, result


@given(st.integers(2, 64), st.data(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_bisect_finds_a_step_within_the_bound(n, data, reverse):
    change = data.draw(st.integers(1, n - 1))
    seq = ["ok"] * change + ["deadlock"] * (n - change)
    if reverse:
        seq = seq[::-1]
    releases, ran, result = _fake_bisect(seq, good_last=reverse)
    assert len(ran) == len(set(ran)) <= bisect.max_tries(n)
    want = releases[change] if not reverse else releases[n - 1 - change]
    assert result["first_changed"] == want and result["message"] == "first changed: %s" % want


@given(st.lists(st.sampled_from(["ok", "deadlock", "error", "env-error"]), min_size=2, max_size=40))
@settings(max_examples=150, deadline=None)
def test_bisect_lands_on_a_change_point_of_any_sequence(seq):
    assume(seq[0] != "env-error")
    releases, ran, result = _fake_bisect(seq)
    skips = sum(1 for r in ran if seq[releases.index(r)] == "env-error")
    assert len(ran) == len(set(ran)) <= bisect.max_tries(len(seq)) + skips
    line = [r for r in releases if r not in result["skipped"]]
    if result["first_changed"] is None:  # the search ended on the last buildable release, like good
        assert seq[releases.index(line[-1])] == seq[0] and "no change" in result["message"]
        return
    i = line.index(result["first_changed"])
    assert seq[releases.index(line[i])] != seq[0]
    assert line[i - 1] == result["last_same"] and seq[releases.index(line[i - 1])] == seq[0]


def test_bisect_refuses_releases_it_cannot_install():
    with pytest.raises(bisect.BisectError, match="not a gevent release installable"):
        bisect.bisect("seed_terminating", "thread_false", "fork", PY, "0.13.8", "26.9.0", say=lambda m: None)


# ---------------------------------------------------------------- diff

HANGS = ("deadlock", "stall", "timeout")
# Which group a change of verdict belongs to, decided by hand for every kind of change a reader must tell
# apart: a hang appearing, a failure appearing where it worked, a hang turning into another hang, a hang
# ending (whatever replaced it), a failure fixed, and the rest.
DIRECTION_OF = {
    ("ok", "deadlock"): "new hangs",
    ("running", "stall"): "new hangs",
    ("error", "timeout"): "new hangs",
    ("unsupported", "deadlock"): "new hangs",
    ("env-error", "timeout"): "new hangs",
    ("ok", "error"): "new failures",
    ("running", "crash"): "new failures",
    ("env-error", "error"): "new failures",
    ("unsupported", "crash"): "new failures",
    ("deadlock", "stall"): "hangs changed kind",
    ("timeout", "deadlock"): "hangs changed kind",
    ("deadlock", "ok"): "no longer hang",
    ("stall", "error"): "no longer hang",
    ("timeout", "env-error"): "no longer hang",
    ("deadlock", "crash"): "no longer hang",
    ("error", "ok"): "fixed",
    ("crash", "running"): "fixed",
    ("error", "crash"): "other changes",
    ("ok", "running"): "other changes",
    ("ok", "unsupported"): "other changes",
    ("env-error", "ok"): "other changes",
    ("crash", "env-error"): "other changes",
}


def test_each_change_lands_in_the_group_a_reader_expects():
    cells = [("case%d" % i, "patch_all", "fork", "3.11.7") for i in range(len(DIRECTION_OF))]
    pairs = dict(zip(cells, DIRECTION_OF))
    old, new = (
        _recs({k: p[0] for k, p in pairs.items()}, "24.11.1"),
        _recs({k: p[1] for k, p in pairs.items()}, "25.4.1"),
    )
    recaused = ("recaused", "patch_all", "fork", "3.11.7")  # the same verdict, another cause: a change
    before, after = (_recs({recaused: "deadlock"}, g)[0] for g in ("24.11.1", "25.4.1"))
    old.append(before.replace(cause=Cause("hub-blocked", "")))
    new.append(after.replace(cause=Cause("lock-held-across-switch", "")))
    unexplained = ("unexplained", "patch_all", "fork", "3.11.7")  # no cause before: written before causes
    old += _recs({unexplained: "deadlock"}, "24.11.1")
    new.append(_recs({unexplained: "deadlock"}, "25.4.1")[0].replace(cause=Cause("unknown", "")))
    result = diff_mod.compare(old, new)
    got = {(c.old.verdict, c.new.verdict): c.direction for c in result.changes if c.case != recaused[0]}
    assert got == DIRECTION_OF
    [moved] = [c for c in result.changes if c.case == recaused[0]]
    assert moved.direction == "hangs changed cause" and result.unchanged == 1
    text = diff_mod.diff_text(result)
    assert "deadlock → deadlock (cause hub-blocked → lock-held-across-switch)" in text
    assert [d for d, _ in result.groups] == list(diff_mod.DIRECTIONS)  # new hangs first


# ---------------------------------------------------------------- properties: diff

verdicts = st.sampled_from(verdict_names.NAMES)
keys = st.tuples(
    st.sampled_from(["seed_original", "pipe_echo"]),
    st.sampled_from(["none", "patch_all", "lazy"]),
    st.sampled_from(["fork", "spawn"]),
    st.sampled_from(["3.8.18", "3.11.7"]),
)


def _recs(mapping, gevent):
    return [
        Record.from_json(
            {
                "id": records.cell_id(c, py[: py.rindex(".")], gevent, k, s),
                "case": c,
                "config": k,
                "start": s,
                "python": py,
                "gevent": gevent,
                "verdict": v,
                "signature": "sig %s" % v,
            }
        )
        for (c, k, s, py), v in mapping.items()
    ]


@given(st.dictionaries(keys, st.tuples(verdicts, verdicts), min_size=1, max_size=30), st.booleans())
@settings(max_examples=100, deadline=None)
def test_diff_lists_exactly_the_changed_cells_grouped_by_direction(pairs, same_release):
    old = _recs({k: v[0] for k, v in pairs.items()}, "24.11.1")
    new = _recs({k: v[1] for k, v in pairs.items()}, "24.11.1" if same_release else "25.4.1")
    result = diff_mod.compare(old, new)
    assert result.ignored == ([] if same_release else ["gevent"])
    changed = {k for k, (a, b) in pairs.items() if a != b}
    assert len(result.changes) == len(changed) and result.unchanged == len(pairs) - len(changed)
    for c in result.changes:
        assert c.direction in diff_mod.DIRECTIONS
        assert c.old.signature == "sig " + c.old.verdict
    order = [d for d, _ in result.groups]
    assert order == [d for d in diff_mod.DIRECTIONS if d in order]
    assert all(c.direction == d for d, group in result.groups for c in group)
    back = diff_mod.compare(new, old)
    assert {c.key for c in back.changes} == {c.key for c in result.changes}
    text = diff_mod.diff_text(result)
    assert ("%d changed" % len(changed)) in text
    if any(b in HANGS and a not in HANGS for a, b in pairs.values()):
        assert text.split("\n\n")[1].startswith("new hangs (")  # new hangs come first


@given(st.dictionaries(keys, verdicts, max_size=20))
@settings(max_examples=50, deadline=None)
def test_diff_of_a_record_set_with_itself_is_empty(mapping):
    recs = _recs(mapping, "26.9.0")
    result = diff_mod.compare(recs, recs)
    assert result.changes == [] and result.unchanged == len(mapping) and not result.only_old


# ---------------------------------------------------------------- what a verdict change is (one decision)


@given(st.sampled_from(verdict_names.NAMES), st.sampled_from(verdict_names.NAMES))
def test_a_verdict_change_is_a_regression_only_towards_a_hang_or_a_failure_of_what_ran(old, new):
    found = verdict_names.change(old, new)
    assert (found == verdict_names.SAME) == (old == new)
    if found == verdict_names.REGRESSION:  # a new hang, or a failure of what worked; never from what did not run
        assert not verdict_names.untested(old)
        assert (verdict_names.is_hang(new) and not verdict_names.is_hang(old)) or (
            verdict_names.failed(new) and verdict_names.works(old)
        )
    if found == verdict_names.IMPROVEMENT:
        assert verdict_names.works(new) and (verdict_names.is_hang(old) or verdict_names.failed(old))
    # against one expected verdict, a baseline says what the pair says
    assert verdict_names.change_from([old], new) == found


@given(st.lists(st.sampled_from(verdict_names.NAMES), min_size=1, max_size=4), st.sampled_from(verdict_names.NAMES))
def test_against_several_expected_verdicts_a_regression_is_one_from_each(expected, new):
    found = verdict_names.change_from(expected, new)
    steps = {verdict_names.change(old, new) for old in expected}
    if new in expected:
        assert found == verdict_names.SAME
    elif found == verdict_names.REGRESSION:
        assert steps == {verdict_names.REGRESSION}
    else:
        assert steps != {verdict_names.REGRESSION}
        assert (found == verdict_names.IMPROVEMENT) == (verdict_names.IMPROVEMENT in steps)


def test_the_newest_run_is_the_last_in_store_order_whatever_the_clocks_say():
    """The diff compares each cell's newest run as the tables show it: the last in store order, even where
    `recorded_at` (each machine's clock) says otherwise; where an ignored axis makes two cells one, the cell
    whose run came last decides."""
    cell = ("seed_original", "patch_all", "fork", "3.11.7")
    [old] = _recs({cell: "ok"}, "24.11.1")
    [hang] = _recs({cell: "deadlock"}, "26.9.0")
    [works] = _recs({cell: "ok"}, "25.4.1")
    late, early = "2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z"
    for new, expected in (
        ([hang.replace(recorded_at=late), works.replace(recorded_at=early)], "ok"),
        ([works.replace(recorded_at=late), hang.replace(recorded_at=early)], "deadlock"),
    ):
        result = diff_mod.compare([old], new, ignore=["gevent"])
        assert [c.new.verdict for c in result.changes] == ([] if expected == "ok" else [expected])
    twice = [hang.replace(recorded_at=late), hang.replace(verdict="ok", recorded_at=early)]  # one cell, run twice
    [change] = diff_mod.compare(twice, [old.replace(verdict="stall")], ignore=["gevent"]).changes
    assert change.old.verdict == "ok" and change.old.verdicts == ("deadlock", "ok")


def test_upgrade_check_groups_alike_findings_and_counts_regressions_against_records_or_a_baseline():
    """upgrade-check's typed result: against OLD's records, a hang on two start methods is one finding line
    with both, a cell that got fixed is listed but is no regression; against a baseline, the rule that
    expected otherwise is named. (Records built here: the comparison, not the cells, is under test.)"""
    from hangmatrix.checks import baseline, upgrade

    def rec(gevent, verdict, config="patch_all", start="fork", signature=""):
        return Record.from_json(
            {"case": "seed_original", "config": config, "start": start, "python": "3.11.7", "gevent": gevent}
            | {"verdict": verdict, "signature": signature}
        )

    sig = "parent blocked in read() on pipe:[1]"
    old = [rec("24.2.1", "running", start=s) for s in ("fork", "spawn")] + [rec("24.2.1", "error", "none")]
    new = [rec("26.9.0", "deadlock", start=s, signature=sig) for s in ("fork", "spawn")] + [rec("26.9.0", "ok", "none")]
    result = upgrade.check(new, old_records=old)
    assert [d for d, _ in result.groups] == ["new hangs", "fixed"] and result.unchanged == 0
    assert [(f.key, f.was, f.now) for f in result.regressions] == [
        ("seed_original-patch_all-fork-3.11", "running", "deadlock"),
        ("seed_original-patch_all-spawn-3.11", "running", "deadlock"),
    ]
    text = upgrade.report_text(result, "gevent 26.9.0", "gevent 24.2.1").splitlines()
    assert "  seed_original patch_all py3.11 (fork, spawn): running -> deadlock" in text
    assert "      now: " + sig in text and "  seed_original py3.11 none fork: error -> ok" in text
    assert text[-1] == "REGRESSION: a new hang or failure in 2 cells (gevent 26.9.0 against gevent 24.2.1)"

    rules = baseline.parse('expect = [ { case = "seed_*", verdict = ["ok", "running"] } ]', "rules.toml")
    result = upgrade.check(new, expectations=rules)
    assert result.compared_with == "baseline" and len(result.regressions) == 2 and result.unchanged == 1
    text = upgrade.report_text(result, "gevent 26.9.0", "the baseline rules.toml")
    assert "  seed_original patch_all py3.11 (fork, spawn): ok or running -> deadlock" in text.splitlines()
    assert "      expected by: " in text and "As expected: 1 cell." in text
