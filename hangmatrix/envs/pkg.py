"""packaging's wheel tags and wheel names, in one place (packaging is a dependency; its versions are read in
hangmatrix.model.versions)."""

from packaging import tags
from packaging.utils import parse_wheel_filename

__all__ = ["tags", "parse_wheel_filename"]
