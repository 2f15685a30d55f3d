"""The compatibility table: from real records (run here on Python 3.11 / gevent 26.9.0) to Markdown, CSV,
JSON, the claims view, and the HTML page, which real headless Chromium opens and clicks."""
import base64
import csv
import fcntl
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import GEVENT, PY
from hangmatrix.store import records
from hangmatrix.run import runner
from hangmatrix.report import table
from hangmatrix.observe import verdict

SEEDS = ["seed_original", "seed_terminating"]
CONFIGS = ["none", "patch_all", "selective", "thread_false", "lazy"]


@pytest.fixture(scope="module")
def real_records(env311):
    """The seed programs under the post's configurations, fork start, run for real in parallel."""
    items = runner.plan(case_names=SEEDS, config_names=CONFIGS, starts=["fork"], pythons=[PY], gevents=[GEVENT],
                        timeout=20.0)
    recs = runner.execute(items)
    assert len(recs) == len(SEEDS) * len(CONFIGS)
    return recs


def by_id(recs, case, config, start="fork"):
    return next(r for r in recs if r["id"] == records.cell_id(case, PY, GEVENT, config, start))


# ---------------------------------------------------------------- from real records

def test_markdown_shows_every_cell_with_legend_stamp_and_claims(real_records):
    md = table.markdown(real_records)
    assert "hangmatrix %s" % table.__version__ in md and "Linux" in md and "CPUs" in md  # the stamp
    for name, (sym, *_rest) in table.VERDICTS.items():
        assert "%s %s" % (sym, name) in md  # the legend
    assert "## What the post claims, measured" in md
    for case in SEEDS:
        assert "## %s" % case in md
    # the row of Python 3.11 x gevent 26.9.0 in the seed_original table: one symbol per configuration
    section = md.split("## seed_original")[1].split("## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| %s" % real_records[0]["python"]))
    cells = [c.strip() for c in row.strip("|").split("|")][2:]
    assert cells == [table.VERDICTS[by_id(real_records, "seed_original", k)["verdict"]][0] for k in CONFIGS]
    assert "## Hangs and failures, by signature" in md and "pipe:[…]" in md


def test_claims_answer_the_post_from_real_runs(real_records):
    claims = {c["name"]: c for c in table.claims(real_records)}
    assert set(claims) == {"patch_all hangs", "selective works", "thread_false works", "lazy works"}
    hang = claims["patch_all hangs"]
    assert hang["status"] == "holds", hang["summary"]  # the post's hang, measured
    py = real_records[0]["python"]
    assert hang["by_python"] == [{"python": py, "runs": [{"status": "holds", "from": GEVENT, "to": GEVENT,
                                                          "gevents": [GEVENT], "exceptions": []}]}]
    assert "Python %s × gevent %s" % (py, GEVENT) in hang["summary"]
    for name in ("selective works", "thread_false works", "lazy works"):
        c = claims[name]
        verdicts = [by_id(real_records, case, c["config"])["verdict"] for case in SEEDS]
        expected = "holds" if all(v in table.WORKS for v in verdicts) else \
            "fails" if not any(v in table.WORKS for v in verdicts) else "partly"
        assert c["status"] == expected, (name, verdicts)
    assert "Python %s × gevent %s" % (py, GEVENT) in table.claims_markdown(list(claims.values()))


def test_csv_has_one_row_per_cell(real_records):
    rows = list(csv.DictReader(io.StringIO(table.csv_text(real_records), newline="")))
    assert len(rows) == len(real_records)
    for row in rows:
        rec = next(r for r in real_records if r["id"] == row["id"])
        assert row["verdict"] == rec["verdict"] and row["signature"] == rec["signature"]
        assert row["start_used"] == "fork"


def test_write_all_and_load_back(real_records, tmp_path):
    paths = table.write_all(real_records, str(tmp_path / "docs"))
    assert sorted(os.path.basename(p) for p in paths.values()) == ["compat.csv", "compat.html", "compat.json",
                                                                   "compat.md"]
    back = table.load(paths["json"])
    assert back == json.loads(json.dumps(real_records))
    data = json.load(open(paths["json"]))
    assert data["stamp"]["hangmatrix"] and data["claims"][0]["name"] == "patch_all hangs"


