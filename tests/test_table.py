"""The compatibility table: from real records (run here on Python 3.11 / gevent 26.9.0) to Markdown, CSV,
JSON, the claims view, and the HTML page, which real headless Chromium opens and clicks."""

import base64
import csv
import io
import json
import os
import re
import shutil
import signal
import tempfile

import browser as browser_mod
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hangmatrix
from conftest import GEVENT, PY
from hangmatrix.model import verdicts, versions
from hangmatrix.model.record import Record
from hangmatrix.report import cells as table_cells
from hangmatrix.report import claims as claims_mod
from hangmatrix.report import html, markdown, ranges, selection, signatures, tabular, write
from hangmatrix.run import runner
from hangmatrix.store import records

SEEDS = ["seed_original", "seed_terminating"]
CONFIGS = ["none", "patch_all", "selective", "thread_false", "lazy"]


@pytest.fixture(scope="module")
def real_records(env311):
    """The seed programs under the post's configurations, fork start, run for real in parallel."""
    items = runner.plan(
        case_names=SEEDS, config_names=CONFIGS, starts=["fork"], pythons=[PY], gevents=[GEVENT], timeout=20.0
    )
    recs = runner.execute(items)
    assert len(recs) == len(SEEDS) * len(CONFIGS)
    return recs


def by_id(recs, case, config, start="fork"):
    return next(r for r in recs if r.id == records.cell_id(case, PY, GEVENT, config, start))


# ---------------------------------------------------------------- from real records


def test_markdown_shows_every_cell_with_legend_stamp_and_claims(real_records):
    md = markdown.markdown(real_records)
    assert "hangmatrix %s" % hangmatrix.__version__ in md and "Linux" in md and "CPUs" in md  # the stamp
    for name, look in verdicts.LOOKS.items():
        assert "%s %s" % (look.symbol, name) in md  # the legend
    assert "## What the post claims, measured" in md
    for case in SEEDS:
        assert "## %s" % case in md
    # the row of Python 3.11 x gevent 26.9.0 in the seed_original table: one symbol per configuration
    section = md.split("## seed_original")[1].split("## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| %s" % real_records[0].python))
    cells = [c.strip() for c in row.strip("|").split("|")][2:]
    assert cells == [verdicts.LOOKS[by_id(real_records, "seed_original", k).verdict].symbol for k in CONFIGS]
    assert "## Hangs and failures, by signature" in md and "pipe:[…]" in md


# What the post's claims come to for the seed programs with fork on Python 3.11 and gevent 26.9.0, verified
# by hand against the runs in docs/compat.md and the README: patch_all deadlocks, selective and lazy run,
# and patch_all(thread=False) deadlocks since gevent 25.4.1.
SEED_CLAIMS_311_2690 = {
    "patch_all hangs": "holds",
    "selective works": "holds",
    "thread_false works": "fails",
    "lazy works": "holds",
}


def test_claims_answer_the_post_from_real_runs(real_records):
    claims = {c.name: c for c in claims_mod.claims(real_records)}
    seen = {(r.case, r.config): r.verdict for r in real_records}
    assert {n: c.status for n, c in claims.items()} == SEED_CLAIMS_311_2690, seen
    py = real_records[0].python
    for name, status in SEED_CLAIMS_311_2690.items():
        assert claims[name].as_json()["by_python"] == [  # as compat.json holds it
            {
                "python": py,
                "runs": [{"status": status, "from": GEVENT, "to": GEVENT, "gevents": [GEVENT], "exceptions": []}],
            }
        ]
        assert claims[name].cells == 2 and claims[name].cases == SEEDS
    assert claims["patch_all hangs"].summary == (
        "holds on every combination tested: Python %s × gevent %s (2 cells: deadlock 2)" % (py, GEVENT)
    )
    assert claims["thread_false works"].summary == (
        "does not hold on every combination tested: Python %s × gevent %s (2 cells: deadlock 2)" % (py, GEVENT)
    )
    assert claims_mod.one_line(claims["thread_false works"]) == (
        "does not hold on 1 of 1 Python × gevent pairs (within Python %s × gevent %s)" % (py, GEVENT)
    )
    assert "Python %s × gevent %s" % (py, GEVENT) in markdown.claims_markdown(list(claims.values()))


