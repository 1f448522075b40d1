"""The network as written, in Brian2 (continuous time, floats), against the core."""

import numpy as np
import pytest

import spikeforge as sf

URL = "model://?kernel=numpy"


def _core(net, duration, record=()):
    with sf.open(URL, net) as session:
        return session.run(duration, record=list(record), learn=False)


@pytest.mark.parametrize("tau_syn, weight, extra", [
    ((5e-3, 10e-3), 0.02, {}),
    ((2e-3, 4e-3), 0.05, {}),
    ((5e-3, 10e-3), 0.02, {"reset": "subtract"}),
    ((5e-3, 10e-3), 0.02, {"theta_inc": 3e-3, "tau_th": 50e-3}),
])
def test_single_neurons_follow_the_continuous_model(tau_syn, weight, extra):
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_physical import brian2_physical_run

    # the second neuron has tau_syn == tau_m in the first case
    pop = sf.Population(2, tau_m=[20e-3, 10e-3], tau_syn=list(tau_syn), v_thresh=-50e-3,
                        t_ref=3e-3, **extra)
    src = sf.SpikeSourceArray([[0.005, 0.006, 0.007, 0.030, 0.031, 0.032, 0.033], [0.050]])
    net = sf.Network(sf.Projection(src, pop, sf.AllToAll(), weight=weight), dt=1e-3)
    raster, v = brian2_physical_run(net, 0.08, record_v=True)
    result = _core(net, 0.08, record=[pop])
    assert result.spikes.sum() >= 2
    np.testing.assert_array_equal(raster, result.spikes)
    # the traces differ by the core's rounding only: well under a millivolt
    assert np.abs(v - result.v(pop)).max() < 2e-4


def test_bias_driven_neurons_follow_the_continuous_model():
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_physical import brian2_physical_run

    pop = sf.Population(2, tau_m=[20e-3, 10e-3], tau_syn=[5e-3, 10e-3], v_thresh=-50e-3,
                        t_ref=3e-3, bias=[0.02, 0.03])
    raster, v = brian2_physical_run(sf.Network(pop, dt=1e-3), 0.1, record_v=True)
    result = _core(sf.Network(pop, dt=1e-3), 0.1, record=[pop])
    assert result.spikes.sum() >= 10
    np.testing.assert_array_equal(raster, result.spikes)
    # the bias reaches the right steady state; its rise differs by under a millivolt
    assert np.abs(v - result.v(pop)).max() < 1e-3


def test_ei_network_agrees_with_brian2():
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_physical import brian2_physical_run
    from spikeforge.host.runs.agreement import spike_agreement

    rng = np.random.default_rng(0)
    noise = sf.SpikeSourceArray([np.sort(rng.uniform(0, 0.5, 15)) for _ in range(30)])
    exc, inh = sf.Population(40, label="exc"), sf.Population(10, tau_m=10e-3, label="inh")
    net = sf.Network(
        sf.Projection(noise, exc, sf.FixedProbability(0.3, seed=1), weight=12e-3),
        sf.Projection(noise, inh, sf.FixedProbability(0.3, seed=2), weight=8e-3),
        sf.Projection(exc, inh, sf.FixedProbability(0.2, seed=3), weight=6e-3),
        sf.Projection(inh, exc, sf.FixedProbability(0.3, seed=4), weight=-10e-3), dt=1e-3)
    reference = brian2_physical_run(net, 0.5)
    pair = spike_agreement(reference, _core(net, 0.5).spikes, 2)
    assert pair["spikes_reference"] > 50
    assert abs(pair["spikes_other"] - pair["spikes_reference"]) <= 0.05 * pair["spikes_reference"]
    assert pair["gamma"] > 0.8


def test_host_drawn_poisson_inputs_are_replayed_in_brian2():
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_physical import brian2_physical_run

    pop = sf.Population(3, tau_m=20e-3, tau_syn=5e-3)
    noise = sf.SpikeSourcePoisson(5, rate_hz=100, on_chip=False, seed=3)
    net = sf.Network(sf.Projection(noise, pop, sf.AllToAll(), weight=0.02), dt=1e-3)
    raster = brian2_physical_run(net, 0.3)
    result = _core(net, 0.3)
    assert result.spikes.sum() > 5
    np.testing.assert_array_equal(raster, result.spikes)


def test_stdp_as_written_changes_a_weight_by_the_pair_rule():
    """A plastic input spikes once, a strong fixed input then makes the neuron fire: the
    plastic weight grows by A_plus exp(-lag / tau_plus) (no post spike before the pre spike,
    so no depression), with the lag from the input's time to the spike's."""
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_physical import brian2_physical_run

    pop = sf.Population(1, tau_m=10e-3, tau_syn=5e-3, v_thresh=-50e-3, t_ref=2e-3)
    plastic_src = sf.SpikeSourceArray([[0.010]])
    drive = sf.SpikeSourceArray([[0.014]])
    rule = sf.Stdp(tau_plus=20e-3, tau_minus=20e-3, A_plus=1e-3, A_minus=1.2e-3, w_min=0.0,
                   w_max=10e-3)
    learned_proj = sf.Projection(plastic_src, pop, sf.AllToAll(), weight=2e-3, stdp=rule)
    net = sf.Network(learned_proj, sf.Projection(drive, pop, sf.AllToAll(), weight=0.1),
                     dt=1e-3)
    raster, learned = brian2_physical_run(net, 0.05, learn=True)
    (spike_step,) = np.flatnonzero(raster[:, 0])
    # the input of step 10 is emitted at 9 ms; the spike of step s is stamped s ms
    lag = (spike_step - 9) * 1e-3
    assert spike_step >= 14
    assert learned[learned_proj][0, 0] == pytest.approx(2e-3 + 1e-3 * np.exp(-lag / 20e-3))
    # without learning the weights are not returned and stay as given
    assert np.array_equal(brian2_physical_run(net, 0.05), raster)
