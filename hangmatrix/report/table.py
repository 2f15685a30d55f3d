"""Compatibility tables from records: Markdown, a self-contained HTML page (click a cell for its diagnosis),
CSV and JSON; the "claims" view that answers the seed post; and `diff`, which compares two record sets.

Stable interfaces (hangmatrix.checks.upgrade, CI and `hangmatrix run --table` call them):

    load(paths, warn=None) -> list[dict]
        records from JSONL files, folders of *.jsonl, or a JSON file written by json_text() (compat.json)
    select(records, case=(), config=(), start=(), python=(), gevent=(), verdict=()) -> list[dict]
        records matching every given axis (each a list of globs; python also matches its X.Y prefix)
    claims(records, cases=None) -> list[dict]
        per claim of the post: {"name", "text", "config", "wants", "cases", "status", "summary",
        "by_python": [{"python", "runs": [{"status", "from", "to", "gevents", "exceptions"}]}], "cells"}
    markdown(records, stamp_info=None) -> str;  html(records, stamp_info=None) -> str
    csv_text(records) -> str;  json_text(records, stamp_info=None, trim=False) -> str
    stamp(records) -> dict (date, machine, hangmatrix version);  claims_markdown(claims) -> str
    write_all(records, folder) -> dict   writes compat.md, compat.html, compat.csv, compat.json (trimmed:
        Python stacks, greenlets and fd tables once per situation, see trimmed()); returns the paths
    diff(old_records, new_records, ignore=None) -> dict
        {"matched_on": [axes], "ignored": [axes], "old": summary, "new": summary,
         "groups": [{"direction", "changes": [change]}]  (new hangs first; only non-empty groups),
         "changes": [change], "unchanged": int, "only_old": [key], "only_new": [key]}
        change = {"key", "case", "config", "start", "python", "gevent", "direction",
                  "old": {"id", "verdict", "signature", "python", "gevent", "runs", "verdicts"}, "new": {...}}
        (the newest run of a cell decides; "verdicts" lists every verdict its runs gave)
        Cells are matched on case, config, start, Python X.Y and gevent; an axis with one value on each side
        that differs (two gevent releases, two Pythons) is ignored automatically, or name them in `ignore`.
    diff_text(result, old_name="A", new_name="B") -> str
    trimmed(records) -> list[dict]   Python stacks, greenlets and fd tables kept once per situation (case,
        config, verdict, normalized signature), the others point to it in diagnosis["stacks_as_in"]
    load_json_records(text) -> list[dict];  cells(records) -> list[dict];  normalize_signature(sig) -> str
    vkey(version) -> tuple   a sort key for Python and gevent versions (3.14.0rc1 < 3.14.0 < 3.14.1)

Repeated runs of one cell: the table shows the newest, and marks the cell when its runs disagree.
"""
import csv
import datetime
import fnmatch
import html as html_mod
import io
import json
import os
import re

from .. import __version__
from ..model import configs
from ..store import records as records_mod
from ..model.text import split_top_level

HANG = ("deadlock", "stall", "timeout")
FAIL = ("error", "crash")
WORKS = ("ok", "running")
UNTESTED = ("unsupported", "env-error")

# verdict -> (markdown symbol, html glyph, colour, meaning)
VERDICTS = {
    "ok": ("✅", "✓", "#2e7d32", "ended and its output check passed"),
    "running": ("🟢", "▶", "#00897b", "endless case, progress seen (its tasks run)"),
    "deadlock": ("🔴", "✖", "#c62828", "proven deadlock: every thread in an untimed wait, nothing changing"),
    "stall": ("🟠", "≈", "#ef6c00", "hang proven by absence of progress; only polling threads"),
    "timeout": ("⏳", "?", "#f9a825", "unfinished at the timeout, no proof either way"),
    "error": ("⚠️", "!", "#6a1b9a", "exited with an exception or failed its output check"),
    "crash": ("💥", "✷", "#37474f", "killed by a signal"),
    "env-error": ("⚙️", "⚙", "#9e9e9e", "the environment could not be built"),
    "unsupported": ("➖", "–", "#cfd8dc", "this combination cannot run (flag, start method or Python)"),
}
MISSING = ("·", "", "#ffffff", "no record")
FLAKY_MARK = "±"

CLAIMS = (
    {"name": "patch_all hangs", "config": "patch_all", "wants": "hang",
     "text": "`monkey.patch_all()` makes the program hang"},
    {"name": "selective works", "config": "selective", "wants": "works",
     "text": "patching only what is used (`patch_socket()` + `patch_time()`) works"},
    {"name": "thread_false works", "config": "thread_false", "wants": "works",
     "text": "`monkey.patch_all(thread=False)` works"},
    {"name": "lazy works", "config": "lazy", "wants": "works",
     "text": "importing gevent lazily, after the fork, inside the worker, works"},
)
SEED_CASES = ("seed_original", "seed_terminating")
AXES = ("case", "config", "start", "python", "gevent")

_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-_.]?(dev|a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?"
                      r"(?:[-_.]?post[-_.]?(\d+))?(.*)$", re.I)
_PRE_RANK = {"dev": -4, "a": -3, "alpha": -3, "b": -2, "beta": -2, "c": -1, "rc": -1, "pre": -1, "preview": -1}


def vkey(version):
    """Sort key for versions: release numbers (trailing zeros ignored), then pre/post releases, then any
    local tail; a text that is no version sorts first, by itself."""
    text = str(version or "").strip()
    m = _VERSION.match(text)
    if not m:
        return ((), 0, 0, 0, text)
    rel = [int(x) for x in m.group(1).split(".")]
    while len(rel) > 1 and rel[-1] == 0:
        rel.pop()
    pre = _PRE_RANK[m.group(2).lower()] if m.group(2) else 0
    return (tuple(rel), pre, int(m.group(3) or 0), int(m.group(4) or 0), m.group(5) or "")


def python_short(rec):
    """X.Y of a record's Python (`3.11` of `3.11.7`)."""
    short = (rec.get("provenance") or {}).get("python_short")
    if short:
        return str(short)
    return ".".join(str(rec.get("python", "")).split(".")[:2])


def _cell_id(rec):
    if rec.get("id"):
        return rec["id"]
    return records_mod.cell_id(rec.get("case"), python_short(rec), rec.get("gevent"), rec.get("config"),
                               rec.get("start"))


# ---------------------------------------------------------------- reading and selecting

def load(paths, warn=None):
    """Records from JSONL files, folders (every *.jsonl inside) or JSON files written by json_text()."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isfile(path) and path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                out.extend(load_json_records(f.read()))
        else:
            out.extend(records_mod.read_many([path], warn=warn))
    return out


def load_json_records(text):
    """The records of a JSON document: a list of records, or json_text()'s object."""
    data = json.loads(text)
    recs = data.get("records", []) if isinstance(data, dict) else data
    return [r for r in recs if isinstance(r, dict) and "verdict" in r]