def test_csv_has_one_row_per_cell(real_records):
    rows = list(csv.DictReader(io.StringIO(tabular.csv_text(real_records), newline="")))
    assert len(rows) == len(real_records)
    for row in rows:
        rec = next(r for r in real_records if r.id == row["id"])
        assert row["verdict"] == rec.verdict and row["signature"] == rec.signature
        assert row["start_used"] == "fork"


def test_write_all_and_load_back(real_records, tmp_path):
    paths = write.write_all(real_records, str(tmp_path / "docs"))
    assert sorted(os.path.basename(p) for p in paths.values()) == [
        "compat.csv",
        "compat.html",
        "compat.json",
        "compat.md",
    ]
    back = selection.load(paths["json"])
    assert [r.to_json() for r in back] == json.loads(json.dumps([r.to_json() for r in real_records]))
    data = json.load(open(paths["json"]))
    assert data["stamp"]["hangmatrix"] and data["claims"][0]["name"] == "patch_all hangs"


def test_html_is_self_contained(real_records):
    page = html.html(real_records)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must not fetch anything"
    assert "<link" not in page and "@import" not in page
    data = _page_data(page)
    ids = {d["id"] for d in data["details"]}
    assert ids == {r.id for r in real_records}
    dl = next(d for d in data["details"] if d["verdict"] == "deadlock")
    assert dl["processes"] and dl["python_stacks"], "a deadlock's diagnosis travels with the page"


def _page_data(page):
    raw = page.split('<script id="hm-data" type="application/json">')[1].split("</script>")[0]
    return json.loads(raw)


# ---------------------------------------------------------------- real headless Chromium


