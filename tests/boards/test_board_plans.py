"""Every board's build plan, generated without running a tool (needs amaranth-boards only)."""

import json
import os
import re
import shutil
import subprocess

import pytest

pytest.importorskip("amaranth_boards")

from spikeforge.boards.build import build, digits_workload, parse_vivado_summary
from spikeforge.boards.registry import BOARDS, get_board
from spikeforge.boards.top import achievable_clock, ecp5_pll, ice40_pll, mmcm_pll
from spikeforge.config import CoreConfig

#: a small core keeps plan generation fast; the sizes of the real boards are built by
#: test_board_synth.py
SMALL = dict(neurons=16, inputs=8)

CONSTRAINTS = {"ice40": "spikeforge.pcf", "ecp5": "spikeforge.lpf", "gowin": "spikeforge.cst",
               "xilinx7": "spikeforge.xdc"}


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_plan_without_tools(board, tmp_path):
    spec = get_board(board)
    config = spec.default_config(**SMALL)
    result = build(board, config, out_dir=tmp_path, do_build=False)
    assert result["built"] is False
    assert CONSTRAINTS[spec.device.family] in result["plan"]
    assert (tmp_path / CONSTRAINTS[spec.device.family]).is_file()
    assert (tmp_path / "build_spikeforge.sh").is_file()
    assert result["config_hash"] == f"0x{config.hash:08x}"
    assert result["clk_hz"] == spec.clk_hz


def test_ecp5_plan_constrains_the_pll_clock(tmp_path):
    build("ulx3s", CoreConfig(**SMALL), out_dir=tmp_path, do_build=False, clk_hz=40e6)
    lpf = (tmp_path / "spikeforge.lpf").read_text()
    assert 'FREQUENCY NET "clk_out" 40000000.0 HZ;' in lpf
    script = (tmp_path / "build_spikeforge.sh").read_text()
    assert "--timing-allow-fail" in script and "spikeforge.report.json" in script


def test_cmod_a7_plan_is_complete_for_vivado(tmp_path):
    """What `spikeforge build --board cmod-a7 --plan-only` writes: every file listed, the Tcl
    for the right part reading every source, the pins and clocks, the build ID."""
    result = build("cmod-a7", CoreConfig(**SMALL), out_dir=tmp_path, do_build=False)
    assert result["plan"] == sorted(path.name for path in tmp_path.iterdir())
    assert result["vivado_command"] == "vivado -mode batch -source build.tcl"
    tcl = (tmp_path / "spikeforge.tcl").read_text()
    assert "create_project -force -name spikeforge -part xc7a35tcpg236-1\n" in tcl
    read = re.findall(r"^(?:add_files|read_xdc) (\S+)$", tcl, re.M)
    assert read == ["spikeforge.v", "spikeforge.xdc"]
    assert all(name in result["plan"] for name in read)
    steps = [line.split()[0] for line in tcl.splitlines()
             if line.split() and line.split()[0] in ("synth_design", "opt_design", "place_design",
                                                     "route_design", "write_bitstream")]
    assert steps == ["synth_design", "opt_design", "place_design", "route_design",
                     "write_bitstream"]
    assert "synth_design -top spikeforge" in tcl
    assert "write_bitstream -force -bin_file spikeforge.bit" in tcl
    assert "open spikeforge.summary.json w" in tcl.split("write_bitstream", 1)[1]
    xdc = (tmp_path / "spikeforge.xdc").read_text()
    for port, pin in (("clk12_0__io", "L17"), ("uart_0__tx__io", "J18"),
                      ("uart_0__rx__io", "J17"), ("button_0__io", "A18")):
        assert f'set_property LOC {pin} [get_ports "{port}"]' in xdc
    # the 12 MHz input and the MMCM's 96 MHz output
    assert 'create_clock -name clk12_0__io -period 83.333' in xdc
    assert 'create_clock -name clk_out -period 10.416' in xdc
    assert "set_property CFGBVS VCCO [current_design]" in xdc
    verilog = (tmp_path / "spikeforge.v").read_text()
    assert "MMCME2_BASE" in verilog and ".CLKFBOUT_MULT_F(56.0)" in verilog \
        and ".CLKOUT0_DIVIDE_F(7.0)" in verilog          # 12 MHz x 56 / 7 = 96 MHz
    build_tcl = (tmp_path / "build.tcl").read_text()
    assert build_tcl.rstrip().endswith("source spikeforge.tcl")
    identity = json.loads((tmp_path / "spikeforge.build_id.json").read_text())
    assert identity["build_id"] == result["build_id"]
    assert identity["config_hash"] == result["config_hash"]
    assert f"build ID {result['build_id']}" in build_tcl


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="needs tclsh (Debian: tcl)")
def test_cmod_a7_build_tcl_runs_every_step(tmp_path):
    """build.tcl under tclsh, every Vivado command recorded instead of run: it finds its own
    folder from elsewhere, and the summary it writes is what the build reads back."""
    plan = tmp_path / "plan"
    build("cmod_a7", CoreConfig(**SMALL), out_dir=plan, do_build=False)
    stub = tmp_path / "stub.tcl"
    stub.write_text(
        "set calls [open [lindex $argv 0] w]\n"
        "proc unknown {args} {\n"
        "    global calls; puts $calls $args; flush $calls\n"
        "    switch -- [lindex $args 0] {\n"
        "        version { return v2099.1 }\n"
        "        get_timing_paths { return path }\n"
        "        get_property { return 0.25 }\n"
        "        get_cells { return {a b c} }\n"
        "    }\n"
        "    return {}\n"
        "}\n"
        "source [lindex $argv 1]\n")
    calls = tmp_path / "calls.txt"
    subprocess.run(["tclsh", str(stub), str(calls), str(plan / "build.tcl")], cwd=tmp_path,
                   check=True, capture_output=True, timeout=60)
    commands = [line.split()[0] for line in calls.read_text().splitlines()]
    order = ["create_project", "add_files", "read_xdc", "synth_design", "opt_design",
             "place_design", "route_design", "write_bitstream"]
    assert [command for command in commands if command in order] == order
    summary = json.loads((plan / "spikeforge.summary.json").read_text())
    assert summary == {"wns_ns": 0.25, "whs_ns": 0.25, "luts": 3, "ffs": 3, "ramb36": 3,
                       "ramb18": 3, "dsp": 3, "vivado": "v2099.1"}
    figures = parse_vivado_summary(summary, 96e6)
    assert figures["timing_met"] is True
    assert figures["fmax_mhz"] == pytest.approx(1e3 / (1e3 / 96 - 0.25))
    assert figures["bram"] == 4.5