def _match_any(value, patterns, version=False):
    value = str(value or "")
    for pat in patterns:
        if fnmatch.fnmatchcase(value, pat):
            return True
        if version and (value == pat or value.startswith(pat + ".")):
            return True
    return False


def select(records, case=(), config=(), start=(), python=(), gevent=(), verdict=()):
    """Records matching every axis given (lists of globs; an empty list means any)."""
    want = {"case": case, "config": config, "start": start, "python": python, "gevent": gevent,
            "verdict": verdict}
    out = []
    for rec in records:
        if all(not pats or _match_any(rec.get(axis), pats, axis in ("python", "gevent"))
               for axis, pats in want.items()):
            out.append(rec)
    return out


# ---------------------------------------------------------------- the model: cells, rows, columns

def _config_order(name):
    named = list(configs.NAMED)
    return (named.index(name), "") if name in named else (len(named), name)


def _case_order(name):
    return (SEED_CASES.index(name), "") if name in SEED_CASES else (len(SEED_CASES), name)


def _start_order(name):
    return (configs.STARTS.index(name), "") if name in configs.STARTS else (len(configs.STARTS), name)


def cells(records):
    """One cell per id: the newest record, how many runs it had and every verdict they gave."""
    by_id = {}
    for rec in records:
        cid = _cell_id(rec)
        cell = by_id.get(cid)
        if cell is None:
            cell = by_id[cid] = {"id": cid, "runs": 0, "verdicts": []}
        cell["runs"] += 1
        if rec.get("verdict") not in cell["verdicts"]:
            cell["verdicts"].append(rec.get("verdict"))
        cell["rec"] = rec
    for cell in by_id.values():
        rec = cell["rec"]
        cell.update(case=str(rec.get("case")), config=str(rec.get("config")), start=str(rec.get("start")),
                    python=str(rec.get("python")), gevent=str(rec.get("gevent")), verdict=rec.get("verdict"),
                    signature=rec.get("signature") or "", flaky=len(cell["verdicts"]) > 1)
    return list(by_id.values())


def model(records):
    """Rows (Python x gevent), columns (case x config x start) and the grid of cells between them."""
    cs = cells(records)
    rows = sorted({(c["python"], c["gevent"]) for c in cs}, key=lambda r: (vkey(r[0]), vkey(r[1])))
    cols = sorted({(c["case"], c["config"], c["start"]) for c in cs},
                  key=lambda k: (_case_order(k[0]), _config_order(k[1]), _start_order(k[2])))
    grid = {(c["python"], c["gevent"], c["case"], c["config"], c["start"]): c for c in cs}
    return {"rows": rows, "cols": cols, "grid": grid, "cells": cs,
            "cases": sorted({k[0] for k in cols}, key=_case_order),
            "configs": sorted({k[1] for k in cols}, key=_config_order),
            "starts": sorted({k[2] for k in cols}, key=_start_order)}


