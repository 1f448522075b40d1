"""The core against the twin in Amaranth's simulator, for small configurations (N <= 16).

Every state word is read back and compared after every step: 2 to 20 random networks of 200
steps per configuration, and named scenarios for the edge cases. N=16, M=16, L=8 simulates
slowest here (about 20 s of CPU per network): it runs 2 networks here, and
tests/sim/test_core_verilator.py runs 20 more of 200 steps on the same configuration,
compared word by word after every step as here.
"""

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.host.model.params import GlobalParams, Network, NeuronParams, random_network
from spikeforge.host.model.twin import Twin
from spikeforge.rtl.regions import Region, region_depth
from spikeforge.sim.differential import randomize_state, run_differential, run_scenario
from spikeforge.sim.driver import CoreSimulation, simulate_core

pytestmark = pytest.mark.sim


CONFIGS = {
    "N1_M0_L1": CoreConfig(neurons=1, inputs=0, lanes=1),
    "N1_M3_L4": CoreConfig(neurons=1, inputs=3, lanes=4),
    "N10_M5_L4_not_multiple": CoreConfig(neurons=10, inputs=5, lanes=4),
    "N16_M16_L8": CoreConfig(neurons=16, inputs=16, lanes=8),
    "N5_M12_L2_more_inputs": CoreConfig(neurons=5, inputs=12, lanes=2),
    "N8_M4_L8_no_learning": CoreConfig(neurons=8, inputs=4, lanes=8, stdp=False,
                                       adaptive_threshold=False, poisson=False),
    "N9_M5_L1_single_port": CoreConfig(neurons=9, inputs=5, lanes=1, banks=1, stdp=False,
                                       single_port_weights=True),
    "N7_M3_L32_narrow": CoreConfig(neurons=7, inputs=3, lanes=32, weight_bits=4, v_bits=12,
                                   i_bits=10, decay_bits=6, refrac_bits=2, trace_bits=4,
                                   theta_bits=5, rate_bits=3),
    # stochastic rounding of the STDP updates and the membrane floor (one bank row per
    # column in the second: the potentiation is rounded in the cycle of its write)
    "N10_M5_L4_sround_floor": CoreConfig(neurons=10, inputs=5, lanes=4,
                                         stochastic_rounding=True, v_floor=True),
    "N6_M0_L8_sround_floor": CoreConfig(neurons=6, inputs=0, lanes=8,
                                        stochastic_rounding=True, v_floor=True),
    "N5_M4_L2_B1_narrow_sround_floor": CoreConfig(
        neurons=5, inputs=4, lanes=2, banks=1, weight_bits=4, v_bits=12, i_bits=10,
        decay_bits=6, refrac_bits=2, trace_bits=4, theta_bits=5, rate_bits=3,
        stochastic_rounding=True, v_floor=True),
    # the weight-dependent term of potentiation (a_decay drawn by random_network): two bank
    # rows per column (the update a stage after the read), one bank row (the update in the
    # cycle of the read), narrow widths with one bank and stochastic rounding
    "N10_M5_L4_decay": CoreConfig(neurons=10, inputs=5, lanes=4, weight_decay=True),
    "N6_M0_L8_decay_sround": CoreConfig(neurons=6, inputs=0, lanes=8, weight_decay=True,
                                        stochastic_rounding=True),
    "N5_M4_L2_B1_narrow_decay_sround": CoreConfig(
        neurons=5, inputs=4, lanes=2, banks=1, weight_bits=4, v_bits=12, i_bits=10,
        decay_bits=6, refrac_bits=2, trace_bits=4, theta_bits=5, rate_bits=3,
        stochastic_rounding=True, v_floor=True, weight_decay=True),
    # winner-take-all (random networks draw wta = 1 mostly): with learning (N=10 and N=1),
    # without the adaptive threshold and with the floor, without learning or inputs, narrow
    # widths
    "N10_M5_L4_wta": CoreConfig(neurons=10, inputs=5, lanes=4, winner_take_all=True),
    "N1_M2_L1_wta": CoreConfig(neurons=1, inputs=2, lanes=1, winner_take_all=True),
    "N6_M3_L2_wta_floor": CoreConfig(neurons=6, inputs=3, lanes=2, adaptive_threshold=False,
                                     v_floor=True, winner_take_all=True),
    "N5_M0_L1_wta_no_learning": CoreConfig(neurons=5, inputs=0, lanes=1, stdp=False,
                                           winner_take_all=True),
    "N5_M4_L2_B1_narrow_sround_wta": CoreConfig(
        neurons=5, inputs=4, lanes=2, banks=1, weight_bits=4, v_bits=12, i_bits=10,
        decay_bits=6, refrac_bits=2, trace_bits=4, theta_bits=5, rate_bits=3,
        stochastic_rounding=True, winner_take_all=True),
}
#: Random networks per configuration: 20 for the smallest, 10 and 6 for the other main small
#: configurations, 2 for N=16, L=8 (the slowest here; the Verilator tests run 20 on it), 4 for
#: the rest (the Verilator tests add 20 each at N=100 and N=256).
NETWORKS = {"N1_M0_L1": 20, "N10_M5_L4_not_multiple": 10, "N16_M16_L8": 2,
            "N10_M5_L4_sround_floor": 6, "N10_M5_L4_decay": 6, "N10_M5_L4_wta": 6}
