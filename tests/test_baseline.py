"""The expectations baseline (the built-in expectations.toml, hangmatrix/data/): every cell of the Python 3.11 /
gevent 26.9.0 slice is run
for real and must have a verdict its rule allows. A new hang is a regression, a new pass must be
acknowledged: `pytest tests/test_baseline.py --update-baseline` (or HANGMATRIX_UPDATE_BASELINE=1) rewrites
the file from this run, keeping the expectations of cells it did not run. Then the parsers' properties."""

import os

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import GEVENT, PY
from hangmatrix.checks import baseline
from hangmatrix.model import cases, configs, packaged, verdicts, versions
from hangmatrix.model.cause import KINDS as cause_kinds
from hangmatrix.model.cause import Cause
from hangmatrix.model.record import Record
from hangmatrix.run import runner
from hangmatrix.store import records

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = packaged.baseline_path()
CASES = sorted(cases.discover([packaged.cases_dir()]))
SLICE = [(c, k, s) for c in CASES for k in configs.NAMED for s in configs.STARTS]


def _update_wanted(config):
    return (
        bool(config.getoption("--update-baseline", default=False))
        or os.environ.get("HANGMATRIX_UPDATE_BASELINE") == "1"
    )


@pytest.fixture(scope="module")
def slice_records(env311):
    """Every case x named configuration x start method, run once, in parallel: {cell id: record}."""
    items = runner.plan(
        case_names=CASES,
        config_names=list(configs.NAMED),
        starts=list(configs.STARTS),
        pythons=[PY],
        gevents=[GEVENT],
        timeout=30.0,
    )
    return {rec.id: rec for rec in runner.execute(items)}


def test_update_baseline_when_asked(request, slice_records):
    if not _update_wanted(request.config):
        pytest.skip("run with --update-baseline (or HANGMATRIX_UPDATE_BASELINE=1) to rewrite expectations.toml")
    new = baseline.update(list(slice_records.values()), BASELINE)
    assert baseline.check(list(slice_records.values()), baseline.load(BASELINE)) == []
    print("rewrote %s: %d rules" % (BASELINE, len(new.rules)))


@pytest.mark.parametrize("cell_id", [records.cell_id(c, PY, GEVENT, k, s) for c, k, s in SLICE])
def test_cell_meets_baseline(slice_records, cell_id, env311):
    rec = slice_records[cell_id]
    failures = baseline.check([rec], baseline.load(BASELINE))
    if failures:
        again = []  # run it twice more: the message says whether the cell is flaky or changed for good
        case = cases.select([rec.case], [packaged.cases_dir()])[0]
        for _ in range(2):
            spec = runner.make_spec(case, configs.parse(rec.config), rec.start, env311, 30.0)
            again.append(runner.run_cell(spec).verdict)
        pytest.fail("%s\n  re-runs of the cell: %s" % (failures[0], ", ".join(again)), pytrace=False)


def test_baseline_file_is_compact_and_covers_the_slice():
    base = baseline.load(BASELINE)
    assert len(base.rules) < len(SLICE) / 4, "the baseline should be patterns, not one line per cell"
    for c, k, s in SLICE:
        _, rule = base.find_cell((c, k, s, PY + ".0", GEVENT))
        assert rule is not None, (c, k, s)


def test_failure_names_the_cell_the_expectation_and_the_diagnosis(slice_records):
    rec = slice_records[records.cell_id("seed_original", PY, GEVENT, "patch_all", "fork")]
    assert rec.verdict == "deadlock"
    wrong = baseline.parse('expect = [ { case = "seed_*", config = "patch_all", verdict = "running" } ]', "test.toml")
    [f] = baseline.check([rec], wrong)
    assert f.kind == "regression" and f.cell == rec.id and f.expected == ("running",)
    text = str(f)
    assert rec.id in text and "REGRESSION" in text and "a new hang" in text
    assert 'rule 1 of test.toml: { case = "seed_*", config = "patch_all", verdict = "running" }' in text
    assert rec.signature in text
    assert "process tree" in text and "pool worker" in text  # the diagnosis, as `hangmatrix show` prints it
    ran = slice_records[records.cell_id("seed_original", PY, GEVENT, "none", "fork")]
    assert ran.verdict == "running"
    [f] = baseline.check([ran], baseline.parse('expect = [ { config = "none", verdict = "hang" } ]'))
    assert f.kind == "new pass" and "acknowledge" in str(f) and "--update-baseline" in str(f)
    [f] = baseline.check([ran], baseline.parse('expect = [ { config = "patch_all", verdict = "hang" } ]'))
    assert f.kind == "uncovered"


