"""A table's header: when it was made, by which hangmatrix, from how many records of which machines."""

import datetime

from .. import __version__
from ..model import versions


def stamp(records, now=None):
    """Date, machine and hangmatrix version for a table's header."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    provs = [r.provenance for r in records]
    machines = sorted(
        {
            "%s (%s, %s CPUs)" % (p.get("os", "?"), p.get("machine", "?"), p.get("cpus", "?"))
            for p in provs
            if p.get("os")
        }
    )
    recorded_with = sorted({str(p.get("hangmatrix")) for p in provs if p.get("hangmatrix")}, key=versions.key)
    times = sorted(r.recorded_at for r in records if r.recorded_at)
    return {
        "generated": now.strftime("%Y-%m-%d %H:%M UTC"),
        "hangmatrix": __version__,
        "recorded_with": recorded_with,
        "machines": machines,
        "records": len(records),
        "recorded_from": times[0] if times else "",
        "recorded_to": times[-1] if times else "",
    }


def stamp_text(st):
    recorded = ""
    if st.get("recorded_from"):
        recorded = ", recorded %s to %s" % (st["recorded_from"], st["recorded_to"])
    with_ = " (runs by hangmatrix %s)" % ", ".join(st["recorded_with"]) if st.get("recorded_with") else ""
    return "Generated %s by hangmatrix %s from %d records%s%s on %s." % (
        st["generated"],
        st["hangmatrix"],
        st["records"],
        recorded,
        with_,
        "; ".join(st["machines"]) or "an unknown machine",
    )
