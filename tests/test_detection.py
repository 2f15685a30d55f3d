"""Verdicts in about a second, and never a false one: real cells, some of them on a saturated machine."""

import os
import subprocess
import sys

import pytest

CASES = [os.path.join(os.path.dirname(__file__), "cases")]


def test_polling_hang_is_a_stall_within_three_seconds(run_one):
    rec = run_one("poller_stall", "none", "fork", folders=CASES)
    assert rec.verdict == "stall", rec.signature
    assert rec.elapsed_s <= 3.5
    poller = rec.proof["pollers"][0]
    assert poller["syscall"] == "clock_nanosleep" and poller["wakeups"] >= 10
    assert "only polling" in rec.signature


def test_fixed_timeout_mode_agrees_and_waits_it_out(run_one):
    for config, expected in (("patch_all", "deadlock"), ("none", "running")):
        rec = run_one("seed_original", config, "fork", timeout=3.0, detect=False)
        assert rec.verdict == expected
        assert rec.elapsed_s >= 3.0


@pytest.fixture
def saturated_cpu():
    """One busy loop per core for the duration of the test."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()


@pytest.mark.parametrize(
    "case,config,expected",
    [
        ("slow_compute", "none", "ok"),
        ("timed_sleep", "none", "ok"),
        ("seed_terminating", "none", "ok"),
        ("seed_original", "none", "running"),
        ("seed_original", "patch_all", "deadlock"),
    ],
)
def test_no_false_verdict_with_every_core_saturated(run_one, saturated_cpu, case, config, expected):
    folders = None if case.startswith("seed") else CASES
    rec = run_one(case, config, "fork", timeout=30.0, folders=folders)
    assert rec.verdict == expected, rec.signature
