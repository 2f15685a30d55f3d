"""The scriptable interface, end to end through the real `hangmatrix` command."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import GEVENT, PY
from hangmatrix.model import configs, record
from hangmatrix.store import records

HM = [sys.executable, "-m", "hangmatrix.cli"]


def hm(*args, **kwargs):
    return subprocess.run(HM + list(args), capture_output=True, text=True, timeout=900, **kwargs)


@pytest.mark.slow
def test_every_config_and_start_has_a_record_and_a_readable_diagnosis(tmp_path, env311):
    store = str(tmp_path / "records.jsonl")
    seeds = ["seed_original", "seed_terminating"]  # every case: tests/test_baseline.py runs them all
    out = hm(
        "run",
        "--case",
        ",".join(seeds),
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--records",
        store,
        "--timeout",
        "20",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    recs = records.read(store)
    expected = {records.cell_id(c, PY, GEVENT, k, s) for c in seeds for k in configs.NAMED for s in configs.STARTS}
    assert {r.id for r in recs} == expected
    assert len(out.stdout.splitlines()) == len(expected)  # one line per cell
    with open(store) as f:  # the file itself, read as JSON: every line carries the fields a record must
        assert all(set(records.REQUIRED) <= set(json.loads(line)) for line in f)
    for rec in recs:
        if rec.verdict not in ("ok", "running", "unsupported"):
            shown = hm("show", rec.id, "--records", store)
            assert shown.returncode == 0 and rec.verdict in shown.stdout
            if rec.verdict in ("deadlock", "stall", "timeout"):
                assert "process tree" in shown.stdout and "thread" in shown.stdout
                assert "python stacks" in shown.stdout


def test_options_are_repeatable_and_comma_separated(tmp_path, env311):
    store = str(tmp_path / "r.jsonl")
    out = hm(
        "run",
        "--case",
        "seed_terminating",
        "--config",
        "none,patch_all",
        "--config",
        "flags:thread=0,queue=0",
        "--start",
        "fork",
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--records",
        store,
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    got = {r.config: r.verdict for r in records.read(store)}
    assert got == {"none": "ok", "patch_all": "deadlock", "flags:thread=0,queue=0": "ok"}


def test_unknown_flag_is_unsupported_not_an_error(tmp_path, env311):
    store = str(tmp_path / "r.jsonl")
    hm(
        "run",
        "--case",
        "seed_terminating",
        "--config",
        "flags:nonesuch=1",
        "--start",
        "fork",
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--records",
        store,
        "--quiet",
    )
    rec = records.read(store)[0]
    assert rec.verdict == "unsupported" and "nonesuch" in rec.signature


def test_bad_input_gets_one_line_and_the_rest_still_runs(tmp_path, env311):
    store = str(tmp_path / "r.jsonl")
    out = hm(
        "run",
        "--case",
        "seed_terminating",
        "--config",
        "none",
        "--start",
        "fork",
        "--python",
        "/nonexistent/python",
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--gevent",
        "0.0.1",
        "--records",
        store,
        "--quiet",
    )
    assert out.returncode == 0
    assert "/nonexistent/python" in out.stderr
    verdicts = {r.gevent: r.verdict for r in records.read(store)}
    assert verdicts == {GEVENT: "ok", "0.0.1": "env-error"}
    for bad in (["--config", "bogus"], ["--start", "vfork"], ["--case", "no_such_case"]):
        out = hm("run", "--python", PY, "--records", store, *bad)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_resume_after_the_harness_is_killed_gives_the_same_table(tmp_path, env311):
    selection = [
        "--case",
        "seed_terminating,pipe_echo",
        "--config",
        "none,patch_all,lazy",
        "--start",
        "fork,spawn",
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--quiet",
        "--jobs",
        "2",
    ]
    whole = str(tmp_path / "whole.jsonl")
    assert hm("run", *selection, "--records", whole).returncode == 0
    broken = str(tmp_path / "broken.jsonl")
    proc = subprocess.Popen(
        HM + ["run", *selection, "--records", broken], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while not os.path.exists(broken) or len(records.read(broken)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(records.read(broken))
    assert partial < 12
    out = hm("run", *selection, "--records", broken, "--resume")
    assert "resuming: %d of 12" % partial in out.stderr
    table = lambda path: {cid: r.verdict for cid, r in record.newest(records.read(path)).items()}  # noqa: E731
    assert table(broken) == table(whole)
    assert len(records.read(broken)) == 12


def test_memory_option_caps_each_cell_and_bad_sizes_get_one_line(tmp_path, env311):
    """--memory reaches the cell: the memory bomb of tests/cases stops with out-of-memory at that cap."""
    store = str(tmp_path / "r.jsonl")
    cases_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    out = hm(
        "run",
        "--case",
        "allocates_forever",
        "--config",
        "none",
        "--start",
        "fork",
        "--python",
        PY,
        "--gevent",
        GEVENT,
        "--memory",
        "300M",
        "--records",
        store,
        "--quiet",
        env=dict(os.environ, HANGMATRIX_CASES=cases_dir),
    )
    assert out.returncode == 0, out.stderr
    rec = records.read(store)[0]
    assert (rec.verdict, rec.signature) == ("error", "out of memory (cap 300 MiB)"), rec.signature
    assert rec.containment["memory_cap"] == 300 << 20
    for bad in ("lots", "-1G", "0"):
        out = hm("run", "--python", PY, "--records", store, "--memory=" + bad)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the seal needs root: unprivileged, a cell writes wherever its user may")
def test_writable_option_opens_one_folder_to_a_sealed_cell_and_bad_folders_get_one_line(tmp_path, env311):
    """--writable DIR reaches the contained cell: writes_outside writes into DIR for real (privately, without
    the option, as tests/test_containment.py shows) and nowhere else on the machine; its record names DIR."""
    store = str(tmp_path / "r.jsonl")
    outside = tmp_path / "shared"
    outside.mkdir()
    cases_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    out = hm(
        "run",
        *("--case", "writes_outside", "--config", "none", "--start", "fork"),
        *("--python", PY, "--gevent", GEVENT, "--records", store, "--quiet"),
        *("--writable", str(outside)),
        env=dict(os.environ, HANGMATRIX_CASES=cases_dir, CELL_TEST_OUTSIDE=str(outside)),
    )
    assert out.returncode == 0, out.stderr
    rec = records.read(store)[0]
    assert rec.verdict == "ok", rec.signature
    assert "write into the outside folder: done" in rec.stdout_tail, rec.stdout_tail
    assert (outside / "from-the-cell").read_text() == "written from a cell\n"
    # anywhere else, a write lands in the cell's private copy-on-write view (or is refused by the seal), never
    # on the machine
    escaped = rec.stdout_tail.splitlines()[0].split()[1]
    assert not os.path.exists(escaped), escaped
    assert rec.containment["writable"] == [str(outside)], rec.containment
    for bad in (str(tmp_path / "missing"), str(tmp_path / "shared" / "from-the-cell")):
        out = hm("run", "--python", PY, "--records", store, "--writable", bad)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "--writable" in out.stderr, out.stderr
