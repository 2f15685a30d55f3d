"""The built-in cases: each other file here is a program hangmatrix runs (see hangmatrix/cases.py).

This folder is also the package `hangmatrix.builtin_cases` (setup.py maps it there), so a wheel carries these
files and an installed hangmatrix finds them through the package. Nothing imports this file's siblings."""
