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

import pytest

from conftest import GEVENT, PY
from hangmatrix import envs
from hangmatrix.model import cases, configs
from hangmatrix.model.cellspec import CellSpec
from hangmatrix.model.record import KEEP_COMPACT, KEEP_FULL, SCHEMA, Record
from hangmatrix.report import show
from hangmatrix.run import cellside, runner
from hangmatrix.store import compact, records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V1 = os.path.join(ROOT, "tests", "data", "records-v1-df38e63.jsonl")  # written by the code of df38e63
COMPAT = os.path.join(ROOT, "docs", "compat.json")
SITE = os.path.join(ROOT, "hangmatrix", "inject", "sitecustomize.py")


def _lossless(raw, rec):
    """Every key of the stored object comes back from the Record with its value (a null is absence)."""
    back = rec.to_json()
    assert back["schema"] == SCHEMA
    for key, value in raw.items():
        assert back.get(key) == value, key
    assert Record.from_json(back) == rec.replace(schema=SCHEMA)


@pytest.mark.parametrize("path", [V1, COMPAT], ids=["v1-store", "compat.json"])
def test_every_earlier_record_reads_back_whole(path):
    raws = records.read_many([path])
    typed = records.load([path])
    assert len(raws) == len(typed) and len(typed) >= 3
    for raw, rec in zip(raws, typed):
        assert "schema" not in raw and rec.schema == 1  # written before the schema existed
        assert rec.id == raw.get("id") and rec.verdict == raw["verdict"]
        assert rec.axes == {k: str(raw[k]) for k in ("case", "config", "start", "python", "gevent")}
        _lossless(raw, rec)
    assert {r.verdict for r in typed} >= {"deadlock", "running"}


def test_a_record_without_an_id_gets_the_one_its_axes_name():
    rec = Record.from_json({"case": "c", "config": "none", "start": "fork", "python": "3.11.7", "gevent": "26.9.0",
                            "verdict": "ok"})
    assert rec.id == "c-py3.11-gevent26.9.0-none-fork" and rec.python_short == "3.11"
    with pytest.raises(ValueError):
        Record.from_json({"id": "x"})
    with pytest.raises(ValueError):
        Record.from_json(["not", "a", "record"])


def test_compact_keeps_every_hang_whole_and_summarizes_the_rest(tmp_path):
    """The old store's records appended compact (the default): the deadlock's diagnosis is byte-for-byte
    the one recorded; the running and ok ones keep verdict, signature, provenance, timings and their tree's
    processes and threads, without stacks, greenlets and fds."""
    store = str(tmp_path / "records.jsonl")
    old = records.load(V1)
    for rec in old:
        records.append(store, rec)
    new = records.load(store)
    for before, after in zip(old, new):
        assert after.schema == SCHEMA
        assert (after.verdict, after.signature, after.provenance, after.timings) == \
            (before.verdict, before.signature, before.provenance, before.timings)
        if before.verdict == "deadlock":
            assert after.kept == KEEP_FULL and after.diagnosis == before.diagnosis
            assert after.diagnosis["python_stacks"] and after.diagnosis["greenlets"]
        else:
            assert after.kept == KEEP_COMPACT and "python_stacks" not in after.diagnosis
            assert [(p["pid"], p["role"], [t["call"] for t in p["threads"]]) for p in after.processes] == \
                [(p["pid"], p["role"], [t["call"] for t in p["threads"]]) for p in before.processes]
            assert not any("fds" in p for p in after.processes)
    full = str(tmp_path / "full.jsonl")
    for rec in old:
        records.append(full, rec, keep=KEEP_FULL)
    assert [r.diagnosis for r in records.load(full)] == [r.diagnosis for r in old]
    assert os.path.getsize(store) < os.path.getsize(full) * 0.6
    with pytest.raises(ValueError):
        compact.kept(old[0], "some")