def test_vivado_summary_with_negative_slack_is_not_met():
    figures = parse_vivado_summary({"wns_ns": -1.5, "whs_ns": 0.05, "luts": 9000},
                                   96e6)
    assert figures["timing_met"] is False
    assert figures["fmax_mhz"] == pytest.approx(1e3 / (1e3 / 96 + 1.5))
    assert parse_vivado_summary({"wns_ns": None, "whs_ns": None}, 96e6)["fmax_mhz"] is None


def test_icesugar_plan_pins_and_pll(tmp_path):
    result = build("icesugar", out_dir=tmp_path, do_build=False)
    assert result["config"] == get_board("icebreaker").default_config().to_dict()
    assert result["clk_hz"] == 18e6 and result["baud"] == 1_000_000
    pcf = (tmp_path / "spikeforge.pcf").read_text()
    for line in ("set_io clk12_0__io 35", "set_io uart_0__rx__io 4", "set_io uart_0__tx__io 6",
                 "set_io led_0__io 40", "set_io led_1__io 41", "set_io led_2__io 39",
                 "set_frequency clk_out 18.0"):
        assert line in pcf
    script = (tmp_path / "spikeforge.ys").read_text()
    assert 'setattr -set ram_style "huge" m:\\weights0' in script and "-spram" in script
    verilog = "\n".join(path.read_text() for path in tmp_path.glob("*.il"))
    assert "SB_PLL40_PAD" in verilog
    assert sorted(path.name for path in tmp_path.iterdir()) == result["plan"]


def test_icebreaker_spram_recipe_when_forced(tmp_path):
    build("icebreaker", get_board("icebreaker").default_config(**SMALL), out_dir=tmp_path,
          do_build=False, force_spram=True)
    script = (tmp_path / "spikeforge.ys").read_text()
    assert 'setattr -set ram_style "huge" m:\\weights0' in script
    assert "delete t:$meminit_v2 r:MEMID=\\\\weights0 %i" in script
    assert "-spram" in script


