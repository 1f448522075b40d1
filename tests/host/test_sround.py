"""Stochastic rounding of the STDP updates and the membrane floor in the twin: the rounding is
unbiased where rounding down is not, the step seed advances as docs/model.md says, and the
floor holds v up under strong inhibition."""

import numpy as np
import pytest

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.model.params import GlobalParams, Network, NeuronParams, random_network
from spikeforge.host.model.twin import Twin, sr_uniform, stdp_magnitude, xorshift32

SR = CoreConfig(neurons=8, inputs=4, lanes=4, stochastic_rounding=True)


def plain_xorshift32(x):
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def test_uniform_value_follows_the_stated_definition():
    rng = np.random.default_rng(1)
    for _ in range(200):
        seed, row, col = int(rng.integers(1, 1 << 32)), int(rng.integers(0, 2048)), \
            int(rng.integers(0, 1024))
        want = plain_xorshift32(plain_xorshift32(seed ^ (row << 11 | col))) >> 16
        assert sr_uniform(seed, row, col) == want
        assert sr_uniform(np.int64(seed), np.array([row]), np.array([col]))[0] == want


def test_magnitude_at_the_ends_of_the_shift_range():
    # shift 0 drops nothing: never rounded up
    assert stdp_magnitude(37, 0, 0) == 37
    # shift 31: only the top 16 bits of the dropped fraction count
    product = (1 << 31) - 1
    assert stdp_magnitude(product, 31, 0xFFFF) == 0
    assert stdp_magnitude(product, 31, 0xFFFE) == 1
    # an exact multiple never rounds up, whatever u is
    assert stdp_magnitude(5 << 7, 7, 0) == 5


@pytest.mark.parametrize("product, shift", [(3, 4), (1, 3), (77, 8), (5, 12), (1000, 20)])
def test_stochastic_rounding_is_unbiased_and_rounding_down_is_not(product, shift):
    # the synapses of 64 rows x 32 columns over 40 learning steps' seeds
    seed = 0x2545F491
    rows = np.arange(64)[:, None]
    cols = np.arange(32)[None, :]
    changes = []
    for _ in range(40):
        seed = xorshift32(xorshift32(seed))
        changes.append(stdp_magnitude(product, shift, sr_uniform(seed, rows, cols)))
    changes = np.array(changes)
    exact = product / 2 ** shift
    frac = exact - np.floor(exact)
    # 81,920 draws: the standard error of the mean is sqrt(f (1-f) / n) < 0.002
    stderr = np.sqrt(max(frac * (1 - frac), 1e-9) / changes.size)
    if shift <= 16:
        assert abs(changes.mean() - exact) < 5 * stderr + 1e-12
    else:
        # only the top 16 bits of the fraction count: the mean is the fraction cut to 16 bits
        assert abs(changes.mean() - np.floor(exact * 2 ** 16) / 2 ** 16) < 5 * stderr + 1e-6
    assert set(np.unique(changes)) <= {int(np.floor(exact)), int(np.floor(exact)) + 1}
    assert (product >> shift) == np.floor(exact)
    assert exact - (product >> shift) == pytest.approx(frac)   # rounding down loses it all


def network(config, **glob):
    n = Network(config, NeuronParams.default(config, refrac=0), GlobalParams.default(
        config, **glob), np.zeros((config.rows, config.neurons), dtype=np.int64))
    return n.validate()


