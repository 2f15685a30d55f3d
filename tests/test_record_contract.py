"""The typed contracts: the record (every earlier record still reads, every new one carries its schema),
compact records (a hang keeps its whole diagnosis; show works on compact and full ones), gzip stores, the
cell spec and the cell-side contract (what sitecustomize reads and writes is what run/cellside.py says)."""

import dataclasses
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GEVENT, PY
from hangmatrix.model import cases, configs, record, results
from hangmatrix.model.cellspec import CellSpec
from hangmatrix.model.record import KEEP_COMPACT, KEEP_FULL, SCHEMA, Record
from hangmatrix.report import show
from hangmatrix.run import cellside, conclusion, contain, runner
from hangmatrix.store import compact, records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V1 = os.path.join(ROOT, "tests", "data", "records-v1-df38e63.jsonl")  # written by the code of df38e63
# 20 records of docs/compat.json as the run of 2026-11-26 wrote it (schema 1, before compaction): one per
# verdict, trimmed or not and Python; docs/compat.json itself is rewritten by every full run.
COMPAT = os.path.join(ROOT, "tests", "data", "compat-v1-2026-11-26.json")
SITE = os.path.join(ROOT, "hangmatrix", "inject", "sitecustomize.py")


def _lossless(raw, rec):
    """Every key of the stored object comes back from the Record with its value (a null is absence)."""
    back = rec.to_json()
    assert back["schema"] == SCHEMA
    for key, value in raw.items():
        assert back.get(key) == value, key
    assert Record.from_json(back) == rec.replace(schema=SCHEMA)


def _raw(path):
    """The JSON objects of a store or a table's JSON document, read without hangmatrix."""
    with open(path) as f:
        if path.endswith(".json"):
            return json.load(f)["records"]
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("path", [V1, COMPAT], ids=["v1-store", "compat.json"])
def test_every_earlier_record_reads_back_whole(path):
    raws = _raw(path)
    typed = records.read_many([path])
    assert len(raws) == len(typed) and len(typed) >= 3
    for raw, rec in zip(raws, typed):
        assert "schema" not in raw and rec.schema == 1  # written before the schema existed
        assert rec.id == raw.get("id") and rec.verdict == raw["verdict"]
        assert rec.axes == {k: str(raw[k]) for k in ("case", "config", "start", "python", "gevent")}
        _lossless(raw, rec)
    assert {r.verdict for r in typed} >= {"deadlock", "running"}


def test_a_record_without_an_id_gets_the_one_its_axes_name():
    rec = Record.from_json(
        {"case": "c", "config": "none", "start": "fork", "python": "3.11.7", "gevent": "26.9.0", "verdict": "ok"}
    )
    assert rec.id == "c-py3.11-gevent26.9.0-none-fork" and rec.python_short == "3.11"
    with pytest.raises(ValueError):
        Record.from_json({"id": "x"})
    with pytest.raises(ValueError):
        Record.from_json(["not", "a", "record"])


def test_an_object_that_is_no_record_is_skipped_with_one_line(tmp_path):
    store = tmp_path / "r.jsonl"
    store.write_text(
        '{"id": "a", "verdict": "ok"}\n{"id": "b", "verdict": "ok", "diagnosis": "x"}\n'
        '{"id": "c", "verdict": 3}\n{"id": "d", "verdict": "ok", "schema": "two"}\n{"id": "e", "verdict": "ok"}\n'
    )
    warnings = []
    assert [r.id for r in records.read_many(str(store), warn=warnings.append)] == ["a", "e"]
    assert len(warnings) == 3 and all("\n" not in w and "skipped" in w for w in warnings)