# ---------------------------------------------------------------- properties of the patterns

release = st.lists(st.integers(0, 30), min_size=1, max_size=4)


def vt(rel):
    return ".".join(map(str, rel))


@given(release, release)
def test_range_operators_compare_on_the_bounds_components(v, b):
    version, bound = vt(v), vt(b)
    n = len(b)
    head = tuple((list(v) + [0] * n)[:n])
    want = (head > tuple(b)) - (head < tuple(b))
    assert versions.compare(version, bound) == want
    results = {op: baseline.VersionPattern(op + bound).matches(version) for op in (">=", "<=", ">", "<", "==", "!=")}
    assert results == {">=": want >= 0, "<=": want <= 0, ">": want > 0, "<": want < 0, "==": want == 0, "!=": want != 0}
    assert baseline.VersionPattern(bound).matches(version) == (want == 0)  # a plain version is ==
    lo, hi = sorted([bound, version], key=versions.key)
    assert baseline.VersionPattern(">=%s,<=%s" % (lo, hi)).matches(version) == (
        versions.compare(version, lo) >= 0 and versions.compare(version, hi) <= 0
    )


def test_range_examples():
    p = baseline.VersionPattern
    assert p("3.11").matches("3.11.7") and not p("3.1").matches("3.11.7")
    assert not p("<3.14").matches("3.14.0rc1") and p(">=3.14").matches("3.14.0rc1")
    assert p("<=3.10").matches("3.10.13") and not p("<3.10").matches("3.10.13")
    assert p(">=20.0").matches("26.9.0") and not p(">=20.0").matches("1.5.0")
    assert p("3.1*").matches("3.10.13") and p("3.1?").matches("3.12.1") and not p("3.1?").matches("3.9.18")
    assert p(">=24.2,<25").matches("24.11.1") and not p(">=24.2,<25").matches("25.4.1")
    for bad in ("", ">=", ">=x", "=>3", "3..", "<3,>"):
        with pytest.raises(baseline.BaselineError):
            p(bad)


glob_value = st.sampled_from(["seed_*", "seed_original", "pipe_echo", "*", "[ps]*", "flags:thread=0"])
version_value = st.sampled_from(["3.11", "3.1*", ">=3.8", ">=3.8,<3.14", "*", "!=3.12", "2.7"])
gevent_value = st.sampled_from(["26.9.0", ">=20.0", "<24", ">=1.2,<=1.5", "2*", "*"])


def one_or_list(s):
    return s | st.lists(s, min_size=2, max_size=3)


verdict_value = one_or_list(st.sampled_from(list(verdicts.NAMES) + ["hang", "works"]))
rule_dict = st.fixed_dictionaries(
    {"verdict": verdict_value},
    optional={
        "case": one_or_list(glob_value),
        "config": one_or_list(glob_value),
        "start": one_or_list(st.sampled_from(["fork", "spawn", "forkserver", "default", "*"])),
        "python": one_or_list(version_value),
        "gevent": one_or_list(gevent_value),
        "note": st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
        "cause": one_or_list(st.sampled_from(sorted(cause_kinds))),
    },
)


@given(st.lists(rule_dict, max_size=6))
def test_rules_render_and_parse_back_unchanged(dicts):
    rules = [baseline.Rule.from_dict(d) for d in dicts]
    back = baseline.parse(baseline.render(rules)).rules
    assert back == rules
    assert [r.verdicts for r in back] == [r.verdicts for r in rules]


