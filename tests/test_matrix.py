"""The matrix file: the committed one parses, malformed ones fail with one line naming file and fault,
and any valid matrix survives a write/read round trip."""

import tomllib
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hangmatrix.model import matrix, packaged


def test_committed_matrices_parse():
    path = packaged.matrix_path()
    default = matrix.load_matrix(path)
    full = matrix.load_matrix(path, "full")
    assert default.name == "default" and default.gevents == ["default"] and default.pythons == ["discovered"]
    assert full.gevents == ["all"]
    for m in (default, full):
        assert set(m.configs) <= set(matrix.CONFIG_NAMES) and set(m.starts) <= set(matrix.START_NAMES)
        assert m.path == path


@pytest.mark.parametrize(
    "body, fault",
    [
        ("[matrix.default\ncases = 1", "not valid TOML"),
        ("[other]\nx = 1", "no [matrix.NAME] tables"),
        ("[matrix.full]\ncases = ['*']", "no matrix named 'default' (has: full)"),
        ("[matrix.default]\nstarts = ['fork', 'vfork']", "starts: 'vfork' is not one of"),
        ("[matrix.default]\nconfigs = ['patch_everything']", "configs: unknown configuration 'patch_everything'"),
        ("[matrix.default]\nconfigs = ['flags:thread']", "configs: bad patch flag 'thread' in 'flags:thread'"),
        ("[matrix.default]\nconfigs = ['flags:thread=abc']", "configs: bad patch flag 'thread=abc'"),
        ("[matrix.default]\ngevents = ['default', '1.2.2']", "'default' cannot be combined"),
        (
            "[matrix.default]\ngevents = ['newest']",
            "'newest' is not 'default', 'all', installed, old, mid, new or a release",
        ),
        ("[matrix.default]\npythons = ['three']", "'three' is not 'discovered', a version"),
        ("[matrix.default]\ncases = []", "cases must be a non-empty list of strings"),
        ("[matrix.default]\ncases = [1]", "cases must be a non-empty list of strings"),
        ("[matrix.default]\ndebian_root = 'yes'", "debian_root must be true or false"),
        ("[matrix.default]\ngevent = ['1.2.2']", "unknown key 'gevent'"),
    ],
)
def test_corrupt_file_is_one_line_naming_file_and_fault(tmp_path, body, fault):
    path = tmp_path / "matrix.toml"
    path.write_text(body)
    with pytest.raises(matrix.MatrixError) as err:
        matrix.load_matrix(str(path))
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)) and fault in message, message


def test_missing_file(tmp_path):
    with pytest.raises(matrix.MatrixError, match="cannot read"):
        matrix.load_matrix(str(tmp_path / "nope.toml"))