def test_compact_keeps_every_hang_whole_and_summarizes_the_rest(tmp_path):
    """The old store's records appended compact (the default): the deadlock's diagnosis is byte-for-byte
    the one recorded; the running and ok ones keep verdict, signature, provenance, timings and their tree's
    processes and threads, without stacks, greenlets and fds."""
    store = str(tmp_path / "records.jsonl")
    old = records.read_many(V1)
    for rec in old:
        records.append(store, rec)
    new = records.read_many(store)
    for before, after in zip(old, new):
        assert after.schema == SCHEMA
        assert (after.verdict, after.signature, after.provenance, after.timings) == (
            before.verdict,
            before.signature,
            before.provenance,
            before.timings,
        )
        if before.verdict == "deadlock":
            assert after.kept == KEEP_FULL and after.diagnosis == before.diagnosis
            assert after.diagnosis["python_stacks"] and after.diagnosis["greenlets"]
        elif not before.diagnosis:  # ended before the watcher saw its tree: nothing to cut, kept as it was
            assert after.kept == KEEP_FULL and after.diagnosis == {}
        else:
            assert after.kept == KEEP_COMPACT and "python_stacks" not in after.diagnosis
            assert [(p["pid"], p["role"], [t["call"] for t in p["threads"]]) for p in after.processes] == [
                (p["pid"], p["role"], [t["call"] for t in p["threads"]]) for p in before.processes
            ]
            assert not any("fds" in p for p in after.processes)
    full = str(tmp_path / "full.jsonl")
    for rec in old:
        records.append(full, rec, keep=KEEP_FULL)
    assert [r.diagnosis for r in records.read_many(full)] == [r.diagnosis for r in old]
    assert os.path.getsize(store) < os.path.getsize(full) * 0.6
    with pytest.raises(ValueError):
        compact.kept(old[0], "some")


def test_gzip_store_reads_with_zcat_and_survives_a_torn_member(tmp_path):
    store = str(tmp_path / "records.jsonl.gz")
    old = records.read_many(V1)
    for rec in old[:2]:
        records.append(store, rec)
    with open(store, "ab") as f:  # a writer killed inside its one write()
        f.write(gzip.compress(b'{"verdict": "ok", "id": "torn"}\n', mtime=0)[:25])
    records.append(store, old[2])
    warnings = []
    back = records.read_many(store, warn=warnings.append)
    assert [r.id for r in back] == [r.id for r in old] and len(warnings) == 1 and "damaged" in warnings[0]
    assert back[0].diagnosis == old[0].diagnosis
    if shutil.which("zcat"):
        out = subprocess.run(["zcat", "-q", store], capture_output=True).stdout  # the torn tail: zcat warns
        lines = [json.loads(line) for line in out.splitlines()[:2]]
        assert [line["id"] for line in lines] == [r.id for r in old[:2]]
    folder = records.read_many(str(tmp_path))  # a folder's .jsonl.gz stores are read too
    assert [r.id for r in folder] == [r.id for r in old]


def test_real_cells_hangs_kept_whole_working_ones_compact_all_show(tmp_path, env311):
    """Real cells through the harness into a gzip store (the default keep): the deadlock's record is exactly
    what the supervisor made; the running one keeps verdict, signature, provenance, timings and its tree's
    processes and threads, not stacks, greenlets or fds; the ok and unsupported ones (which ended before a
    tree was there to cut) are as made. All carry the schema, all show."""
    plan = [
        ("seed_original", "patch_all"),
        ("seed_original", "none"),
        ("seed_terminating", "none"),
        ("seed_terminating", "flags:nonesuch=1"),
    ]
    items = [
        runner.make_item(cases.select([c])[0], configs.parse(k), "fork", env311.interpreter, GEVENT, 20.0)
        for c, k in plan
    ]
    store = str(tmp_path / "r.jsonl.gz")
    made = {}
    for rec in runner.execute(items, jobs=2):
        made[rec.id] = rec
        records.append(store, rec)
    stored = {r.id: r for r in records.read_many(store)}
    assert sorted(r.verdict for r in stored.values()) == ["deadlock", "ok", "running", "unsupported"]
    for cid, rec in stored.items():
        as_made = {k: v for k, v in made[cid].to_json().items() if v is not None}
        assert as_made["schema"] == SCHEMA and rec.schema == SCHEMA
        assert (rec.verdict, rec.signature, rec.provenance, rec.elapsed_s, rec.cpu_s, rec.cleanup) == tuple(
            as_made.get(k) for k in ("verdict", "signature", "provenance", "elapsed_s", "cpu_s", "cleanup")
        )
        text = show.render(rec)
        assert text.startswith("%s: %s" % (cid, rec.verdict))
        if rec.verdict == "running":
            full = as_made["diagnosis"]
            assert rec.kept == KEEP_COMPACT and full["python_stacks"] and "python_stacks" not in rec.diagnosis
            assert [
                (p["pid"], p["role"], [(t["tid"], t["call"], t["wchan"]) for t in p["threads"]]) for p in rec.processes
            ] == [
                (p["pid"], p["role"], [(t["tid"], t["call"], t["wchan"]) for t in p["threads"]])
                for p in full["processes"]
            ]
            assert not any("fds" in p for p in rec.processes) and all(p["fds"] for p in full["processes"])
            assert "compact record" in text and "process tree" in text and "python stacks (every" not in text
        else:
            assert rec.to_json() == dict(as_made, kept=KEEP_FULL)
            assert "compact record" not in text
        if rec.verdict == "deadlock":
            assert "process tree" in text and "python stacks (every" in text


