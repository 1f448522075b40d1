"""Every example network runs identically on the simulated board and the twin."""

from pathlib import Path

import pytest

from spikeforge.host.device import open_device
from spikeforge.host.formats.netfile import load_network_file
from spikeforge.host.runs.results import compare_backends

pytestmark = [pytest.mark.sim, pytest.mark.slow]

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))
MAX_STEPS = 20_000


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_identical_on_sim_and_model(example):
    spec = load_network_file(example)
    with open_device("model://", spec.config) as model, \
            open_device("sim://", spec.config) as sim:
        # the long learning examples (song2000: 150,000 steps) are compared over a prefix
        difference, records = compare_backends(spec, [("model", model), ("sim", sim)],
                                               steps=min(spec.steps, MAX_STEPS))
    assert difference is None, difference.describe()
    assert records[0].spikes.sum() > 0
    if spec.learn:
        assert (records[0].W_after != records[0].W_before).any()
