"""The PyNN examples (examples/pynn_*.py) run on the twin."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vogels_abbott_network_sustains_its_activity_on_the_twin(capsys):
    rates = _load("pynn_vogels_abbott").main(["--duration", "600"])
    out = capsys.readouterr().out
    assert "spikeforge (model://): 600 ms" in out and "quantisation at dt = 1 ms" in out
    # the kick ends at 50 ms; both populations still fire in the second half
    for label in ("exc", "inh"):
        assert 1.0 < rates[f"{label} (2nd half)"] < 50.0


def test_stdp_example_potentiates_the_inputs_that_lead_the_neuron(capsys):
    weights, spikes = _load("pynn_stdp").main([])
    assert "weights (nA, from 0.1)" in capsys.readouterr().out
    assert spikes > 10
    np.testing.assert_allclose(weights[:10], 0.2, rtol=0.01)
    assert weights[10:].mean() < 0.1