DEFAULT_NETWORKS = 4
GROUP = 2              # networks per test: short tests spread evenly over the workers
STEPS = 200


@pytest.mark.parametrize("name, group", [
    (name, group) for name in CONFIGS
    for group in range(-(-NETWORKS.get(name, DEFAULT_NETWORKS) // GROUP))])
def test_core_matches_twin_every_step(simulate, name, group):
    config = CONFIGS[name]
    last = min((group + 1) * GROUP, NETWORKS.get(name, DEFAULT_NETWORKS))

    async def body(driver):
        totals = []
        for seed in range(group * GROUP, last):
            totals.append(await run_differential(driver, config, seed=seed, steps=STEPS,
                                                 mode="full"))
        return totals

    totals = simulate(config, body)
    assert sum(t["learning_steps"] for t in totals) > 0


# -- named edge cases -----------------------------------------------------------------------------

SMALL = CoreConfig(neurons=6, inputs=4, lanes=4)


def scenario(simulate, config, raster, learn, *, W=None, mask=None, state=None, neuron=None,
             glob=None):
    network = Network(config, NeuronParams.default(config, **(neuron or {})),
                      GlobalParams.default(config, **(glob or {})),
                      np.zeros((config.rows, config.neurons), dtype=np.int64) if W is None else W,
                      mask)
    twin = Twin(network.validate())
    for name, value in (state or {}).items():
        setattr(twin, name, value)
    spikes = simulate(config, lambda driver: run_scenario(driver, twin, np.asarray(raster),
                                                          learn))
    return network, twin, spikes


def test_core_simultaneous_pre_post(simulate):
    # input 0 drives neuron 0 over threshold in the step it arrives: an arrival and a post
    # spike in the same step count as pre before post (potentiation with the new trace)
    c = SMALL
    W = np.zeros((c.rows, c.neurons), dtype=np.int64)
    W[c.neurons + 0, 0] = 100
    raster = np.zeros((8, c.inputs), dtype=bool)
    raster[[1, 4], 0] = True
    network, twin, spikes = scenario(simulate, c, raster, True, W=W,
                                     neuron={"thr": 100, "refrac": 0},
                                     glob={"w_shift": 3, "a_plus": 200, "a_minus": 0,
                                           "stdp_shift": 4})
    assert spikes[1, 0] and spikes[4, 0]
    assert twin.W[c.neurons + 0, 0] == 127        # potentiated up to the top bound


def test_core_weights_at_both_bounds(simulate):
    c = SMALL
    rng = np.random.default_rng(3)
    W = rng.choice([-128, 127, -100, 100], size=(c.rows, c.neurons))
    raster = rng.random((30, c.inputs)) < 0.5
    network, twin, spikes = scenario(
        simulate, c, raster, True, W=W, neuron={"thr": 50, "refrac": 0, "bias": 30},
        glob={"w_min": -100, "w_max": 100, "a_plus": 255, "a_minus": 255, "stdp_shift": 0,
              "w_shift": 0})
    assert spikes.any()
    assert twin.W.min() >= -128 and twin.W.max() <= 127
    assert (twin.W == 100).any() and (twin.W == -100).any()


def test_core_masked_synapses_do_not_learn(simulate):
    c = SMALL
    rng = np.random.default_rng(4)
    W = rng.integers(-20, 60, size=(c.rows, c.neurons))
    mask = rng.random((c.rows, c.neurons)) < 0.5
    raster = rng.random((40, c.inputs)) < 0.6
    network, twin, spikes = scenario(
        simulate, c, raster, True, W=W, mask=mask,
        neuron={"thr": 80, "refrac": 0, "bias": 20},
        glob={"a_plus": 40, "a_minus": 30, "stdp_shift": 2, "w_shift": 1})
    assert spikes.any()
    assert (twin.W[~mask] == W[~mask]).all()
    assert (twin.W[mask] != W[mask]).any()


def test_core_state_saturates_at_both_ends(simulate):
    c = SMALL
    W = np.zeros((c.rows, c.neurons), dtype=np.int64)
    W[c.neurons:, :3] = 127                       # inputs drive neurons 0..2 up
    W[c.neurons:, 3:] = -128                      # and neurons 3..5 down
    raster = np.ones((12, c.inputs), dtype=bool)  # every input spikes in every step
    low, high = c.v_range
    network, twin, spikes = scenario(
        simulate, c, raster, False, W=W,
        neuron={"thr": high, "alpha_v": (1 << c.decay_bits) - 1,
                "alpha_i": (1 << c.decay_bits) - 1, "refrac": 0},
        glob={"w_shift": c.max_w_shift})
    assert twin.i[:3].max() == c.i_range[1] and twin.i[3:].min() == c.i_range[0]
    assert twin.v[3:].min() == low


def test_core_every_input_spiking_in_one_step(simulate):
    c = CoreConfig(neurons=5, inputs=9, lanes=2)
    rng = np.random.default_rng(5)
    W = rng.integers(-128, 128, size=(c.rows, c.neurons))
    raster = np.zeros((6, c.inputs), dtype=bool)
    raster[[0, 2, 3]] = True
    network, twin, spikes = scenario(simulate, c, raster,
                                     [True, False, True, True, False, True], W=W,
                                     neuron={"thr": 200, "refrac": 1},
                                     glob={"w_shift": 2})
    assert twin.synaptic_ops == (3 * c.inputs + int(spikes[:-1].sum())) * c.neurons


def test_core_membrane_floor_under_strong_inhibition(simulate):
    # every input inhibits with the most negative weight at the largest shift: without the
    # floor v would reach the bottom of its range; with it v stays at v_min
    c = CoreConfig(neurons=6, inputs=4, lanes=4, v_floor=True)
    W = np.full((c.rows, c.neurons), -128, dtype=np.int64)
    raster = np.ones((10, c.inputs), dtype=bool)
    v_min = -3000
    network, twin, spikes = scenario(
        simulate, c, raster, False, W=W,
        neuron={"alpha_v": (1 << c.decay_bits) - 1, "refrac": 0},
        glob={"w_shift": c.max_w_shift, "v_min": v_min})
    assert twin.i.min() == c.i_range[0]           # the current saturates: inhibition is strong
    assert twin.v.min() == v_min                  # and v stops at the floor
    assert not spikes.any()


def test_core_stochastic_rounding_scenario_learns_small_updates(simulate):
    # updates of a fraction of a weight unit: with rounding down nothing would change
    c = CoreConfig(neurons=6, inputs=4, lanes=4, stochastic_rounding=True)
    rng = np.random.default_rng(6)
    W = rng.integers(-20, 60, size=(c.rows, c.neurons))
    raster = rng.random((40, c.inputs)) < 0.6
    network, twin, spikes = scenario(
        simulate, c, raster, True, W=W, neuron={"thr": 80, "refrac": 0, "bias": 20},
        glob={"a_plus": 3, "a_minus": 3, "stdp_shift": 10, "w_shift": 1,
              "sr_seed": 0x1234567})
    assert spikes.any()
    assert (twin.W != W).any()
    # the same run with rounding down changes no weight: every update is below one unit
    assert 3 * ((1 << c.trace_bits) - 1) < (1 << 10)


@pytest.mark.parametrize("sround", [False, True], ids=["rounded_down", "sround"])
def test_core_weight_decay_scenario_pulls_weights_of_both_signs(simulate, sround):
    # every neuron spikes often, weights of both signs: the signed product a_plus * X -
    # a_decay * W is negative for the large weights, so they fall (an arithmetic shift)
    c = CoreConfig(neurons=6, inputs=4, lanes=4, weight_decay=True,
                   stochastic_rounding=sround)
    rng = np.random.default_rng(7)
    W = rng.integers(-128, 128, size=(c.rows, c.neurons))
    raster = rng.random((30, c.inputs)) < 0.5
    network, twin, spikes = scenario(
        simulate, c, raster, True, W=W, neuron={"thr": 60, "refrac": 0, "bias": 40},
        glob={"a_plus": 4, "a_minus": 2, "a_decay": 24, "stdp_shift": 7, "w_shift": 0,
              "alpha_x": 3500, "x_inc": 40, "sr_seed": 0x2468ACE})
    assert spikes.sum() > 30
    # the weights move towards a_plus * X / a_decay = X / 6, at most 255 / 6 = 42
    large = (np.abs(W) > 100) & network.mask & spikes.any(axis=0)[None, :]
    assert large.sum() >= 4
    assert (np.abs(twin.W[large]) < np.abs(W[large])).all()
def test_core_winner_take_all_ties_global_reset_and_learning(simulate):
    # step 0 from rest: neurons 0, 1, 2, 4, 5 reach their thresholds with the margin 10, and
    # the lowest index wins; step 1: the global reset starts every v from v_reset, so neuron
    # 1 (v_reset 40) has the margin 30 and wins, while neuron 0 is refractory. Then random
    # inputs drive learning, one winner per step at most.
    c = CoreConfig(neurons=6, inputs=2, lanes=4, winner_take_all=True)
    rng = np.random.default_rng(9)
    raster = rng.random((30, c.inputs)) < 0.5
    raster[:2] = False
    W = np.zeros((c.rows, c.neurons), dtype=np.int64)
    W[c.neurons:] = rng.integers(0, 4, size=(c.inputs, c.neurons))
    half = 1 << (c.decay_bits - 1)
    network, twin, spikes = scenario(
        simulate, c, raster, True, W=W,
        neuron={"thr": [40, 50, 50, 1000, 50, 50], "bias": [50, 60, 60, 20, 60, 60],
                "v_reset": [-100, 40, 0, 7, 0, 0], "reset_sub": [1, 0, 0, 0, 0, 0],
                "refrac": [2, 3, 3, 3, 0, 0], "alpha_v": half, "alpha_i": 0,
                "theta_inc": 5},
        glob={"wta": 1, "w_shift": 0, "a_plus": 50, "a_minus": 10, "stdp_shift": 4})
    assert spikes[0].tolist() == [True, False, False, False, False, False]
    assert spikes[1].tolist() == [False, True, False, False, False, False]
    assert spikes.sum(axis=1).max() == 1 and spikes[2:].any()
    assert (twin.W != W).any()


def test_a_reused_simulation_starts_every_run_from_power_on():
    """The simulators the tests above share are reset between runs: after a run that loads a
    network and learns, the next run reads what a new simulator reads, the same run again
    gives the same result, and a run that raised leaves no trace in the next."""
    c = CoreConfig(neurons=6, inputs=3, lanes=2, banks=1, stochastic_rounding=True,
                   v_floor=True)
    rng = np.random.default_rng(1)
    twin = Twin(random_network(c, rng))
    randomize_state(twin, rng)

    async def read_all(driver):
        return {region: await driver.read_region(region) for region in Region
                if region_depth(c, region)}

    async def learn(driver):
        await driver.load(twin)
        for _ in range(3):
            await driver.step([0, 2], learn=True)
        return await read_all(driver)

    async def fail(driver):
        await driver.load(twin)
        raise RuntimeError("stopped half-way")

    power_on = simulate_core(c, read_all)
    simulation = CoreSimulation(c)
    learned = simulation.run(learn)
    assert learned != power_on
    assert simulation.run(read_all) == power_on
    assert simulation.run(learn) == learned
    with pytest.raises(RuntimeError, match="half-way"):
        simulation.run(fail)
    assert simulation.run(read_all) == power_on
