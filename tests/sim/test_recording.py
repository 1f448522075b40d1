"""Recording selection (RUN's ``record`` and ``every``): the simulated board sends exactly what
the twin's reference (``Recording.apply``) says, for every mode, on random networks."""

import numpy as np
import pytest

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.model.params import random_inputs, random_network
from spikeforge.rtl.regions import Region

pytestmark = [pytest.mark.sim, pytest.mark.slow]

CONFIG = CoreConfig(neurons=20, inputs=8, lanes=4)

#: (record, every, counts, probes) of each mode
MODES = {
    "all": ("all", 1, False, (3,)),
    "set": ([0, 2, 3, 7, 19], 1, False, (3,)),
    "none": ("none", 1, False, (3, 11)),
    "every3-probes": ("all", 3, False, (1, 5)),
    "counts-every5": ([1, 4, 5, 6, 13, 19], 5, True, (2,)),
    "counts-all-every4": ("all", 4, True, ()),
}


def run_modes(url, network, raster):
    results = {}
    with open_device(url, CONFIG) as device:
        device.load_network(network)
        for name, (record, every, counts, probes) in MODES.items():
            device.reset("state")
            results[name] = device.run(inputs=raster, probes=probes, record=record,
                                       every=every, counts=counts)
        device.reset("all")
        results["after-reset"] = device.read_region(Region.RECORD)
    return results


@pytest.mark.parametrize("seed", [0, 1])
def test_sim_sends_what_model_gives_in_every_mode(seed):
    rng = np.random.default_rng(seed)
    network = random_network(CONFIG, rng, regime="active")
    raster = random_inputs(CONFIG, rng, 23, 0.3)
    model = run_modes("model://", network, raster)
    sim = run_modes("sim://", network, raster)
    assert sim["after-reset"] == model["after-reset"] == [0] * CONFIG.neurons
    with open_device("model://", CONFIG) as device:
        device.load_network(network)
        full = device.run(inputs=raster, probes=range(CONFIG.neurons))
    assert full.spikes.sum() > 10
    for name, (record, every, counts, probes) in MODES.items():
        got, want = sim[name], model[name]
        assert np.array_equal(got.spikes, want.spikes), name
        assert np.array_equal(got.recorded, want.recorded), name
        assert np.array_equal(got.probe_steps, want.probe_steps), name
        assert np.array_equal(got.probe_steps, np.arange(every - 1, 23, every)), name
        for probe in ("v", "i"):
            if probes:
                assert np.array_equal(got.probes[probe], want.probes[probe]), (name, probe)
                assert np.array_equal(got.probes[probe],
                                      full.probes[probe][got.probe_steps][:, list(probes)])
        if counts:
            assert got.counts.shape == (23 // every, len(got.recorded))
            assert np.array_equal(got.counts, want.counts), name
            windows = full.spikes[:23 // every * every, got.recorded]
            assert np.array_equal(got.counts, windows.reshape(-1, every, len(got.recorded))
                                  .sum(axis=1))
            assert not got.spikes.any()
        else:
            assert got.counts is None and want.counts is None
            unrecorded = np.setdiff1d(np.arange(CONFIG.neurons), got.recorded)
            assert not got.spikes[:, unrecorded].any()
            assert np.array_equal(got.spikes[:, got.recorded], full.spikes[:, got.recorded])


def test_bad_recording_arguments_are_refused_with_one_line():
    with open_device("model://", CONFIG) as device:
        for kwargs, words in [({"record": [20]}, "out of range"),
                              ({"record": "0-x"}, "indices"),
                              ({"every": 0}, "every=0"),
                              ({"every": 300, "counts": True}, "at most 255")]:
            with pytest.raises(ConfigError, match=words):
                device.run(5, **kwargs)


@pytest.mark.parametrize("url", ["model://", "sim://"])
def test_record_region_is_configuration(url):
    """RECORD: zero at power-on, read back as written, in the region CRC, kept by a state
    RESET, zeroed by RESET with ALL."""
    from spikeforge.rtl.regions import region_crc

    rng = np.random.default_rng(3)
    words = [int(bit) for bit in rng.integers(0, 2, CONFIG.neurons)]
    with open_device(url, CONFIG) as device:
        assert device.read_region(Region.RECORD) == [0] * CONFIG.neurons
        device.write_region(Region.RECORD, words)
        assert device.read_region(Region.RECORD) == words
        assert device.region_crc(Region.RECORD) == region_crc(CONFIG, words)
        assert region_crc(CONFIG, words) != region_crc(CONFIG, [0] * CONFIG.neurons)
        device.write_region(Region.RECORD, [1, 0], offset=4)
        words[4:6] = [1, 0]
        assert device.read_region(Region.RECORD, 3, 4) == words[3:7]
        device.reset("state")
        assert device.read_region(Region.RECORD) == words
        # a run recording a set writes its set into the region
        device.run(3, record=[0, 5])
        assert device.read_region(Region.RECORD) == [int(n in (0, 5))
                                                     for n in range(CONFIG.neurons)]
        device.reset("all")
        assert device.read_region(Region.RECORD) == [0] * CONFIG.neurons
