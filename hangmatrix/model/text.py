"""Small text helpers shared by parts that must not import each other (requirements, table signatures)."""


def split_top_level(text, opening="(", closing=")"):
    """Split at commas that stand outside brackets: 'a(b, c), d' -> ['a(b, c)', 'd'] (pieces stripped)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == opening) - (ch == closing)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts
