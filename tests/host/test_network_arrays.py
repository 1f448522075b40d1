"""Arrays of a Network are checked when they are assigned or loaded: floats, NaN and strings
are refused with a message naming the entry, never truncated on upload."""

import numpy as np
import pytest

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.model.params import Network

CONFIG = CoreConfig(neurons=4, inputs=2, lanes=2)


@pytest.mark.parametrize("name", ["W", "mask", "poisson_rate"])
@pytest.mark.parametrize("bad, words", [(1.5, "=1.5 is not an integer"),
                                        (np.nan, "=nan is not an integer"),
                                        (np.inf, "=inf is not an integer")])
def test_assigning_non_integer_arrays_is_refused(name, bad, words):
    network = Network.default(CONFIG)
    value = np.zeros_like(getattr(network, name), dtype=float)
    value.flat[-1] = bad
    with pytest.raises(ConfigError, match=words):
        setattr(network, name, value)
    where = ", ".join(str(k) for k in np.unravel_index(value.size - 1, value.shape))
    with pytest.raises(ConfigError, match=rf"{name}\[{where}\]"):
        setattr(network, name, value)


def test_integral_floats_are_taken_as_integers():
    network = Network.default(CONFIG)
    network.W = np.full(network.shape, 3.0)
    assert network.W.dtype == np.int64 and (network.W == 3).all()


@pytest.mark.parametrize("change, words", [
    (lambda n: setattr(n.neuron_params, "thr", np.full(4, 2.5)), "thr\\[0\\]=2.5 is not an"),
    (lambda n: setattr(n.neuron_params, "bias", [0, 0, float("nan"), 0]), "bias\\[2\\]=nan"),
    (lambda n: setattr(n.global_params, "w_shift", 1.5), "w_shift=1.5 must be an integer"),
    (lambda n: setattr(n.global_params, "poisson_on", None), "poisson_on=None must be an"),
])
def test_load_network_refuses_non_integer_parameters(change, words):
    network = Network.default(CONFIG)
    change(network)
    with open_device("model://", CONFIG) as device:
        before = device.read_network()
        with pytest.raises(ConfigError, match=words):
            device.load_network(network)
        np.testing.assert_array_equal(device.read_network().neuron_params.thr,
                                      before.neuron_params.thr)   # nothing was written
