"""The whole device (UART pins, engine, core) in Verilator, driven through its pins.

One Verilator build per (configuration, baud divisor), cached by ``build_core``.
"""

import json

import pytest

from spikeforge.config import CoreConfig
from spikeforge.rtl.top import Top
from spikeforge.sim.verilator import build_core, run_cocotb

pytestmark = [pytest.mark.sim]

CONFIG = CoreConfig(neurons=8, inputs=6, lanes=4)
CLK_HZ = 12_000_000


def run_top(config, divisor, test, tmp_path, **env):
    baud = CLK_HZ // divisor
    top_name = f"top_d{divisor}"
    build_dir = build_core(config, top=Top(config, CLK_HZ, baud), top_name=top_name)
    extra = {"SPIKEFORGE_TB_LINK": json.dumps({"clk_hz": CLK_HZ, "baud": baud}),
             "COCOTB_TEST_FILTER": test}
    extra.update({key: str(value) for key, value in env.items()})
    return run_cocotb(config, build_dir, "spikeforge.sim.tb_top", top_name=top_name,
                      extra_env=extra, results_dir=tmp_path)


@pytest.mark.parametrize("divisor", [4, 13])
def test_top_protocol_through_pins(divisor, tmp_path):
    assert run_top(CONFIG, divisor, "top_protocol", tmp_path) == (1, 0)


def test_top_serial_device_round_trip_matches_twin(tmp_path):
    assert run_top(CONFIG, 4, "top_serial_device", tmp_path, SPIKEFORGE_TB_STEPS=30) == (1, 0)


@pytest.mark.fuzz
def test_top_fuzz_corrupt_frames(tmp_path):
    """SPIKEFORGE_FUZZ_FRAMES sets the campaign size (default 2,000 frames)."""
    import os
    frames = int(os.environ.get("SPIKEFORGE_FUZZ_FRAMES", "2000"))
    assert run_top(CONFIG, 4, "top_fuzz", tmp_path, SPIKEFORGE_FUZZ_FRAMES=frames) == (1, 0)


def test_top_bench_link_upload_is_near_line_rate():
    from spikeforge.sim.bench_link import bench_link
    # a WEIGHT region of 4 KiB: large enough that per-frame overhead, not the last
    # acknowledgement, dominates
    result = bench_link(CoreConfig(neurons=32, inputs=32, lanes=8), divisor=4, steps=20)
    assert result["upload_efficiency"] >= 0.9, result
    assert result["run_steps_per_s"] > 0
