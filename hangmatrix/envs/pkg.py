"""packaging's versions, wheel tags and wheel names, in one place (packaging is a dependency)."""

from packaging import tags
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion, Version

__all__ = ["tags", "parse_wheel_filename", "InvalidVersion", "Version"]
