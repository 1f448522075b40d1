"""Every board's build plan, generated without running a tool (needs amaranth-boards only)."""

import pytest

pytest.importorskip("amaranth_boards")

from spikeforge.boards.build import build, digits_workload
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


def test_cmod_a7_plan_is_for_vivado(tmp_path):
    build("cmod_a7", CoreConfig(**SMALL), out_dir=tmp_path, do_build=False)
    assert (tmp_path / "spikeforge.tcl").is_file()
    xdc = (tmp_path / "spikeforge.xdc").read_text()
    assert "L17" in xdc and "J18" in xdc and "J17" in xdc


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
