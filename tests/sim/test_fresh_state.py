"""A freshly opened device holds the documented power-on state on every backend, and
reset("all") brings every backend to the same state."""

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.device.base import power_on_network
from spikeforge.host.model.params import random_network
from spikeforge.rtl.regions import Region, region_depth, unpack_region

pytestmark = [pytest.mark.sim, pytest.mark.slow]

CONFIGS = [CoreConfig(neurons=20, inputs=8, lanes=4),
           CoreConfig(neurons=12, inputs=4, lanes=4, stdp=False)]


def regions(device):
    config = device.config
    return {region: device.read_region(region) for region in Region
            if region_depth(config, region)}


@pytest.mark.parametrize("config", CONFIGS, ids=["stdp", "no-stdp"])
def test_fresh_and_reset_devices_agree_on_every_backend(config):
    seen = {}
    for url in ("model://", "sim://"):
        with open_device(url, config) as device:
            fresh = regions(device)
            run = device.run(steps=10, probes=(0, 1))
            network = random_network(config, np.random.default_rng(3), regime="active")
            device.load_network(network)
            device.run(steps=5)
            device.reset("all")
            seen[url] = fresh, run, regions(device)
    (model_fresh, model_run, model_reset), (sim_fresh, sim_run, sim_reset) = seen.values()
    assert model_fresh == sim_fresh
    assert model_reset == sim_reset
    np.testing.assert_array_equal(model_run.spikes, sim_run.spikes)
    np.testing.assert_array_equal(model_run.probes["v"], sim_run.probes["v"])
    # the documented power-on state: zero everywhere but the STDP weight bounds
    glob = unpack_region(config, Region.GLOBAL, model_fresh[Region.GLOBAL])
    if config.stdp:
        assert (glob.pop("w_min"), glob.pop("w_max")) == config.weight_range
    assert not any(glob.values())
    assert power_on_network(config).global_params.w_shift == 0
    assert not any(model_fresh[Region.WEIGHT]) and not any(model_fresh[Region.PARAM])