def test_gzip_store_reads_with_zcat_and_survives_a_torn_member(tmp_path):
    store = str(tmp_path / "records.jsonl.gz")
    old = records.load(V1)
    for rec in old[:2]:
        records.append(store, rec)
    with open(store, "ab") as f:  # a writer killed inside its one write()
        f.write(gzip.compress(b'{"verdict": "ok", "id": "torn"}\n', mtime=0)[:25])
    records.append(store, old[2])
    warnings = []
    back = records.load(store, warn=warnings.append)
    assert [r.id for r in back] == [r.id for r in old] and len(warnings) == 1 and "damaged" in warnings[0]
    assert back[0].diagnosis == old[0].diagnosis
    if shutil.which("zcat"):
        out = subprocess.run(["zcat", "-q", store], capture_output=True).stdout  # the torn tail: zcat warns
        lines = [json.loads(line) for line in out.splitlines()[:2]]
        assert [line["id"] for line in lines] == [r.id for r in old[:2]]
    folder = records.load(str(tmp_path))  # a folder's .jsonl.gz stores are read too
    assert [r.id for r in folder] == [r.id for r in old]


def test_real_cells_compact_hang_identical_show_works_on_both(tmp_path, env311):
    """Real cells (a deadlock and a working run) through the harness: the store keeps the deadlock's
    record exactly as the supervisor made it, the working one compact; both carry the schema and both show."""
    case = cases.select(["seed_terminating"])[0]
    store = str(tmp_path / "r.jsonl.gz")
    made = {}
    items = [runner.make_item(case, configs.parse(k), "fork", env311.interpreter, GEVENT, 20.0)
             for k in ("patch_all", "none")]
    for rec in runner.execute(items, jobs=2):
        made[rec["id"]] = rec
        records.append(store, rec)
    stored = {r.id: r for r in records.load(store)}
    assert {r.verdict for r in stored.values()} == {"deadlock", "ok"}
    for cid, rec in stored.items():
        assert made[cid]["schema"] == SCHEMA and rec.schema == SCHEMA
        text = show.render(rec)
        assert text.startswith("%s: %s" % (cid, rec.verdict))
        if rec.verdict == "deadlock":
            assert rec.to_json() == {k: v for k, v in dict(made[cid], kept=KEEP_FULL).items() if v is not None}
            assert "process tree" in text and "python stacks (every" in text and "compact record" not in text
        else:
            assert rec.kept == KEEP_COMPACT and "compact record" in text and "python stacks (every" not in text
            assert rec.signature == made[cid]["signature"] and rec.elapsed_s == made[cid]["elapsed_s"]


def test_show_command_on_compact_store_and_on_compat_json(tmp_path):
    store = str(tmp_path / "r.jsonl")
    for rec in records.load(V1):
        records.append(store, rec)
    cid = records.load(V1)[1].id
    out = subprocess.run([sys.executable, "-m", "hangmatrix.cli", "show", cid, "--records", store],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith(cid + ": running"), out.stderr
    deadlock = next(r for r in records.load(COMPAT) if r.verdict == "deadlock")
    assert show.render(deadlock).startswith(deadlock.id + ": deadlock")


# ---------------------------------------------------------------- the cell spec and the cell side

def test_cell_spec_round_trips_and_unbuilt_specs_are_the_same_type(env311):
    case = cases.select(["seed_original"])[0]
    spec = runner.make_spec(case, configs.parse("flags:thread=0"), "spawn", env311, 12.0, detect=False)
    assert isinstance(spec, CellSpec) and CellSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    item = runner.make_item(case, configs.parse("none"), "fork", env311.interpreter, "0.0.1")
    unbuilt = runner._unbuilt_spec(item)
    assert isinstance(unbuilt, CellSpec) and unbuilt.argv == ()
    assert CellSpec.from_json(unbuilt.to_json()) == unbuilt
    assert "env_python" not in unbuilt.provenance.to_json() and spec.provenance.env_python == env311.python
    with pytest.raises(ValueError, match="not a cell spec"):
        CellSpec.from_json({"id": "x"})
    assert dataclasses.is_dataclass(spec) and dataclasses.fields(spec)  # frozen: replace, not assign
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.timeout = 1.0


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
    documented = set(re.findall(r"^  (\w+) {2,}", cellside.__doc__.split("and by kind:")[1].split("The stacks file")[0], re.M))
    assert emitted and emitted == documented, (emitted ^ documented)
    events, used = cellside.parse_events(b'{"ev": "tick", "fn": "f", "pid": 1, "t": 0}\nnot json\n{"ev": "ca')
    assert [e["ev"] for e in events] == ["tick"] and used == len(b'{"ev": "tick", "fn": "f", "pid": 1, "t": 0}\nnot json\n')
