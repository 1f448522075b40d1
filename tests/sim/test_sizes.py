"""The largest networks the link must carry, on the simulated board: every board's own default
configuration and N=1024 load and read back in full, and run as the twin does.

The iCEBreaker's weight region (81,920 words) needs more than 16 bits of offset; N=1024, M=64,
L=8 needs more than 17; reading the ULX3S's or N=1024's weights back takes more READ requests
than there are sequence numbers."""

import numpy as np
import pytest

from spikeforge.boards.registry import get_board
from spikeforge.config import CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.model.params import random_inputs, random_network
from spikeforge.rtl.regions import Region, region_depth

pytestmark = [pytest.mark.sim, pytest.mark.slow]

CONFIGS = {
    "icebreaker": lambda: get_board("icebreaker").default_config(),
    "ulx3s": lambda: get_board("ulx3s").default_config(),
    "ecpix5": lambda: get_board("ecpix5").default_config(),
    "tang_nano_9k": lambda: get_board("tang_nano_9k").default_config(),
    "n1024": lambda: CoreConfig(neurons=1024, inputs=64, lanes=8),
}


def run_on(url, config, network, raster):
    with open_device(url, config) as device:
        device.load_network(network)
        back = device.read_network()
        result = device.run(inputs=raster, learn=config.stdp)
        return back, result, device.read_network(), device.read_state()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_largest_networks_load_read_back_and_run_as_the_twin(name):
    config = CONFIGS[name]()
    rng = np.random.default_rng(len(name))
    network = random_network(config, rng, regime="active")
    raster = random_inputs(config, rng, 4, 0.2)
    sim = run_on("sim://", config, network, raster)
    model = run_on("model://", config, network, raster)
    # every word came back as it was written
    assert np.array_equal(sim[0].W, network.W)
    for got, want in ((sim[0], model[0]), (sim[2], model[2])):
        assert np.array_equal(got.W, want.W)
        if config.stdp:
            assert np.array_equal(got.mask, want.mask)
    assert model[1].spikes.any()
    assert np.array_equal(sim[1].spikes, model[1].spikes)
    for key, value in model[3].items():
        assert np.array_equal(sim[3][key], value), key


def test_offsets_beyond_16_bits_are_needed_and_carried():
    """The sizes above are the ones that overflowed a 16-bit offset or a 17-bit address."""
    depths = {name: region_depth(config(), Region.WEIGHT) for name, config in CONFIGS.items()}
    assert depths["icebreaker"] > 1 << 16
    assert depths["n1024"] > 1 << 17
