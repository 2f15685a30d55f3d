"""hangmatrix installed as users install it (issue 16): the wheel and the sdist built from this checkout, the
wheel installed into a fresh virtual environment in a temporary folder outside the checkout, and every
command run from an empty folder there. The wheel's built-in cases, matrices and baseline must be the
checkout's files byte for byte (cases/ is mapped into the package, not copied), and every module of the
package must ship, including ones added later."""

import fnmatch
import hashlib
import json
import os
import shutil
import tarfile
import zipfile

import pytest

from conftest import GEVENT, NOT_SOURCE, PY, sh

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def checkout_files(folder):
    """{path relative to the checkout: bytes} of the files under folder that a build sees."""
    out = {}
    for d, dirs, files in os.walk(os.path.join(REPO, folder)):
        dirs[:] = [x for x in dirs if not any(fnmatch.fnmatch(x, p) for p in NOT_SOURCE)]
        for name in files:
            if not any(fnmatch.fnmatch(name, p) for p in NOT_SOURCE):
                with open(os.path.join(d, name), "rb") as f:
                    out[os.path.relpath(os.path.join(d, name), REPO)] = f.read()
    return out


def test_the_wheel_carries_the_checkouts_cases_matrices_baseline_and_every_module(built):
    """No drift: each built-in case is cases/'s file, the data and every module under hangmatrix/ (a new
    module or subpackage too) are the checkout's, byte for byte, and nothing else is a built-in case."""
    with zipfile.ZipFile(built[0]) as whl:
        shipped = {name: sha256(whl.read(name)) for name in whl.namelist() if not name.endswith("/")}
    cases = {p: data for p, data in checkout_files("cases").items() if p.endswith(".py")}
    assert "cases/seed_original.py" in cases
    expected = {"hangmatrix/builtin_cases/" + os.path.basename(p): sha256(data) for p, data in cases.items()}
    expected.update({p: sha256(data) for p, data in checkout_files("hangmatrix").items()})
    assert "hangmatrix/data/expectations.toml" in expected and "hangmatrix/inject/sitecustomize.py" in expected
    assert {p: shipped.get(p) for p in expected} == expected
    assert {p for p in shipped if p.startswith("hangmatrix/builtin_cases/")} == {
        p for p in expected if p.startswith("hangmatrix/builtin_cases/")
    }


def test_the_sdist_has_the_tests_and_the_cases(built):
    with tarfile.open(built[1]) as sdist:
        members = {m.name.split("/", 1)[1]: m for m in sdist.getmembers() if m.isfile()}
        wanted = {**checkout_files("tests"), **checkout_files("cases")}
        assert "tests/test_install.py" in wanted and "cases/seed_original.py" in wanted
        missing = sorted(set(wanted) - set(members))
        assert not missing, "not in the sdist: %s" % ", ".join(missing)
        differ = [p for p, data in wanted.items() if sdist.extractfile(members[p]).read() != data]
        assert not differ, "differ from the checkout: %s" % ", ".join(differ)
    for needed in ("pyproject.toml", "setup.py", "conftest.py", "hangmatrix/data/matrix.toml"):
        assert needed in members


