"""Whether a cell's record passes as a test: hangmatrix.checks.baseline decides it against the
expectations; a failure's text is what that check says (the cell, the expectation that failed, the
signature), then the diagnosis as `hangmatrix show` prints it (hangmatrix.report.show)."""

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def judge(rec, expectations, store, baseline_file=None):
    """(outcome, text) of a Record. An `unsupported` cell that its expectation allows did not run: skipped, never
    passed. A cell that left processes behind fails whatever its verdict. baseline_file: the project's
    expectations file (None: ./expectations.toml, which acknowledging writes)."""
    from ..checks import baseline
    from ..report import show

    diagnosis = show.render(rec)
    failures = baseline.check([rec], expectations)
    if failures:
        expectation = failures[0].headline  # the diagnosis follows, whole
        return (
            FAILED,
            "%s\n\n%s\n\nif this is the new truth (or to acknowledge a new pass): hangmatrix baseline "
            "--update --records %s%s"
            % (expectation, diagnosis, store, " --baseline %s" % baseline_file if baseline_file else ""),
        )
    survivors = (rec.cleanup or {}).get("survivors")
    if survivors:
        return FAILED, "%s: processes outlived the cell: %s\n\n%s" % (rec.id, survivors, diagnosis)
    if rec.verdict == "unsupported":
        return SKIPPED, "%s: unsupported: %s" % (rec.id, rec.signature)
    return PASSED, ""
