"""The record store never loses a record: partial lines from a killed writer are closed off and skipped."""

import json
import os
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from hangmatrix.model.record import SCHEMA, Record
from hangmatrix.store import records

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
record = st.fixed_dictionaries(
    {
        "id": text,
        "verdict": st.sampled_from(["ok", "deadlock", "stall", "timeout"]),
        "signature": text,
        "elapsed_s": st.floats(0, 100, allow_nan=False),
    }
)


@given(st.lists(record, max_size=8), st.integers(1, 60))
@settings(max_examples=60, deadline=None)
def test_partial_line_is_closed_off_and_nothing_else_lost(tmp_path_factory, recs, cut):
    path = str(tmp_path_factory.mktemp("store") / "records.jsonl")
    for rec in recs:
        records.append(path, rec)
    line = json.dumps({"id": "killed", "verdict": "ok"})
    with open(path, "a") as f:
        f.write(line[: min(cut, len(line) - 1)])  # a writer killed mid-line
    records.append(path, {"id": "after", "verdict": "ok"})
    warnings = []
    back = records.read_many(path, warn=warnings.append)
    assert back == [Record.from_json(r).replace(schema=SCHEMA) for r in recs + [{"id": "after", "verdict": "ok"}]]
    assert all(raw.schema == SCHEMA for raw in records.read(path, warn=lambda msg: None))
    assert len(warnings) == 1 and "damaged" in warnings[0]


def test_missing_file_is_one_line_not_a_crash(tmp_path):
    warnings = []
    assert records.read(str(tmp_path / "nope.jsonl"), warn=warnings.append) == []
    assert len(warnings) == 1 and "\n" not in warnings[0]


def _ends_mid_line(path):
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return size > 0 and os.pread(f.fileno(), 1, size - 1) != b"\n"
    except OSError:
        return False


def test_writer_killed_with_sigkill_mid_write_never_breaks_the_store(tmp_path):
    """Real processes appending big records (one write() of 16 MiB each), SIGKILLed at random moments until
    one is killed inside its write: the file then ends in a partial line before anything reads it. Every
    intact line reads back, the torn one is reported, and the next append starts a fresh line."""
    import random

    path = str(tmp_path / "records.jsonl")
    code = (
        "import sys; sys.path.insert(0, %r)\nfrom hangmatrix.store import records\n"
        "print('ready', flush=True)\n"
        "for i in range(100000):\n    records.append(%r, {'id': str(i), 'verdict': 'ok', 'pad': 'x' * (16 << 20)})\n"
        % (os.getcwd(), path)
    )
    torn = attempts = 0
    while not torn and attempts < 30:
        attempts += 1
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        proc.stdout.readline()
        deadline = time.monotonic() + random.uniform(0.05, 2.0)
        while time.monotonic() < deadline and not _ends_mid_line(path):
            pass  # watch the file grow: the moment it ends inside a line, a write() is under way
        proc.kill()
        proc.wait()
        proc.stdout.close()
        torn = _ends_mid_line(path)
    assert torn, "no writer was killed mid-write in %d attempts: the test proved nothing" % attempts
    intact = sum(1 for line in open(path, "rb") if line.endswith(b"\n"))
    records.append(path, {"id": "last", "verdict": "ok"})
    warnings = []
    back = records.read(path, warn=warnings.append)
    assert len(back) == intact + 1 and back[-1].id == "last" and all(r.verdict == "ok" for r in back)
    assert len(warnings) == 1 and "damaged" in warnings[0]


def test_summary_marks_disagreeing_runs_flaky():
    from hangmatrix.model import results

    summary = results.repeated([("a", "deadlock")] * 9 + [("a", "ok")] + [("b", "ok")] * 3 + [("c", "ok")])
    assert summary["a"].verdict == "flaky" and summary["a"].rate == "deadlock 9/10, ok 1/10"
    assert summary["b"].verdict == "ok" and summary["b"].ci[0] > 0.3 and "c" not in summary
    assert summary["a"].line() == "flaky       deadlock 9/10, ok 1/10       95% CI 0.60-0.98  a"
