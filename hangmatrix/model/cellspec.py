"""The cell spec: everything a supervisor needs to run one cell, and everything a record says about where
the cell ran. The harness (hangmatrix.run.runner) makes it, sends its JSON over the supervisor server's
socket (hangmatrix.run.server), and the supervisor the server forks for the cell reads it back with
`from_json` and runs it (hangmatrix.run.supervisor): one definition for both sides. A cell decided
without a run (env-error, unsupported, a broken case) has a spec too, with no argv: its record is made
from the spec alone.

What the supervisor in turn tells the processes of the cell is another contract, written down in
hangmatrix.run.cellside.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

JSON = Dict[str, Any]


@dataclass(frozen=True)
class CaseRef:
    """What the supervisor and the injected code need of a case (hangmatrix.model.cases.Case)."""

    name: str
    path: str
    sha256: str
    endless: bool = False
    expect: str = ""
    progress: Tuple[str, ...] = ()
    workers: Tuple[str, ...] = ()
    marked: bool = True
    stdin: str = ""
    what: str = ""  # recorded (provenance.case_what), so a table made from records needs no case file
    cwd: str = ""  # the working folder the program runs in, as at home ("": the cell's own, as before 0.2)
    cmd: Tuple[str, ...] = ()  # a command case's words, as given (argv is them with `python` the cell's)
    args: Tuple[str, ...] = ()  # a file case's arguments
    env: Tuple[Tuple[str, str], ...] = ()  # variables the case sets in its environment

    @classmethod
    def of(cls, case: Any) -> "CaseRef":
        return cls(
            case.name,
            case.path,
            case.sha256,
            case.endless,
            case.expect,
            tuple(case.progress),
            tuple(case.workers),
            case.marked,
            case.stdin,
            case.what,
            getattr(case, "cwd", ""),
            tuple(getattr(case, "cmd", ())),
            tuple(getattr(case, "args", ())),
            tuple(sorted(dict(getattr(case, "env", {}) or {}).items())),
        )


@dataclass(frozen=True)
class Provenance:
    """Where a cell ran: its interpreter and environment. Fields of an environment that was never built
    (an env-error, a cell decided before launch) are None and left out of the JSON."""

    python: str
    python_short: str
    implementation: str
    build: str
    interpreter: str
    interpreter_source: str
    default_start: str
    gevent: str
    greenlet: str = ""
    packages: JSON = field(default_factory=dict)
    requires: Tuple[str, ...] = ()
    requires_newest: bool = False
    env_python: Optional[str] = None
    env_path: Optional[str] = None
    resolved_as_of: Optional[str] = None
    requires_resolved: Optional[JSON] = None
    requires_as_of: Optional[str] = None

    @classmethod
    def of(
        cls,
        interp: Any,
        gevent: str,
        requires: Tuple[str, ...] = (),
        requires_newest: bool = False,
        env: Any = None,
    ) -> "Provenance":
        """The provenance of a cell on interpreter `interp` (an envs.Interpreter), in `env` (an envs.Env)
        once it is built."""
        built = (
            {}
            if env is None
            else {
                "greenlet": env.greenlet,
                "packages": env.packages,
                "env_python": env.python,
                "env_path": env.path,
                "resolved_as_of": env.resolved_as_of,
                "requires_resolved": env.requires_resolved or {},
                "requires_as_of": env.requires_as_of,
            }
        )
        return cls(
            python=interp.version,
            python_short=interp.short,
            implementation=interp.implementation,
            build=interp.build,
            interpreter=interp.path,
            interpreter_source=interp.source,
            default_start=interp.default_start,
            gevent=env.gevent if env else gevent,
            requires=tuple(env.requires if env else requires),
            requires_newest=env.requires_newest if env else bool(requires_newest),
            **built,
        )

    def to_json(self) -> JSON:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CellSpec:
    """One cell as the supervisor runs it. argv is empty for a cell decided without a run."""

    id: str
    case: CaseRef
    config: JSON  # a parsed configuration (hangmatrix.model.configs.parse)
    start: str
    timeout: float
    detect: bool
    provenance: Provenance
    requires: Tuple[str, ...] = ()
    memory: Optional[int] = None  # the cell's memory cap in bytes (run.plan.memory_cap; None only for no run)
    argv: Tuple[str, ...] = ()  # the env's python and the staged program
    inject: str = ""  # the staged hangmatrix.inject folder (PYTHONPATH of the cell)
    root: str = ""  # the root filesystem the cell runs chrooted in ("" for the host)
    tmp_base: str = ""  # where the supervisor makes the cell's folder
    writable: Tuple[str, ...] = ()  # folders a sealed cell may write besides its own (settings.writable)
    keep: str = "full"  # what the store keeps of the record (record.KEEP_*): nothing it drops is worth making

    def to_json(self) -> JSON:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(
            case=dataclasses.asdict(self.case),
            provenance=self.provenance.to_json(),
            requires=list(self.requires),
            argv=list(self.argv),
            writable=list(self.writable),
        )
        out["case"].update(
            progress=list(self.case.progress),
            workers=list(self.case.workers),
            cmd=list(self.case.cmd),
            args=list(self.case.args),
            env=[list(kv) for kv in self.case.env],
        )
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CellSpec":
        """The spec from its JSON (ValueError naming the first missing field)."""
        try:
            case = dict(data["case"])
            case.update(
                {k: tuple(case.get(k, ())) for k in ("progress", "workers", "cmd", "args")},
                env=tuple(tuple(kv) for kv in case.get("env", ())),
            )
            prov = dict(data["provenance"])
            prov["requires"] = tuple(prov.get("requires", ()))
            values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
            values.update(
                case=CaseRef(**case),
                provenance=Provenance(**prov),
                requires=tuple(data.get("requires", ())),
                argv=tuple(data.get("argv", ())),
                writable=tuple(data.get("writable", ())),
            )
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise ValueError("not a cell spec: %s" % exc) from None

    def replace(self, **changes: Any) -> "CellSpec":
        return dataclasses.replace(self, **changes)
