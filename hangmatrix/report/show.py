"""`hangmatrix show CELL`: a record's diagnosis as a person reads it: the process tree with each thread's
blocked call, the pipes it waits on and who holds their other end, then the Python stacks and greenlets.
A compact record (hangmatrix.store.compact) shows its tree's summary and says what it left out."""

from ..model.record import Record
from .waitgraph import why_lines


def render(rec: Record) -> str:
    lines = []
    head = "%s: %s" % (rec.id, rec.verdict)
    timing = "%.2f s from launch" % rec.elapsed_s
    if rec.quiescent_at_s is not None:
        timing += ", still from %.2f s" % rec.quiescent_at_s
    lines.append("%s (%s)" % (head, timing))
    if rec.cause is not None:  # why it hangs, before everything it rests on
        lines.extend(why_lines(rec.cause))
    if rec.signature:
        lines.append("  " + rec.signature)
    prov = rec.provenance
    start = rec.start_used or {}
    lines.append(
        "python %s (%s), gevent %s, greenlet %s; start method requested %s, used %s%s"
        % (
            rec.python,
            prov.get("interpreter", "?"),
            rec.gevent,
            rec.greenlet,
            rec.start,
            start.get("seen_in_tree") or start.get("reported") or "?",
            "; set_start_method refused: %s" % start["refused"] if start.get("refused") else "",
        )
    )
    if prov.get("requires"):
        resolved = prov.get("requires_resolved") or {}
        lines.append(
            "requires %s: installed %s, resolved as of %s"
            % (
                ", ".join(prov["requires"]),
                ", ".join("%s %s" % kv for kv in resolved.items()) or "nothing",
                "the newest on %s" % prov.get("requires_as_of")
                if prov.get("requires_newest")
                else prov.get("requires_as_of"),
            )
        )
    point = rec.patch_point
    if point:
        lines.append(
            "its patch point: %s on line %s of %s (%s)"
            % (point.get("source") or point.get("call"), point.get("line"), point.get("file"), point.get("in"))
        )
    for ev in (rec.events or {}).get("notable", []):
        if ev.get("ev") == "patched":
            lines.append("patched at %s: %s" % (ev.get("where"), ev.get("call")))
        elif ev.get("ev") == "start_method_program":
            lines.append(
                "the program's set_start_method(%r) on line %s of %s: not obeyed, the cell runs %s"
                % (ev.get("asked"), ev.get("line"), ev.get("file"), ev.get("kept"))
            )
    diag = rec.diagnosis
    if rec.compact:
        lines.append("compact record: " + diag.get("compact", "the tree's summary only"))
    procs = rec.processes
    if procs:
        lines.append("")
        lines.append("process tree (as sampled before the kill):")
        depth: dict[int, int] = {}
        for p in procs:
            depth[p["pid"]] = depth.get(p["ppid"], -1) + 1
            pad = "  " * (depth[p["pid"]] + 1)
            lines.append("%s%d %s  [%s]" % (pad, p["pid"], p["role"], (p["cmdline"] or "")[:120]))
            for t in p["threads"]:
                lines.append(
                    "%s  thread %d %-12s %s %s  (%s%s)"
                    % (
                        pad,
                        t["tid"],
                        t["name"],
                        t["state"],
                        t["call"],
                        t["wchan"] or "-",
                        ", " + t["wait"] + " wait" if t.get("wait") else "",
                    )
                )
                pipe = t.get("pipe")
                if pipe:
                    holders = (
                        ", ".join(
                            "%s %d (fd %d) in %s" % (h["role"], h["pid"], h["fd"], h["blocked_in"])
                            for h in pipe["holders"]
                        )
                        or "nobody"
                    )
                    lines.append("%s    %s %s end held by: %s" % (pad, pipe["target"], pipe["other_end"], holders))
                    if pipe.get("outside_holders"):
                        lines.append("%s    also held outside the tree by %s" % (pad, pipe["outside_holders"]))
                wake = t.get("wake")
                if wake and not pipe:
                    lines.append(
                        "%s    waits on %s; inside, %s could end it"
                        % (pad, ", ".join(wake["on"]) or "nothing examined", wake["inside"] or "nobody")
                    )
                for why in (wake or {}).get("outside", []):
                    lines.append("%s    outside: %s" % (pad, why))
    for title, key in (("python stacks (every thread, on SIGUSR1)", "python_stacks"), ("greenlets", "greenlets")):
        blocks = diag.get(key) or {}
        if blocks:
            lines.append("")
            lines.append(title + ":")
            roles = {str(p["pid"]): p["role"] for p in procs}
            for pid, text in blocks.items():
                lines.append("  --- %s %s" % (pid, roles.get(pid, "")))
                lines.extend("    " + line for line in text.splitlines())
    for name, tail in (("stderr", rec.stderr_tail or ""), ("stdout", rec.stdout_tail or "")):
        if tail.strip():
            lines.append("")
            lines.append(name + " (end):")
            lines.extend("  " + line for line in tail.strip().splitlines()[-25:])
    wrote = (rec.containment or {}).get("wrote_outside") or {}
    if wrote.get("paths"):
        lines.append("")
        lines.append("wrote outside its folder (in its copy-on-write view; nothing reached the machine):")
        for w in wrote["paths"]:
            lines.append("  %-8s %8s  %s" % (w["kind"], w["size"] if w["kind"] == "file" else "", w["path"]))
        if wrote.get("more"):
            lines.append("  ... and %d more" % wrote["more"])
    cleanup = rec.cleanup
    if cleanup:
        lines.append("")
        lines.append(
            "cleanup: tree killed in %.3f s, survivors %s, removed %s"
            % (cleanup.get("kill_s", 0), cleanup.get("survivors") or "none", cleanup.get("shm_removed") or "nothing")
        )
    return "\n".join(lines)