def test_a_compact_run_makes_no_look_that_compacting_drops(env311):
    """Told the store keeps compact records, the supervisor leaves out of a working cell's record what its
    summary drops (Python stacks, greenlets, who can end each wait: no look outside the tree), while its
    tree, each thread's decoded call and the summary are all there; a deadlock keeps its whole diagnosis."""
    items = [
        runner.make_item(cases.select(["seed_original"])[0], configs.parse(k), "fork", env311.interpreter, GEVENT, 20.0)
        for k in ("patch_all", "none")
    ]
    made = {rec.verdict: rec for rec in runner.execute(items, jobs=2, keep=KEEP_COMPACT)}
    assert sorted(made) == ["deadlock", "running"]
    running, deadlock = made["running"].diagnosis, made["deadlock"].diagnosis
    assert "python_stacks" not in running and "greenlets" not in running
    assert not any("wake" in t for p in running["processes"] for t in p["threads"])
    assert all(t["call"] and t["state"] for p in running["processes"] for t in p["threads"])
    assert deadlock["python_stacks"] and deadlock["greenlets"]
    assert any("wake" in t for p in deadlock["processes"] for t in p["threads"])
    stored = compact.kept(made["running"])
    assert stored.kept == KEEP_COMPACT and set(stored.diagnosis) == {"t", "processes", "compact"}
    assert len(stored.processes) == len(running["processes"]) > 1
    text = show.render(stored)
    assert "compact record" in text and "process tree" in text
    assert compact.kept(made["deadlock"]).kept == KEEP_FULL


def _hm(*args):
    return subprocess.run(
        [sys.executable, "-m", "hangmatrix.cli"] + list(args), capture_output=True, text=True, timeout=600
    )


def test_show_command_on_every_cell_of_a_compact_gzip_store(tmp_path):
    """`hangmatrix show` on a .jsonl.gz store of compact records finds every cell and renders it; a cell it
    does not have is one line and exit 2."""
    store = str(tmp_path / "r.jsonl.gz")
    old = records.read_many(V1)
    for rec in old:
        records.append(store, rec)
    for rec in old:
        out = _hm("show", rec.id, "--records", store)
        assert out.returncode == 0 and out.stdout.startswith("%s: %s" % (rec.id, rec.verdict)), out.stderr
        assert ("compact record" in out.stdout) == (rec.verdict == "running")
    out = _hm("show", "no-such-cell", "--records", store)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no record" in out.stderr


def test_every_compat_json_record_kept_compact_keeps_what_matters_and_shows():
    """The committed full matrix as it was (docs/compat.json, written before compaction) through the store's rule:
    a hang, error or env-error is untouched; a working or unsupported cell keeps every field but the
    diagnosis, whose tree keeps each process and each thread's blocked call; every record shows, before
    and after, with the same first lines."""
    seen = {}
    for rec in records.read_many(COMPAT):
        small = compact.kept(rec)
        seen[rec.verdict, small.kept] = seen.get((rec.verdict, small.kept), 0) + 1
        assert small.replace(diagnosis={}, kept=KEEP_FULL) == rec.replace(diagnosis={})
        if rec.verdict not in ("ok", "running", "unsupported") or not rec.diagnosis:
            assert small == rec
        else:
            assert small.kept == KEEP_COMPACT and not {"python_stacks", "greenlets"} & set(small.diagnosis)
            assert [(p["pid"], p["role"], [t["call"] for t in p["threads"]]) for p in small.processes] == [
                (p["pid"], p["role"], [t["call"] for t in p["threads"]]) for p in rec.processes
            ]
        before, after = show.render(rec).splitlines(), show.render(small).splitlines()
        assert before[:2] == after[:2] and before[0].startswith("%s: %s" % (rec.id, rec.verdict))
    assert seen.get(("deadlock", KEEP_FULL)) and seen.get(("error", KEEP_FULL))  # (its running cells had no tree)
    assert not any(kept == KEEP_COMPACT for verdict, kept in seen if verdict not in ("ok", "running", "unsupported"))


def _members(path):
    """The gzip members of a file, each decompressed on its own."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    while data:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(inflate.decompress(data))
        assert inflate.eof
        data = inflate.unused_data
    return out


def test_gzip_store_is_one_member_per_record_and_zcat_reads_it(tmp_path):
    store = str(tmp_path / "r.jsonl.gz")
    old = records.read_many(V1)
    for rec in old:
        records.append(store, rec, keep=KEEP_FULL)
    members = _members(store)
    assert len(members) == len(old) and all(m.count(b"\n") == 1 and m.endswith(b"\n") for m in members)
    assert [Record.from_json(json.loads(m)) for m in members] == [r.replace(schema=SCHEMA) for r in old]
    zcat = shutil.which("zcat")
    if zcat is None:
        pytest.fail("zcat is not installed: the gzip store's promise cannot be checked")
    lines = subprocess.run([zcat, store], capture_output=True, check=True).stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r.id for r in old]
    assert os.path.getsize(store) < sum(len(m) for m in members) / 3


@given(cut=st.integers(1, 200), before=st.integers(0, 2), after=st.integers(1, 2))
@settings(max_examples=40, deadline=None)
def test_gzip_member_torn_anywhere_loses_only_itself(tmp_path_factory, cut, before, after):
    """A writer killed inside its one write() leaves a member cut short, anywhere (in the header, the
    data, the trailer): every whole member before and after it reads back, and it is reported once."""
    store = str(tmp_path_factory.mktemp("gz") / "r.jsonl.gz")
    recs = [{"id": "r%d" % i, "verdict": "ok", "signature": "x" * (i * 37)} for i in range(before + after)]
    for rec in recs[:before]:
        records.append(store, rec)
    torn = gzip.compress(
        json.dumps({"id": "torn", "verdict": "ok", "pad": os.urandom(64).hex()}).encode() + b"\n", mtime=0
    )
    with open(store, "ab") as f:
        f.write(torn[: min(cut, len(torn) - 1)])
    for rec in recs[before:]:
        records.append(store, rec)
    warnings = []
    assert [r.id for r in records.read_many(store, warn=warnings.append)] == [r["id"] for r in recs]
    assert len(warnings) == 1 and "damaged gzip member" in warnings[0]


WRITER = """
import os, sys
from hangmatrix.store import records
for i in range(40):
    records.append(sys.argv[1], {"id": "%s-%d" % (sys.argv[2], i), "verdict": "ok", "pad": os.urandom(60000).hex()})