def test_chromium_click_on_a_deadlocked_cell_opens_its_diagnosis(real_records, tmp_path):
    try:
        binary = browser_mod.chromium()
    except browser_mod.Unavailable as exc:
        pytest.skip(str(exc))
    page_path = write.write_all(real_records, str(tmp_path / "docs"))["html"]
    deadlocked = by_id(real_records, "seed_original", "patch_all")
    assert deadlocked.verdict == "deadlock"
    profile = tempfile.mkdtemp(prefix="hangmatrix-chromium-")
    shot = tmp_path / "compat-deadlock-clicked.png"
    with open(tmp_path / "chromium.log", "wb") as log:
        browser = browser_mod.Browser(binary, profile, log)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            browser.call(domain + ".enable", session=session)
        browser.call("Page.navigate", {"url": "file://" + page_path}, session=session)
        browser.wait_event("Page.loadEventFired")
        assert browser_mod.evaluate(browser, session, "document.body.getAttribute('data-ready')") == "1"
        assert browser_mod.evaluate(browser, session, "document.getElementById('detail').hidden") is True
        cell = browser_mod.evaluate(
            browser,
            session,
            """(() => {
            const td = document.querySelector('#grid td[data-id="%s"]');
            td.scrollIntoView({block: 'center', inline: 'center'});
            const r = td.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2, verdict: td.dataset.verdict,
                    glyph: td.textContent, colour: getComputedStyle(td).backgroundColor};
        })()"""
            % deadlocked.id,
        )
        assert cell["verdict"] == "deadlock" and cell["glyph"] == verdicts.LOOKS["deadlock"].glyph
        assert cell["colour"] == "rgb(198, 40, 40)"  # #c62828, the legend's deadlock colour
        square = browser_mod.evaluate(
            browser,
            session,
            """(() => {
            const fig = [...document.querySelectorAll('#glance figure')].find(
                f => f.querySelector('figcaption').textContent === 'seed_original / patch_all');
            const td = fig.querySelector('td[data-i]');
            return {colour: getComputedStyle(td).backgroundColor, title: td.title,
                    top: td.getBoundingClientRect().top < document.getElementById('grid').getBoundingClientRect().top};
        })()""",
        )
        assert square["colour"] == "rgb(198, 40, 40)" and square["top"], square  # the map opens the page
        assert square["title"] == "Python %s × gevent %s: fork deadlock" % (deadlocked.python, GEVENT)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            browser.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": cell["x"], "y": cell["y"], "button": "left", "clickCount": 1},
                session=session,
            )
        shown = browser_mod.evaluate(
            browser,
            session,
            """(() => ({
            hidden: document.getElementById('detail').hidden,
            verdict: document.getElementById('detail-verdict').textContent,
            signature: document.getElementById('detail-signature').textContent,
            processes: document.getElementById('detail-processes').innerText,
            stacks: [...document.querySelectorAll('#detail pre.python_stacks')].map(p => p.textContent).join('\\n'),
            facts: document.querySelector('#detail dl').innerText,
            cause: (document.getElementById('detail-cause') || {}).textContent,
            graph: [...document.querySelectorAll('#detail-graph rect')].length,
            arrows: [...document.querySelectorAll('#detail-graph line')].length,
            hash: location.hash}))()""",
        )
        assert shown["hidden"] is False
        assert "deadlock" in shown["verdict"]
        assert shown["signature"] == deadlocked.signature
        assert re.search(r"read\(fd=\d+ → pipe:\[\d+\]\)", shown["processes"]), shown["processes"][:500]
        assert "pool worker" in shown["processes"]
        assert "multiprocessing" in shown["stacks"]
        why = deadlocked.cause  # the panel draws the hang's cause: its text, a box per step, an arrow per edge
        assert shown["cause"] == why.text and shown["graph"] == len(why.chain) + 1
        assert shown["arrows"] == len(why.chain)
        assert shown["hash"] == "#" + deadlocked.id
        used = deadlocked.start_used  # objects the page shares between cells, resolved for this one
        assert (
            "requested fork; reported %s; seen in tree %s" % (used["reported"], used["seen_in_tree"]) in shown["facts"]
        )
        assert json.dumps(deadlocked.proof, separators=(",", ":")) in shown["facts"].replace("\n", "")
        png = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
        shot.write_bytes(png)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
        # the filter: only columns with a hang or failure
        before = browser_mod.evaluate(browser, session, "document.querySelectorAll('#grid tbody td').length")
        browser_mod.evaluate(browser, session, "document.getElementById('only-problems').click()")
        after = browser_mod.evaluate(
            browser, session, "[...document.querySelectorAll('#grid tbody td')].map(t => t.dataset.verdict)"
        )
        assert len(after) < before and set(after) <= set(verdicts.HANG + verdicts.FAIL)
        fetched = [
            ev["params"]["request"]["url"] for ev in browser.events if ev.get("method") == "Network.requestWillBeSent"
        ]
        assert all(u.startswith(("file://", "data:", "about:")) for u in fetched), fetched
        errors = [ev for ev in browser.events if ev.get("method") == "Runtime.exceptionThrown"]
        assert not errors, errors
    finally:
        browser.close()
        left = browser_mod.leftovers(profile)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(profile, ignore_errors=True)
    assert not left, "Chromium processes outlived the test: %s" % left
    assert shot.stat().st_size > 10000
    keep = os.environ.get("HANGMATRIX_SCREENSHOT")  # a path to keep the screenshot at (tmp_path goes away)
    if keep:
        shutil.copy(str(shot), keep)
    print("screenshot:", keep or shot)


# ---------------------------------------------------------------- properties of the parsers

release = st.lists(st.integers(0, 40), min_size=1, max_size=4)
pre = st.sampled_from(["", "a1", "b2", "rc1", ".post1", "dev3"])


def vtext(rel, tail=""):
    return ".".join(map(str, rel)) + tail


@given(release, release)
def test_vkey_orders_releases_numerically(a, b):
    def strip(r):
        r = list(r)
        while len(r) > 1 and r[-1] == 0:
            r.pop()
        return tuple(r)

    ka, kb = versions.key(vtext(a)), versions.key(vtext(b))
    assert (ka < kb) == (strip(a) < strip(b)) and (ka == kb) == (strip(a) == strip(b))


