"""hangmatrix as a pytest plugin (entry point hangmatrix.pytest.plugin): settings, items, runs, judge."""
