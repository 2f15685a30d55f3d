"""A cell's record as its spec and the machine make it: the part every record has (base_record), and the
whole record of a cell decided without a run (without_run). Apart from the supervisor, so the harness can
make a record without importing the supervisor, and the supervisor and its server share one definition."""

import functools
import os
import platform
import time
from typing import Any, Dict

from .. import __version__
from ..model import record
from ..model.cellspec import CellSpec


@functools.lru_cache(maxsize=None)
def host() -> Dict[str, Any]:
    """The machine, for provenance; platform.platform() reads the interpreter binary, so once per server."""
    return {
        "os": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "hangmatrix": __version__,
        "hostname": platform.node(),
    }  # which machine ran the cell, when shards run on many


def base_record(spec: CellSpec, verdict_name: str = "", signature: str = "") -> record.Record:
    """The Record of a cell with what the spec (a CellSpec) and the machine say; a run adds the rest."""
    prov = spec.provenance
    return record.Record(
        id=spec.id,
        case=spec.case.name,
        config=spec.config["name"],
        start=spec.start,
        python=prov.python,
        gevent=prov.gevent,
        greenlet=prov.greenlet,
        verdict=verdict_name,
        signature=signature,
        provenance=dict(
            prov.to_json(),
            case_path=spec.case.path,
            case_sha256=spec.case.sha256,
            case_what=spec.case.what,
            **_at_home(spec.case),
            **host(),
        ),  # tables need no case file
        recorded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        detect=spec.detect,
        timeout_s=spec.timeout,
    )


def _at_home(case):
    """How the case ran as at home, where it says: its working folder, command, arguments and variables."""
    given = {"case_cwd": case.cwd, "case_cmd": list(case.cmd), "case_args": list(case.args)}
    given["case_env"] = dict(case.env)
    return {k: v for k, v in given.items() if v}


def without_run(spec: CellSpec, verdict_name: str, reason: str) -> record.Record:
    """The Record of a cell decided before launch (unsupported start method, broken case, env-error)."""
    return base_record(spec, verdict_name, reason)
