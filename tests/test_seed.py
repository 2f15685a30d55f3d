"""The seed program, run for real on Python 3.11 with gevent 26.9.0: the post's hang and its absence."""

import os
import re

import pytest

from conftest import GEVENT, PY, wait_of
from hangmatrix.model import cases
from hangmatrix.store import records

SEED_POST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "seed")


def cell(case, config, start):
    return pytest.param(case, config, start, id=records.cell_id(case, PY, GEVENT, config, start))


@pytest.mark.parametrize(
    "case,config,start",
    [
        cell("seed_original", "patch_all", "fork"),
        cell("seed_terminating", "patch_all", "fork"),
    ],
)
def test_patch_all_deadlocks_parent_in_pipe_read(run_one, case, config, start):
    rec = run_one(case, config, start)
    assert rec.verdict == "deadlock", rec.signature
    assert re.match(r"parent blocked in read\(\) on pipe:\[\d+\]; its writers: .*pool worker", wait_of(rec))
    parent = rec.diagnosis["processes"][0]
    assert parent["role"] == "parent"
    assert all(t["wait"] == "untimed" for p in rec.diagnosis["processes"] for t in p["threads"])
    assert rec.cleanup["survivors"] == []
    assert rec.quiescent_at_s is not None and rec.quiescent_at_s <= rec.elapsed_s
    why = rec.cause  # the post's explanation: the result handler's real read() blocks the hub
    assert why.kind == "hub-blocked", why
    assert why.where.file.endswith("/%s.py" % case) and why.where.function == "<module>"
    assert "result handler" in why.text and "hub" in why.text and "pool workers" in why.text


def test_unpatched_seed_is_running(run_one):
    rec = run_one("seed_original", "none", "fork")
    assert rec.verdict == "running", rec.signature
    assert rec.proof["ticks"] >= 2
    assert rec.events["counts"].get("call:krun", 0) >= 10


def test_unpatched_terminating_seed_is_ok(run_one):
    rec = run_one("seed_terminating", "none", "fork")
    assert rec.verdict == "ok", rec.signature
    assert "results: [45, 1045]" in rec.stdout_tail


def test_record_has_the_scripted_fields(run_one):
    rec = run_one("seed_terminating", "none", "fork")
    written = rec.to_json()  # what the store keeps of it
    for key in records.REQUIRED:
        assert key in written, key
    assert rec.python.startswith(PY + ".") and rec.gevent == GEVENT and rec.greenlet
    prov = rec.provenance
    assert prov["interpreter"] and prov["build"] and prov["kernel"] and len(prov["case_sha256"]) == 64
    assert rec.start_used["reported"] == "fork"


@pytest.mark.skipif(not os.path.isdir(SEED_POST), reason="../shared/seed (the post) is not beside the repo")
def test_seed_original_is_the_program_as_printed():
    """Only the marker comment and the header comments differ from the post's program."""
    post = open(
        next(os.path.join(SEED_POST, f) for f in os.listdir(SEED_POST) if f.startswith("000_")), encoding="utf-8"
    ).read()
    printed = post[post.index("# xiaorui.cc") : post.index("pool.join()") + len("pool.join()")]
    case = open(cases.select(["seed_original"])[0].path, encoding="utf-8").read()
    ours = "\n".join(
        line.replace("  " + cases.MARKER, "") for line in case.splitlines() if not line.startswith("# hangmatrix:")
    )
    assert ours.strip() == printed.strip()


@pytest.mark.debian_root
def test_on_python_314_gevent_forces_fork_and_the_refusal_is_recorded(run_one, debian_root_built):
    """3.14's default start method is forkserver; gevent's patch_all() sets fork, so set_start_method()
    after it raises "context has already been set": recorded, and the cell still runs with what it asked."""
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    env = ensure_env(find_interpreter("3.14", debian_root=True), "26.9.0")
    rec = run_one("seed_original", "patch_all", "fork", env=env)
    assert rec.verdict == "deadlock" and rec.python.startswith("3.14"), rec.signature
    assert "context has already been set" in rec.start_used["refused"]
    assert rec.start_used["seen_in_tree"] == "fork"
    default = run_one("seed_original", "patch_all", "default", env=env)
    assert default.start_used["reported"] == "fork" and not default.start_used["refused"]


@pytest.fixture(scope="module")
def env27():
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    return ensure_env(find_interpreter("2.7"), "1.2.2")


@pytest.mark.parametrize(
    "config,expected",
    [("patch_all", "deadlock"), ("selective", "running"), ("thread_false", "running"), ("lazy", "running")],
)
def test_python_27_gevent_122_agrees_with_the_post(run_one, env27, config, expected):
    """The post's own era: patch_all hangs on the pipe read; each of its three fixes runs."""
    rec = run_one("seed_original", config, "fork", env=env27)
    assert rec.python.startswith("2.7.") and rec.gevent == "1.2.2"
    assert rec.verdict == expected, rec.signature
    if expected == "deadlock":
        assert wait_of(rec).startswith("parent blocked in read() on pipe:[")