@given(release, pre)
def test_vkey_pre_releases_before_post_releases_after(rel, tail):
    final = versions.key(vtext(rel))
    other = versions.key(vtext(rel, tail))
    if not tail:
        assert other == final
    elif "post" in tail:
        assert other > final
    else:
        assert other < final


pep440 = st.builds(
    lambda rel, pre, post: vtext(rel) + pre + post,
    release,
    st.sampled_from(["", "a", "b", "rc"]).flatmap(
        lambda kind: st.just("") if not kind else st.integers(0, 12).map(lambda n: "%s%d" % (kind, n))
    ),
    st.sampled_from(["", ".post1", ".post3"]),
)
dev_only = st.builds(lambda rel, n: "%s.dev%d" % (vtext(rel), n), release, st.integers(0, 5))


@given(pep440 | dev_only, pep440 | dev_only)
def test_version_order_is_the_package_indexs(a, b):
    """Releases, pre-, post- and dev releases sort as PEP 440 (the index's own order, packaging.version) says."""
    from packaging.version import Version

    ka, kb = versions.key(a), versions.key(b)
    va, vb = Version(a), Version(b)
    assert (ka < kb, ka == kb) == (va < vb, va == vb), (a, b, ka, kb)


@given(st.text(max_size=20))
def test_any_text_sorts_among_versions(text):
    """Whatever a record's version field holds, tables sort it among real versions without failing."""
    texts = [text, "3.14.0rc1", "26.9.0", "", "pypy"]
    ordered = sorted(texts, key=versions.key)
    assert sorted(ordered, key=versions.key) == ordered and len(versions.key(text)) == 5


names = st.text("abcdefgh_", min_size=1, max_size=6)
free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
a_record = st.fixed_dictionaries(
    {
        "case": st.sampled_from(["seed_original", "seed_terminating", "pipe_echo"]) | names,
        "config": st.sampled_from(["none", "patch_all", "selective", "thread_false", "lazy", "flags:thread=0"]),
        "start": st.sampled_from(["fork", "spawn", "forkserver", "default"]),
        "python": st.sampled_from(["2.7.18", "3.8.18", "3.11.7", "3.14.0rc1"]),
        "gevent": st.sampled_from(["1.2.2", "20.9.0", "24.11.1", "25.4.1", "26.9.0"]),
        "verdict": st.sampled_from(verdicts.NAMES),
        "signature": free_text,
        "greenlet": st.just("3.5.6"),
        "elapsed_s": st.floats(0, 100, allow_nan=False),
        "recorded_at": st.just("2026-11-26T00:00:00Z"),
        "diagnosis": st.fixed_dictionaries(
            {"python_stacks": st.dictionaries(st.sampled_from(["1", "2"]), free_text, max_size=2)}
        ),
    }
).map(
    lambda r: dict(
        r, id=records.cell_id(r["case"], ".".join(r["python"].split(".")[:2]), r["gevent"], r["config"], r["start"])
    )
)


@given(st.lists(a_record, max_size=12), st.lists(free_text, max_size=3))
@settings(max_examples=60, deadline=None)
def test_load_reads_every_intact_record_of_jsonl_and_json(tmp_path_factory, recs, junk):
    folder = tmp_path_factory.mktemp("recs")
    path = str(folder / "r.jsonl")
    with open(path, "w") as f:
        for i, rec in enumerate(recs):
            f.write(json.dumps(rec) + "\n")
            if i < len(junk):
                f.write("{" + junk[i].replace("\n", " ") + "\n")  # damaged lines are skipped
    typed = [Record.from_json(r) for r in recs]
    assert selection.load(path, warn=lambda m: None) == typed
    assert selection.load(str(folder), warn=lambda m: None) == typed
    json_path = str(folder / "compat.json")
    with open(json_path, "w") as f:
        f.write(tabular.json_text(typed))
    assert [r.to_json() for r in selection.load(json_path)] == [r.to_json() for r in typed]