def test_html_is_self_contained(real_records):
    page = table.html(real_records)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must not fetch anything"
    assert "<link" not in page and "@import" not in page
    data = _page_data(page)
    ids = {d["id"] for d in data["details"]}
    assert ids == {r["id"] for r in real_records}
    dl = next(d for d in data["details"] if d["verdict"] == "deadlock")
    assert dl["processes"] and dl["python_stacks"], "a deadlock's diagnosis travels with the page"


def _page_data(page):
    raw = page.split('<script id="hm-data" type="application/json">')[1].split("</script>")[0]
    return json.loads(raw)


# ---------------------------------------------------------------- real headless Chromium

REAL_BINARY = "/usr/lib/chromium/chromium"  # what Debian's /usr/bin/chromium shell wrapper execs


def _chromium():
    """The Chromium binary; installed with apt-get when missing (root only)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return REAL_BINARY if os.access(REAL_BINARY, os.X_OK) else path
    if os.geteuid() != 0:
        pytest.skip("Chromium is not installed and installing it needs root (apt-get install -y chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)
    path = shutil.which("chromium")
    assert path, "apt-get installed chromium but it is not on PATH"
    return REAL_BINARY if os.access(REAL_BINARY, os.X_OK) else path


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
    its fd 3, replies on fd 4, NUL-terminated JSON): no extra package, no port, nothing left behind."""

    def __init__(self, binary, profile, log):
        self.log = log.name
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # far from 3 and 4 before they are placed there (and close-on-exec: only fds 3 and 4 are inherited)
        src_r, src_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                "--disable-crash-reporter", "--disable-breakpad", "--remote-debugging-pipe", "--window-size=1400,1000", "about:blank"]
        self.pid = os.posix_spawn(binary, argv, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
            (os.POSIX_SPAWN_DUP2, src_r, 3), (os.POSIX_SPAWN_DUP2, src_w, 4)])
        os.close(src_r)
        os.close(src_w)
        self.status = None
        self._buf, self._id, self.events = b"", 0, []

    def poll(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def _read(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                with open(self.log, "rb") as f:
                    tail = f.read()[-3000:].decode(errors="replace")
                raise EOFError("Chromium closed the pipe (exit %s); its log ends:\n%s" % (self.poll(), tail))
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        while True:
            for ev in self.events:
                if ev.get("method") == method:
                    self.events.remove(ev)
                    return ev
            self.events.append(self._read(deadline))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError, EOFError, ValueError):
            pass
        deadline = time.time() + 10
        while self.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # helpers (zygote, renderers) share its process group
        except ProcessLookupError:
            pass
        if self.status is None:
            os.waitpid(self.pid, 0)
        for fd in (self._r, self._w):
            os.close(fd)


def _evaluate(browser, session, expression):
    res = browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, session=session)
    assert "exceptionDetails" not in res, res["exceptionDetails"]
    return res["result"].get("value")


def _leftovers(profile, wait=10.0):
    """Live (not zombie) processes whose command line names the profile folder: the browser and every
    helper it started (renderers, zygotes, crashpad), whatever group they moved to; after a grace period."""
    deadline = time.time() + wait
    while True:
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmdline = f.read()
                with open("/proc/%s/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if profile.encode() in cmdline and state != "Z":
                alive.append(int(pid))
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.05)


