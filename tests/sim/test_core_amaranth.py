"""The core against the twin in Amaranth's simulator, for small configurations (N <= 16).

Every state word is read back and compared after every step.
"""

import pytest
from amaranth.sim import Simulator

from spikeforge.config import CoreConfig
from spikeforge.rtl.core import Core
from spikeforge.sim.differential import run_differential
from spikeforge.sim.driver import AmaranthIO, CoreDriver

pytestmark = pytest.mark.sim


def simulate(config, body):
    dut = Core(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    result = {}

    async def testbench(ctx):
        result["value"] = await body(CoreDriver(config, AmaranthIO(ctx, dut)))

    sim.add_testbench(testbench)
    sim.run()
    return result["value"]


CONFIGS = {
    "N1_M0_L1": CoreConfig(neurons=1, inputs=0, lanes=1),
    "N1_M3_L4": CoreConfig(neurons=1, inputs=3, lanes=4),
    "N10_M5_L4_not_multiple": CoreConfig(neurons=10, inputs=5, lanes=4),
    "N16_M16_L8": CoreConfig(neurons=16, inputs=16, lanes=8),
    "N5_M12_L2_more_inputs": CoreConfig(neurons=5, inputs=12, lanes=2),
    "N8_M4_L8_no_learning": CoreConfig(neurons=8, inputs=4, lanes=8, stdp=False,
                                       adaptive_threshold=False),
    "N7_M3_L32_narrow": CoreConfig(neurons=7, inputs=3, lanes=32, weight_bits=4, v_bits=12,
                                   i_bits=10, decay_bits=6, refrac_bits=2, trace_bits=4,
                                   theta_bits=5, rate_bits=3),
}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", range(3))
def test_core_matches_twin_every_step(name, seed):
    config = CONFIGS[name]
    totals = simulate(config, lambda driver: run_differential(driver, config, seed=seed,
                                                              steps=40, mode="full"))
    assert totals["cycles"] > 0