@given(st.lists(a_record, max_size=14))
@settings(max_examples=60, deadline=None)
def test_every_format_renders_any_records(recs):
    recs = [Record.from_json(r) for r in recs]
    md, page, text = markdown.markdown(recs), html.html(recs), tabular.csv_text(recs)
    cells = table_cells.cells(recs)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert sorted(r["id"] for r in rows) == sorted(c.id for c in cells)
    assert {r["id"]: r["verdict"] for r in rows} == {c.id: c.verdict for c in cells}
    data = _page_data(page)  # a signature like "</script>" cannot break out of the data block
    assert sorted(d["id"] for d in data["details"]) == sorted(c.id for c in cells)
    assert all(c.record.signature == next(d["signature"] for d in data["details"] if d["id"] == c.id) for c in cells)
    for c in cells:
        if c.verdict in verdicts.HANG + verdicts.FAIL:
            assert "**%s / %s**" % (c.case, c.config) in md
    for claim in claims_mod.claims(recs):
        assert_claim_follows_its_cells(claim, cells)


# Records dense in the claims' cells: few Pythons, releases and start methods, so pairs mix verdicts.
a_claims_record = (
    st.fixed_dictionaries(
        {
            "case": st.sampled_from(["seed_original", "seed_terminating"]),
            "config": st.sampled_from([c.config for c in claims_mod.CLAIMS]),
            "start": st.sampled_from(["fork", "spawn"]),
            "python": st.sampled_from(["3.8.18", "3.11.7"]),
            "gevent": st.sampled_from(["24.11.1", "26.9.0"]),
            "verdict": st.sampled_from(verdicts.NAMES),
            "signature": st.just(""),
        }
    )
    .map(
        lambda r: dict(
            r, id=records.cell_id(r["case"], ".".join(r["python"].split(".")[:2]), r["gevent"], r["config"], r["start"])
        )
    )
    .map(Record.from_json)
)


@given(st.lists(a_claims_record, max_size=40))
@settings(max_examples=100, deadline=None)
def test_each_claim_follows_its_cells(recs):
    cells = table_cells.cells(recs)
    for claim in claims_mod.claims(recs):
        assert_claim_follows_its_cells(claim, cells)


# What each claim wants of a cell, written out here rather than asked of the code under test.
WANTED = {"hang": {"deadlock", "stall", "timeout"}, "works": {"ok", "running"}}


def assert_claim_follows_its_cells(claim, cells):
    """A claim's status on each (Python, gevent) pair is what its tested cells there say: `holds` when every
    one has the wanted kind of verdict, `fails` when none has, `partly` otherwise; pairs with no tested cell
    are not shown, and `cells` counts the tested ones."""
    tested = [
        c
        for c in cells
        if c.config == claim.promise.config and c.case in claim.cases and c.verdict not in ("unsupported", "env-error")
    ]
    want = WANTED[claim.promise.wants]
    shown = {(e.python, gv): run.status for e in claim.by_python for run in e.runs for gv in run.gevents}
    expected = {}
    for pair in {(c.python, c.gevent) for c in tested}:
        good = [c.verdict in want for c in tested if (c.python, c.gevent) == pair]
        expected[pair] = "holds" if all(good) else "fails" if not any(good) else "partly"
    assert shown == expected, claim.name
    assert claim.cells == len(tested), claim.name


def _hand_record(case, config, start, python, gevent, verdict):
    return Record.from_json(
        {
            "id": records.cell_id(case, python[: python.rindex(".")], gevent, config, start),
            "case": case,
            "config": config,
            "start": start,
            "python": python,
            "gevent": gevent,
            "verdict": verdict,
            "signature": "",
        }
    )