"""


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_appends_of_concurrent_writers_never_interleave(tmp_path, name):
    """Three processes appending big records to one store at once: each append is one write(), so every
    record reads back whole (in a .gz store: as its own member) and nothing is reported damaged."""
    store = str(tmp_path / name)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, store, w]) for w in "abc"]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    warnings = []
    back = records.read(store, warn=warnings.append)
    assert not warnings and sorted(r.id for r in back) == sorted("%s-%d" % (w, i) for w in "abc" for i in range(40))
    assert all(len(r.extra["pad"]) == 120000 for r in back)
    if name.endswith(".gz"):
        assert len(_members(store)) == 120


def test_run_keeps_full_records_when_asked(tmp_path, env311):
    """`hangmatrix run` on a real working cell: compact by default, everything with --keep full."""
    common = [
        "run",
        "--case",
        "seed_original",
        "--config",
        "none",
        "--start",
        "fork",
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--quiet",
        "--timeout",
        "20",
    ]
    for keep in ("compact", "full"):
        store = str(tmp_path / ("%s.jsonl.gz" % keep))
        out = _hm(*(common + ["--records", store] + (["--keep", keep] if keep == "full" else [])))
        assert out.returncode == 0, out.stderr
        (rec,) = records.read_many(store)
        assert rec.verdict == "running" and rec.kept == keep and rec.schema == SCHEMA
        assert bool(rec.diagnosis.get("python_stacks")) == (keep == "full")
        assert all(("fds" in p) == (keep == "full") for p in rec.processes) and rec.processes
    out = _hm(*(common + ["--records", str(tmp_path / "x.jsonl"), "--keep", "some"]))
    assert out.returncode == 2 and "--keep" in out.stderr


def test_checks_render_stored_records_as_show_does(tmp_path):
    """A baseline failure and a bisect report carry the diagnosis as `hangmatrix show` prints it, from the
    JSON objects a store gives them, compact or whole."""
    from hangmatrix.checks import baseline, bisect

    store = str(tmp_path / "r.jsonl.gz")
    for rec in records.read_many(V1):
        records.append(store, rec)
    deadlock, running = records.read(store)[:2]
    rule = baseline.parse('expect = [ { case = "seed_*", verdict = "ok" } ]', "t.toml")
    failures = {f.cell: str(f) for f in baseline.check([deadlock, running], rule)}
    assert "process tree" in failures[deadlock.id] and "pool worker" in failures[deadlock.id]
    assert "compact record" in failures[running.id]
    tried = [bisect.Tried(r.gevent + suffix, r) for r, suffix in ((running, ""), (deadlock, ".1"))]
    text = bisect.report(
        {
            "tried": tried,
            "first_changed": tried[1].gevent,
            "last_same": tried[0].gevent,
            "reference": "running",
            "message": "first changed",
        }
    )
    assert text.count("process tree") == 2 and (deadlock.id + ": deadlock") in text


# ---------------------------------------------------------------- the cell spec and the cell side


def test_cell_spec_round_trips_and_unbuilt_specs_are_the_same_type(env311):
    case = cases.select(["seed_original"])[0]
    spec = runner.make_spec(case, configs.parse("flags:thread=0"), "spawn", env311, 12.0, detect=False)
    assert isinstance(spec, CellSpec) and CellSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    item = runner.make_item(case, configs.parse("none"), "fork", env311.interpreter, "0.0.1")
    unbuilt = item.unbuilt_spec()
    assert isinstance(unbuilt, CellSpec) and unbuilt.argv == ()
    assert CellSpec.from_json(unbuilt.to_json()) == unbuilt
    assert "env_python" not in unbuilt.provenance.to_json() and spec.provenance.env_python == env311.python
    with pytest.raises(ValueError, match="not a cell spec"):
        CellSpec.from_json({"id": "x"})
    assert dataclasses.is_dataclass(spec) and dataclasses.fields(spec)  # frozen: replace, not assign
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.timeout = 1.0


def test_a_planned_cell_keeps_its_id_and_its_spec_carries_it_and_the_memory_cap(env311):
    """The id is computed once, from the planned axes: the spec (and so the record) carries the planned
    cell's id even where the built env names its release otherwise; the cap is plan.memory_cap's."""
    case = cases.select(["seed_original"])[0]
    cell = runner.make_item(case, configs.parse("none"), "spawn", env311.interpreter, "installed", 12.0)
    assert cell.id == record.cell_id("seed_original", env311.interpreter.short, "installed", "none", "spawn")
    spec = runner.launch_spec(cell, env311, memory=runner.memory_cap(None, 4))
    assert spec.id == cell.id and spec.provenance.gevent == env311.gevent != "installed"
    assert spec.memory == contain.default_memory(4) and runner.memory_cap(123, 4) == 123
    assert runner.make_spec(case, configs.parse("none"), "fork", env311).memory == runner.memory_cap()
    assert cell.env_key == (env311.interpreter, "installed", (), False) and conclusion.needs_no_run(cell) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.gevent = "1.0"


def _site_source():
    with open(SITE, encoding="utf-8") as f:
        return f.read()


def test_what_the_cell_reads_is_what_the_supervisor_tells_it(env311):
    """Every HANGMATRIX_CELL key sitecustomize.py reads is one cellside.cell_env() writes, and each is
    documented in cellside's contract."""
    read = set(re.findall(r"_spec(?:\[|\.get\()\"(\w+)\"", _site_source())) | {"events", "stacks", "greenlets"}
    spec = runner.make_spec(cases.select(["seed_original"])[0], configs.parse("lazy"), "fork", env311)
    told = json.loads(cellside.cell_env(spec, "/e", "/s", "/g", shm_names=True))
    assert read and read <= set(told), read - set(told)
    for key in told:
        assert re.search(r"^  %s\b|, %s\b|^  \w+, %s\b" % (key, key, key), cellside.__doc__, re.M), key


