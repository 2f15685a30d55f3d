"""The compatibility table as one self-contained HTML page (no network): maps at a glance, the post's
claims one line each (details folded; only for the seed's cases), then the full grid with filters and
grouping; clicking any square or cell (or opening page.html#CELL-ID) shows its whole diagnosis.

The page's markup, style and script are package files (templates/page.{html,css,js}); this module fills
them with the data of the records."""

import html as html_mod
import importlib.resources
import json
import string

from ..model import configs, verdicts, versions
from . import tabular
from .cells import model
from .claims import claims, one_line, ranges_for, seed_present
from .heatmap import heatmaps
from .heatmap import title as map_title
from .stamp import stamp, stamp_text
from .tabular import representatives

_CAP = 12000
START_SHORT = {"fork": "fork", "spawn": "spwn", "forkserver": "fsrv", "default": "dflt"}


def _template(name):
    return importlib.resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def _cap(text, limit=_CAP):
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "\n… (%d more characters)" % (len(text) - limit)


class _Pool:
    """Shared tables for the page's data: texts become lists of line numbers (stacks repeat across cells
    and processes), objects that repeat across cells (provenance, start method seen, proof, clean-up,
    patched calls) become indexes. Keeps a full matrix's page small."""

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
    only when it represents its situation, see tabular.representatives())."""
    rec = cell.record
    diag = rec.diagnosis
    if rep != cell.id:
        diag = tabular.slim_diagnosis(rec)
    procs = []
    for p in (diag.get("processes") or [])[:40]:
        threads = []
        for t in (p.get("threads") or [])[:40]:
            th = {k: t.get(k) for k in ("tid", "name", "state", "wchan", "call", "wait") if t.get(k) not in (None, "")}
            pipe = t.get("pipe")
            if pipe:
                th["pipe"] = {
                    "target": pipe.get("target"),
                    "other_end": pipe.get("other_end"),
                    "holders": [
                        {k: h.get(k) for k in ("pid", "fd", "role", "blocked_in")}
                        for h in (pipe.get("holders") or [])[:20]
                    ],
                    "outside_holders": pipe.get("outside_holders") or [],
                }
            threads.append(th)
        fds = p.get("fds") or {}
        procs.append(
            {
                "pid": p.get("pid"),
                "ppid": p.get("ppid"),
                "role": p.get("role"),
                "cmdline": pool.text(_cap(p.get("cmdline"), 400)),
                "threads": threads,
                "fds": pool.text("\n".join("%s → %s" % kv for kv in list(fds.items())[:64])),
            }
        )
    patched = [e.get("call") for e in (rec.events or {}).get("notable", []) if e.get("ev") == "patched"]
    return {
        "id": cell.id,
        "verdict": cell.verdict,
        "signature": cell.signature,
        "case": cell.case,
        "config": cell.config,
        "start": cell.start,
        "python": cell.python,
        "gevent": cell.gevent,
        "greenlet": rec.greenlet,
        "elapsed_s": rec.elapsed_s,
        "quiescent_at_s": rec.quiescent_at_s,
        "recorded_at": rec.recorded_at,
        "start_used": pool.obj(rec.start_used or {}),
        "patched": pool.obj(patched),
        "proof": pool.obj(rec.proof or {}),
        "runs": cell.runs,
        "verdicts": list(cell.verdicts),
        "processes": procs,
        "python_stacks": {str(k): pool.text(_cap(v)) for k, v in list((diag.get("python_stacks") or {}).items())[:20]},
        "greenlets": {str(k): pool.text(_cap(v)) for k, v in list((diag.get("greenlets") or {}).items())[:20]},
        "stderr_tail": pool.text(_cap(rec.stderr_tail, 4000)),
        "stdout_tail": pool.text(_cap(rec.stdout_tail, 4000)),
        "provenance": pool.obj(rec.provenance),
        "cleanup": pool.obj(rec.cleanup or {}),
        "stacks_as_in": "" if rep == cell.id else rep,
        "cause": _cause(rec),
    }


def _cause(rec):
    """A hang's cause as the panel draws it: kind, where, text, and its chain as labelled steps (the node a
    cycle closes on, by index); None without one."""
    found = rec.cause
    if found is None or not found.kind:
        return None
    chain = found.chain
    order = [e.waiter for e in chain] + ([chain[-1].waits_for] if chain else [])
    return {
        "kind": found.kind,
        "where": str(found.where) if found.where is not None else "",
        "text": _cap(found.text, 2000),
        "steps": [found.graph.nodes.get(n, n) for n in order[:30]],
        "edges": [{"on": _cap(e.on, 200), "evidence": _cap(e.evidence, 400)} for e in chain[:29]],
        "closes": order.index(order[-1]) if order and order.index(order[-1]) < len(order) - 1 else -1,
    }


def _script_json(data):
    """JSON safe inside a <script> element."""
    return (
        json.dumps(data, separators=(",", ":"), default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _claims_html(claim_list):
    """One line per claim (its status and where), the ranges and exceptions folded beneath it."""
    e = html_mod.escape
    items = []
    for c in claim_list:
        cols = [ranges_for(c.by_python, k) or "—" for k in ("holds", "partly", "fails")]
        ex = "; ".join(
            "Python %s × gevent %s: not in %s" % (entry.python, r.first, ", ".join(r.exceptions))
            for entry in c.by_python
            for r in entry.runs
            if r.exceptions
        )
        detail = (
            '<table class="claims"><tr><th>holds</th><td>%s</td></tr><tr><th>partly</th><td>%s%s</td></tr>'
            "<tr><th>does not hold</th><td>%s</td></tr><tr><th>summary</th><td>%s</td></tr></table>"
            % (e(cols[0]), e(cols[1]), '<div class="ex">%s</div>' % e(ex) if ex else "", e(cols[2]), e(c.summary))
        )
        items.append(
            '<li class="claim-%s"><details><summary><span class="st">%s</span> — %s</summary>%s'
            "</details></li>" % (e(c.status), e(c.text.replace("`", "")), e(one_line(c)), detail)
        )
    cases = ", ".join(claim_list[0].cases) if claim_list else ""
    return (
        '<section id="claims-section"><h2>What the post claims, measured</h2><p>Cases: %s. Open a claim '
        'for every Python × gevent range.</p><ul class="claims">%s</ul></section>' % (e(cases), "".join(items))
    )


def _heatmaps_html(m, index):
    """The maps as small tables of coloured squares; a square whose start methods disagree is striped, one
    stripe per start method. Every square opens the diagnosis of its (first) cell."""
    e = html_mod.escape
    out = []
    several = len(m.cases) > 1
    for hm in heatmaps(m):
        head = "".join('<th title="gevent %s">%s</th>' % (e(gv), e(gv)) for gv in hm.gevents)
        rows = []
        for py, row in zip(hm.pythons, hm.squares):
            tds = []
            for gv, sq in zip(hm.gevents, row):
                if sq is None:
                    tds.append('<td class="v-none"></td>')
                    continue
                said = ", ".join("%s %s" % (c.start, c.verdict) for c in sq.cells)
                attrs = ' data-i="%d" title="Python %s × gevent %s: %s"' % (
                    index[sq.cells[0].id],
                    e(py),
                    e(gv),
                    e(said),
                )
                flaky = " flaky" if any(c.flaky for c in sq.cells) else ""
                if sq.verdict is not None:
                    tds.append('<td class="v-%s%s"%s></td>' % (e(str(sq.verdict)), flaky, attrs))
                else:
                    stripes = "".join('<i class="v-%s"></i>' % e(str(c.verdict)) for c in sq.cells)
                    tds.append('<td class="mix%s"%s><b>%s</b></td>' % (flaky, attrs, stripes))
            rows.append("<tr><th>%s</th>%s</tr>" % (e(py), "".join(tds)))
        out.append(
            '<figure class="hm"><figcaption>%s</figcaption><table class="hm"><thead><tr><th></th>%s</tr>'
            "</thead><tbody>%s</tbody></table></figure>" % (e(map_title(hm, several)), head, "".join(rows))
        )
    return "".join(out)


def html(records, stamp_info=None, title="gevent × multiprocessing: compatibility table"):
    """The page (see module doc) for these records; it depends on nothing but them."""
    m = model(records)
    st = stamp_info or stamp(records)
    index = {}
    details = []
    pool = _Pool()
    reps = representatives(m.cells)
    for c in m.cells:
        index[c.id] = len(details)
        details.append(_detail(c, pool, reps[c.id]))
    grid = [[index[m.grid[row + col].id] if row + col in m.grid else -1 for col in m.cols] for row in m.rows]
    data = {
        "rows": m.rows,
        "cols": m.cols,
        "grid": grid,
        "details": details,
        "lines": pool.lines,
        "objects": pool.objects,
        "axes": {
            "case": m.cases,
            "config": m.configs,
            "start": m.starts,
            "python": sorted({r[0] for r in m.rows}, key=versions.key),
            "gevent": sorted({r[1] for r in m.rows}, key=versions.key),
        },
        "verdicts": {
            k: {"glyph": v.glyph, "colour": v.colour, "meaning": v.meaning} for k, v in verdicts.LOOKS.items()
        },
        "problem": list(verdicts.HANG + verdicts.FAIL),
        "flaky_mark": verdicts.FLAKY_MARK,
        "short": START_SHORT,
        "info": {
            "case": {k: m.whats.get(k, "") for k in m.cases},
            "config": {
                k: configs.DESCRIPTIONS.get(k, "patch_all(%s)" % k[len("flags:") :] if k.startswith("flags:") else "")
                for k in m.configs
            },
        },
    }
    legend = "".join(
        '<span class="lg"><span class="sw v-%s">%s</span> %s <small>%s</small></span>'
        % (k, html_mod.escape(v.glyph), k, html_mod.escape(v.meaning))
        for k, v in verdicts.LOOKS.items()
    )
    legend += '<span class="lg"><span class="sw v-none"></span> no record</span>'
    legend += '<span class="lg"><span class="sw v-ok flaky">✓</span> dashed: runs disagree</span>'
    verdict_css = "".join(".v-%s{background:%s;color:%s}" % (k, v.colour, v.ink) for k, v in verdicts.LOOKS.items())
    return string.Template(_template("page.html")).substitute(
        title=html_mod.escape(title),
        stamp=html_mod.escape(stamp_text(st)),
        legend=legend,
        heatmaps=_heatmaps_html(m, index),
        claims=_claims_html(claims(records)) if seed_present(records) else "",
        data=_script_json(data),
        verdict_css=verdict_css,
        css=_template("page.css"),
        js=_template("page.js"),
    )
