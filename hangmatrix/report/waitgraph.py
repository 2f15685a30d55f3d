"""A hang's cause as a person reads it: the "why" lines `hangmatrix show` prints first, and its wait-for
graph as Graphviz DOT (`show --graph`), the chain's edges in bold."""

from typing import List

from ..model.cause import Cause


def why_lines(found: Cause) -> List[str]:
    """`why: hub-blocked at seed_original.py:28 (<module>)`, its text, then the chain, one edge a line."""
    label = found.graph.nodes.get
    lines = ["why: " + found.headline, "  " + found.text]
    for e in found.chain:
        lines.append(
            "  %s  waits for  %s  on %s  [%s]"
            % (label(e.waiter, e.waiter), label(e.waits_for, e.waits_for), e.on, e.evidence)
        )
    return lines


def _quoted(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def dot(found: Cause, title: str = "") -> str:
    """The graph in DOT: a node per process, thread and greenlet, an edge per wait labelled with its object;
    the chain's edges bold and red."""
    chain = {(e.waiter, e.waits_for, e.on) for e in found.chain}
    lines = ["digraph waitfor {", "  label=%s;" % _quoted("%s%s" % (title + ": " if title else "", found.headline))]
    lines.append("  node [shape=box, fontsize=10]; edge [fontsize=9];")
    for node, label in sorted(found.graph.nodes.items()):
        shape = "ellipse" if "/t" in node and node.count("/") == 2 else "box"
        lines.append("  %s [label=%s, shape=%s];" % (_quoted(node), _quoted(label), shape))
    for e in found.graph.edges:
        style = ", style=bold, color=red" if (e.waiter, e.waits_for, e.on) in chain else ""
        lines.append(
            "  %s -> %s [label=%s, tooltip=%s%s];"
            % (_quoted(e.waiter), _quoted(e.waits_for), _quoted(e.on), _quoted(e.evidence), style)
        )
    lines.append("}")
    return "\n".join(lines)