def test_every_event_the_cell_writes_is_documented():
    emitted = set(re.findall(r"emit\(\"(\w+)\"", _site_source()))
    documented = set(
        re.findall(r"^  (\w+) {2,}", cellside.__doc__.split("and by kind:")[1].split("The stacks file")[0], re.M)
    )
    assert emitted and emitted == documented, emitted ^ documented
    events, used = cellside.parse_events(b'{"ev": "tick", "fn": "f", "pid": 1, "t": 0}\nnot json\n{"ev": "ca')
    assert [e["ev"] for e in events] == ["tick"] and used == len(
        b'{"ev": "tick", "fn": "f", "pid": 1, "t": 0}\nnot json\n'
    )


def test_the_record_of_a_cell_is_its_newest_run():
    """One cell per id, every run kept oldest first; the record of a cell is its newest run, its first when
    asked; a record without an id gets its cell's id from its axes (and X.Y from provenance when given)."""
    old_json = {"id": "a-py3.11-gevent24.2.1-none-fork", "verdict": "ok", "elapsed_s": 1.0}
    other_json = {"case": "b", "python": "3.12.1", "gevent": "25.4.2", "config": "none", "start": "spawn"}
    old, new = Record.from_json(old_json), Record.from_json(dict(old_json, verdict="deadlock", elapsed_s=3.0))
    other = Record.from_json(dict(other_json, verdict="ok"))
    typed = Record.from_json(dict(other_json, verdict="error", provenance={"python_short": "3.12"}))
    grouped = record.by_cell([old, other, new, typed])
    assert list(grouped) == ["a-py3.11-gevent24.2.1-none-fork", "b-py3.12-gevent25.4.2-none-spawn"]
    assert grouped["a-py3.11-gevent24.2.1-none-fork"] == [old, new]
    assert grouped["b-py3.12-gevent25.4.2-none-spawn"] == [other, typed]
    assert record.newest([old, other, new]) == {
        "a-py3.11-gevent24.2.1-none-fork": new,
        "b-py3.12-gevent25.4.2-none-spawn": other,
    }
    assert record.newest([old, new], oldest=True) == {"a-py3.11-gevent24.2.1-none-fork": old}
    assert record.python_short(other) == "3.12" and record.python_short(typed) == "3.12"
    recorded_short = Record.from_json({"python": "2.7.18", "provenance": {"python_short": "2.7"}, "verdict": "ok"})
    assert record.python_short(recorded_short) == "2.7"
    summary = results.Results([old, other, new]).repeated()
    assert summary["a-py3.11-gevent24.2.1-none-fork"].verdict == "flaky"
    assert summary["a-py3.11-gevent24.2.1-none-fork"].rate == "ok 1/2, deadlock 1/2"
    assert "b-py3.12-gevent25.4.2-none-spawn" not in summary  # run once