@given(st.text(max_size=200))
def test_parse_raises_only_baseline_errors(text):
    try:
        baseline.parse(text)
    except baseline.BaselineError as exc:
        assert "\n" not in str(exc).strip() or "TOML" in str(exc)


@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "verdict": st.sampled_from(["oops", 3, "ok"]),
                "case": st.sampled_from([3, [], "", "x"]),
                "gevent": st.sampled_from([">=", "1.2", "=>1"]),
                "color": st.just("red"),
            },
        ),
        max_size=3,
    )
)
def test_bad_rules_are_one_line_errors(dicts):
    try:
        rules = [baseline.Rule.from_dict(d) for d in dicts]
    except baseline.BaselineError as exc:
        assert "\n" not in str(exc)
        return
    assert all(r.verdicts for r in rules)


axis_values = (
    ["a", "b", "seed_original"],
    ["none", "patch_all", "lazy"],
    ["fork", "spawn"],
    ["2.7", "3.8", "3.11", "3.14"],
    ["1.2.2", "20.9.0", "24.2.1", "26.9.0"],
)
verdict_sets = st.sampled_from(
    [
        frozenset({"ok"}),
        frozenset({"deadlock"}),
        frozenset({"running"}),
        frozenset({"ok", "deadlock"}),
        frozenset({"error"}),
        frozenset({"unsupported"}),
    ]
)
cell_maps = st.dictionaries(st.tuples(*(st.sampled_from(v) for v in axis_values)), verdict_sets, max_size=60)


@given(cell_maps)
@settings(max_examples=150, deadline=None)
def test_compact_rules_give_every_cell_exactly_its_verdicts(cells):
    rules = baseline.compact(cells)
    base = baseline.parse(baseline.render(rules))
    for (c, k, s, py, gv), vs in cells.items():
        _, rule = base.find_cell((c, k, s, py, gv))
        assert rule is not None and set(rule.verdicts) == vs, ((c, k, s, py, gv), vs, rule)
    assert len(rules) <= len(set(cells.values())) + len(cells)


@given(cell_maps)
@settings(max_examples=40, deadline=None)
def test_uniform_cells_compact_to_one_rule(cells):
    assume(cells)
    vs = next(iter(cells.values()))
    assert len(baseline.compact({k: vs for k in cells})) == 1


def _records_of(cells):
    out = []
    for (c, k, s, py, gv), vs in cells.items():
        for v in sorted(vs):
            out.append(
                Record.from_json(
                    {
                        "id": records.cell_id(c, py, gv, k, s),
                        "case": c,
                        "config": k,
                        "start": s,
                        "python": py + ".1",
                        "gevent": gv,
                        "verdict": v,
                        "signature": "",
                    }
                )
            )
    return out


@given(cell_maps, cell_maps)
@settings(max_examples=60, deadline=None)
def test_update_from_a_partial_run_keeps_the_other_cells(tmp_path_factory, first, second):
    path = str(tmp_path_factory.mktemp("baseline") / "expectations.toml")
    base1 = baseline.update(_records_of(first), path)
    base2 = baseline.update(_records_of(second), path)

    def expected(base, key):
        c, k, s, py, gv = key
        _, rule = base.find_cell((c, k, s, py, gv))
        return rule and set(rule.verdicts)

    for key in set(first) | set(second):
        if key in second:  # re-decided by the run, unless the old rule already allowed it (flaky, acknowledged)
            old = expected(base1, key)
            want = old if old and second[key] <= old else second[key]
        else:
            want = first[key]
        assert expected(base2, key) == set(want), (key, want)
    assert baseline.check(_records_of(second), base2) == []  # the records it came from check clean


