"""What a new user meets first (issue 24, item 4), through the real `hangmatrix` command: a bare command lists
the commands, every message has one prefix, records can go to /dev/null, and Ctrl-C says in one line what
was recorded, leaves nothing behind and exits 130."""

import os
import signal
import subprocess
import sys
import time

from conftest import GEVENT, PY
from hangmatrix.cli import SUBCOMMANDS

HM = [sys.executable, "-m", "hangmatrix.cli"]
CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")


def hm(*args, **kwargs):
    return subprocess.run(HM + list(args), capture_output=True, text=True, timeout=300, **kwargs)


def test_a_bare_command_lists_every_command_with_one_line_each():
    done = hm()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(SUBCOMMANDS), done.stdout
    assert all(len(line.split()) > 1 for line in done.stdout.splitlines() if line.startswith("  "))


def test_a_damaged_record_is_said_with_one_prefix(tmp_path):
    store = tmp_path / "bad.jsonl"
    store.write_text("{bad\n")
    done = hm("table", "--records", str(store), "--format", "csv")
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("hangmatrix: %s line 1 is damaged" % store), done.stderr
    assert all(line.count("hangmatrix:") == 1 for line in lines), done.stderr


def test_records_can_go_to_dev_null(tmp_path):
    done = hm(
        "run", "--case", "seed_original", "--config", "none", "--start", "fork", "--python", PY, "--gevent", GEVENT,
        "--records", os.devnull, "--quiet", cwd=str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "records in /dev/null" in done.stderr, done.stderr


def test_ctrl_c_says_what_was_recorded_and_exits_130(tmp_path):
    """One cell is recorded (a deadlock, proven in about a second), the other sleeps for hours; Ctrl-C (SIGINT
    to the command's process group, as a terminal sends it) ends the run. The autouse guard checks that no
    cell process, folder or semaphore is left."""
    store = tmp_path / "records.jsonl"
    argv = HM + ["run", "--case", "seed_original,long_sleep", "--config", "patch_all", "--start", "fork"]
    argv += ["--python", PY, "--gevent", GEVENT, "--records", str(store), "--timeout", "600", "--quiet"]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, HANGMATRIX_CASES=CASES),
    )
    try:
        deadline = time.monotonic() + 120
        while not (store.exists() and store.read_text().count("\n") >= 1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.exists(), "no record within two minutes"
        time.sleep(0.5)  # the sleeping cell is still running
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    (line,) = [line for line in err.splitlines() if "interrupted" in line]
    assert line == "hangmatrix: interrupted: 1 of 2 cells recorded in %s (--resume runs the rest)" % store, err


def test_each_option_is_named_in_its_own_error(tmp_path):
    """One validator per value, naming the option the value came from (the plugin's are in
    tests/test_pytest_plugin.py)."""
    base = ["run", "--case", "seed_original", "--python", PY, "--gevent", GEVENT, "--records", os.devnull]
    done = hm(*base, "--memory", "lots", cwd=str(tmp_path))
    assert (done.returncode, done.stderr) == (
        2,
        "hangmatrix: --memory wants a size like 2G, 512M or 2GiB, not 'lots'\n",
    )
    done = hm(*base, "--detect", "maybe", cwd=str(tmp_path))
    assert (done.returncode, done.stderr) == (2, "hangmatrix: --detect: 'maybe' is not on or off\n")
