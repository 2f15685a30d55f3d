"""The one version model (hangmatrix.model.versions), against hand-written expectations: patterns as
baselines and case headers write them, PEP 440 versions as the package index and interpreters report them,
and X.Y."""

import pytest

from hangmatrix.model import cases, versions


@pytest.mark.parametrize(
    "version, pattern, want",
    [
        ("3.11.7", "*", True),
        ("3.11.7", "3.11", True),
        ("3.11.7", "3.1", False),
        ("3.11.7", "3.11.7", True),
        ("3.11.7", "3.11.8", False),
        ("3.14.0rc1", "3.14", True),
        ("3.11.7", "3.1*", True),
        ("3.9.18", "3.1*", False),
        ("3.11.7", ">=3.8,<3.14", True),
        ("3.14.0rc1", "<3.14", False),
        ("3.10.13", "<=3.10", True),
        ("3.10.13", ">3.10", False),
        ("3.10.13", "!=3.10", False),
        ("24.2.1", ">=20.0", True),
        ("1.5a3", ">=20.0", False),
        ("24.2.1", "==24.2", True),
        ("not-a-version", "3.11", False),
    ],
)
def test_matches(version, pattern, want):
    assert versions.matches(version, pattern) is want


@pytest.mark.parametrize(
    "pattern, want",
    [("*", True), ("3.11", True), ("3.1*", True), (">=20.0,<24", True), ("", False), ("x.y", False)]
    + [(">=x", False), ("=>3", False), (">=3.8,", False)],
)
def test_valid_pattern(pattern, want):
    assert versions.valid_pattern(pattern) is want


@pytest.mark.parametrize(
    "header, version, want",
    [
        ("", "2.7.18", True),
        (">=3.2", "3.11.7", True),
        (">=3.2", "3.2.0", True),
        (">=3.2", "3.1.5", False),
        (">=3.2", "2.7.18", False),
        ("<3", "2.7.18", True),
        ("<3", "3.0.1", False),
        ("<3.8", "3.7.17", True),
        ("<3.8", "3.8.0rc1", False),
        (">= 3.12", "3.12.0a7", True),
        ("~=3.8", "2.7.18", True),  # not a header the case format reads: no constraint
    ],
)
def test_case_supports(header, version, want):
    assert cases.Case(name="c", path="c.py", sha256="", python=header).supports(version) is want


def test_pep440_order_and_prereleases():
    assert sorted(["1.10.0", "1.9", "1.10.0rc1", "1.1.post1", "1.1"], key=versions.parse) == [
        "1.1",
        "1.1.post1",
        "1.9",
        "1.10.0rc1",
        "1.10.0",
    ]
    assert versions.prerelease("24.0b1") and versions.prerelease("1.0.dev3") and not versions.prerelease("24.2.1")
    assert versions.valid("24.2.1") and not versions.valid("24.2.1-custom-build")
    with pytest.raises(versions.Invalid):
        versions.parse("not a version")
    with pytest.raises(ValueError):
        versions.parse("x")


@pytest.mark.parametrize(
    "version, want", [("3.11.7", "3.11"), ("2.7", "2.7"), ("3", "3"), ("3.14.0rc1", "3.14"), ("", ""), (None, "")]
)
def test_short(version, want):
    assert versions.short(version) == want