def test_baseline_command_checks_and_updates(slice_records, tmp_path):
    import subprocess
    import sys

    store, path = str(tmp_path / "records.jsonl"), str(tmp_path / "expectations.toml")
    recs = [slice_records[records.cell_id("seed_original", PY, GEVENT, k, "fork")] for k in ("none", "patch_all")]
    for rec in recs:
        records.append(store, rec)

    def hangmatrix(*args):
        return subprocess.run(
            [sys.executable, "-m", "hangmatrix.cli", "baseline", "--records", store, "--baseline", path] + list(args),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    assert hangmatrix("--update-baseline").returncode == 0
    assert baseline.load(path).scope["cells"] == ["%s %s" % (PY, GEVENT)]
    done = hangmatrix()
    assert done.returncode == 0 and "2 cells checked" in done.stderr and "2 as expected" in done.stderr
    records.append(store, recs[1].replace(verdict="ok", signature=""))  # patch_all now "works": a new pass
    done = hangmatrix("--verbose")
    assert done.returncode == 1 and "NEW PASS" in done.stdout and recs[1].id in done.stdout


def test_a_hang_with_another_cause_than_its_rule_names_fails_and_its_rule_is_not_kept(tmp_path):
    path = str(tmp_path / "expectations.toml")
    rule = '{ case = "seed_original", verdict = "deadlock", cause = "hub-blocked", note = "the post" }'
    with open(path, "w") as f:
        f.write('expect = [\n  %s,\n  { verdict = "ok" },\n]\n' % rule)
    cell = ("seed_original", "patch_all", "fork", "3.11", "26.9.0")
    [rec] = _records_of({cell: frozenset({"deadlock"})})
    base = baseline.load(path)
    assert base.rules[0].cause == ("hub-blocked",)
    assert baseline.check([rec.replace(cause=Cause("hub-blocked", "t"))], base) == []
    assert baseline.check([rec], base) == []  # written before causes: nothing to compare
    [failure] = baseline.check([rec.replace(cause=Cause("unknown", "t"))], base)
    assert failure.kind == "unexpected" and "UNEXPECTED cause" in failure.message
    assert "its cause hub-blocked, this record's unknown" in failure.message
    # the expectation that failed is a field, and the message without its diagnosis another
    assert failure.expectation.startswith("rule 1 of %s: %s" % (path, rule)) and failure.rule == base.rules[0]
    assert failure.message.startswith(failure.headline + "\n  diagnosis:\n")
    assert failure.expectation in failure.headline and "diagnosis" not in failure.headline
    assert str(baseline.update([rec.replace(cause=Cause("hub-blocked", "t"))], path).rules[0]) == rule  # still right
    unknown = rec.replace(cause=Cause("unknown", "t"))
    assert not baseline.update([unknown], path).rules[0].cause  # no longer: regenerated
    with pytest.raises(baseline.BaselineError, match="unknown cause 'why-not'"):
        baseline.Rule.from_dict({"verdict": "deadlock", "cause": "why-not"})


def test_update_keeps_explained_rules_while_they_hold(tmp_path):
    path = str(tmp_path / "expectations.toml")
    racy = '{ case = "pipe_echo", verdict = ["ok", "deadlock"], note = "a race" }'
    with open(path, "w") as f:
        f.write('expect = [\n  %s,\n  { verdict = "ok" },\n]\n' % racy)
    cells = {
        ("pipe_echo", "none", "fork", "3.11", "26.9.0"): frozenset({"deadlock"}),
        ("pipe_echo", "lazy", "fork", "3.11", "26.9.0"): frozenset({"ok"}),
        ("seed_original", "none", "fork", "3.11", "26.9.0"): frozenset({"running"}),
    }
    base = baseline.update(_records_of(cells), path)
    assert str(base.rules[0]) == racy  # still right (each run within ok/deadlock): kept, note and all
    assert not any(r.matches("pipe_echo", "none", "fork", "3.11", "26.9.0") for r in base.rules[1:-1])
    cells[("pipe_echo", "none", "fork", "3.11", "26.9.0")] = frozenset({"error"})
    base = baseline.update(_records_of(cells), path)
    assert all(not r.note for r in base.rules)  # no longer right: regenerated from the runs
    assert baseline.check(_records_of(cells), base) == []