def test_depression_by_a_fraction_of_a_unit_is_unbiased_in_the_twin():
    # y = 100, a_minus = 3, shift 10: each arrival depresses by 300/1024 = 0.29 units on
    # average; all 4 inputs arrive in every step, no neuron spikes
    config = CoreConfig(neurons=32, inputs=64, lanes=8, stochastic_rounding=True)
    net = network(config, a_minus=3, a_plus=0, stdp_shift=10, y_inc=0, alpha_y=0)
    net.mask[:] = True
    net.neuron_params.thr[:] = config.v_range[1]
    net.W[:] = 50
    steps = 20
    twin = Twin(net)
    for t in range(steps):
        twin.y[:] = 100
        twin.step(np.ones(config.inputs, dtype=bool), learn=True)
    loss = 50 - twin.W[config.neurons:]
    assert loss.mean() == pytest.approx(steps * 300 / 1024, rel=0.03)
    # with floor rounding (a core without the feature) nothing moves at all
    plain = CoreConfig(neurons=32, inputs=64, lanes=8)
    down = network(plain, a_minus=3, a_plus=0, stdp_shift=10, y_inc=0, alpha_y=0)
    down.mask[:] = True
    down.neuron_params.thr[:] = plain.v_range[1]
    down.W[:] = 50
    twin_down = Twin(down)
    for t in range(steps):
        twin_down.y[:] = 100
        twin_down.step(np.ones(plain.inputs, dtype=bool), learn=True)
    assert (twin_down.W == 50).all()


def test_seed_advances_twice_per_learning_step_only():
    net = network(SR, sr_seed=12345)
    twin = Twin(net)
    twin.step(learn=False)
    assert twin.sr_seed == 12345 and twin.state_dict()["sr_seed"] == 12345
    twin.step(learn=True)
    assert twin.sr_seed == plain_xorshift32(plain_xorshift32(12345))
    assert twin.network.global_params.sr_seed == twin.sr_seed   # the GLOBAL word follows
    twin.load_state({"sr_seed": 7})
    assert twin.sr_seed == 7


def test_bad_seed_and_floor_give_clear_errors():
    with pytest.raises(ConfigError, match=r"sr_seed=4294967296 is out of range 0\.\.4294967295"):
        network(SR, sr_seed=1 << 32)
    with pytest.raises(ConfigError, match="v_min=-5 is out of range .*no membrane floor"):
        network(SR, v_min=-5)
    floor = CoreConfig(neurons=4, inputs=2, lanes=4, v_floor=True)
    with pytest.raises(ConfigError, match="v_min=.* is out of range"):
        network(floor, v_min=floor.v_range[1] + 1)
    assert network(floor).global_params.v_min == floor.v_range[0]


def test_floor_holds_v_under_strong_inhibition():
    config = CoreConfig(neurons=6, inputs=4, lanes=4, v_floor=True)
    v_min = -2000
    net = network(config, v_min=v_min, w_shift=config.max_w_shift)
    net.W[:] = config.weight_range[0]
    net.neuron_params.alpha_v[:] = (1 << config.decay_bits) - 1
    twin = Twin(net)
    lowest = []
    for _ in range(20):
        twin.step(np.ones(config.inputs, dtype=bool))
        lowest.append(int(twin.v.min()))
    assert min(lowest) == v_min
    assert twin.i.min() == config.i_range[0]
    # the same network without a floor goes to the bottom of the range
    plain = CoreConfig(neurons=6, inputs=4, lanes=4)
    net = network(plain, w_shift=plain.max_w_shift)
    net.W[:] = plain.weight_range[0]
    net.neuron_params.alpha_v[:] = (1 << plain.decay_bits) - 1
    twin = Twin(net)
    for _ in range(20):
        twin.step(np.ones(plain.inputs, dtype=bool))
    assert twin.v.min() == plain.v_range[0]


def test_random_networks_draw_the_new_words_only_when_built():
    # configurations without the flags draw the same networks as before
    plain = CoreConfig(neurons=5, inputs=3, lanes=4)
    a = random_network(plain, np.random.default_rng(9))
    assert a.global_params.v_min == plain.v_range[0]
    both = CoreConfig(neurons=5, inputs=3, lanes=4, stochastic_rounding=True, v_floor=True)
    seeds = {random_network(both, np.random.default_rng(s)).global_params.sr_seed
             for s in range(10)}
    assert len(seeds) > 5 and 0 not in seeds
