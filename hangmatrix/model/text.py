"""Small text helpers shared by parts that must not import each other (requirements, table signatures, the
repeatable options of the command line and the pytest plugin, the words for yes and no)."""

import sys
from typing import Iterable, List, Optional

PREFIX = "hangmatrix: "  # every message the command and the plugin say carries it, once
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def truth(word: str) -> Optional[bool]:
    """True or False for a yes/no word in any case (`flags:thread=0`, HANGMATRIX_DEBIAN_ROOT=1), None for any
    other text: the one reading of such words, for patch flags and settings alike."""
    word = word.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def say(msg: str) -> None:
    """One message line on stderr, with the one prefix; the messages themselves never carry it."""
    print(PREFIX + msg, file=sys.stderr, flush=True)


def split_top_level(text: str, opening: str = "(", closing: str = ")") -> List[str]:
    """Split at commas that stand outside brackets: 'a(b, c), d' -> ['a(b, c)', 'd'] (pieces stripped)."""
    parts: List[str] = []
    depth, current = 0, ""
    for ch in text:
        depth += (ch == opening) - (ch == closing)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def listed(values: Optional[Iterable[str]]) -> List[str]:
    """Repeatable and comma-separated options, flattened (`--config a,b --config c`). A `flags:` config
    keeps its commas: `flags:thread=0,queue=0` is one configuration."""
    out: List[str] = []
    for value in values or []:
        if value.startswith("flags:"):
            out.append(value)
        else:
            out.extend(v.strip() for v in value.split(",") if v.strip())
    return out