def test_chromium_click_on_a_deadlocked_cell_opens_its_diagnosis(real_records, tmp_path):
    binary = _chromium()
    page_path = table.write_all(real_records, str(tmp_path / "docs"))["html"]
    deadlocked = by_id(real_records, "seed_original", "patch_all")
    assert deadlocked["verdict"] == "deadlock"
    profile = tempfile.mkdtemp(prefix="hangmatrix-chromium-")
    shot = tmp_path / "compat-deadlock-clicked.png"
    with open(tmp_path / "chromium.log", "wb") as log:
        browser = Browser(binary, profile, log)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            browser.call(domain + ".enable", session=session)
        browser.call("Page.navigate", {"url": "file://" + page_path}, session=session)
        browser.wait_event("Page.loadEventFired")
        assert _evaluate(browser, session, "document.body.getAttribute('data-ready')") == "1"
        assert _evaluate(browser, session, "document.getElementById('detail').hidden") is True
        cell = _evaluate(browser, session, """(() => {
            const td = document.querySelector('#grid td[data-id="%s"]');
            td.scrollIntoView({block: 'center', inline: 'center'});
            const r = td.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2, verdict: td.dataset.verdict,
                    glyph: td.textContent, colour: getComputedStyle(td).backgroundColor};
        })()""" % deadlocked["id"])
        assert cell["verdict"] == "deadlock" and cell["glyph"] == table.VERDICTS["deadlock"][1]
        assert cell["colour"] == "rgb(198, 40, 40)"  # #c62828, the legend's deadlock colour
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            browser.call("Input.dispatchMouseEvent", {"type": kind, "x": cell["x"], "y": cell["y"],
                                                      "button": "left", "clickCount": 1}, session=session)
        shown = _evaluate(browser, session, """(() => ({
            hidden: document.getElementById('detail').hidden,
            verdict: document.getElementById('detail-verdict').textContent,
            signature: document.getElementById('detail-signature').textContent,
            processes: document.getElementById('detail-processes').innerText,
            stacks: [...document.querySelectorAll('#detail pre.python_stacks')].map(p => p.textContent).join('\\n'),
            hash: location.hash}))()""")
        assert shown["hidden"] is False
        assert "deadlock" in shown["verdict"]
        assert shown["signature"] == deadlocked["signature"]
        assert re.search(r"read\(fd=\d+ → pipe:\[\d+\]\)", shown["processes"]), shown["processes"][:500]
        assert "pool worker" in shown["processes"]
        assert "multiprocessing" in shown["stacks"]
        assert shown["hash"] == "#" + deadlocked["id"]
        png = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
        shot.write_bytes(png)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
        # the filter: only columns with a hang or failure
        before = _evaluate(browser, session, "document.querySelectorAll('#grid tbody td').length")
        _evaluate(browser, session, "document.getElementById('only-problems').click()")
        after = _evaluate(browser, session, "[...document.querySelectorAll('#grid tbody td')].map(t => t.dataset.verdict)")
        assert len(after) < before and set(after) <= set(table.HANG + table.FAIL)
        fetched = [ev["params"]["request"]["url"] for ev in browser.events
                   if ev.get("method") == "Network.requestWillBeSent"]
        assert all(u.startswith(("file://", "data:", "about:")) for u in fetched), fetched
        errors = [ev for ev in browser.events if ev.get("method") == "Runtime.exceptionThrown"]
        assert not errors, errors
    finally:
        browser.close()
        left = _leftovers(profile)
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
    ka, kb = table.vkey(vtext(a)), table.vkey(vtext(b))
    assert (ka < kb) == (strip(a) < strip(b)) and (ka == kb) == (strip(a) == strip(b))


@given(release, pre)
def test_vkey_pre_releases_before_post_releases_after(rel, tail):
    final = table.vkey(vtext(rel))
    other = table.vkey(vtext(rel, tail))
    if not tail:
        assert other == final
    elif "post" in tail:
        assert other > final
    else:
        assert other < final


@given(st.text(max_size=20))
def test_vkey_never_fails(text):
    assert table.vkey(text) == table.vkey(text)


names = st.text("abcdefgh_", min_size=1, max_size=6)
free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
a_record = st.fixed_dictionaries({
    "case": st.sampled_from(["seed_original", "seed_terminating", "pipe_echo"]) | names,
    "config": st.sampled_from(["none", "patch_all", "selective", "thread_false", "lazy", "flags:thread=0"]),
    "start": st.sampled_from(["fork", "spawn", "forkserver", "default"]),
    "python": st.sampled_from(["2.7.18", "3.8.18", "3.11.7", "3.14.0rc1"]),
    "gevent": st.sampled_from(["1.2.2", "20.9.0", "24.11.1", "25.4.1", "26.9.0"]),
    "verdict": st.sampled_from(verdict.VERDICTS),
    "signature": free_text,
    "greenlet": st.just("3.5.6"),
    "elapsed_s": st.floats(0, 100, allow_nan=False),
    "recorded_at": st.just("2026-11-26T00:00:00Z"),
    "diagnosis": st.fixed_dictionaries({"python_stacks": st.dictionaries(st.sampled_from(["1", "2"]), free_text,
                                                                         max_size=2)}),
}).map(lambda r: dict(r, id=records.cell_id(r["case"], ".".join(r["python"].split(".")[:2]), r["gevent"],
                                             r["config"], r["start"])))


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
    assert table.load(path, warn=lambda m: None) == recs
    assert table.load(str(folder), warn=lambda m: None) == recs
    json_path = str(folder / "compat.json")
    with open(json_path, "w") as f:
        f.write(table.json_text(recs))
    assert table.load(json_path) == json.loads(json.dumps(recs))


