"""Stochastic rounding of the STDP updates, the membrane floor, the weight-dependent
potentiation and winner-take-all on the simulated board (``sim://``, the RTL behind the byte
protocol) against ``model://``: bit-identical spikes, weights, state and step seed after runs
that learn."""

from dataclasses import asdict

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


def learn_on_both(config, seed, **glob):
    """A random network that learns for 300 steps on sim:// and on model://: the spikes, the
    network and the state must be equal; returns model://'s (spikes, network, state) and the
    network it started from."""
    rng = np.random.default_rng(seed)
    network = random_network(config, rng, regime="active", plastic=0.7)
    for name, value in glob.items():
        setattr(network.global_params, name, value)
    raster = random_inputs(config, rng, 300, 0.2)
    sim = run_on("sim://", network, raster, 100)
    model = run_on("model://", network, raster, 100)
    assert model[0].any()
    assert np.array_equal(sim[0], model[0])
    assert not np.array_equal(model[1].W, network.W)          # the run learned
    assert np.array_equal(sim[1].W, model[1].W)
    assert asdict(sim[1].global_params) == asdict(model[1].global_params)
    for key, value in model[2].items():
        assert np.array_equal(sim[2][key], value), key
    return model, network


def test_random_network_with_rounding_and_floor_on_sim_equals_model():
    config = CoreConfig(neurons=40, inputs=24, lanes=8, stochastic_rounding=True,
                        v_floor=True)
    model, network = learn_on_both(config, 21)
    # the step seed advanced twice per step, on the board as in the twin
    assert model[1].global_params.sr_seed != network.global_params.sr_seed
    assert model[1].global_params.v_min == network.global_params.v_min


def test_random_network_with_winner_take_all_and_weight_decay_on_sim_equals_model():
    # one winner per step, and the weight-dependent potentiation rounded down; wta and
    # a_decay travel in the GLOBAL word
    config = CoreConfig(neurons=40, inputs=24, lanes=8, winner_take_all=True,
                        weight_decay=True)
    model, _ = learn_on_both(config, 22, wta=1, a_decay=9)
    assert model[0].sum(axis=1).max() == 1
    assert model[1].global_params.wta == 1 and model[1].global_params.a_decay == 9


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
