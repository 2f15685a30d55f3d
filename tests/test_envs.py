"""Interpreters and cell environments, built for real (cached in the hangmatrix cache, so reruns are quick)."""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest

from hangmatrix import cli
from hangmatrix.envs import debian_root, steps
from hangmatrix.envs.build import check_sound, ensure_env, ensure_wheel_env
from hangmatrix.envs.cache import MANIFEST
from hangmatrix.envs.errors import EnvError
from hangmatrix.envs.index import gevent_releases
from hangmatrix.envs.interpreters import discover, find_interpreter
from hangmatrix.model.versions import parse as Version


def pyenv_versions():
    """What pyenv has installed, read from its folder (the discovery code is not asked)."""
    root = (
        subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        if subprocess.run(["which", "pyenv"], capture_output=True).returncode == 0
        else ""
    )
    return (
        sorted(
            os.path.basename(os.path.dirname(os.path.dirname(p)))
            for p in glob.glob(os.path.join(root, "versions", "*", "bin", "python"))
        )
        if root
        else []
    )


def start_method_of(python):
    code = "import multiprocessing as m, sys; print(m.get_start_method() if sys.version_info[0] > 2 else 'fork')"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def test_discovery_finds_every_pyenv_interpreter():
    found = {i.short: i for i in discover()}
    expected = [v for v in pyenv_versions() if re.match(r"(2\.7|3\.([6-9]|\d\d))\.\d+$", v)]
    assert expected, "no pyenv interpreters on this machine"
    for version in expected:
        interp = found[".".join(version.split(".")[:2])]  # one per minor version, pyenv's first
        assert interp.version == version and interp.source == "pyenv", interp
        assert interp.implementation == "cpython" and interp.build.startswith(version)
        assert interp.default_start == start_method_of(interp.path) == "fork"  # Linux default before 3.14
    versions = [Version(i.version) for i in found.values()]
    assert versions == sorted(versions)


