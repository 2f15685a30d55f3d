"""packaging's versions, wheel tags and wheel names: from packaging itself, else the copy pip always carries."""
try:
    from packaging import tags
    from packaging.utils import parse_wheel_filename
    from packaging.version import InvalidVersion, Version
except ImportError:
    from pip._vendor.packaging import tags
    from pip._vendor.packaging.utils import parse_wheel_filename
    from pip._vendor.packaging.version import InvalidVersion, Version

__all__ = ["tags", "parse_wheel_filename", "InvalidVersion", "Version"]