def test_single_strings_are_one_item_lists(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text("[matrix.default]\ngevents = 'all'\npythons = '3.11'\nconfigs = ['flags:thread=false,queue=0']")
    m = matrix.load_matrix(str(path))
    assert m.gevents == ["all"] and m.pythons == ["3.11"] and m.configs == ["flags:thread=false,queue=0"]


def test_spread_picks_oldest_middle_newest_once():
    assert matrix.spread([]) == []
    assert matrix.spread(["1"]) == ["1"]
    assert matrix.spread(["1", "2"]) == ["1", "2"]
    assert matrix.spread(["1", "2", "3", "4", "5"]) == ["1", "3", "5"]


@dataclass(frozen=True)
class FakeInterp:  # only what Matrix.select reads; the real ones come from hangmatrix.envs
    path: str
    version: str

    @property
    def short(self):
        return ".".join(self.version.split(".")[:2])


def test_pairs_expand_per_interpreter():
    py27, py311 = FakeInterp("/x/2.7/bin/python", "2.7.18"), FakeInterp("/x/3.11/bin/python", "3.11.7")
    releases = {py27: ["1.1.0", "1.2.2", "1.5.0", "22.10.2"], py311: ["22.10.1", "26.9.0"]}
    pairs = matrix.Matrix(pythons=["discovered"], gevents=["default"]).pairs([py27, py311], releases.get)
    assert pairs == [(py27, "1.1.0"), (py27, "1.5.0"), (py27, "22.10.2"), (py311, "22.10.1"), (py311, "26.9.0")]
    assert matrix.Matrix(pythons=["3.11"], gevents=["all"]).pairs([py27, py311], releases.get) == [
        (py311, "22.10.1"),
        (py311, "26.9.0"),
    ]
    # explicit releases apply where they install
    assert matrix.Matrix(pythons=["2.7", "/x/3.11/bin/python"], gevents=["1.2.2", "26.9.0"]).pairs(
        [py27, py311], releases.get
    ) == [(py27, "1.2.2"), (py311, "26.9.0")]


def test_positions_name_each_interpreters_own_old_mid_new_release(tmp_path):
    """tox's slices (cells311-geventnew) name a position, not a release: each interpreter gets its own."""
    py27, py311 = FakeInterp("/x/2.7/bin/python", "2.7.18"), FakeInterp("/x/3.11/bin/python", "3.11.7")
    releases = {py27: ["1.1.0", "1.2.2", "1.5.0", "22.10.2"], py311: ["22.10.1", "26.9.0"], "none": []}
    m = matrix.Matrix(gevents=["new", "old", "1.2.2"])
    assert m.gevents_for(py27, releases.get) == ["22.10.2", "1.1.0", "1.2.2"]
    assert m.gevents_for(py311, releases.get) == ["26.9.0", "22.10.1", "1.2.2"]
    assert matrix.Matrix(gevents=["mid"]).gevents_for(py311, releases.get) == ["26.9.0"]  # two releases: mid is new
    assert matrix.Matrix(gevents=["new"]).gevents_for("none", releases.get) == ["new"]  # an env-error later
    assert matrix.Matrix(gevents=["1.2.2"]).gevents_for(py27, None) == ["1.2.2"]  # no lookup without a position
    path = tmp_path / "matrix.toml"
    path.write_text("[matrix.default]\ngevents = ['old', 'new']")
    assert matrix.load_matrix(str(path)).gevents == ["old", "new"]


def test_installed_is_the_release_beside_hangmatrix_else_the_newest(tmp_path):
    """A team's pin: `installed` (and a matrix without a gevents axis) is the release installed beside
    hangmatrix, needing no index; with none installed, each interpreter's newest."""
    py311 = FakeInterp("/x/3.11/bin/python", "3.11.7")
    releases = {py311: ["22.10.1", "24.11.1", "26.9.0"]}
    path = tmp_path / "matrix.toml"
    path.write_text("[matrix.default]\ncases = ['seed_original']")
    m = matrix.load_matrix(str(path))
    assert m.gevents == [matrix.INSTALLED]
    assert m.gevents_for(py311, None, installed="24.11.1") == ["24.11.1"]
    assert m.gevents_for(py311, releases.get) == ["26.9.0"]
    both = matrix.Matrix(gevents=["installed", "26.9.0", "old"])
    assert both.gevents_for(py311, releases.get, installed="26.9.0") == ["26.9.0", "22.10.1"]


names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
matrices = st.builds(
    matrix.Matrix,
    name=names,
    cases=st.lists(st.one_of(names, st.just("*"), names.map(lambda n: n + "*")), min_size=1, max_size=4),
    configs=st.lists(
        st.one_of(
            st.sampled_from(matrix.CONFIG_NAMES),
            st.lists(
                st.tuples(names, st.sampled_from(["0", "1", "true", "False", "yes", "no", "ON", "off"])),
                min_size=1,
                max_size=3,
            ).map(lambda kv: "flags:" + ",".join("%s=%s" % p for p in kv)),
        ),
        min_size=1,
        max_size=4,
    ),
    starts=st.lists(st.sampled_from(matrix.START_NAMES), min_size=1, max_size=4),
    pythons=st.lists(
        st.one_of(
            st.just("discovered"),
            st.from_regex(r"[23]\.\d{1,2}", fullmatch=True),
            names.map(lambda n: "/opt/" + n + "/bin/python"),
        ),
        min_size=1,
        max_size=4,
    ),
    gevents=st.one_of(
        st.just(["default"]),
        st.just(["all"]),
        st.just(["installed"]),
        st.lists(st.from_regex(r"\d{1,2}\.\d{1,2}\.\d(\.post\d)?", fullmatch=True), min_size=1, max_size=4),
    ),
    debian_root=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(matrices)
def test_a_written_matrix_reads_back_as_toml_and_as_a_matrix(tmp_path_factory, m):
    """to_toml writes a table any TOML reader sees as the matrix's own values, which load_matrix takes
    back unchanged (every generated value is valid, flags included)."""
    table = tomllib.loads(m.to_toml())["matrix"][m.name]
    assert {axis: table[axis] for axis in matrix.AXES} == {axis: getattr(m, axis) for axis in matrix.AXES}
    assert table["debian_root"] is m.debian_root
    path = str(tmp_path_factory.mktemp("m") / "matrix.toml")
    with open(path, "w") as f:
        f.write(m.to_toml())
    again = matrix.load_matrix(path, m.name)
    assert again == matrix.Matrix(**dict(m.__dict__, path=path))