@given(st.lists(a_record, max_size=14))
@settings(max_examples=60, deadline=None)
def test_every_format_renders_any_records(recs):
    md, page, text = table.markdown(recs), table.html(recs), table.csv_text(recs)
    cells = table.cells(recs)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert sorted(r["id"] for r in rows) == sorted(c["id"] for c in cells)
    assert {r["id"]: r["verdict"] for r in rows} == {c["id"]: c["verdict"] for c in cells}
    data = _page_data(page)  # a signature like "</script>" cannot break out of the data block
    assert sorted(d["id"] for d in data["details"]) == sorted(c["id"] for c in cells)
    assert all(c["rec"]["signature"] == next(d["signature"] for d in data["details"] if d["id"] == c["id"])
               for c in cells)
    for c in cells:
        if c["verdict"] in table.HANG + table.FAIL:
            assert "**%s / %s**" % (c["case"], c["config"]) in md
    assert len(table.claims(recs)) == 4


@given(st.lists(a_record, min_size=1, max_size=14))
@settings(max_examples=60, deadline=None)
def test_claims_partition_the_tested_pairs(recs):
    for claim in table.claims(recs):
        want = table.HANG if claim["wants"] == "hang" else table.WORKS
        tested = [c for c in table.cells(recs) if c["config"] == claim["config"] and c["case"] in claim["cases"]
                  and c["verdict"] not in table.UNTESTED]
        pairs = {}
        for c in tested:
            pairs.setdefault((c["python"], c["gevent"]), []).append(c["verdict"] in want)
        listed = {(e["python"], g): r["status"] for e in claim["by_python"] for r in e["runs"] for g in r["gevents"]}
        assert set(listed) == set(pairs)
        for pair, oks in pairs.items():
            assert listed[pair] == ("holds" if all(oks) else "fails" if not any(oks) else "partly")
        assert claim["cells"] == len(tested)


@given(st.lists(st.tuples(st.sampled_from(["3.8.18", "3.11.7"]), st.sampled_from(["20.9.0", "22.10.2", "24.2.1",
                                                                                   "26.9.0"]),
                          st.sampled_from(["fork", "spawn"])), min_size=1, max_size=10))
def test_where_text_names_every_point(points):
    text = table.where_text(points)
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
        out = subprocess.run([sys.executable, "-m", "hangmatrix.cli", "table", "--records", store] + list(args),
                             cwd=root, capture_output=True, text=True, timeout=120)
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
    slim = table.trimmed(recs)
    assert [(r["id"], r["verdict"], r["signature"]) for r in slim] == [(r["id"], r["verdict"], r["signature"])
                                                                       for r in recs]
    by_id = {c["id"]: c for c in table.cells(recs)}
    for full, r in zip(recs, slim):
        if not r.get("trimmed"):
            assert r is full
            continue
        rep = by_id[r["diagnosis"]["stacks_as_in"]]
        assert "python_stacks" not in r["diagnosis"]
        assert (rep["case"], rep["config"], rep["verdict"]) == (full["case"], full["config"], full["verdict"])
        assert table.normalize_signature(rep["signature"]) == table.normalize_signature(full["signature"])
        assert "python_stacks" in rep["rec"]["diagnosis"]  # the representative keeps its own
    assert table.load_json_records(table.json_text(recs, trim=True)) == json.loads(json.dumps(slim))
