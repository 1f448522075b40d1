"""Each phase of the core against its equations in docs/model.md, in Amaranth's simulator.

Every test loads a random network and state into a small core, shapes the parameters so that
one step exercises one phase (and the others leave its result alone), runs the step and checks
the state read back against a direct numpy transcription of that phase's equations — written
here from docs/model.md, not taken from the twin's step.
"""

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.host.model.params import random_network
from spikeforge.host.model.twin import Twin, sr_uniform, stdp_magnitude, xorshift32
from spikeforge.rtl.regions import Region, unpack_region
from spikeforge.sim.differential import randomize_state

pytestmark = pytest.mark.sim

CONFIGS = {
    "N10_M5_L4": CoreConfig(neurons=10, inputs=5, lanes=4),
    "N6_M3_L2_B1_sround_floor": CoreConfig(neurons=6, inputs=3, lanes=2, banks=1,
                                           stochastic_rounding=True, v_floor=True),
    "N10_M5_L4_decay_sround": CoreConfig(neurons=10, inputs=5, lanes=4, weight_decay=True,
                                         stochastic_rounding=True),
}
#: phase B also with winner-take-all (wta = 1; the other phases' transcriptions are without it)
PHASE_B_CONFIGS = {**CONFIGS, "N9_M3_L4_wta": CoreConfig(neurons=9, inputs=3, lanes=4,
                                                         winner_take_all=True)}
SEEDS = range(3)


def run_one_step(simulate, twin, inputs, learn):
    """Load ``twin`` (network and state) into a core, run one step, return what it holds."""
    c = twin.config

    async def body(driver):
        await driver.load(twin)
        await driver.step(np.flatnonzero(inputs), learn=learn)
        held = {region: unpack_region(c, region, await driver.read_region(region))
                for region in (Region.STATE, Region.WEIGHT, Region.XTRACE, Region.YTRACE,
                               Region.XINTRACE, Region.POISSON_STATE)
                if region != Region.POISSON_STATE or c.has_poisson}
        return held

    return simulate(c, body)


# -- docs/model.md, "Helper functions", transcribed ------------------------------------------

def dec(x, a, frac_bits):
    """x * a / 2^F rounded toward zero."""
    p = np.asarray(x, dtype=np.int64) * np.asarray(a, dtype=np.int64)
    return np.where(p >= 0, p >> frac_bits, -((-p) >> frac_bits))


def sat(x, low, high):
    return np.clip(x, low, high)


def clampw(w, g):
    return np.clip(w, g.w_min, g.w_max)


def rounding_uniforms(config, state):
    """The stochastic-rounding draws u[r, j] of every synapse for the generator ``state`` of a
    learning phase, or None when the core rounds the updates down."""
    if not config.stochastic_rounding:
        return None
    rows = np.arange(config.neurons + config.inputs)[:, None]
    cols = np.arange(config.neurons)[None, :]
    return sr_uniform(state, rows, cols)


def setup(config, seed):
    """A random network and state, as a twin holding them (the twin only carries the arrays
    to load)."""
    rng = np.random.default_rng(seed)
    network = random_network(config, rng)
    return rng, network


def load(network, rng, **state):
    twin = Twin(network)
    randomize_state(twin, rng)
    for name, value in state.items():
        getattr(twin, name)[:] = value
    return twin


