"""Stochastic rounding of the STDP updates, the membrane floor, the weight-dependent
potentiation and winner-take-all on the simulated board (``sim://``, the RTL behind the byte
protocol) against ``model://``: bit-identical spikes, weights, state and step seed after runs
that learn."""

import numpy as np
import pytest

from spikeforge.host.device import open_device
from spikeforge.host.demos.song2000 import SONG2000_DEFAULTS, song2000_network
from spikeforge.host.model.params import Network, random_inputs, random_network
from spikeforge.config import CoreConfig

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def run_on(url, network, raster, chunk):
    with open_device(url, network.config) as device:
        device.load_network(network)
        spikes = [device.run(inputs=raster[k:k + chunk], learn=True).spikes
                  for k in range(0, len(raster), chunk)]
        return np.concatenate(spikes), device.read_network(), device.read_state()


def test_random_network_with_rounding_and_floor_on_sim_equals_model():
    config = CoreConfig(neurons=40, inputs=24, lanes=8, stochastic_rounding=True,
                        v_floor=True)
    rng = np.random.default_rng(21)
    network = random_network(config, rng, regime="active")
    raster = random_inputs(config, rng, 300, 0.2)
    sim = run_on("sim://", network, raster, 100)
    model = run_on("model://", network, raster, 100)
    assert model[0].any()
    assert np.array_equal(sim[0], model[0])
    assert not np.array_equal(model[1].W, network.W)          # the run learned
    assert np.array_equal(sim[1].W, model[1].W)
    # the step seed advanced twice per step, on the board as in the twin
    assert model[1].global_params.sr_seed != network.global_params.sr_seed
    assert sim[1].global_params.sr_seed == model[1].global_params.sr_seed
    assert sim[1].global_params.v_min == network.global_params.v_min
    for key, value in model[2].items():
        assert np.array_equal(sim[2][key], value), key


def test_random_network_with_winner_take_all_on_sim_equals_model():
    config = CoreConfig(neurons=24, inputs=16, lanes=4, winner_take_all=True)
    rng = np.random.default_rng(5)
    network = random_network(config, rng, regime="active")
    network.global_params.wta = 1
    raster = random_inputs(config, rng, 300, 0.2)
    sim = run_on("sim://", network, raster, 100)
    model = run_on("model://", network, raster, 100)
    assert model[0].any() and model[0].sum(axis=1).max() == 1
    assert np.array_equal(sim[0], model[0])
    assert not np.array_equal(model[1].W, network.W)          # the run learned
    assert np.array_equal(sim[1].W, model[1].W)
    assert sim[1].global_params.wta == 1
    for key, value in model[2].items():
        assert np.array_equal(sim[2][key], value), key


def test_random_network_with_weight_decay_on_sim_equals_model():
    # the weight-dependent potentiation, rounded down; a_decay travels in the GLOBAL word
    config = CoreConfig(neurons=40, inputs=24, lanes=8, weight_decay=True)
    rng = np.random.default_rng(22)
    network = random_network(config, rng, regime="active", plastic=0.7)
    network.global_params.a_decay = 9
    raster = random_inputs(config, rng, 300, 0.2)
    sim = run_on("sim://", network, raster, 100)
    model = run_on("model://", network, raster, 100)
    assert model[0].any()
    assert np.array_equal(sim[0], model[0])
    assert not np.array_equal(model[1].W, network.W)          # the run learned
    assert np.array_equal(sim[1].W, model[1].W)
    assert sim[1].global_params.a_decay == model[1].global_params.a_decay == 9
    for key, value in model[2].items():
        assert np.array_equal(sim[2][key], value), key


def test_song2000_with_stochastic_rounding_on_sim_equals_model():
    steps = 1500
    rng = np.random.default_rng(3)
    plain = song2000_network(rng)
    config = plain.config.replace(stochastic_rounding=True)
    network = Network(config, plain.neuron_params, plain.global_params, plain.W,
                      plain.mask).validate()
    raster = rng.random((steps, config.inputs)) < SONG2000_DEFAULTS["rate"]
    sim = run_on("sim://", network, raster, 500)
    model = run_on("model://", network, raster, 500)
    down = run_on("model://", plain, raster, 500)
    assert not np.array_equal(model[1].W, network.W)
    assert np.array_equal(sim[1].W, model[1].W)
    assert np.array_equal(sim[0], model[0])
    # the rounding changes what is learned
    assert not np.array_equal(model[1].W, down[1].W)