def test_claims_from_a_hand_made_record_set():
    """thread_false on one Python: works on 24.11.1, one start method of two deadlocks on 25.4.1, both hang
    on 26.9.0; 20.9.0 never ran (unsupported) and says nothing; a user's case beside the seed is not the post's."""
    seed = [
        ("24.11.1", "fork", "running"),
        ("24.11.1", "spawn", "running"),
        ("25.4.1", "fork", "deadlock"),
        ("25.4.1", "spawn", "running"),
        ("26.9.0", "fork", "deadlock"),
        ("26.9.0", "spawn", "stall"),
        ("20.9.0", "fork", "unsupported"),
    ]
    recs = [_hand_record("seed_original", "thread_false", st_, "3.11.7", gv, v) for gv, st_, v in seed]
    recs.append(_hand_record("mine", "thread_false", "fork", "3.11.7", "24.11.1", "deadlock"))
    claim = {c.name: c for c in claims_mod.claims(recs)}["thread_false works"]
    assert claim.cases == ["seed_original"] and claim.status == "partly" and claim.cells == 6
    assert claim.as_json()["by_python"] == [  # as compat.json holds it
        {
            "python": "3.11.7",
            "runs": [
                {"status": "holds", "from": "24.11.1", "to": "24.11.1", "gevents": ["24.11.1"], "exceptions": []},
                {
                    "status": "partly",
                    "from": "25.4.1",
                    "to": "25.4.1",
                    "gevents": ["25.4.1"],
                    "exceptions": ["seed_original/fork: deadlock"],
                },
                {"status": "fails", "from": "26.9.0", "to": "26.9.0", "gevents": ["26.9.0"], "exceptions": []},
            ],
        }
    ]
    assert claim.summary == (
        "holds on Python 3.11.7 × gevent 24.11.1; partly on Python 3.11.7 × gevent 25.4.1; "
        "does not hold on Python 3.11.7 × gevent 26.9.0 (6 cells: deadlock 2, running 3, "
        "stall 1)"
    )
    assert claims_mod.one_line(claim) == (
        "holds on 1 of 3 Python × gevent pairs (within Python 3.11.7 × gevent 24.11.1); holds partly on 1 of 3 "
        "Python × gevent pairs (within Python 3.11.7 × gevent 25.4.1); does not hold on 1 of 3 Python × gevent "
        "pairs (within Python 3.11.7 × gevent 26.9.0)"
    )
    hang = {c.name: c for c in claims_mod.claims(recs)}["patch_all hangs"]
    assert hang.status == "untested" and hang.by_python == [] and hang.cells == 0


def test_the_claims_section_appears_only_with_the_seeds_cases():
    mine = [_hand_record("mine", "patch_all", "fork", "3.11.7", "26.9.0", "deadlock")]
    seed = [_hand_record("seed_original", "patch_all", "fork", "3.11.7", "26.9.0", "deadlock")]
    for recs, shown in ((mine, False), (seed, True), (mine + seed, True)):
        assert ("What the post claims, measured" in markdown.markdown(recs)) is shown
        assert ('id="claims-section"' in html.html(recs)) is shown


