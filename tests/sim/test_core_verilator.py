"""The core against the twin in Verilator (through cocotb), at the sizes users run.

20 random networks per configuration (8 with stochastic rounding and the membrane floor on, 8
with stochastic rounding, the floor, the weight-dependent potentiation and winner-take-all,
compared word by word, 8 with winner-take-all alone; random networks draw ``wta`` = 1
mostly), 200 steps each with STDP switched on in most steps; after every step the region CRCs of all state (v, i, refractory, spike bits, thresholds, traces,
weights) are compared with the twin's, and after each network every word is read back. The
N=16, M=16, L=8 configuration of the Amaranth-simulator tests is compared word by word after
every step (its networks there cost minutes each; this build compiles in about 35 s of CPU).
"""

import pytest

from spikeforge.config import CoreConfig
from spikeforge.sim.verilator import build_core, run_cocotb

pytestmark = [pytest.mark.sim, pytest.mark.slow]

CONFIGS = {
    "N100_M64_L8": CoreConfig(neurons=100, inputs=64, lanes=8),
    "N256_M64_L8": CoreConfig(neurons=256, inputs=64, lanes=8),
    "N100_M64_L8_sround_floor": CoreConfig(neurons=100, inputs=64, lanes=8,
                                           stochastic_rounding=True, v_floor=True),
    # the weight-dependent term of potentiation with stochastic rounding (a_decay drawn by
    # random_network), with the floor and winner-take-all (wta drawn, mostly 1) as the
    # unsupervised digits recipe builds them; every state word compared after every step
    "N64_M32_L8_decay_wta_sround": CoreConfig(neurons=64, inputs=32, lanes=8,
                                              weight_decay=True, winner_take_all=True,
                                              stochastic_rounding=True, v_floor=True),
    "N64_M32_L4_wta": CoreConfig(neurons=64, inputs=32, lanes=4, winner_take_all=True),
    # the slowest configuration of tests/sim/test_core_amaranth.py (about 20 s of CPU per
    # network there): its random networks run here, every state word compared after every step
    "N16_M16_L8": CoreConfig(neurons=16, inputs=16, lanes=8),
}
NETWORKS = 20
#: fewer networks where a configuration is a variant of one above
FEWER = {"N100_M64_L8_sround_floor": 8, "N64_M32_L8_decay_wta_sround": 8,
         "N64_M32_L4_wta": 8}
#: the comparison after every step: the region CRCs, or every word ("full") for the small one
MODE = {"N16_M16_L8": "full", "N64_M32_L8_decay_wta_sround": "full"}
STEPS = 200


@pytest.mark.parametrize("name", CONFIGS)
def test_core_matches_twin_in_verilator(name, tmp_path):
    config = CONFIGS[name]
    build_dir = build_core(config)
    tests, failures = run_cocotb(
        config, build_dir, "spikeforge.sim.tb_core", results_dir=tmp_path,
        extra_env={"SPIKEFORGE_TB_SEEDS": ",".join(
                       str(seed) for seed in range(FEWER.get(name, NETWORKS))),
                   "SPIKEFORGE_TB_STEPS": str(STEPS),
                   "SPIKEFORGE_TB_MODE": MODE.get(name, "crc")})
    assert (tests, failures) == (1, 0)
