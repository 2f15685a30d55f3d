"""Why a proven hang hangs: the record's `cause`, one typed value with one JSON form.

observe/waitfor.py builds the wait-for graph of a hang and observe/cause.py names its cause, once a
deadlock or stall is proven; reports read it from here. The vocabulary of kinds is this module's KINDS,
documented with the evidence each needs in docs/proof.md.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

# The stable names a cause's `kind` holds, and what each says; docs/proof.md gives the evidence each needs.
KINDS = {
    "hub-blocked": "a greenlet's call that does not yield stops its hub, so no other greenlet of that thread runs",
    "lock-held-across-switch": "a native lock held by a greenlet that switched away, wanted by another greenlet",
    "lock-inherited-at-fork": "a lock copied locked into a child whose holder (a thread) does not exist there",
    "greenlet-primitive-from-thread": "a gevent-only queue, lock or event used from a native thread (LoopExit)",
    "thread-gone": "a main greenlet waits for the work of a thread that no longer exists (exited, or not forked)",
    "pipe-cycle": "processes that each wait for another of them through pipes",
    "own-writer": "a read that only the reader itself could end (it holds the only write end)",
    "busy-loop": "a spin that never blocks and never ends",
    "outside": "a wait only the world outside the tree can end",
    "unknown": "a proven hang whose chain ends nowhere hangmatrix can name yet",
}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Where:
    """The program's own frame at which its main flow waits or spins: the first frame, from the innermost,
    outside the standard library, site-packages and hangmatrix."""

    file: str
    line: int
    function: str

    def as_json(self) -> Dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Where":
        return cls(str(data.get("file", "")), int(data.get("line") or 0), str(data.get("function", "")))

    def __str__(self) -> str:
        return "%s:%d (%s)" % (self.file.rsplit("/", 1)[-1], self.line, self.function)


@dataclass(frozen=True)
class Edge:
    """`waiter` waits for `waits_for` (node ids of the graph) on `on` (a pipe, a lock, a hub, a child),
    as `evidence` shows (the observation it rests on)."""

    waiter: str
    waits_for: str
    on: str
    evidence: str

    def as_json(self) -> Dict[str, str]:
        return {"waiter": self.waiter, "waits_for": self.waits_for, "on": self.on, "evidence": self.evidence}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Edge":
        return cls(*(str(data.get(k, "")) for k in ("waiter", "waits_for", "on", "evidence")))


@dataclass(frozen=True)
class Graph:
    """The wait-for graph: nodes (processes, threads, greenlets) by id with a label, and the edges."""

    nodes: Mapping[str, str] = field(default_factory=dict)
    edges: Tuple[Edge, ...] = ()

    def as_json(self) -> Dict[str, Any]:
        return {"nodes": dict(self.nodes), "edges": [e.as_json() for e in self.edges]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Graph":
        return cls(dict(data.get("nodes") or {}), tuple(Edge.from_json(e) for e in data.get("edges") or ()))


@dataclass(frozen=True)
class Cause:
    """A hang's cause: its kind (KINDS), where the program's main flow waits, the chain of edges from there
    to the end (a cycle, or a party that can never act), a sentence or two, and the whole graph."""

    kind: str
    text: str
    where: Optional[Where] = None
    chain: Tuple[Edge, ...] = ()
    graph: Graph = field(default_factory=Graph)

    def as_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.where is not None:
            out["where"] = self.where.as_json()
        out["chain"] = [e.as_json() for e in self.chain]
        out["graph"] = self.graph.as_json()
        return out

    @classmethod
    def from_json(cls, data: Any) -> "Cause":
        """A cause from its JSON object; ValueError (one line) if it is none."""
        if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
            raise ValueError("not a cause (no kind)")
        where = data.get("where")
        return cls(
            kind=data["kind"],
            text=str(data.get("text", "")),
            where=Where.from_json(where) if isinstance(where, Mapping) else None,
            chain=tuple(Edge.from_json(e) for e in data.get("chain") or ()),
            graph=Graph.from_json(data.get("graph") or {}),
        )

    @property
    def headline(self) -> str:
        """`hub-blocked at seed_original.py:28 (<module>)`: what a signature leads with."""
        return self.kind + (" at %s" % self.where if self.where else "")