def test_python27_is_a_wide_unicode_build():
    assert find_interpreter("2.7").abi == "cp27mu"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("3.5", "no Python 3.5 on this machine (found: 2.7, "),
        ("/nonexistent/bin/python", "no Python at /nonexistent/bin/python"),
        ("/bin/true", "/bin/true is not a working CPython"),
    ],
)
def test_missing_interpreter_is_one_line_env_error(spec, message):
    with pytest.raises(EnvError) as err:
        find_interpreter(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_gevent_releases_for_311():
    releases = gevent_releases(find_interpreter("3.11"))
    assert releases[0] == "22.10.1" and "26.9.0" in releases and "1.2.2" not in releases
    assert releases == sorted(releases, key=Version)


def test_gevent_releases_for_27_start_at_11():
    releases = gevent_releases(find_interpreter("2.7"))
    assert releases[0] == "1.1.0" and "1.2.2" in releases and not any("a" in r or "rc" in r for r in releases)


def installed_in(env):
    code = "import gevent, greenlet; print(gevent.__version__ + ' ' + greenlet.__version__)"
    return subprocess.run(env.command([env.python, "-c", code]), capture_output=True, text=True).stdout.split()


def test_env_311_gevent_26_9_0():
    env = ensure_env(find_interpreter("3.11"), "26.9.0")
    with open(os.path.join(env.path, MANIFEST)) as f:
        manifest = json.load(f)
    assert manifest["gevent"] == env.gevent == "26.9.0"
    assert installed_in(env) == ["26.9.0", manifest["greenlet"]]
    assert manifest["greenlet"].startswith("3.") and manifest["resolved_as_of"] == "2026-09-19"
    assert {"setuptools", "zope-event", "zope-interface"} <= set(env.packages)
    assert os.path.exists(os.path.join(env.path, "pyvenv.cfg"))  # a real venv, not a --target dir
    assert env.packages["pip"] and os.path.exists(os.path.join(env.path, "bin", "pip"))  # its own pip
    assert env.command(["x"]) == ["x"] and env.visible("/a/b") == "/a/b" and env.stage("/a/b") == "/a/b"


def test_env_27_gevent_1_2_2_is_of_its_period():
    env = ensure_env(find_interpreter("2.7"), "1.2.2")
    assert installed_in(env) == ["1.2.2", env.greenlet]
    assert env.greenlet.startswith("0.4.")  # greenlet 1.0 came in 2020
    assert int(env.packages["setuptools"].split(".")[0]) < 40  # setuptools of mid-2017
    assert env.resolved_as_of == "2017-06-08"


def test_second_ensure_env_reuses(tmp_path):
    interp = find_interpreter("3.11")
    first = ensure_env(interp, "26.9.0")
    manifest = os.path.join(first.path, MANIFEST)
    stamp = os.stat(manifest).st_mtime_ns
    again = ensure_env(interp, "26.9.0")
    assert again.reused and again.path == first.path and os.stat(manifest).st_mtime_ns == stamp


def test_killed_build_is_not_taken_for_complete(tmp_path):
    interp = find_interpreter("3.11")
    half = tmp_path / "envs" / ("%s-gevent26.9.0-pip-2026-09-19" % interp.key)
    (half / "bin").mkdir(parents=True)  # what a build killed before its manifest leaves
    env = ensure_env(interp, "26.9.0", cache_dir=str(tmp_path))
    assert not env.reused and env.path == str(half) and installed_in(env) == ["26.9.0", env.greenlet]


def test_an_env_built_before_envs_carried_pip_is_not_reused(tmp_path):
    """A finished env under the name envs had before they carried pip (KEY-geventRELEASE-DATE) is left alone:
    the cell env is built anew under its -pip name, with pip."""
    interp = find_interpreter("3.11")
    old = tmp_path / "envs" / ("%s-gevent26.9.0-2026-09-19" % interp.key)
    old.mkdir(parents=True)
    with open(os.path.join(ensure_env(interp, "26.9.0").path, MANIFEST)) as f:
        (old / MANIFEST).write_text(f.read())
    env = ensure_env(interp, "26.9.0", cache_dir=str(tmp_path))
    assert not env.reused and os.path.basename(env.path) == "%s-gevent26.9.0-pip-2026-09-19" % interp.key
    assert env.packages["pip"] and os.path.exists(os.path.join(env.path, "bin", "pip"))


@pytest.mark.parametrize(
    "gevent, message",
    [
        ("9.9.9", "gevent 9.9.9 is not a release on the package index"),
        ("1.2.2", "gevent 1.2.2 has no wheel for Python 3.11"),
    ],
)
def test_unusable_gevent_is_one_line_env_error(tmp_path, gevent, message):
    with pytest.raises(EnvError) as err:
        ensure_env(find_interpreter("3.11"), gevent, cache_dir=str(tmp_path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_greenlet_mismatch_is_caught_not_hung(tmp_path):
    """FACTS.md's trap, made on purpose: gevent 1.3.7 with the later greenlet 0.4.17 on 3.7."""
    interp = find_interpreter("3.7")
    bad = str(tmp_path / "bad")
    steps.run([steps.uv(), "venv", "-q", "--python", interp.path, bad])
    steps.run(
        [steps.uv(), "pip", "install", "-q", "--python", bad + "/bin/python", "gevent==1.3.7", "greenlet==0.4.17"]
    )
    with pytest.raises(EnvError) as err:
        check_sound(interp, bad + "/bin/python", bad, "1.3.7")
    assert "greenlet 0.4.17 is binary-incompatible with gevent 1.3.7" in str(err.value) and err.value.lasting


def _starved_python(tmp_path, env, first_delay, later_delay):
    """The env's real python behind a script that is slow to start: first_delay seconds on its first run,
    later_delay after (a check starved by load, or one that hangs every time)."""
    script = tmp_path / "python"
    script.write_text(
        '#!/bin/sh\nif [ -e %(m)s ]; then sleep %(later)s; else touch %(m)s; sleep %(first)s; fi\nexec %(py)s "$@"\n'
        % {"m": tmp_path / "ran", "first": first_delay, "later": later_delay, "py": env.python}
    )
    script.chmod(0o755)
    return str(script)


def test_check_starved_once_is_tried_again_not_cached(tmp_path, monkeypatch):
    from hangmatrix.envs import steps

    interp = find_interpreter("3.11")
    env = ensure_env(interp, "26.9.0")
    monkeypatch.setattr(steps, "CHECK_TIMEOUT", 1.0)
    assert check_sound(interp, _starved_python(tmp_path, env, 2, 0), env.path, "26.9.0").startswith("26.9.0")


def test_check_that_hangs_twice_is_lasting(tmp_path, monkeypatch):
    from hangmatrix.envs import steps

    interp = find_interpreter("3.11")
    env = ensure_env(interp, "26.9.0")
    monkeypatch.setattr(steps, "CHECK_TIMEOUT", 1.0)
    with pytest.raises(EnvError) as err:
        check_sound(interp, _starved_python(tmp_path, env, 2, 5), env.path, "26.9.0")
    assert "hung at import/patch_all, for 1s and again for 3s" in str(err.value) and err.value.lasting


def test_failure_is_remembered_until_retry(tmp_path):
    interp = find_interpreter("3.11")
    marker = tmp_path / "envs" / ("%s-gevent26.9.0-pip.failed" % interp.key)
    marker.parent.mkdir()
    marker.write_text("an earlier build failed\n")
    with pytest.raises(EnvError, match="an earlier build failed"):
        ensure_env(interp, "26.9.0", cache_dir=str(tmp_path))
    assert ensure_env(interp, "26.9.0", cache_dir=str(tmp_path), retry=True).gevent == "26.9.0"
    assert not marker.exists()


def test_envs_build_reports_reuse(capsys):
    ensure_env(find_interpreter("3.11"), "26.9.0")
    assert cli.main(["envs", "build", "--python", "3.11", "--gevent", "26.9.0"]) == 0
    out = capsys.readouterr().out
    assert "reused     3.11" in out and "1 environments (0 built, 1 reused, 0 env-error) in" in out
    assert cli.main(["envs", "list"]) == 0
    assert "gevent 26.9.0" in capsys.readouterr().out


@pytest.mark.debian_root
@pytest.mark.parametrize("version", ["3.14", "3.15"])
def test_debian_root_cells_run_patched_multiprocessing(version, debian_root_built):
    root = debian_root_built
    interp = find_interpreter(version)
    assert interp.source == "debian-root" and interp.root == root and interp.default_start == "forkserver"
    env = ensure_env(interp, "26.9.0")
    assert env.python.startswith(debian_root.ENVS) and env.path == root + env.python[: -len("/bin/python")]
    code = "import gevent.monkey; gevent.monkey.patch_all(); import multiprocessing as m; print(m.get_start_method())"
    done = subprocess.run(env.command([env.python, "-c", code]), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() in ("fork", "forkserver", "spawn"), done.stderr
    assert env.tmp_base.startswith(root) and env.visible(env.tmp_base) == debian_root.TMP
    with pytest.raises(EnvError):
        env.visible("/etc/passwd")


@pytest.mark.debian_root
def test_debian_root_stage_and_cwd(tmp_path, debian_root_built):
    root = debian_root_built
    env = ensure_env(find_interpreter("3.14"), "26.9.0")
    script = tmp_path / "pool.py"
    script.write_text(
        "import multiprocessing as m, os\n"
        "if __name__ == '__main__':\n"
        "    with m.get_context('forkserver').Pool(2) as p: print(os.getcwd(), p.map(abs, [-1, -2]))\n"
    )
    inside = env.stage(str(script))
    assert inside.startswith(debian_root.STAGE) and os.path.exists(root + inside) and env.stage(str(script)) == inside
    os.makedirs(env.tmp_base, exist_ok=True)
    work = tempfile.mkdtemp(prefix="test-envs-", dir=env.tmp_base)
    try:
        done = subprocess.run(env.command([env.python, inside], cwd=work), capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "%s [1, 2]" % env.visible(work), done.stderr
    finally:
        os.rmdir(work)


def test_local_wheel_env(tmp_path):
    """A gevent wheel from a folder (as a user's own build would be): picked by tag, keyed by content."""
    pip = [getattr(sys, "_base_executable", sys.executable), "-m", "pip"]
    if subprocess.run(pip + ["--version"], capture_output=True).returncode != 0:
        pytest.skip("no pip to fetch a wheel with")
    subprocess.run(
        pip
        + [
            "download",
            "-q",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(tmp_path),
            "--python-version",
            "3.11",
            "gevent==26.9.0",
        ],
        check=True,
        capture_output=True,
    )
    wheels = [str(p) for p in tmp_path.glob("*.whl")]
    interp = find_interpreter("3.11")
    env = ensure_wheel_env(interp, wheels)
    assert "-wheel-" in env.path and installed_in(env) == ["26.9.0", env.greenlet]
    assert ensure_wheel_env(interp, wheels).path == env.path
    with pytest.raises(EnvError, match="no wheel for Python 2.7"):
        ensure_wheel_env(find_interpreter("2.7"), wheels)


def test_a_build_step_leaves_nothing_in_the_temp_folder(tmp_path):
    """uv building an sdist (a setuptools project here) leaves a lock of its build backend in TMPDIR, one per
    build: steps.run gives each step a temp folder of its own and removes it, so none outlives the run."""
    project = tmp_path / "tiny"
    (project / "tiny").mkdir(parents=True)
    (project / "tiny" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tiny"\nversion = "0"\n'
    )
    before = set(os.listdir(tempfile.gettempdir()))
    venv = str(tmp_path / "venv")
    steps.run([steps.uv(), "venv", "--no-config", "-q", "--python", sys.executable, venv])
    python = os.path.join(venv, "bin", "python")
    steps.run([steps.uv(), "pip", "install", "--no-config", "-q", "--no-cache", "--python", python, str(project)])
    assert subprocess.run([python, "-c", "import tiny"]).returncode == 0  # the sdist was really built
    assert set(os.listdir(tempfile.gettempdir())) == before


def test_envs_list_and_prune_read_manifests_by_field(tmp_path, monkeypatch, capsys):
    """A manifest as envs.build writes it (here a real one, moved to a cache of its own) lists with its
    requirements and late wheels, and prune removes the env whose interpreter is gone, keeping the other."""
    real = ensure_env(find_interpreter("3.11"), "26.9.0")
    with open(os.path.join(real.path, MANIFEST)) as f:
        written = json.load(f)
    for name, interpreter_path in (("kept", written["interpreter"]["path"]), ("gone", "/nonexistent/python3")):
        folder = tmp_path / "envs" / name
        folder.mkdir(parents=True)
        manifest = dict(written, interpreter=dict(written["interpreter"], path=interpreter_path))
        manifest.update(requires=["grequests"], requires_resolved={"grequests": "0.7.0"}, late_wheels={"x": "d"})
        (folder / MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setenv("HANGMATRIX_CACHE", str(tmp_path))
    assert cli.main(["envs", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("gevent 26.9.0") == 2 and "requires: grequests 0.7.0 (grequests, as of" in out
    assert "late wheels: x d" in out
    assert cli.main(["envs", "prune", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == "would remove %s" % (tmp_path / "envs" / "gone")