def test_the_installed_package_lists_its_cases_and_matrices(installed):
    exe, env, empty = installed
    venv = os.path.dirname(os.path.dirname(exe))
    done = sh([os.path.join(venv, "bin", "python"), "-c", "import hangmatrix; print(hangmatrix.__file__)"], empty, env)
    assert done.stdout.startswith(venv + os.sep), done.stdout + done.stderr  # the wheel, not the checkout

    listed = sh([exe, "cases"], empty, env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("built-in (%s" % venv), listed.stdout
    for path, data in checkout_files("cases").items():
        name = os.path.basename(path)[:-3]
        if name.startswith("_"):
            continue
        what = next(
            line.split("=", 1)[1].strip()
            for line in data.decode().splitlines()
            if line.startswith("# hangmatrix: what =")
        )
        assert any(line.split() == [name] + what.split() for line in lines), (name, listed.stdout)
    assert "__init__" not in listed.stdout

    listed = sh([exe, "matrices"], empty, env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("built-in (%s" % venv), listed.stdout
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert {"default", "full", "patterns"} <= set(names)


def _records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_seed_deadlocks_under_patch_all_and_runs_without(installed, work):
    exe, env, empty = installed
    store = os.path.join(work, "seed.jsonl")
    done = sh(
        [
            exe,
            "run",
            "--case",
            "seed_original",
            "--config",
            "patch_all,none",
            "--start",
            "fork",
            "--python",
            PY,
            "--gevent",
            GEVENT,
            "--records",
            store,
            "--quiet",
        ],
        empty,
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    got = {r["config"]: r for r in _records(store)}
    assert got["patch_all"]["verdict"] == "deadlock" and "read()" in got["patch_all"]["signature"], got["patch_all"]
    assert got["none"]["verdict"] == "running", got["none"]["diagnosis"]
    venv = os.path.dirname(os.path.dirname(exe))
    assert all(r["provenance"]["case_path"].startswith(venv + os.sep) for r in got.values())  # the packaged file
    assert os.listdir(empty) == []
    page = sh([exe, "table", "--records", store, "--format", "html"], empty, env)  # its templates are package data
    assert page.returncode == 0, page.stderr
    assert '<section id="glance">' in page.stdout and "#glance .maps{" in page.stdout
    assert 'getElementById("hm-data")' in page.stdout and got["patch_all"]["id"] in page.stdout


def test_the_default_matrix_runs_and_meets_the_packaged_baseline(installed, work):
    """The built-in matrix (48 cells on one interpreter and release), then `upgrade-check --from-records`
    against the built-in baseline: what a CI job does first after installing hangmatrix."""
    exe, env, empty = installed
    venv = os.path.dirname(os.path.dirname(exe))
    store = os.path.join(work, "default.jsonl")
    done = sh(
        [exe, "run", "--matrix", "default", "--python", PY, "--gevent", GEVENT, "--records", store, "--quiet"],
        empty,
        env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hangmatrix: matrix default from the built-in %s" % venv in done.stderr, done.stderr
    recs = _records(store)
    assert len(recs) == 48 and {r["case"] for r in recs} == {"seed_original", "seed_terminating"}
    check = sh([exe, "upgrade-check", "--from-records", store], empty, env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "against the baseline %s" % venv in check.stdout, check.stdout
    assert "48 cells" in check.stdout, check.stdout


def test_a_users_cases_and_matrix_win_over_the_built_in_ones(installed, work):
    """A project folder with its own cases/ and matrix.toml: both are listed first, its `default` matrix
    is the one `run` uses (and says so), and a case of the same name as a built-in one hides it."""
    exe, env, _ = installed
    project = os.path.join(work, "project")
    os.makedirs(os.path.join(project, "cases"))
    shutil.copy(
        os.path.join(REPO, "examples", "user-project", "cases", "export_executor.py"), os.path.join(project, "cases")
    )
    shutil.copy(os.path.join(REPO, "cases", "seed_terminating.py"), os.path.join(project, "cases"))
    with open(os.path.join(project, "matrix.toml"), "w") as f:
        f.write(
            '[matrix.default]\nwhat = "ours"\ncases = ["export_executor"]\nconfigs = ["none"]\n'
            'starts = ["fork"]\npythons = ["%s"]\ngevents = ["%s"]\n' % (PY, GEVENT)
        )
    listed = sh([exe, "cases"], project, env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(os.path.join(project, "cases") + ":\n"), listed.stdout
    assert "  export_executor          -\n" in listed.stdout  # an unedited program: no `what` header
    assert "(hidden by the one in %s)" % os.path.join(project, "cases") in listed.stdout  # the built-in twin
    listed = sh([exe, "matrices"], project, env)
    assert listed.stdout.startswith(os.path.join(project, "matrix.toml") + ":\n  default                  ours\n")
    assert "(hidden by the one in %s)" % os.path.join(project, "matrix.toml") in listed.stdout
    store = os.path.join(work, "project.jsonl")
    done = sh([exe, "run", "--matrix", "default", "--records", store, "--quiet"], project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hangmatrix: matrix default from %s" % os.path.join(project, "matrix.toml") in done.stderr
    (rec,) = _records(store)
    assert rec["case"] == "export_executor" and rec["verdict"] == "ok", rec["diagnosis"]
    assert rec["provenance"]["case_path"] == os.path.join(project, "cases", "export_executor.py")
