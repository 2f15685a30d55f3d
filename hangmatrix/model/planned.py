"""A planned cell: one cell of a selection before anything is built or run (hangmatrix.run.plan makes them,
hangmatrix.run.runner runs them). Its id is computed once, here, from its planned axes; the CellSpec the
supervisor runs, and so the record, carry that same id.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from . import record
from .cellspec import CaseRef, CellSpec, Provenance

EnvKey = Tuple[Any, str, Tuple[str, ...], bool]


@dataclass(frozen=True, eq=False)
class PlannedCell:
    """What the runner needs to build a cell's environment and run it. `requires` (normalized,
    hangmatrix.model.requirements) and `requires_newest` key its environment; `memory` is the cap asked
    for (None: the cell's share at the run's parallelism, which the runner decides: run.plan.memory_cap);
    `writable`: folders it may write besides its own (None: HANGMATRIX_WRITABLE's)."""

    case: Any  # a hangmatrix.model.cases.Case
    config: Dict[str, Any]  # a parsed configuration (hangmatrix.model.configs.parse)
    start: str
    interpreter: Any  # a hangmatrix.envs.interpreters.Interpreter
    gevent: str
    timeout: float
    detect: bool = True
    requires: Tuple[str, ...] = ()
    requires_newest: bool = False
    memory: Optional[int] = None
    writable: Optional[Tuple[str, ...]] = None
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "requires", tuple(self.requires))
        if self.writable is not None:
            object.__setattr__(self, "writable", tuple(self.writable))
        cell = record.cell_id(self.case.name, self.interpreter.short, self.gevent, self.config["name"], self.start)
        object.__setattr__(self, "id", cell)

    @property
    def env_key(self) -> EnvKey:
        """The environment it runs in: (interpreter, gevent release, requirements, newest)."""
        return self.interpreter, self.gevent, self.requires, self.requires_newest

    def spec(
        self,
        env: Any,
        argv: Tuple[str, ...],
        inject: str,
        memory: int,
        writable: Tuple[str, ...],
        keep: str = record.KEEP_FULL,
    ) -> CellSpec:
        """The CellSpec of this cell in its built environment `env` (an envs.env.Env): argv and inject as
        the runner staged them there, memory and writable as it resolved them."""
        return CellSpec(
            id=self.id,
            case=dataclasses.replace(CaseRef.of(self.case), cwd=self.case.cwd or os.getcwd()),
            config=self.config,
            start=self.start,
            timeout=self.timeout,
            detect=self.detect,
            requires=tuple(env.requires),
            memory=memory,
            argv=tuple(argv),
            inject=inject,
            root=self.interpreter.root or "",
            tmp_base=env.tmp_base,
            writable=tuple(writable),
            provenance=Provenance.of(self.interpreter, env.gevent, env=env),
            keep=keep,
        )

    def unbuilt_spec(self) -> CellSpec:
        """The CellSpec of this cell with no environment (env-error) or no run: enough for its record."""
        return CellSpec(
            id=self.id,
            case=CaseRef.of(self.case),
            config=self.config,
            start=self.start,
            timeout=self.timeout,
            detect=self.detect,
            requires=self.requires,
            provenance=Provenance.of(self.interpreter, self.gevent, self.requires, self.requires_newest),
        )

    def replace(self, **changes: Any) -> "PlannedCell":
        return dataclasses.replace(self, **changes)
