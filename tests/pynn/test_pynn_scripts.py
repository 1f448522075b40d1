"""The same PyNN scripts on pyNN.brian2 and on spikeforge.pynn (model://, sim://)."""

import numpy as np
import pytest

from spikeforge.host.runs.agreement import spike_agreement

import pynn_scripts


def _raster(trains, steps, dt=1.0):
    raster = np.zeros((steps, len(trains)), dtype=bool)
    for k, times in enumerate(trains):
        raster[np.rint(np.asarray(times) / dt).astype(int), k] = True
    return raster


def test_ei_network_runs_unchanged_on_brian2_and_the_twin_and_agrees(brian2_sim, sf_sim):
    duration = 1000.0
    reference = pynn_scripts.ei_network(brian2_sim, duration=duration)
    core = pynn_scripts.ei_network(sf_sim, duration=duration, device="model://")
    steps = int(duration) + 2
    for label in ("exc", "inh"):
        a = spike_agreement(_raster(reference[label], steps), _raster(core[label], steps))
        print(f"{label}: pyNN.brian2 {a['spikes_reference']} spikes, spikeforge model:// "
              f"{a['spikes_other']}; rate error {100 * a['rate_error_relative']:.1f} %, "
              f"coincidence factor {a['gamma']:.3f}, "
              f"identical {100 * a['identical_fraction']:.1f} %")
        assert a["spikes_reference"] > 100
        assert a["rate_error_relative"] < 0.2
        assert a["gamma"] > 0.5


def test_stdp_script_learns_the_same_direction_on_brian2_and_the_twin(brian2_sim, sf_sim):
    results = {"pyNN.brian2": pynn_scripts.stdp_pair(brian2_sim),
               "model://": pynn_scripts.stdp_pair(sf_sim, device="model://")}
    for name, (before, after, spikes) in results.items():
        early, late = after[:10, 0], after[10:, 0]
        print(f"{name}: {spikes} post spikes; weights 0.1 nA -> early inputs "
              f"{early.mean():.4f} nA, late inputs {late.mean():.4f} nA")
        assert before.shape == after.shape == (20, 1)
        np.testing.assert_allclose(before, 0.1)
        assert spikes > 10
        # inputs that spike before the post neuron grow to w_max = 0.2 nA ...
        np.testing.assert_allclose(early, 0.2, rtol=0.01)
        # ... those after it grow less
        assert late.max() < early.min() - 0.02


@pytest.mark.sim
@pytest.mark.slow
def test_ei_network_is_spike_for_spike_identical_on_model_and_sim(sf_sim):
    twin = pynn_scripts.ei_network(sf_sim, duration=200.0, device="model://")
    board = pynn_scripts.ei_network(sf_sim, duration=200.0, device="sim://")
    total = 0
    for label in ("exc", "inh"):
        assert len(twin[label]) == len(board[label])
        for a, b in zip(twin[label], board[label]):
            np.testing.assert_array_equal(a, b)
            total += len(a)
    print(f"model:// and sim://: {total} spikes, identical")
    assert total > 20


@pytest.mark.sim
@pytest.mark.slow
def test_stdp_script_learns_identical_weights_on_model_and_sim(sf_sim):
    _, twin, spikes_twin = pynn_scripts.stdp_pair(sf_sim, duration=300.0, device="model://")
    _, board, spikes_board = pynn_scripts.stdp_pair(sf_sim, duration=300.0, device="sim://")
    assert spikes_twin == spikes_board > 0
    np.testing.assert_array_equal(twin, board)
    assert not np.allclose(twin, 0.1)
