"""The compatibility table as Markdown: a text grid per configuration at a glance, the post's claims
(only for the seed's cases), one table per case, then hangs and failures grouped by signature."""

from ..model import verdicts
from .cells import model
from .claims import claims, ranges_for, seed_present
from .heatmap import heatmaps, title
from .ranges import where_text
from .signatures import problems
from .stamp import stamp, stamp_text

MIXED = "*"  # a text-grid square whose start methods gave different verdicts


def md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _legend():
    items = ["%s %s" % (verdicts.LOOKS[v].symbol, v) for v in verdicts.LOOKS] + [
        "%s no record" % verdicts.MISSING.symbol,
        "%s runs disagree" % verdicts.FLAKY_MARK,
    ]
    return "Legend: " + " · ".join(items)


def claims_markdown(claim_list):
    """The claims as a Markdown table (holds / partly / does not hold), with the partial pairs listed."""
    lines = [
        "| claim (cases: %s) | holds | partly | does not hold |" % ", ".join(claim_list[0].cases)
        if claim_list
        else "| claim | holds | partly | does not hold |",
        "|---|---|---|---|",
    ]
    notes = []
    for c in claim_list:
        cols = [ranges_for(c.by_python, k) or "—" for k in ("holds", "partly", "fails")]
        lines.append("| %s | %s | %s | %s |" % (c.text, *[md_cell(x) for x in cols]))
        for entry in c.by_python:
            for run in entry.runs:
                if run.exceptions:
                    notes.append(
                        "- %s, Python %s × gevent %s: not in %s"
                        % (c.name, entry.python, run.first, ", ".join(run.exceptions))
                    )
    out = "\n".join(lines)
    if notes:
        out += "\n\nWhere a claim holds only partly:\n\n" + "\n".join(notes[:40])
        if len(notes) > 40:
            out += "\n- … and %d more" % (len(notes) - 40)
    return out


def text_grids(m):
    """The heatmaps as fixed-width text, one block per case: gevent releases written top to bottom as
    column heads, then per configuration one row per Python, one letter per release."""
    maps = heatmaps(m)
    if not maps:
        return ""
    gevents, pythons = maps[0].gevents, maps[0].pythons
    pad = max(len("Python %s" % py) for py in pythons) + 1
    height = max(len(gv) for gv in gevents)
    head = [
        "%-*s%s" % (pad, "gevent" if i == 0 else "", "".join(gv.rjust(height)[i] for gv in gevents))
        for i in range(height)
    ]
    out = []
    for case in m.cases:
        block = list(head)
        for hm in (h for h in maps if h.case == case):
            block.append(title(hm, len(m.cases) > 1) + ":")
            for py, row in zip(pythons, hm.squares):
                letters = "".join(
                    verdicts.MISSING.letter if sq is None else verdicts.look(sq.verdict).letter if sq.verdict else MIXED
                    for sq in row
                )
                if set(letters) - {verdicts.MISSING.letter}:
                    block.append("%-*s%s" % (pad, "Python %s" % py, letters))
        out += ["```text"] + [line.rstrip() for line in block] + ["```", ""]
    key = " · ".join("%s %s" % (verdicts.LOOKS[v].letter, v) for v in verdicts.LOOKS)
    return "\n".join(
        ["Letters: %s · %s start methods disagree · %s no record." % (key, MIXED, verdicts.MISSING.letter), ""] + out
    )


def markdown(records, stamp_info=None):
    """The compatibility table as Markdown: text grids at a glance, the claims (when the seed's cases are
    in the records), one table per case (rows Python x gevent, columns configurations, each cell one
    symbol per start method), then hangs and failures by signature."""
    m = model(records)
    st = stamp_info or stamp(records)
    out = ["# gevent × multiprocessing: compatibility table", "", stamp_text(st), "", _legend() + ".", ""]
    starts = m.starts
    out.append(
        "Each cell shows one symbol per start method, in this order: %s. "
        "`none` is the unpatched control." % ", ".join(starts)
    )
    grids = text_grids(m)
    if grids:
        out += [
            "",
            "## At a glance",
            "",
            "One row per Python, one column per gevent release (oldest first), "
            "one letter per configuration and release: the verdict its start methods gave "
            "(those that can run there).",
            "",
            grids,
        ]
    else:
        out.append("")
    if seed_present(records):
        out += ["## What the post claims, measured", "", claims_markdown(claims(records)), ""]
    for case in m.cases:
        cfgs = [k for k in m.configs if any(col[:2] == (case, k) for col in m.cols)]
        out.append("## %s" % case)
        if m.whats.get(case):
            out += ["", m.whats[case]]
        out += [
            "",
            "| Python | gevent | %s |" % " | ".join("`%s`" % md_cell(k) for k in cfgs),
            "|---|---|" + "---|" * len(cfgs),
        ]
        for py, gv in m.rows:
            row = []
            for k in cfgs:
                syms = []
                for s in starts:
                    cell = m.at((py, gv), (case, k, s))
                    if cell is None:
                        syms.append(verdicts.MISSING.symbol)
                    else:
                        syms.append(verdicts.look(cell.verdict).symbol + (verdicts.FLAKY_MARK if cell.flaky else ""))
                row.append("".join(syms))
            if any(set(r) - {verdicts.MISSING.symbol} for r in row):
                out.append("| %s | %s | %s |" % (py, gv, " | ".join(row)))
        out.append("")
    probs = problems(m.cells)
    if probs:
        out += ["## Hangs and failures, by signature", ""]
        for (case, config, verdict, sig), group in probs:
            where = where_text([(c.python, c.gevent, c.start) for c in group])
            out.append(
                "- **%s / %s**: %s %s — %s  \n  %s"
                % (
                    case,
                    md_cell(config),
                    verdicts.look(verdict).symbol,
                    verdict,
                    "`%s`" % md_cell(sig) if sig else "(no signature)",
                    where,
                )
            )
        out.append("")
    flaky = [c for c in m.cells if c.flaky]
    if flaky:
        out += ["## Cells whose runs disagree", ""]
        out += ["- `%s`: %s (%d runs)" % (c.id, ", ".join(c.verdicts), c.runs) for c in flaky]
        out.append("")
    return "\n".join(out)