@given(st.lists(a_record, min_size=1, max_size=14))
@settings(max_examples=60, deadline=None)
def test_claims_list_every_tested_pair_once(recs):
    recs = [Record.from_json(r) for r in recs]
    for claim in claims_mod.claims(recs):
        tested = {
            (c.python, c.gevent)
            for c in table_cells.cells(recs)
            if c.config == claim.promise.config
            and c.case in claim.cases
            and c.verdict not in ("unsupported", "env-error")
        }
        listed = [(e.python, g) for e in claim.by_python for r in e.runs for g in r.gevents]
        assert sorted(listed) == sorted(tested) and len(set(listed)) == len(listed)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["3.8.18", "3.11.7"]),
            st.sampled_from(["20.9.0", "22.10.2", "24.2.1", "26.9.0"]),
            st.sampled_from(["fork", "spawn"]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_where_text_names_every_point(points):
    text = ranges.where_text(points)
    for py, gv, st_ in points:
        part = text.split("Python %s: " % py)[1].split("; Python")[0]
        assert st_ in part
        assert gv in part or "–" in part


def test_table_command_prints_and_writes_every_format(real_records, tmp_path):
    import subprocess
    import sys

    store = str(tmp_path / "records.jsonl")
    for rec in real_records:
        records.append(store, rec)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def hangmatrix(*args):
        out = subprocess.run(
            [sys.executable, "-m", "hangmatrix.cli", "table", "--records", store] + list(args),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert hangmatrix("--format", "claims").startswith("| claim (cases: seed_original, seed_terminating)")
    csv_out = hangmatrix("--format", "csv", "--config", "patch_all")
    assert [r["config"] for r in csv.DictReader(io.StringIO(csv_out, newline=""))] == ["patch_all", "patch_all"]
    assert "## seed_terminating" not in hangmatrix("--case", "seed_original")
    written = hangmatrix("--out", str(tmp_path / "docs")).split()
    assert [os.path.basename(p) for p in written] == ["compat.md", "compat.html", "compat.csv", "compat.json"]


@given(st.lists(a_record, max_size=14))
@settings(max_examples=60, deadline=None)
def test_trimmed_records_keep_every_verdict_and_point_to_their_stacks(recs):
    recs = [Record.from_json(r) for r in recs]
    slim = tabular.trimmed(recs)
    assert all(isinstance(r, Record) for r in slim)
    assert [(r.id, r.verdict, r.signature) for r in slim] == [(r.id, r.verdict, r.signature) for r in recs]
    by_id = {c.id: c for c in table_cells.cells(recs)}
    for full, r in zip(recs, slim):
        if not r.extra.get("trimmed"):
            assert r is full
            continue
        rep = by_id[r.diagnosis["stacks_as_in"]]
        assert "python_stacks" not in r.diagnosis
        kept = [set(p) for p in r.diagnosis["processes"]]
        assert not any("fds" in p for p in kept)
        assert not any("threads" in p for p in kept) or full.verdict not in ("ok", "running")
        assert (rep.case, rep.config, rep.verdict) == (full.case, full.config, full.verdict)
        assert signatures.normalize_signature(rep.signature) == signatures.normalize_signature(full.signature)
        assert "python_stacks" in rep.record.diagnosis  # the representative keeps its own
    back = selection.load_json_records(tabular.json_text(recs, trim=True))
    assert [r.to_json() for r in back] == json.loads(json.dumps([r.to_json() for r in slim]))


def test_text_grid_shows_each_configuration_at_a_glance():
    """Hand-made records: one letter per Python × gevent; an unsupported start method does not make a square
    mixed (Python 2.7 has fork only); start methods that ran and disagree make it `*`."""
    recs = [
        _hand_record("seed_original", "thread_false", s, py, gv, v)
        for py, gv, s, v in (
            ("3.11.7", "24.11.1", "fork", "running"),
            ("3.11.7", "24.11.1", "spawn", "running"),
            ("3.11.7", "25.4.1", "fork", "deadlock"),
            ("3.11.7", "25.4.1", "spawn", "deadlock"),
            ("3.11.7", "26.9.0", "fork", "deadlock"),
            ("3.11.7", "26.9.0", "spawn", "error"),
            ("2.7.18", "24.11.1", "fork", "deadlock"),
            ("2.7.18", "24.11.1", "spawn", "unsupported"),
        )
    ]
    md = markdown.markdown(recs)
    block = md.split("## At a glance")[1].split("```text\n")[1].split("```")[0].splitlines()
    assert block[-3:] == ["thread_false:", "Python 2.7.18 D..", "Python 3.11.7 rD*"]
    head = block[:-3]
    columns = ["".join(line[14 + i] if len(line) > 14 + i else " " for line in head).strip() for i in range(3)]
    assert columns == ["24.11.1", "25.4.1", "26.9.0"]  # each release read top to bottom, oldest first


def test_case_descriptions_come_from_the_records_not_the_checkout(real_records):
    from hangmatrix.model import cases

    what = cases.discover()["seed_original"].what
    assert what and all(r.provenance["case_what"] for r in real_records)
    assert "## seed_original\n\n%s\n" % what in markdown.markdown(real_records)
    told = [r.replace(provenance=dict(r.provenance, case_what="only the records say this")) for r in real_records]
    assert "## seed_original\n\nonly the records say this\n" in markdown.markdown(told)
    assert _page_data(html.html(told))["info"]["case"]["seed_original"] == "only the records say this"
    old = [r.replace(provenance={k: v for k, v in r.provenance.items() if k != "case_what"}) for r in real_records]
    assert "## seed_original\n\n| Python" in markdown.markdown(old)  # records from before: no description
