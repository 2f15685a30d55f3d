"""`hangmatrix upgrade-check` for real, with two real gevent releases.

Measured on this machine: on Python 3.11 the seed program with `patch_all(thread=False)` (the post's second
fix) runs with gevent 24.11.1 and deadlocks with 25.4.2 (the Pool's result-handler thread dies with
gevent's LoopExit and the parent waits forever); with `patch_all` it deadlocks with both. So upgrading
24.11.1 -> 25.4.2 is a regression (exit 1) and the reverse is not (exit 0).
"""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

OLD, NEW = "24.11.1", "25.4.2"
SELECT = ["--python", "3.11", "--case", "seed_original", "--config", "thread_false,patch_all", "--start", "fork"]
FLIPPED = "seed_original py3.11 thread_false fork"
# two start methods: the two flipped cells are one finding, reported on one line
BOTH = SELECT[:-1] + ["fork,spawn"]
FLIPPED_BOTH = "seed_original thread_false py3.11 (fork, spawn)"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def upgrade_check(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    return subprocess.run(
        [sys.executable, "-m", "hangmatrix.cli", "upgrade-check"] + list(args),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd or REPO,
        env=env,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return str(tmp_path_factory.mktemp("upgrade") / "records.jsonl")


# The cause gevent 25.4.1's queue change gives the seed under thread_false: the Pool's task handler, a native
# thread, now waits on gevent's queue and dies of LoopExit; the parent waits at pool.join() (line 33).
QUEUE_CHANGE = "greenlet-primitive-from-thread at seed_original.py:33 (<module>): "


@pytest.fixture(scope="module")
def regression(store, tmp_path_factory):
    summary = tmp_path_factory.mktemp("summary") / "summary.md"
    done = upgrade_check("--gevent", NEW, "--against", OLD, "--records", store, "--summary", str(summary), *BOTH)
    return done, summary.read_text()


def test_a_new_hang_fails_the_check_and_is_listed_first_with_its_signature(regression):
    done, _ = regression
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("upgrade check: gevent %s against gevent %s, 4 cells on Python 3.11\n" % (NEW, OLD))
    assert out.index("new hangs (2 cells):") < out.index("Unchanged: 2 cells.")
    assert "  %s: running -> deadlock\n" % FLIPPED_BOTH in out
    assert re.search(
        r"      now: %sparent blocked in futex\(\).* read\(\) on pipe:\[\d+\]; its writers: .*pool worker"
        % re.escape(QUEUE_CHANGE),
        out,
    )
    assert (
        out.rstrip()
        .splitlines()[-1]
        .startswith("REGRESSION: a new hang or failure in 2 cells (gevent %s against gevent %s)" % (NEW, OLD))
    )


def test_the_ci_summary_has_the_same_report_in_markdown(regression):
    _, summary = regression
    assert "**REGRESSION: a new hang or failure in 2 cells" in summary
    assert "### new hangs (2 cells)" in summary
    assert "| `%s` | running | deadlock | `%sparent blocked in futex()" % (FLIPPED_BOTH, QUEUE_CHANGE) in summary


def test_hang_that_goes_away_passes_the_check(store):
    done = upgrade_check("--gevent", OLD, "--against", NEW, "--records", store, *SELECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "no longer hang (1 cell):\n  %s: deadlock -> running\n      was: %sparent blocked in futex()"
        % (FLIPPED, QUEUE_CHANGE)
        in done.stdout
    )
    assert "new hangs" not in done.stdout and "Unchanged: 1 cell." in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("OK: no new hang or failure")


def test_records_of_both_releases_are_kept(regression, store):
    from hangmatrix.store import records

    recs = records.read(store)
    ids = {r.id for r in recs}
    for gv in (OLD, NEW):
        for config in ("thread_false", "patch_all"):
            for start in ("fork", "spawn"):
                assert "seed_original-py3.11-gevent%s-%s-%s" % (gv, config, start) in ids
    assert all(r.cleanup["survivors"] == [] for r in recs)


def test_existing_records_are_checked_without_running(regression, store):
    """The CI job that merges the matrix's artifacts: --from-records, no cell runs."""
    done = upgrade_check("--from-records", store, "--gevent", NEW, "--against", OLD, *SELECT)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  %s: running -> deadlock\n" % FLIPPED in done.stdout
    assert "seed_original-py3.11" not in done.stderr  # no cell lines: nothing ran


def test_baseline_expectations_decide_without_an_old_run(tmp_path, store):
    """The committed-baseline flavour: the post's claims as rules; 25.4.2 breaks `thread_false works`."""
    (tmp_path / "expectations.toml").write_text(
        "expect = [\n"
        '  { case = "seed_*", config = "patch_all", verdict = "hang" },\n'
        '  { case = "seed_*", config = "thread_false", verdict = "works", note = "the post\'s second fix" },\n'
        "]\n"
    )
    bad = upgrade_check("--gevent", NEW, "--records", store, *SELECT, cwd=str(tmp_path))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "  %s: ok or running -> deadlock\n" % FLIPPED in bad.stdout
    assert '      expected by: { case = "seed_*", config = "thread_false", verdict = "works"' in bad.stdout
    good = upgrade_check("--gevent", OLD, "--records", store, *SELECT, cwd=str(tmp_path))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "As expected: 2 cells." in good.stdout


def test_a_local_wheel_is_tested_like_a_release(tmp_path, store):
    """Offline against a wheel file (here the release's own wheel, fetched by pip): its own venv, same
    verdicts."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "-d",
            str(tmp_path),
            "gevent==" + NEW,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(str(p) for p in tmp_path.iterdir() if p.name.endswith(".whl"))
    done = upgrade_check("--gevent", wheel, "--against", OLD, "--records", store, *SELECT)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("upgrade check: gevent %s (local wheel) against gevent %s" % (NEW, OLD))
    assert "  %s: running -> deadlock\n" % FLIPPED in done.stdout


def test_nothing_to_compare_with_is_a_usage_error(tmp_path):
    missing = str(tmp_path / "expectations.toml")
    done = upgrade_check("--gevent", NEW, "--baseline", missing, *SELECT, cwd=str(tmp_path))
    assert done.returncode == 2
    assert "no baseline %s and no --against OLD" % missing in done.stderr
    done = upgrade_check("--gevent", "not-a-release", "--against", OLD, *SELECT)
    assert done.returncode == 2
    assert "neither a gevent release" in done.stderr