def stamp(records, now=None):
    """Date, machine and hangmatrix version for a table's header."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    provs = [r.get("provenance") or {} for r in records]
    machines = sorted({"%s (%s, %s CPUs)" % (p.get("os", "?"), p.get("machine", "?"), p.get("cpus", "?"))
                       for p in provs if p.get("os")})
    versions = sorted({str(p.get("hangmatrix")) for p in provs if p.get("hangmatrix")}, key=vkey)
    times = sorted(r.get("recorded_at") for r in records if r.get("recorded_at"))
    return {"generated": now.strftime("%Y-%m-%d %H:%M UTC"), "hangmatrix": __version__,
            "recorded_with": versions, "machines": machines, "records": len(records),
            "recorded_from": times[0] if times else "", "recorded_to": times[-1] if times else ""}


def stamp_text(st):
    recorded = ""
    if st.get("recorded_from"):
        recorded = ", recorded %s to %s" % (st["recorded_from"], st["recorded_to"])
    with_ = " (runs by hangmatrix %s)" % ", ".join(st["recorded_with"]) if st.get("recorded_with") else ""
    return "Generated %s by hangmatrix %s from %d records%s%s on %s." % (
        st["generated"], st["hangmatrix"], st["records"], recorded, with_,
        "; ".join(st["machines"]) or "an unknown machine")


# ---------------------------------------------------------------- ranges of versions

def runs_of(universe, members):
    """Contiguous runs of `members` within the sorted `universe`: [(first, last, [items]), ...]."""
    out, cur = [], []
    for item in universe:
        if item in members:
            cur.append(item)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return [(r[0], r[-1], r) for r in out]


def span(first, last):
    return first if first == last else "%s–%s" % (first, last)


def where_text(points):
    """(python, gevent, start) points as `Python 3.11.7: gevent 20.9.0–26.9.0 (fork, spawn)`; the start
    methods are named only when not all of those seen for that Python x gevent."""
    by_py = {}
    for py, gv, st in points:
        by_py.setdefault(py, {}).setdefault(gv, set()).add(st)
    parts = []
    for py in sorted(by_py, key=vkey):
        gvs = sorted(by_py[py], key=vkey)
        chunks = []
        # group gevents by their start set, then runs within the python's list
        by_starts = {}
        for gv in gvs:
            by_starts.setdefault(tuple(sorted(by_py[py][gv], key=_start_order)), []).append(gv)
        for starts, members in by_starts.items():
            ranges = ", ".join(span(a, b) for a, b, _ in runs_of(gvs, set(members)))
            chunks.append("gevent %s (%s)" % (ranges, ", ".join(starts)))
        parts.append("Python %s: %s" % (py, "; ".join(chunks)))
    return "; ".join(parts)


# ---------------------------------------------------------------- the post's claims

def _holds(verdict, wants):
    return verdict in (HANG if wants == "hang" else WORKS)


def claims(records, cases=None):
    """For each claim of the post, where it holds: per Python, runs of gevent releases with a status
    (`holds` in every case and start method tried, `partly`, `fails`). Unsupported and env-error cells
    are untested. Default cases: the seed programs present in the records, else all cases."""
    cs = cells(records)
    present = {c["case"] for c in cs}
    if cases is None:
        cases = [c for c in SEED_CASES if c in present] or sorted(present)
    out = []
    for claim in CLAIMS:
        chosen = [c for c in cs if c["config"] == claim["config"] and c["case"] in cases
                  and c["verdict"] not in UNTESTED]
        pairs = {}
        for c in chosen:
            pairs.setdefault((c["python"], c["gevent"]), []).append(c)
        status = {}
        exceptions = {}
        for pair, group in pairs.items():
            good = [c for c in group if _holds(c["verdict"], claim["wants"])]
            status[pair] = "holds" if len(good) == len(group) else "fails" if not good else "partly"
            exceptions[pair] = ["%s/%s: %s" % (c["case"], c["start"], c["verdict"]) for c in group
                                if not _holds(c["verdict"], claim["wants"])] if status[pair] == "partly" else []
        by_python = []
        for py in sorted({p for p, _ in pairs}, key=vkey):
            gvs = sorted((g for p, g in pairs if p == py), key=vkey)
            runs = []
            for gv in gvs:
                st = status[(py, gv)]
                if runs and runs[-1]["status"] == st and st != "partly":
                    runs[-1]["to"] = gv
                    runs[-1]["gevents"].append(gv)
                else:
                    runs.append({"status": st, "from": gv, "to": gv, "gevents": [gv],
                                 "exceptions": exceptions[(py, gv)]})
            by_python.append({"python": py, "runs": runs})
        values = set(status.values())
        overall = "untested" if not values else values.pop() if len(values) == 1 else "partly"
        verdicts = {}
        for c in chosen:
            verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
        out.append(dict(claim, cases=list(cases), status=overall, by_python=by_python, cells=len(chosen),
                        verdicts=verdicts, summary=_claim_summary(overall, by_python, chosen, verdicts)))
    return out


def _ranges_for(by_python, wanted):
    parts = []
    for entry in by_python:
        gv = [span(r["from"], r["to"]) for r in entry["runs"] if r["status"] == wanted]
        if gv:
            parts.append("Python %s × gevent %s" % (entry["python"], ", ".join(gv)))
    return "; ".join(parts)


def _claim_summary(overall, by_python, chosen, verdicts):
    counts = ", ".join("%s %d" % kv for kv in sorted(verdicts.items()))
    if overall == "untested":
        return "untested (no runnable cell)"
    pys = [e["python"] for e in by_python]
    gvs = sorted({g for e in by_python for r in e["runs"] for g in r["gevents"]}, key=vkey)
    if overall in ("holds", "fails"):
        return "%s on every combination tested: Python %s × gevent %s (%d cells: %s)" % (
            "holds" if overall == "holds" else "does not hold", span(pys[0], pys[-1]), span(gvs[0], gvs[-1]),
            len(chosen), counts)
    bits = []
    for label, key in (("holds on", "holds"), ("partly on", "partly"), ("does not hold on", "fails")):
        text = _ranges_for(by_python, key)
        if text:
            bits.append("%s %s" % (label, text))
    return "; ".join(bits) + " (%d cells: %s)" % (len(chosen), counts)


def claims_markdown(claim_list):
    lines = ["| claim (cases: %s) | holds | partly | does not hold |" % ", ".join(
        claim_list[0]["cases"]) if claim_list else "| claim | holds | partly | does not hold |",
        "|---|---|---|---|"]
    notes = []
    for c in claim_list:
        cols = [_ranges_for(c["by_python"], k) or "—" for k in ("holds", "partly", "fails")]
        lines.append("| %s | %s | %s | %s |" % (c["text"], *[_md_cell(x) for x in cols]))
        for entry in c["by_python"]:
            for run in entry["runs"]:
                if run["exceptions"]:
                    notes.append("- %s, Python %s × gevent %s: not in %s" % (
                        c["name"], entry["python"], run["from"], ", ".join(run["exceptions"])))
    out = "\n".join(lines)
    if notes:
        out += "\n\nWhere a claim holds only partly:\n\n" + "\n".join(notes[:40])
        if len(notes) > 40:
            out += "\n- … and %d more" % (len(notes) - 40)
    return out


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------- signatures, grouped

_NUMS = [(re.compile(r"pipe:\[\d+\]"), "pipe:[…]"), (re.compile(r"socket:\[\d+\]"), "socket:[…]"),
         (re.compile(r"\bthread \d+"), "thread …"), (re.compile(r"\bpid \d+"), "pid …"),
         (re.compile(r"0x[0-9a-f]{6,}"), "0x…")]




def _sort_lists(text):
    """Sort comma lists (inside parentheses and after `: `) so orderings of one situation compare equal."""
    def inner(m):
        return "(" + ", ".join(sorted(split_top_level(_sort_lists(m.group(1))))) + ")"
    text = re.sub(r"\(((?:[^()]|\([^()]*\))*,(?:[^()]|\([^()]*\))*)\)", inner, text)
    return re.sub(r"(writers|readers): ([^;]*)", lambda m: "%s: %s" % (
        m.group(1), ", ".join(sorted(split_top_level(m.group(2))))), text)


def normalize_signature(sig):
    """A signature with run-specific numbers (pipe inodes, thread ids) and list orders removed."""
    sig = sig or ""
    for pat, rep in _NUMS:
        sig = pat.sub(rep, sig)
    return _sort_lists(sig)


def problems(cs):
    """Non-passing cells grouped by case, config, verdict and normalized signature."""
    groups = {}
    for c in cs:
        if c["verdict"] in WORKS or c["verdict"] in UNTESTED and not c["signature"]:
            continue
        key = (c["case"], c["config"], c["verdict"], normalize_signature(c["signature"]))
        groups.setdefault(key, []).append(c)
    return sorted(groups.items(), key=lambda kv: (_case_order(kv[0][0]), _config_order(kv[0][1]),
                                                  (HANG + FAIL + UNTESTED).index(kv[0][2])
                                                  if kv[0][2] in HANG + FAIL + UNTESTED else 99, kv[0][3]))


# ---------------------------------------------------------------- Markdown

def _legend_md():
    items = ["%s %s" % (VERDICTS[v][0], v) for v in VERDICTS] + ["%s no record" % MISSING[0],
                                                                 "%s runs disagree" % FLAKY_MARK]
    return "Legend: " + " · ".join(items)


def _case_whats():
    try:
        from ..model import cases
        return {name: case.what for name, case in cases.discover().items()}
    except Exception:  # a table must render from records alone
        return {}


def markdown(records, stamp_info=None):
    """The compatibility table as Markdown: claims first, then one table per case (rows Python x gevent,
    columns configurations, each cell one symbol per start method), then hangs and failures by signature."""
    m = model(records)
    st = stamp_info or stamp(records)
    whats = _case_whats()
    out = ["# gevent × multiprocessing: compatibility table", "", stamp_text(st), "", _legend_md() + ".", ""]
    starts = m["starts"]
    out.append("Each cell shows one symbol per start method, in this order: %s. "
               "`none` is the unpatched control." % ", ".join(starts))
    out += ["", "## What the post claims, measured", "", claims_markdown(claims(records)), ""]
    for case in m["cases"]:
        cfgs = [k for k in m["configs"] if any(col[:2] == (case, k) for col in m["cols"])]
        out.append("## %s" % case)
        if whats.get(case):
            out += ["", whats[case]]
        out += ["", "| Python | gevent | %s |" % " | ".join("`%s`" % _md_cell(k) for k in cfgs),
                "|---|---|" + "---|" * len(cfgs)]
        for py, gv in m["rows"]:
            row = []
            for k in cfgs:
                syms = []
                for s in starts:
                    cell = m["grid"].get((py, gv, case, k, s))
                    if cell is None:
                        syms.append(MISSING[0])
                    else:
                        syms.append(VERDICTS.get(cell["verdict"], ("?",))[0] + (FLAKY_MARK if cell["flaky"] else ""))
                row.append("".join(syms))
            if any(set(r) - {MISSING[0]} for r in row):
                out.append("| %s | %s | %s |" % (py, gv, " | ".join(row)))
        out.append("")
    probs = problems(m["cells"])
    if probs:
        out += ["## Hangs and failures, by signature", ""]
        for (case, config, verdict, sig), group in probs:
            where = where_text([(c["python"], c["gevent"], c["start"]) for c in group])
            out.append("- **%s / %s**: %s %s — %s  \n  %s" % (
                case, _md_cell(config), VERDICTS.get(verdict, ("?",))[0], verdict,
                "`%s`" % _md_cell(sig) if sig else "(no signature)", where))
        out.append("")
    flaky = [c for c in m["cells"] if c["flaky"]]
    if flaky:
        out += ["## Cells whose runs disagree", ""]
        out += ["- `%s`: %s (%d runs)" % (c["id"], ", ".join(c["verdicts"]), c["runs"]) for c in flaky]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- CSV and JSON

CSV_FIELDS = ("id", "case", "config", "start", "python", "gevent", "greenlet", "verdict", "signature",
              "elapsed_s", "start_used", "runs", "verdicts_seen", "recorded_at")


def csv_text(records):
    """One row per cell (its newest record), in table order."""
    m = model(records)
    buf = io.StringIO()
    w = csv.writer(buf)  # RFC 4180 line ends: a field holding \r or \n is quoted
    w.writerow(CSV_FIELDS)
    for py, gv in m["rows"]:
        for case, config, start in m["cols"]:
            cell = m["grid"].get((py, gv, case, config, start))
            if not cell:
                continue
            rec = cell["rec"]
            used = rec.get("start_used") or {}
            w.writerow([cell["id"], case, config, start, py, gv, rec.get("greenlet", ""), cell["verdict"],
                        cell["signature"], rec.get("elapsed_s", ""),
                        used.get("seen_in_tree") or used.get("reported") or "", cell["runs"],
                        " ".join(map(str, cell["verdicts"])), rec.get("recorded_at", "")])
    return buf.getvalue()


def representatives(cs):
    """{cell id: id of the cell whose stacks stand for it}: one cell (the newest Python and gevent) per case,
    configuration, verdict and normalized signature. Stacks of one situation repeat across versions and
    start methods; pages and docs carry them once, the JSONL store keeps every one."""
    groups = {}
    for c in cs:
        groups.setdefault(_situation(c), []).append(c)
    out = {}
    for group in groups.values():
        rep = max(group, key=lambda c: (vkey(c["python"]), vkey(c["gevent"]), _start_order(c["start"])[0] == 0,
                                        c["id"]))
        for c in group:
            out[c["id"]] = rep["id"]
    return out


def _situation(rec):
    """What one set of stacks stands for: case, configuration, verdict and normalized signature."""
    return rec["case"], rec["config"], rec["verdict"], normalize_signature(rec["signature"])


def trimmed(records):
    """The records with the bulky parts of the diagnosis (Python stacks, greenlets, fd tables) kept only in
    each situation's representative; the others name it in diagnosis["stacks_as_in"]. An older run of a
    cell that ended in another situation than the cell's newest run has no representative: kept whole."""
    cs = cells(records)
    reps = representatives(cs)
    situations = {c["id"]: _situation(c) for c in cs}
    newest = {id(c["rec"]) for c in cs}
    out = []
    for rec in records:
        cid = _cell_id(rec)
        diag = rec.get("diagnosis") or {}
        rep = reps.get(cid)
        if id(rec) in newest and rep == cid or not diag or situations.get(rep) != _situation(rec):
            out.append(rec)
            continue
        slim = {k: v for k, v in diag.items() if k not in ("python_stacks", "greenlets")}
        slim["processes"] = [{k: v for k, v in p.items() if k != "fds"} for p in diag.get("processes") or []]
        slim["stacks_as_in"] = rep
        out.append(dict(rec, diagnosis=slim, trimmed=True))
    return out