@pytest.mark.parametrize("name", PHASE_B_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_phase_b_neuron_update(simulate, name, seed):
    """Phase B with no weights (acc = 0): decay, integrate, fire, reset, every trace; with
    winner-take-all the global reset and one winner."""
    c = PHASE_B_CONFIGS[name]
    N, M, F = c.neurons, c.inputs, c.decay_bits
    rng, network = setup(c, seed)
    network.W = np.zeros_like(network.W)
    g = network.global_params
    g.poisson_on = 0
    if c.v_floor:
        g.v_min = int(rng.integers(c.v_range[0], 0))
    wta = c.winner_take_all
    held_state = {}
    if wta:
        # several candidates with low thresholds; without the global reset in one seed
        g.wta = 1
        network.neuron_params.thr[rng.random(N) < 0.5] = c.v_range[0] // 2
        held_state["r"] = np.where(rng.random(N) < 0.6, 0, rng.integers(1, 4, N))
        if seed == 1:
            held_state["s"] = np.zeros(N, dtype=bool)
    twin = load(network, rng, **held_state)
    inputs = rng.random(M) < 0.5
    start = {name: np.array(getattr(twin, name), dtype=np.int64)
             for name in ("v", "i", "r", "s", "theta", "x", "y", "xin")}
    held = run_one_step(simulate, twin, inputs, learn=False)

    p = network.neuron_params
    v_low, v_high = c.v_range
    i_low, i_high = c.i_range
    top = (1 << c.trace_bits) - 1
    v, i, r, s = start["v"], start["i"], start["r"], start["s"]
    theta = start["theta"] if c.adaptive_threshold else np.zeros(N, dtype=np.int64)
    i1 = sat(dec(i, p.alpha_i, F) + 0 * (1 << g.w_shift) + p.bias, i_low, i_high)
    v_min = g.v_min if c.v_floor else v_low
    if wta and s.any():
        v = p.v_reset                                 # the global reset
    refractory = r > 0
    v_int = np.maximum(sat(dec(v, p.alpha_v, F) + i1, v_low, v_high), v_min)
    v1 = np.where(refractory, v, v_int)
    th = sat(p.thr + theta, v_low, v_high)
    candidate = ~refractory & (v1 >= th)
    spike = candidate
    if wta and candidate.any():
        # the largest margin, the lowest index on a tie
        margin = np.where(candidate, v1 - th, -1)
        spike = np.arange(N) == np.flatnonzero(margin == margin.max())[0]
    r1 = np.where(refractory, r - 1, np.where(spike, p.refrac, 0))
    v_spike = np.where(p.reset_sub.astype(bool), sat(v1 - th, v_low, v_high), p.v_reset)
    v2 = np.where(candidate, v_spike, v1)

    state = held[Region.STATE]
    assert list(state["i"]) == list(i1)
    assert list(state["v"]) == list(v2)
    assert list(state["r"]) == list(r1)
    assert list(state["s"].astype(bool)) == list(spike)
    if c.adaptive_threshold:
        theta1 = sat(dec(theta, p.alpha_th, F) + np.where(spike, p.theta_inc, 0),
                     0, (1 << c.theta_bits) - 1)
        assert list(state["theta"]) == list(theta1)
    y1 = sat(dec(start["y"], g.alpha_y, F) + np.where(spike, g.y_inc, 0), 0, top)
    x1 = sat(dec(start["x"], g.alpha_x, F) + np.where(s != 0, g.x_inc, 0), 0, top)
    xin1 = sat(dec(start["xin"], g.alpha_x, F) + np.where(inputs, g.x_inc, 0), 0, top)
    assert list(held[Region.YTRACE]) == list(y1)
    assert list(held[Region.XTRACE]) == list(x1)
    assert list(held[Region.XINTRACE]) == list(xin1)


def _quiet(network, c):
    """Neurons that integrate acc exactly (i' = sat(acc)) and cannot fire (all refractory)."""
    p = network.neuron_params
    p.alpha_i[:] = 0
    p.bias[:] = 0
    network.global_params.w_shift = 0
    return {"r": np.full(c.neurons, (1 << c.refrac_bits) - 1)}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_phase_a_delivery_and_depression(simulate, name, seed):
    """Phase A: acc_j = sum of W[r, j] over the arriving rows (last step's spikes, this step's
    inputs), with the weights as at the start of the step; the depression of the arriving
    plastic rows."""
    c = CONFIGS[name]
    N, M = c.neurons, c.inputs
    rng, network = setup(c, seed)
    network.global_params.poisson_on = 0
    twin = load(network, rng, **_quiet(network, c))
    inputs = rng.random(M) < 0.5
    W = np.array(network.W, dtype=np.int64)
    mask = np.array(network.mask, dtype=bool)
    y = np.array(twin.y, dtype=np.int64)
    arriving = np.concatenate([np.array(twin.s, dtype=bool), inputs])
    seed_word = int(twin.sr_seed)
    held = run_one_step(simulate, twin, inputs, learn=True)

    acc = W[arriving].sum(axis=0)
    assert list(held[Region.STATE]["i"]) == list(sat(acc, *c.i_range))
    g = network.global_params
    u = rounding_uniforms(c, xorshift32(seed_word))
    depressed = clampw(W - stdp_magnitude(g.a_minus * y[None, :], g.stdp_shift, u), g)
    expected = np.where(arriving[:, None] & mask, depressed, W)
    assert (held[Region.WEIGHT] == expected).all()


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_phase_c_potentiation(simulate, name, seed):
    """Phase C: for every neuron j that fired and every row r with mask[r, j], W[r, j] grows
    by mag(a_plus * X_r - a_decay * W[r, j]) (a_decay = 0 without weight_decay), X the pre
    traces after phase B; no arriving rows, so phase A changes nothing."""
    c = CONFIGS[name]
    N, M = c.neurons, c.inputs
    rng, network = setup(c, seed)
    p = network.neuron_params
    # about half the neurons fire: a threshold at the bottom of the range, the rest cannot
    fire = rng.random(N) < 0.5
    p.thr[:] = np.where(fire, c.v_range[0], c.v_range[1])
    p.alpha_v[:] = 0
    p.bias[:] = 0
    network.global_params.poisson_on = 0
    if c.weight_decay:       # the weight-dependent term in every network
        network.global_params.a_decay = max(1, network.global_params.a_decay)
    twin = load(network, rng, r=np.zeros(N), s=np.zeros(N))
    if c.adaptive_threshold:
        twin.theta[:] = 0
    W = np.array(network.W, dtype=np.int64)
    mask = np.array(network.mask, dtype=bool)
    seed_word = int(twin.sr_seed)
    held = run_one_step(simulate, twin, np.zeros(M, dtype=bool), learn=True)

    spiked = held[Region.STATE]["s"].astype(bool)
    assert spiked.any()
    X = np.concatenate([held[Region.XTRACE], held[Region.XINTRACE]]).astype(np.int64)
    g = network.global_params
    u = rounding_uniforms(c, xorshift32(xorshift32(seed_word)))
    product = g.a_plus * X[:, None] - g.a_decay * W
    potentiated = clampw(W + stdp_magnitude(product, g.stdp_shift, u), g)
    expected = np.where(spiked[None, :] & mask, potentiated, W)
    assert (held[Region.WEIGHT] == expected).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_phase_0_poisson_sources(simulate, seed):
    """Phase 0: every generator advances one xorshift32 step and fires when its low 16 bits
    are below its rate; an input both pushed and drawn arrives once."""
    c = CoreConfig(neurons=6, inputs=9, lanes=2)
    N, M = c.neurons, c.inputs
    rng, network = setup(c, seed)
    network.poisson_rate = rng.integers(0, 1 << 16, M)
    network.global_params.poisson_on = 1
    state = _quiet(network, c)
    state["s"] = np.zeros(N)
    twin = load(network, rng, **state)
    twin.pstate[:] = rng.integers(1, 1 << 32, M)
    pstate = np.array(twin.pstate, dtype=np.int64)
    pushed = rng.random(M) < 0.5
    W = np.array(network.W, dtype=np.int64)
    held = run_one_step(simulate, twin, pushed, learn=False)

    advanced = xorshift32(pstate)
    assert list(held[Region.POISSON_STATE]) == list(advanced)
    drawn = (advanced & 0xFFFF) < network.poisson_rate
    arriving = pushed | drawn
    acc = W[N:][arriving].sum(axis=0)
    assert list(held[Region.STATE]["i"]) == list(sat(acc, *c.i_range))
