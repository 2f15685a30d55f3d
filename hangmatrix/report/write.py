"""Every format of the table written to one folder (`hangmatrix run --table`, `hangmatrix table --out`)."""

import os

from .html import html
from .markdown import markdown
from .stamp import stamp
from .tabular import csv_text, json_text


def write_all(records, folder):
    """compat.md, compat.html, compat.csv and compat.json (trimmed, see tabular.trimmed) in folder;
    returns {format: path}. Each file is replaced whole, never left half-written."""
    records = list(records)
    os.makedirs(folder, exist_ok=True)
    st = stamp(records)
    out = {}
    for fmt, name, text in (
        ("md", "compat.md", markdown(records, st)),
        ("html", "compat.html", html(records, st)),
        ("csv", "compat.csv", csv_text(records)),
        ("json", "compat.json", json_text(records, st, trim=True)),
    ):
        path = os.path.join(folder, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        out[fmt] = path
    return out