def json_text(records, stamp_info=None, trim=False):
    """The records, with the stamp and the claims: {"hangmatrix", "stamp", "claims", "records", "trimmed"}.
    trim: see trimmed() (compat.json is written trimmed; the JSONL store has every diagnosis whole)."""
    st = stamp_info or stamp(records)
    return json.dumps({"hangmatrix": __version__, "stamp": st, "claims": claims(records), "trimmed": bool(trim),
                       "records": trimmed(records) if trim else list(records)},
                      indent=None, sort_keys=True, default=str) + "\n"


# ---------------------------------------------------------------- HTML

_CAP = 12000


def _cap(text, limit=_CAP):
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "\n… (%d more characters)" % (len(text) - limit)


class _Pool:
    """Shared tables for the page's data: texts become lists of line numbers (stacks repeat across cells
    and processes), provenance objects become indexes. Keeps a full matrix's page small."""

    def __init__(self):
        self.lines, self._line_ix = [], {}
        self.objects, self._obj_ix = [], {}

    def text(self, text):
        out = []
        for line in (text or "").split("\n"):
            i = self._line_ix.get(line)
            if i is None:
                i = self._line_ix[line] = len(self.lines)
                self.lines.append(line)
            out.append(i)
        return out

    def obj(self, value):
        key = json.dumps(value, sort_keys=True, default=str)
        i = self._obj_ix.get(key)
        if i is None:
            i = self._obj_ix[key] = len(self.objects)
            self.objects.append(value)
        return i


def _detail(cell, pool, rep):
    """What the HTML page shows when a cell is clicked: a trimmed copy of its record (stacks and fd tables
    only when it represents its situation, see representatives())."""
    rec = cell["rec"]
    diag = rec.get("diagnosis") or {}
    if rep != cell["id"]:
        diag = dict(diag, python_stacks={}, greenlets={},
                    processes=[dict(p, fds={}) for p in diag.get("processes") or []])
    procs = []
    for p in (diag.get("processes") or [])[:40]:
        threads = []
        for t in (p.get("threads") or [])[:40]:
            th = {k: t.get(k) for k in ("tid", "name", "state", "wchan", "call", "wait") if t.get(k) not in (None, "")}
            pipe = t.get("pipe")
            if pipe:
                th["pipe"] = {"target": pipe.get("target"), "other_end": pipe.get("other_end"),
                              "holders": [{k: h.get(k) for k in ("pid", "fd", "role", "blocked_in")}
                                          for h in (pipe.get("holders") or [])[:20]],
                              "outside_holders": pipe.get("outside_holders") or []}
            threads.append(th)
        fds = p.get("fds") or {}
        procs.append({"pid": p.get("pid"), "ppid": p.get("ppid"), "role": p.get("role"),
                      "cmdline": pool.text(_cap(p.get("cmdline"), 400)), "threads": threads,
                      "fds": pool.text("\n".join("%s → %s" % kv for kv in list(fds.items())[:64]))})
    patched = [e.get("call") for e in (rec.get("events") or {}).get("notable", []) if e.get("ev") == "patched"]
    return {
        "id": cell["id"], "verdict": cell["verdict"], "signature": cell["signature"], "case": cell["case"],
        "config": cell["config"], "start": cell["start"], "python": cell["python"], "gevent": cell["gevent"],
        "greenlet": rec.get("greenlet"), "elapsed_s": rec.get("elapsed_s"),
        "quiescent_at_s": rec.get("quiescent_at_s"), "recorded_at": rec.get("recorded_at"),
        "start_used": rec.get("start_used") or {}, "patched": patched, "proof": rec.get("proof") or {},
        "runs": cell["runs"], "verdicts": cell["verdicts"], "processes": procs,
        "python_stacks": {str(k): pool.text(_cap(v)) for k, v in list((diag.get("python_stacks") or {}).items())[:20]},
        "greenlets": {str(k): pool.text(_cap(v)) for k, v in list((diag.get("greenlets") or {}).items())[:20]},
        "stderr_tail": pool.text(_cap(rec.get("stderr_tail"), 4000)),
        "stdout_tail": pool.text(_cap(rec.get("stdout_tail"), 4000)),
        "provenance": pool.obj(rec.get("provenance") or {}), "cleanup": rec.get("cleanup") or {},
        "stacks_as_in": "" if rep == cell["id"] else rep,
    }


def _script_json(data):
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":"), default=str).replace("<", "\\u003c").replace(
        ">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _claims_html(claim_list):
    e = html_mod.escape
    rows = []
    for c in claim_list:
        cols = [_ranges_for(c["by_python"], k) or "—" for k in ("holds", "partly", "fails")]
        ex = "; ".join("Python %s × gevent %s: not in %s" % (entry["python"], r["from"], ", ".join(r["exceptions"]))
                       for entry in c["by_python"] for r in entry["runs"] if r["exceptions"])
        rows.append('<tr class="claim-%s"><th>%s</th><td>%s</td><td>%s%s</td><td>%s</td><td>%s</td></tr>' % (
            e(c["status"]), e(c["text"].replace("`", "")), e(cols[0]), e(cols[1]),
            '<div class="ex">%s</div>' % e(ex) if ex else "", e(cols[2]), e(c["summary"])))
    cases = ", ".join(claim_list[0]["cases"]) if claim_list else ""
    return ('<table class="claims"><thead><tr><th>claim (cases: %s)</th><th>holds</th><th>partly</th>'
            '<th>does not hold</th><th>summary</th></tr></thead><tbody>%s</tbody></table>' % (
                html_mod.escape(cases), "".join(rows)))


def html(records, stamp_info=None, title="gevent × multiprocessing: compatibility table"):
    """A self-contained page (inline CSS and JS, no network): filters, grouping, a legend, the claims, and
    the grid; clicking a cell (or opening page.html#CELL-ID) shows its whole diagnosis."""
    m = model(records)
    st = stamp_info or stamp(records)
    index = {}
    details = []
    pool = _Pool()
    reps = representatives(m["cells"])
    for c in m["cells"]:
        index[id(c)] = len(details)
        details.append(_detail(c, pool, reps[c["id"]]))
    grid = [[index[id(m["grid"][(py, gv) + col])] if (py, gv) + col in m["grid"] else -1 for col in m["cols"]]
            for py, gv in m["rows"]]
    whats = _case_whats()
    data = {
        "rows": m["rows"], "cols": m["cols"], "grid": grid, "details": details,
        "lines": pool.lines, "objects": pool.objects,
        "axes": {"case": m["cases"], "config": m["configs"], "start": m["starts"],
                 "python": sorted({r[0] for r in m["rows"]}, key=vkey),
                 "gevent": sorted({r[1] for r in m["rows"]}, key=vkey)},
        "verdicts": {k: {"glyph": v[1], "colour": v[2], "meaning": v[3]} for k, v in VERDICTS.items()},
        "problem": list(HANG + FAIL), "flaky_mark": FLAKY_MARK,
        "short": {"fork": "fork", "spawn": "spwn", "forkserver": "fsrv", "default": "dflt"},
        "info": {"case": {k: whats.get(k, "") for k in m["cases"]},
                 "config": {k: configs.DESCRIPTIONS.get(k, "patch_all(%s)" % k[len("flags:"):]
                                                        if k.startswith("flags:") else "") for k in m["configs"]}},
    }
    legend = "".join('<span class="lg"><span class="sw v-%s">%s</span> %s <small>%s</small></span>' % (
        k, html_mod.escape(v[1]), k, html_mod.escape(v[3])) for k, v in VERDICTS.items())
    legend += '<span class="lg"><span class="sw v-none"></span> no record</span>'
    legend += '<span class="lg"><span class="sw v-ok flaky">✓</span> dashed: runs disagree</span>'
    verdict_css = "".join(".v-%s{background:%s;color:%s}" % (k, v[2], "#000" if k in ("timeout", "unsupported",
                                                                                      "env-error") else "#fff")
                          for k, v in VERDICTS.items())
    return _PAGE.format(title=html_mod.escape(title), stamp=html_mod.escape(stamp_text(st)), legend=legend,
                        claims=_claims_html(claims(records)), data=_script_json(data),
                        verdict_css=verdict_css, css=_CSS, js=_JS)


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header,section{padding:8px 16px}
h1{font-size:20px;margin:8px 0 4px}h2{font-size:16px;margin:12px 0 6px}
.stamp{color:#555;margin:0}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px}
.lg{white-space:nowrap}.lg small{color:#666}
.sw{display:inline-block;width:20px;height:20px;line-height:20px;text-align:center;border-radius:3px;
 font-weight:bold;vertical-align:middle;border:1px solid #0002}
.v-none{background:#fff}
.flaky{outline:2px dashed #000;outline-offset:-3px}
table.claims{border-collapse:collapse;background:#fff}
table.claims th,table.claims td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.claims .ex{color:#666;font-size:12px}
tr.claim-holds th{border-left:5px solid #2e7d32}tr.claim-fails th{border-left:5px solid #c62828}
tr.claim-partly th{border-left:5px solid #ef6c00}
#controls{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:flex-start}
#controls fieldset{border:1px solid #ccc;padding:4px 8px;margin:0;background:#fff;max-width:520px}
#controls legend{font-weight:bold}
#controls label{margin-right:8px;white-space:nowrap;display:inline-block}
#grid-wrap{overflow:auto;max-height:80vh;margin:0 16px 16px;border:1px solid #ccc;background:#fff}
#grid{border-collapse:separate;border-spacing:0}
#grid th,#grid td{border-right:1px solid #eee;border-bottom:1px solid #eee;padding:0}
#grid thead th{position:sticky;background:#f0f0f0;font-weight:600;font-size:12px;padding:2px 4px;z-index:2;
 white-space:nowrap}
#grid thead tr:nth-child(1) th{top:0}#grid thead tr:nth-child(2) th{top:22px}#grid thead tr:nth-child(3) th{top:44px}
#grid thead th.g{border-left:2px solid #999}
#grid thead tr:nth-child(1) th:not(.rh),#grid thead tr:nth-child(2) th{text-align:left}
#grid th.rh{position:sticky;background:#f7f7f7;z-index:1;padding:2px 6px;font-weight:normal;white-space:nowrap}
#grid th.rh.py{left:0;min-width:70px}#grid th.rh.gv{left:70px;min-width:70px}
#grid thead th.rh{z-index:3}
#grid td.c{width:24px;min-width:24px;height:22px;text-align:center;cursor:pointer;font-weight:bold;font-size:13px}
#grid td.c.g{border-left:2px solid #999}
#grid td.c:focus,#grid td.c.sel{outline:3px solid #1565c0;outline-offset:-3px}
#grid td.c.flaky{outline:2px dashed #000;outline-offset:-4px}
#detail{position:fixed;top:0;right:0;bottom:0;width:min(900px,96vw);background:#fff;border-left:3px solid #1565c0;
 box-shadow:-4px 0 16px #0003;overflow:auto;padding:12px 16px;z-index:10}
#detail[hidden]{display:none}
#detail-close{position:sticky;top:0;float:right;font-size:20px;cursor:pointer;border:1px solid #ccc;background:#fff}
#detail h2{margin-top:0;word-break:break-all}
#detail .sig{font-family:ui-monospace,Menlo,Consolas,monospace;background:#fff3e0;padding:6px;border-radius:4px}
#detail dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}
#detail dt{font-weight:600}#detail dd{margin:0}
#detail pre{background:#f5f5f5;padding:8px;overflow:auto;max-height:420px;font-size:12px}
.proc{border:1px solid #ddd;border-radius:4px;padding:6px;margin:6px 0}
.proc .th{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;margin-left:12px}
.proc .pipe{margin-left:28px;color:#6a1b9a}
.badge{padding:1px 8px;border-radius:10px}
"""

_JS = r"""
(function(){
"use strict";
var D = JSON.parse(document.getElementById("hm-data").textContent);
var AX = ["case","config","start"];
var sel = {}; ["case","config","start","python","gevent"].forEach(function(a){ sel[a] = new Set(D.axes[a]); });
var state = {order:[0,1,2], onlyProblems:false, selected:-1};
function el(tag, attrs){
  var n = document.createElement(tag), i;
  for (var k in (attrs||{})) { if (k === "text") n.textContent = attrs[k]; else if (k === "cls") n.className = attrs[k];
    else n.setAttribute(k, attrs[k]); }
  for (i = 2; i < arguments.length; i++) { var c = arguments[i]; if (c == null) continue;
    n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
  return n;
}
function controls(){
  var box = document.getElementById("controls");
  ["case","config","start","python","gevent"].forEach(function(a){
    var fs = el("fieldset", {"data-axis":a}, el("legend", {text:a}));
    var all = el("label", {}, el("input", {type:"checkbox", checked:"", "data-all":a}), " all");
    fs.appendChild(all);
    D.axes[a].forEach(function(v){
      var info = (D.info[a]||{})[v];
      var lab = el("label", info ? {title:info} : {}, el("input", {type:"checkbox", checked:"", "data-axis":a, value:v}), " " + v);
      fs.appendChild(lab);
    });
    box.appendChild(fs);
  });
  var opts = el("fieldset", {}, el("legend", {text:"view"}));
  var grp = el("select", {id:"grouping"});
  [["case / config / start",[0,1,2]],["config / case / start",[1,0,2]],["start / config / case",[2,1,0]],
   ["config / start / case",[1,2,0]]].forEach(function(o, i){ grp.appendChild(el("option", {value:String(i)}, o[0])); grp["o"+i] = o[1]; });
  opts.appendChild(el("label", {}, "group columns by ", grp));
  opts.appendChild(el("label", {}, el("input", {type:"checkbox", id:"only-problems"}), " only columns with a hang or failure"));
  box.appendChild(opts);
  box.addEventListener("change", function(ev){
    var t = ev.target;
    if (t.id === "grouping") state.order = grp["o"+t.value];
    else if (t.id === "only-problems") state.onlyProblems = t.checked;
    else if (t.hasAttribute("data-all")) {
      var a = t.getAttribute("data-all");
      box.querySelectorAll('input[data-axis="'+a+'"]').forEach(function(i){ i.checked = t.checked; });
      sel[a] = new Set(t.checked ? D.axes[a] : []);
    } else if (t.hasAttribute("data-axis")) {
      var ax = t.getAttribute("data-axis");
      if (t.checked) sel[ax].add(t.value); else sel[ax].delete(t.value);
    }
    render();
  });
}
function T(x){ return Array.isArray(x) ? x.map(function(i){ return D.lines[i]; }).join("\n") : (x || ""); }
function verdictOf(i){ return i < 0 ? null : D.details[i].verdict; }
function render(){
  var rows = [], cols = [], r, c;
  for (r = 0; r < D.rows.length; r++) if (sel.python.has(D.rows[r][0]) && sel.gevent.has(D.rows[r][1])) rows.push(r);
  for (c = 0; c < D.cols.length; c++) {
    var k = D.cols[c];
    if (!(sel["case"].has(k[0]) && sel.config.has(k[1]) && sel.start.has(k[2]))) continue;
    if (state.onlyProblems && !rows.some(function(r){ return D.problem.indexOf(verdictOf(D.grid[r][c])) >= 0; })) continue;
    cols.push(c);
  }
  var o = state.order;
  cols.sort(function(a, b){
    for (var i = 0; i < 3; i++) { var ax = AX[o[i]], x = D.axes[ax].indexOf(D.cols[a][o[i]]), y = D.axes[ax].indexOf(D.cols[b][o[i]]);
      if (x !== y) return x - y; }
    return 0;
  });
  var rows_ = rows.filter(function(r){ return cols.some(function(c){ return D.grid[r][c] >= 0; }); });
  var table = document.getElementById("grid");
  table.textContent = "";
  var thead = el("thead");
  for (var level = 0; level < 3; level++) {
    var tr = el("tr");
    if (level === 0) {
      tr.appendChild(el("th", {cls:"rh py", rowspan:"3"}, "Python"));
      tr.appendChild(el("th", {cls:"rh gv", rowspan:"3"}, "gevent"));
    }
    var i = 0;
    while (i < cols.length) {
      var j = i + 1;
      var key = function(c){ return o.slice(0, level + 1).map(function(x){ return D.cols[c][x]; }).join("\u0000"); };
      while (j < cols.length && key(cols[j]) === key(cols[i])) j++;
      var val = D.cols[cols[i]][o[level]];
      var first = i === 0 || D.cols[cols[i-1]][o[0]] !== D.cols[cols[i]][o[0]];
      var info = (D.info[AX[o[level]]]||{})[val];
      var th = el("th", {colspan:String(j - i), cls: first ? "g" : "", title: AX[o[level]] + ": " + val + (info ? " — " + info : "")},
                  level === 2 && j - i === 1 ? (D.short[val] || val) : val);
      tr.appendChild(th);
      i = j;
    }
    thead.appendChild(tr);
  }
  table.appendChild(thead);
  var tbody = el("tbody");
  rows_.forEach(function(r){
    var tr = el("tr", {}, el("th", {cls:"rh py"}, D.rows[r][0]), el("th", {cls:"rh gv"}, D.rows[r][1]));
    cols.forEach(function(c, n){
      var i = D.grid[r][c], td;
      var g = n === 0 || D.cols[cols[n-1]][o[0]] !== D.cols[c][o[0]];
      if (i < 0) { td = el("td", {cls:"c v-none" + (g ? " g" : "")}); }
      else {
        var d = D.details[i], v = D.verdicts[d.verdict] || {glyph:"?"};
        td = el("td", {cls:"c v-" + d.verdict + (g ? " g" : "") + (d.verdicts.length > 1 ? " flaky" : "") + (i === state.selected ? " sel" : ""),
                       "data-i":String(i), "data-id":d.id, "data-verdict":d.verdict, tabindex:"0",
                       title:d.id + ": " + d.verdict + (d.verdicts.length > 1 ? " (runs: " + d.verdicts.join(", ") + ")" : "") + (d.signature ? "\n" + d.signature : "")},
                v.glyph);
      }
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  });
  table.appendChild(tbody);
  document.getElementById("shown").textContent = rows_.length + " rows × " + cols.length + " columns shown";
}
function kv(dl, k, v){ if (v === undefined || v === null || v === "") return; dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, String(v))); }
function openDetail(i){
  var d = D.details[i], body = document.getElementById("detail-body"), v = D.verdicts[d.verdict] || {};
  state.selected = i;
  document.querySelectorAll("#grid td.sel").forEach(function(t){ t.classList.remove("sel"); });
  var td = document.querySelector('#grid td[data-i="' + i + '"]'); if (td) td.classList.add("sel");
  body.textContent = "";
  body.appendChild(el("h2", {}, d.id + " "));
  body.firstChild.appendChild(el("span", {cls:"badge v-" + d.verdict, id:"detail-verdict"}, (v.glyph || "") + " " + d.verdict));
  if (d.signature) body.appendChild(el("p", {cls:"sig", id:"detail-signature"}, d.signature));
  var dl = el("dl");
  kv(dl, "case", d["case"]); kv(dl, "configuration", d.config + ((D.info.config||{})[d.config] ? " — " + D.info.config[d.config] : ""));
  kv(dl, "patched", d.patched.join("; "));
  var su = d.start_used || {};
  kv(dl, "start method", "requested " + d.start + "; reported " + (su.reported || "?") + "; seen in tree " + (su.seen_in_tree || "?") + (su.refused ? "; set_start_method refused: " + su.refused : ""));
  kv(dl, "Python", d.python); kv(dl, "gevent", d.gevent); kv(dl, "greenlet", d.greenlet);
  kv(dl, "elapsed", d.elapsed_s + " s" + (d.quiescent_at_s != null ? " (still from " + d.quiescent_at_s + " s)" : ""));
  kv(dl, "recorded", d.recorded_at);
  if (d.verdicts.length > 1) kv(dl, "runs disagree", d.runs + " runs: " + d.verdicts.join(", "));
  kv(dl, "proof", JSON.stringify(d.proof));
  body.appendChild(dl);
  if (d.processes.length) {
    body.appendChild(el("h3", {}, "Process tree: blocked calls and pipes"));
    var box = el("div", {id:"detail-processes"});
    d.processes.forEach(function(p){
      var div = el("div", {cls:"proc"}, el("b", {}, p.pid + " " + p.role), " (parent " + p.ppid + ") ", el("code", {}, T(p.cmdline)));
      p.threads.forEach(function(t){
        div.appendChild(el("div", {cls:"th"}, "thread " + t.tid + " " + (t.name || "") + " [" + (t.state || "?") + "] " + (t.call || "") + "  (" + (t.wchan || "-") + (t.wait ? ", " + t.wait + " wait" : "") + ")"));
        if (t.pipe) {
          var holders = t.pipe.holders.map(function(h){ return h.role + " " + h.pid + " (fd " + h.fd + ") in " + h.blocked_in; }).join("; ") || "nobody";
          div.appendChild(el("div", {cls:"th pipe"}, t.pipe.target + ": " + t.pipe.other_end + " end held by " + holders + (t.pipe.outside_holders.length ? "; also outside the tree: " + JSON.stringify(t.pipe.outside_holders) : "")));
        }
      });
      var fds = T(p.fds);
      if (fds) {
        var det = el("details", {}, el("summary", {}, fds.split("\n").length + " open fds"));
        det.appendChild(el("pre", {}, fds));
        div.appendChild(det);
      }
      box.appendChild(div);
    });
    body.appendChild(box);
  }
  [["python_stacks", "Python stacks (faulthandler)", true], ["greenlets", "Greenlets", false]].forEach(function(x){
    var blocks = d[x[0]] || {}, pids = Object.keys(blocks);
    if (!pids.length) return;
    body.appendChild(el("h3", {}, x[1]));
    pids.forEach(function(pid){
      var role = (d.processes.filter(function(p){ return String(p.pid) === pid; })[0] || {}).role || "";
      var det = el("details", x[2] ? {open:""} : {}, el("summary", {}, pid + " " + role));
      det.appendChild(el("pre", {cls:x[0]}, T(blocks[pid])));
      body.appendChild(det);
    });
  });
  if (d.stacks_as_in) {
    var link = el("a", {href:"#" + d.stacks_as_in, id:"detail-stacks-link"}, d.stacks_as_in);
    body.appendChild(el("p", {}, "Python stacks, greenlets and fd tables: as in the same situation's ", link,
                        " (the records file has this cell's own)."));
  }
  [["stderr_tail", "stderr (end)"], ["stdout_tail", "stdout (end)"]].forEach(function(x){
    var text = T(d[x[0]]);
    if (text.trim()) { body.appendChild(el("h3", {}, x[1])); body.appendChild(el("pre", {}, text)); }
  });
  var prov = el("details", {}, el("summary", {}, "Provenance and cleanup"));
  prov.appendChild(el("pre", {}, JSON.stringify({provenance:D.objects[d.provenance], cleanup:d.cleanup}, null, 1)));
  body.appendChild(prov);
  var panel = document.getElementById("detail");
  panel.hidden = false;
  panel.scrollTop = 0;
  if (location.hash !== "#" + d.id) history.replaceState(null, "", "#" + d.id);
}
function closeDetail(){
  document.getElementById("detail").hidden = true; state.selected = -1;
  document.querySelectorAll("#grid td.sel").forEach(function(t){ t.classList.remove("sel"); });
  history.replaceState(null, "", location.pathname + location.search);
}
controls();
render();
var grid = document.getElementById("grid");
grid.addEventListener("click", function(ev){ var td = ev.target.closest("td[data-i]"); if (td) openDetail(+td.getAttribute("data-i")); });
grid.addEventListener("keydown", function(ev){ var td = ev.target.closest("td[data-i]"); if (td && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); openDetail(+td.getAttribute("data-i")); } });
document.getElementById("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", function(ev){ if (ev.key === "Escape") closeDetail(); });
function fromHash(){
  var id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  for (var i = 0; i < D.details.length; i++) if (D.details[i].id === id) { openDetail(i); return; }
}
window.addEventListener("hashchange", fromHash);
fromHash();
document.body.setAttribute("data-ready", "1");
})();
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>{css}{verdict_css}</style></head>
<body>
<header><h1>{title}</h1><p class="stamp">{stamp}</p></header>
<section><div class="legend">{legend}</div></section>
<section id="claims-section"><h2>What the post claims, measured</h2>{claims}</section>
<section><h2>The matrix</h2><p>Rows: Python × gevent. Columns: case × configuration × start method.
Click a cell (or press Enter on it) for its diagnosis. <span id="shown"></span></p>
<div id="controls"></div></section>
<div id="grid-wrap"><table id="grid"></table></div>
<noscript><p>The matrix needs JavaScript; compat.md has the same table.</p></noscript>
<aside id="detail" hidden><button id="detail-close" title="close (Esc)">×</button><div id="detail-body"></div></aside>
<script id="hm-data" type="application/json">{data}</script>
<script>{js}</script>
</body></html>
"""


# ---------------------------------------------------------------- writing everything

def write_all(records, folder):
    """compat.md, compat.html, compat.csv and compat.json in folder; returns {format: path}."""
    records = list(records)
    os.makedirs(folder, exist_ok=True)
    st = stamp(records)
    out = {}
    for fmt, name, text in (("md", "compat.md", markdown(records, st)), ("html", "compat.html", html(records, st)),
                            ("csv", "compat.csv", csv_text(records)),
                            ("json", "compat.json", json_text(records, st, trim=True))):
        path = os.path.join(folder, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        out[fmt] = path
    return out


# ---------------------------------------------------------------- diff

DIRECTIONS = ("new hangs", "new failures", "hangs changed kind", "no longer hang", "fixed", "other changes")


def direction(old, new):
    """Which group a verdict change belongs to (new hangs first)."""
    if new in HANG and old not in HANG:
        return "new hangs"
    if new in FAIL and old not in FAIL + HANG:
        return "new failures"
    if new in HANG and old in HANG:
        return "hangs changed kind"
    if old in HANG:
        return "no longer hang"
    if old in FAIL and new in WORKS:
        return "fixed"
    return "other changes"


def _axis_value(rec, axis):
    return python_short(rec) if axis == "python" else str(rec.get(axis))


def _side_summary(recs):
    return {"records": len(recs),
            "pythons": sorted({str(r.get("python")) for r in recs}, key=vkey),
            "gevents": sorted({str(r.get("gevent")) for r in recs}, key=vkey)}


def diff(old_records, new_records, ignore=None):
    """Every cell whose verdict changed between two record sets, grouped by direction (see module doc)."""
    old_cells, new_cells = cells(old_records), cells(new_records)
    if ignore is None:
        ignore = []
        for axis in ("python", "gevent"):
            a = {_axis_value(c["rec"], axis) for c in old_cells}
            b = {_axis_value(c["rec"], axis) for c in new_cells}
            if len(a) == 1 and len(b) == 1 and a != b:
                ignore.append(axis)
    matched_on = [a for a in AXES if a not in ignore]

    def key(cell):
        return tuple(_axis_value(cell["rec"], a) for a in matched_on)

    def index(cs):
        out = {}
        for c in cs:
            prev = out.get(key(c))
            if prev is None or (prev["rec"].get("recorded_at") or "") <= (c["rec"].get("recorded_at") or ""):
                out[key(c)] = c
        return out

    old_i, new_i = index(old_cells), index(new_cells)
    changes = []
    unchanged = 0
    for k in sorted(set(old_i) & set(new_i), key=lambda k: tuple(vkey(x) if a in ("python", "gevent") else
                                                                   (_case_order(x) if a == "case" else
                                                                    _config_order(x) if a == "config" else
                                                                    _start_order(x) if a == "start" else x)
                                                                   for a, x in zip(matched_on, k))):
        o, n = old_i[k], new_i[k]
        if o["verdict"] == n["verdict"]:
            unchanged += 1
            continue
        side = lambda c: {"id": c["id"], "verdict": c["verdict"], "signature": c["signature"],
                          "python": c["python"], "gevent": c["gevent"], "runs": c["runs"],
                          "verdicts": list(c["verdicts"])}
        change = {"key": "-".join(k), "direction": direction(o["verdict"], n["verdict"]),
                  "old": side(o), "new": side(n)}
        for a in AXES:
            change[a] = _axis_value(o["rec"], a) if a in matched_on else None
        changes.append(change)
    groups = [{"direction": d, "changes": [c for c in changes if c["direction"] == d]} for d in DIRECTIONS]
    changes = [c for g in groups for c in g["changes"]]
    return {"matched_on": matched_on, "ignored": list(ignore),
            "old": _side_summary(old_records), "new": _side_summary(new_records),
            "groups": [g for g in groups if g["changes"]], "changes": changes, "unchanged": unchanged,
            "only_old": sorted("-".join(k) for k in set(old_i) - set(new_i)),
            "only_new": sorted("-".join(k) for k in set(new_i) - set(old_i))}


def diff_text(result, old_name="A", new_name="B"):
    """The diff as a person reads it: one block per direction, each changed cell with both signatures."""
    def side(s):
        return "%d records; Python %s; gevent %s" % (s["records"], ", ".join(s["pythons"]) or "-",
                                                     ", ".join(s["gevents"]) or "-")
    lines = ["%s: %s" % (old_name, side(result["old"])), "%s: %s" % (new_name, side(result["new"])),
             "cells matched on %s%s" % (", ".join(result["matched_on"]),
                                        " (ignoring %s)" % ", ".join(result["ignored"]) if result["ignored"] else "")]
    for group in result["groups"]:
        lines += ["", "%s (%d):" % (group["direction"], len(group["changes"]))]
        for c in group["changes"]:
            o, n = c["old"], c["new"]
            where = " ".join(str(c[a]) if a != "python" else "py" + str(c[a]) for a in AXES
                             if c[a] is not None and a not in ("gevent",))
            if c["gevent"] is not None:
                where += " gevent" + c["gevent"]
            moved = [a for a in ("python", "gevent") if o[a] != n[a]]
            if moved:
                where += " [%s]" % "; ".join("%s %s → %s" % (a, o[a], n[a]) for a in moved)
            flaky = "; ".join("%s's %d runs disagree: %s" % (name, s["runs"], ", ".join(s["verdicts"]))
                              for name, s in ((old_name, o), (new_name, n)) if len(s.get("verdicts", ())) > 1)
            lines.append("  %s: %s → %s%s" % (where, o["verdict"], n["verdict"], " (%s)" % flaky if flaky else ""))
            lines.append("      %s: %s" % (old_name, o["signature"] or "(no signature)"))
            lines.append("      %s: %s" % (new_name, n["signature"] or "(no signature)"))
    lines += ["", "%d changed, %d unchanged; only in %s: %d; only in %s: %d" % (
        len(result["changes"]), result["unchanged"], old_name, len(result["only_old"]), new_name,
        len(result["only_new"]))]
    return "\n".join(lines)