def test_icebreaker_pll_takes_the_clock_pad(tmp_path):
    # the 12 MHz pin feeds the PLL directly: an input buffer on it would leave no PLL site
    result = build("icebreaker", get_board("icebreaker").default_config(**SMALL),
                   out_dir=tmp_path, do_build=False, clk_hz=18e6)
    assert result["clk_hz"] == 18e6
    verilog = "\n".join(path.read_text() for path in tmp_path.glob("*.il"))
    assert "SB_PLL40_PAD" in verilog and "SB_PLL40_CORE" not in verilog


@pytest.mark.parametrize("solver, f_in, f_out", [
    (ice40_pll, 12e6, 24e6), (ecp5_pll, 25e6, 40e6), (ecp5_pll, 25e6, 20e6),
    (ecp5_pll, 100e6, 30e6), (ecp5_pll, 100e6, 75e6),
    (mmcm_pll, 12e6, 96e6),
])
def test_pll_makes_the_default_clocks_exactly(solver, f_in, f_out):
    assert solver(f_in, f_out)[0] == f_out


def test_every_default_clock_is_reachable():
    for spec in BOARDS.values():
        assert achievable_clock(spec, spec.clk_hz) == spec.clk_hz


def test_digits_workload_formula():
    config = CoreConfig(neurons=512, inputs=128, lanes=8)
    figures = digits_workload(config, 40e6)
    # E = 0.1*128 + 0.05*512 = 38.4 rows of 64 words, + max(N, M) + the fixed overhead
    from spikeforge.rtl.core import OVERHEAD_BASE
    assert figures["events"] == pytest.approx(38.4)
    assert figures["cycles"] == pytest.approx(38.4 * 64 + 512 + OVERHEAD_BASE)
    assert figures["step_us"] == pytest.approx(figures["cycles"] / 40)


def test_tang_nano_9k_plan_uses_himbaechel_and_apicula(tmp_path):
    result = build("tang_nano_9k", out_dir=tmp_path, do_build=False)
    assert result["config"]["stdp"] is True and result["clk_hz"] == 27e6
    script = (tmp_path / "build_spikeforge.sh").read_text()
    assert "nextpnr-himbaechel" in script and "--vopt family=GW1N-9C" in script
    assert "--vopt cst=spikeforge.cst" in script and "--report spikeforge.report.json" in script
    assert "--freq 27 " in script          # nextpnr times against the core clock
    assert "gowin_pack" in script and "-o spikeforge.fs" in script
    cst = (tmp_path / "spikeforge.cst").read_text()
    assert 'IO_LOC "uart_0__rx__io" 18;' in cst and 'IO_LOC "uart_0__tx__io" 17;' in cst


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="needs tclsh (Debian: tcl)")
def test_cmod_a7_build_with_a_stand_in_vivado(tmp_path, monkeypatch):
    """`spikeforge build --board cmod-a7` where `vivado` is on PATH: a stand-in runs the script
    under tclsh, answering as a routed design with 0.4 ns of slack would; the build reads the
    summary back as fmax and timing met."""
    from spikeforge.boards.cli import format_result
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "stub.tcl").write_text(
        "proc unknown {args} {\n"
        "    switch -- [lindex $args 0] {\n"
        "        write_bitstream { close [open [lindex $args end] w] }\n"
        "        version { return v2099.1 }\n"
        "        get_timing_paths { return path }\n"
        "        get_property { return 0.4 }\n"
        "        get_cells { if {[string match *RAMB36* $args]} { return {a b} }; return a }\n"
        "    }\n"
        "    return {}\n"
        "}\n"
        "source [lindex $argv 0]\n")
    vivado = folder / "vivado"
    vivado.write_text("#!/bin/sh\n"
                      "while [ \"$1\" != -source ]; do shift; done\n"
                      f"exec tclsh {folder / 'stub.tcl'} \"$2\"\n")
    vivado.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    result = build("cmod-a7", CoreConfig(**SMALL), out_dir=tmp_path / "out")
    assert result["built"] and result["timing_met"] is True
    assert result["fmax_mhz"] == pytest.approx(1e3 / (1e3 / 96 - 0.4))
    assert result["bram"] == 2.5 and result["luts"] == 1
    assert (tmp_path / "out" / "spikeforge.bit").is_file()
    rows = dict(format_result(result))
    assert rows["fmax"] == "99.8 MHz (timing met)"
