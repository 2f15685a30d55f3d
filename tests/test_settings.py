"""Settings and explicit requests, through the real `hangmatrix` command: a bad HANGMATRIX_* value is one line
naming the variable; a selection that comes out empty says which axis and why (issue 18, item 5); and
docs/reference.md lists every variable the package reads and every exit code."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import PY
from hangmatrix.model import exits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HM = [sys.executable, "-m", "hangmatrix.cli"]
ONE_CELL = ["--case", "seed_original", "--config", "none", "--start", "fork"]


def hm(args, tmp_path, **env):
    """The command with a cache of its own (nothing built there unless the test means it)."""
    full = dict(os.environ, HANGMATRIX_CACHE=str(tmp_path / "cache"), **env)
    for name in [k for k, v in env.items() if v is None]:
        del full[name]
    return subprocess.run(
        HM + list(args) + ["--records", str(tmp_path / "r.jsonl"), "--quiet"],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line(done):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == exits.BAD_INPUT and len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "name, value, said",
    [
        ("HANGMATRIX_DEBIAN_ROOT", "maybe", "use 1"),
        ("HANGMATRIX_CONTAIN_OFF", "pidns,cgroups", "cgroups is not one of pidns, cgroup, userns"),
        ("HANGMATRIX_INDEX_JSON", "pypi.org/pypi", "not a URL"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path, name, value, said):
    line = one_line(hm(["run", "--python", PY] + ONE_CELL, tmp_path, **{name: value}))
    assert "%s=%r (environment variable)" % (name, value) in line and said in line
    assert not (tmp_path / "r.jsonl").exists()  # nothing ran


def test_python_315_without_the_debian_root_says_how_to_get_it(tmp_path):
    """HANGMATRIX_DEBIAN_ROOT=0 and an empty cache: not an empty selection, but where 3.15 comes from and the
    command that builds it."""
    line = one_line(
        hm(["run", "--python", "3.15", "--gevent", "26.9.0"] + ONE_CELL, tmp_path, HANGMATRIX_DEBIAN_ROOT="0")
    )
    assert "the pythons axis is empty: no Python 3.15 on this machine" in line
    assert "Python 3.15 comes from the Debian root, which HANGMATRIX_DEBIAN_ROOT=0 keeps off" in line
    assert "hangmatrix envs build --debian-root" in line and "360 MB" in line
    assert not (tmp_path / "cache" / "debian-root").exists()


def test_a_missing_interpreter_beside_a_found_one_is_a_warning(tmp_path, env311):
    done = hm(["run", "--python", "3.5", "--python", PY, "--gevent", "0.0.1"] + ONE_CELL, tmp_path)
    assert done.returncode == exits.OK, done.stderr
    assert "no Python 3.5 on this machine" in done.stderr and "pythons axis is empty" not in done.stderr


def fake_index(tmp_path, releases):
    """A package index's JSON API as files (file:// URLs): gevent with the given releases' files."""
    folder = tmp_path / "index" / "gevent"
    folder.mkdir(parents=True)
    (folder / "json").write_text(
        json.dumps(
            {
                "releases": {
                    v: [{"filename": f, "upload_time_iso_8601": "2015-06-01T00:00:00Z"} for f in files]
                    for v, files in releases.items()
                }
            }
        )
    )
    return "file://" + str(tmp_path / "index")


def test_gevent_axis_with_no_installable_release_says_which_python(tmp_path):
    index = fake_index(
        tmp_path, {"1.0.2": ["gevent-1.0.2.tar.gz"], "1.1.0": ["gevent-1.1.0-cp27-cp27mu-manylinux1_x86_64.whl"]}
    )
    line = one_line(
        hm(["run", "--python", PY, "--gevent", "default"] + ONE_CELL, tmp_path, HANGMATRIX_INDEX_JSON=index)
    )
    assert re.search(
        r"the gevents axis \(default\) is empty: no gevent release from 1\.1 on has a wheel for "
        r"Python %s\.\d+$" % re.escape(PY),
        line,
    ), line


def test_gevent_axis_without_the_index_says_so(tmp_path):
    line = one_line(
        hm(
            ["run", "--python", PY, "--gevent", "all"] + ONE_CELL,
            tmp_path,
            HANGMATRIX_INDEX_JSON="file://" + str(tmp_path / "nowhere"),
        )
    )
    assert "the gevents axis (all) needs the package index: cannot read the package index's metadata" in line


def test_reference_lists_every_variable_and_exit_code():
    """Every HANGMATRIX_* name the package, the scripts and tox.ini read, and every named exit code."""
    with open(os.path.join(REPO, "docs", "reference.md"), encoding="utf-8") as f:
        reference = f.read()
    used = set()
    for top, _, names in os.walk(os.path.join(REPO, "hangmatrix")):
        for name in names:
            if name.endswith(".py"):
                with open(os.path.join(top, name), encoding="utf-8") as f:
                    used |= set(re.findall(r"HANGMATRIX_[A-Z_]+[A-Z]", f.read()))
    for extra in ("scripts/bootstrap.sh", "tox.ini"):
        with open(os.path.join(REPO, extra), encoding="utf-8") as f:
            used |= set(re.findall(r"HANGMATRIX_[A-Z_]+[A-Z]", f.read()))
    assert len(used) >= 10
    missing = sorted(n for n in used if "`%s`" % n not in reference)
    assert not missing, "docs/reference.md does not list %s" % ", ".join(missing)
    for name in ("OK", "FINDING", "BAD_INPUT", "UNFIXED"):
        assert "| %d | `%s` |" % (getattr(exits, name), name) in reference
