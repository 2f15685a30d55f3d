"""A project as a case's home (`--project DIR`, a case table's `project`): the folder its programs run in,
and what its cell environment needs from it. Reading only: the project's own distribution name, whether it
is a package (a pyproject.toml with a build system, or a setup.py), and its pyproject's dependencies.
envs/projects.py copies a package for its non-editable install."""

import configparser
import os
import tomllib
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from . import requirements


class ProjectError(ValueError):
    """A project folder that cannot be read; one line."""


@dataclass(frozen=True)
class Project:
    folder: str  # absolute
    name: str  # its distribution name ("" when it names none)
    package: bool  # installable: its cell environment gets it, non-editable, from a copy
    dependencies: Tuple[str, ...] = ()  # [project].dependencies of its pyproject.toml, canonical


def read(folder: str) -> Project:
    """The project in folder (ProjectError: not a folder, a pyproject.toml that is no TOML, a bad dependency)."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        raise ProjectError("the project %s is not a folder" % folder)
    data: Dict[str, Any] = {}  # the pyproject's TOML
    pyproject = os.path.join(folder, "pyproject.toml")
    if os.path.exists(pyproject):
        try:
            with open(pyproject, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ProjectError("%s: %s" % (pyproject, exc)) from None
    table = data.get("project")
    meta: Dict[str, Any] = table if isinstance(table, dict) else {}
    setup = os.path.exists(os.path.join(folder, "setup.py"))
    name = meta.get("name") or (_setup_cfg_name(folder) if setup else "")
    try:
        dependencies = requirements.normalize(meta.get("dependencies") or [])
    except requirements.RequirementError as exc:
        raise ProjectError("%s: [project] dependencies: %s" % (pyproject, exc)) from None
    package = bool(name) and ("build-system" in data or setup)
    return Project(folder, str(name), package, dependencies)


def _setup_cfg_name(folder: str) -> str:
    """The name a setup.py project's setup.cfg gives, else its folder's."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(folder, "setup.cfg"))
    return parser.get("metadata", "name", fallback="") or os.path.basename(folder)
