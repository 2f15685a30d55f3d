"""A program's own dependencies, for real: installed beside gevent as of its release's date (or the newest),
keyed and reused, failures and missing modules as env-error, versions in the provenance. Programs in
tests/cases/deps; grequests calls gevent.monkey.patch_all(thread=False, select=False) when imported."""

import datetime
import json
import os
import subprocess
import sys

import pytest

from hangmatrix.envs import deps, steps
from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.cache import MANIFEST
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import matrix, requirements
from hangmatrix.model.versions import parse as Version
from hangmatrix.run import runner
from hangmatrix.store import records

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

HERE = os.path.dirname(os.path.abspath(__file__))
DEPS = os.path.join(HERE, "cases", "deps")
GREQUESTS = os.path.join(DEPS, "grequests_pool.py")
HM = [sys.executable, "-m", "hangmatrix.cli"]


def case(name):
    return os.path.join(DEPS, name + ".py")


def run(case_paths, python, gevent, **options):
    items = runner.plan(
        case_names=case_paths,
        config_names=["as-written"],
        starts=["default"],
        pythons=[python],
        gevents=[gevent],
        timeout=30.0,
        **options,
    )
    return {rec.case: rec for rec in runner.execute(items)}


def installed_version(env, project):
    """What the env's own interpreter says is installed (pip's view, not the manifest's)."""
    out = subprocess.run(
        env.command([env.python, "-m", "pip", "show", project])
        if env.interpreter.short == "2.7"
        else [steps.uv(), "pip", "show", "--python", env.python, project],
        capture_output=True,
        text=True,
    )
    return next(
        (line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")), None
    )


def test_import_grequests_is_the_only_patching_and_it_runs():
    """The program's header says `requires = grequests`; it installs and runs, grequests patched socket at
    import, and the provenance names what was resolved, as of gevent 24.11.1's date."""
    rec = run([GREQUESTS], "3.11", "24.11.1")["grequests_pool"]
    assert rec.verdict == "ok", (rec.verdict, rec.signature, rec.stderr_tail)
    assert "patched socket: True" in rec.stdout_tail and "squares [0, 1, 4, 9]" in rec.stdout_tail
    point = rec.patch_point  # found inside the library, where grequests calls it at import
    assert point["in"] == "library grequests" and point["file"].endswith("grequests.py"), point
    assert point["call"] == "patch_all(thread=False, select=False)"
    prov = rec.provenance
    env = ensure_env(find_interpreter("3.11"), "24.11.1", requires=["grequests"])
    assert prov["env_path"] == env.path and "-req" in os.path.basename(env.path)
    assert prov["requires"] == ["grequests"] and prov["requires_newest"] is False
    for project in ("grequests", "requests", "urllib3", "gevent", "greenlet"):
        assert prov["packages"][project] == installed_version(env, project), project
    assert prov["requires_resolved"] == {"grequests": installed_version(env, "grequests")}
    assert prov["requires_as_of"] == prov["resolved_as_of"] == "2024-11-14"
    # gevent's side of the env is the plain env's: the requirements were installed with it pinned
    plain = ensure_env(find_interpreter("3.11"), "24.11.1")
    assert {k: plain.packages[k] for k in ("gevent", "greenlet", "zope-interface")} == {
        k: prov["packages"][k] for k in ("gevent", "greenlet", "zope-interface")
    }


def test_grequests_program_deadlocks_on_gevent_26_with_its_own_flags():
    """The same unedited program on gevent 26.9.0: grequests's patch_all(thread=False) patches queue, and
    the Pool's handler thread dies with LoopExit (the README's thread_false finding, reached via a library)."""
    rec = run([GREQUESTS], "3.11", "26.9.0")["grequests_pool"]
    assert rec.verdict == "deadlock" and "LoopExit" in rec.signature, rec.signature
    assert rec.provenance["requires_resolved"]["grequests"] == rec.provenance["packages"]["grequests"]


def test_requirements_resolve_as_of_the_gevent_release_unless_newest(tmp_path):
    """An old gevent gets the requests of its time; --requires-newest gets a newer one (recorded)."""
    interp = find_interpreter("3.11")
    dated = ensure_env(interp, "22.10.1", requires=["requests"], cache_dir=str(tmp_path))
    newest = ensure_env(interp, "22.10.1", requires=["requests"], newest=True, cache_dir=str(tmp_path))
    assert dated.path != newest.path
    assert dated.requires_as_of == dated.resolved_as_of and newest.requires_newest
    assert newest.requires_as_of == datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    old, new = installed_version(dated, "requests"), installed_version(newest, "requests")
    assert Version(old) < Version(new), (old, new)
    assert dated.greenlet == newest.greenlet  # gevent's own side stays as of its date either way


def test_env_is_reused_and_plain_envs_are_named_by_their_release(tmp_path):
    interp = find_interpreter("3.11")
    plain = ensure_env(interp, "26.9.0", cache_dir=str(tmp_path))
    first = ensure_env(interp, "26.9.0", requires=["grequests"], cache_dir=str(tmp_path))
    manifest = os.path.join(first.path, MANIFEST)
    stamp = os.stat(manifest).st_mtime_ns
    again = ensure_env(interp, "26.9.0", requires=["grequests "], cache_dir=str(tmp_path))  # same set
    assert not first.reused and again.reused and again.path == first.path
    assert os.stat(manifest).st_mtime_ns == stamp
    # a plain env's name: KEY-geventRELEASE-pip-DATE ("-pip": uv's envs carry their own pip)
    assert os.path.basename(plain.path) == "%s-gevent26.9.0-pip-%s" % (interp.key, plain.resolved_as_of)
    assert plain.path != first.path and plain.requires == ()
    with open(manifest) as f:
        m = json.load(f)
    assert m["requires"] == ["grequests"] and m["requires_resolved"]["grequests"] == m["packages"]["grequests"]


@pytest.mark.parametrize(
    "python, gevent, requirement, reason",
    [
        ("3.11", "26.9.0", "hangmatrix-no-such-project-zz", "hangmatrix-no-such-project-zz was not found"),
        ("3.11", "26.9.0", "requests==0.0.1", "no version of requests==0.0.1"),
        ("2.7", "1.2.2", "hangmatrix-no-such-project-zz", "No matching distribution found for hangmatrix-no-such"),
    ],
)
def test_failed_install_is_env_error_with_the_installers_reason(
    tmp_path, monkeypatch, python, gevent, requirement, reason
):
    monkeypatch.setenv("HANGMATRIX_CACHE", str(tmp_path))
    rec = run([case("uses_own_module")], python, gevent, requires=[requirement])["uses_own_module"]
    assert rec.verdict == "env-error", rec
    assert reason in rec.signature and "\n" not in rec.signature and "Traceback" not in rec.signature
    assert rec.signature.startswith("requires %s: " % requirement)
    assert rec.provenance["requires"] == [requirement]


@pytest.mark.parametrize("python, gevent", [("3.11", "26.9.0"), ("2.7", "1.2.2")])
def test_missing_module_is_env_error_and_a_programs_own_import_errors_are_not(python, gevent):
    got = run(
        [
            case(n)
            for n in (
                "imports_missing",
                "handles_missing",
                "raises_import_error",
                "own_submodule_missing",
                "uses_own_module",
                "python2_queue",
            )
        ],
        python,
        gevent,
    )
    missing = got["imports_missing"]
    assert missing.verdict == "env-error", missing
    assert "'hangmatrix_absent_dependency'" in missing.signature and "requires" in missing.signature
    # handled and re-raised as another error / deliberately raised for a module the env has / a missing
    # part of the program's own sibling module: the program's error, as it ended
    assert got["handles_missing"].verdict == "error" and "RuntimeError" in got["handles_missing"].signature
    assert got["raises_import_error"].verdict == "error" and "json" in got["raises_import_error"].signature
    assert got["own_submodule_missing"].verdict == "error"
    assert "absent_part" in got["own_submodule_missing"].signature
    assert got["uses_own_module"].verdict == "ok", got["uses_own_module"]  # its sibling module imports
    # Python 2's own Queue: there it works; on Python 3 the program is written for another Python, and no
    # requirement would help, so it is the program's error, not a missing dependency
    queue = got["python2_queue"]
    if python.startswith("2."):
        assert queue.verdict == "ok", queue
    else:
        assert queue.verdict == "error" and "No module named 'Queue'" in queue.signature, queue


def test_cli_requires_combines_with_the_header(tmp_path):
    store = str(tmp_path / "r.jsonl")
    out = subprocess.run(
        HM
        + [
            "run",
            "--case",
            GREQUESTS,
            "--config",
            "as-written",
            "--start",
            "default",
            "--python",
            "3.11",
            "--gevent",
            "24.11.1",
            "--requires",
            "requests>=2,<3",
            "--records",
            store,
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    rec = records.read(store)[0]
    assert rec.verdict == "ok" and rec.provenance["requires"] == ["grequests", "requests<3,>=2"]
    shown = subprocess.run(HM + ["show", rec.id, "--records", store], capture_output=True, text=True).stdout
    assert (
        "requires grequests, requests<3,>=2: installed grequests %s, requests %s, resolved as of 2024-11-14"
        % (rec.provenance["packages"]["grequests"], rec.provenance["packages"]["requests"])
        in shown
    )
    newest = subprocess.run(
        HM
        + [
            "run",
            "--case",
            GREQUESTS,
            "--config",
            "as-written",
            "--start",
            "default",
            "--python",
            "3.11",
            "--gevent",
            "24.11.1",
            "--requires-newest",
            "--records",
            store,
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert newest.returncode == 0, newest.stderr
    prov = records.read(store)[-1].provenance
    assert prov["requires"] == ["grequests"] and prov["requires_newest"] is True
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert prov["resolved_as_of"] < prov["requires_as_of"] <= today  # the env's build day (a cached env is reused)
    assert Version(prov["packages"]["requests"]) > Version(rec.provenance["packages"]["requests"])
    bad = subprocess.run(
        HM + ["run", "--case", GREQUESTS, "--requires", "not a requirement!", "--records", store],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "not a requirement" in bad.stderr


def test_matrix_requirements_and_file_combine_with_case_and_command_line(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "reqs.txt").write_text("# pinned for the old gevent\nurllib3 < 2  # inline comment\n\n")
    path = tmp_path / "matrix.toml"
    path.write_text(
        '[matrix.m]\npythons = ["3.11"]\ngevents = ["24.11.1"]\nrequirements = ["Requests>=2"]\n'
        'requirements_file = "sub/reqs.txt"\nrequires_newest = true\n'
    )
    m = matrix.load_matrix(str(path), "m")
    assert m.requires() == ["Requests>=2", "urllib3<2"] and m.requires_newest
    assert matrix.load_matrix(str(path), "m") == matrix.parse(
        __import__("tomllib").loads(m.to_toml())["matrix"]["m"], "m", str(path)
    )
    items = runner.plan(
        case_names=[GREQUESTS],
        config_names=["none"],
        starts=["default"],
        matrix="m",
        matrix_file=str(path),
        requires=["certifi"],
    )
    assert {it.requires for it in items} == {("certifi", "grequests", "requests>=2", "urllib3<2")}
    assert all(it.requires_newest for it in items)


@pytest.mark.parametrize(
    "table, message",
    [
        ('requirements = "grequests"', "requirements must be a list"),
        ('requirements = ["grequests", "bad req!"]', "'bad req!' is not a requirement"),
        ('requirements_file = "absent.txt"', "cannot read"),
        ('requires_newest = "yes"', "requires_newest must be true or false"),
    ],
)
def test_bad_matrix_requirements_are_one_line(tmp_path, table, message):
    path = tmp_path / "matrix.toml"
    path.write_text("[matrix.m]\n%s\n" % table)
    with pytest.raises(matrix.MatrixError) as err:
        matrix.load_matrix(str(path), "m")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_requirements_file_refuses_pip_options(tmp_path):
    (tmp_path / "r.txt").write_text("grequests\n-e ./local\n")
    with pytest.raises(requirements.RequirementError) as err:
        requirements.read_file(str(tmp_path / "r.txt"))
    assert "r.txt:2: pip options are not supported (-e)" in str(err.value)


def test_header_and_option_splitting_keeps_specifier_and_extra_commas():
    assert requirements.split("grequests, requests>=2,<3, urllib3[socks,secure]") == [
        "grequests",
        "requests>=2,<3",
        "urllib3[socks,secure]",
    ]
    assert requirements.normalize(["Requests >= 2, < 3", "requests<3,>=2", "Zope.Interface"]) == (
        "requests<3,>=2",
        "zope-interface",
    )
    assert deps.label([]) == "" and deps.label(["a", "b"]) == deps.label(["B ", "a"]) != deps.label(["a"])


@pytest.mark.debian_root
def test_debian_root_installs_requirements_and_stages_the_programs_folder(debian_root_built):
    """Python 3.14 in the Debian root: grequests installed by uv for the root's tags, and a program that
    imports its own sibling module runs (its whole folder is staged into the root)."""
    got = run([GREQUESTS, case("uses_own_module"), case("imports_missing")], "3.14", "26.9.0")
    assert got["uses_own_module"].verdict == "ok", got["uses_own_module"]
    assert got["grequests_pool"].provenance["requires_resolved"]["grequests"]
    assert "patched socket: True" in got["grequests_pool"].stdout_tail
    assert got["grequests_pool"].verdict not in ("env-error", "error"), got["grequests_pool"].signature
    assert got["imports_missing"].verdict == "env-error"
    assert "'hangmatrix_absent_dependency'" in got["imports_missing"].signature
