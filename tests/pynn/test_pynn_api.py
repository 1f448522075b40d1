"""spikeforge.pynn: what PyNN scripts get back, and the error for each construct the core
cannot run."""

import numpy as np
import pytest

pytest.importorskip("neo")


def _drive(sim, n=4, weight=1.0, times=(10.0, 30.0, 50.0), **cell):
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=list(times)), label="src")
    pop = sim.Population(n, sim.IF_curr_exp(**cell), label="pop")
    proj = sim.Projection(src, pop, sim.AllToAllConnector(),
                          sim.StaticSynapse(weight=weight, delay=sim.get_time_step()))
    return src, pop, proj


def test_get_data_is_a_neo_block_in_ms_and_mv_with_a_segment_per_reset(sf_sim):
    import quantities as pq

    sim = sf_sim
    sim.setup(timestep=1.0)
    src, pop, _ = _drive(sim, weight=1.5, cm=0.25, tau_refrac=2.0)
    pop.record(["spikes", "v"])
    src.record("spikes")
    sim.run(40.0)
    sim.run(40.0)                      # a second run continues the same segment
    assert sim.get_current_time() == pytest.approx(80.0)
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(80.0)
    block = pop.get_data()
    assert len(block.segments) == 2
    first, second = block.segments
    assert len(first.spiketrains) == 4
    v = first.filter(name="v")[0]
    assert v.units == pq.mV and v.shape == (80, 4)
    assert v.sampling_period == 1.0 * pq.ms
    # starts at rest, rises towards threshold, resets at each spike
    assert float(v[0, 0]) == pytest.approx(-65.0, abs=0.01)
    assert float(v.max()) < -50.0 + 1e-6 < float(v.max()) + 15.0
    times = first.spiketrains[0].rescale(pq.ms).magnitude
    assert times.size == 3 and np.all(np.diff(times) > 15)
    assert first.spiketrains[0].annotations["source_population"] == "pop"
    # the same inputs after reset: the same spikes and the same trace
    for a, b in zip(first.spiketrains, second.spiketrains):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)
    np.testing.assert_array_equal(v.magnitude, second.filter(name="v")[0].magnitude)
    inputs = src.get_data().segments[0].spiketrains[0].rescale(pq.ms).magnitude
    np.testing.assert_array_equal(inputs, [10.0, 30.0, 50.0])
    # an input at 10 ms arrives after the one-step delay; the spike follows it
    assert 11.0 <= times[0] <= 16.0


def test_weights_convert_from_nanoamperes_through_tau_m_over_cm(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    _, pop, proj = _drive(sim, weight=0.25, tau_m=10.0, cm=0.5)
    sim.run(5.0)
    report = sim.quantization_report()
    # 0.25 nA * 10 ms / 0.5 nF = 5 mV of R I
    assert "weights: 4 non-zero" in str(report)
    w = proj.get("weight", format="array")
    assert w.shape == (1, 4)
    np.testing.assert_allclose(w, 0.25, rtol=0.01)
    rows = proj.get(["weight", "delay"], format="list")
    assert [r[:2] for r in rows] == [(0, j) for j in range(4)]
    assert all(r[3] == 1.0 for r in rows)


def test_connectors_make_the_synapses_pynn_describes(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    a = sim.Population(3, sim.IF_curr_exp(), label="a")
    b = sim.Population(3, sim.IF_curr_exp(), label="b")
    one = sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.3))
    listed = sim.Projection(b, a, sim.FromListConnector([(0, 1, 0.4), (2, 0, 0.5)]))
    arr = sim.Projection(a, a, sim.ArrayConnector(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])),
                         sim.StaticSynapse(weight=0.2))
    rnd = sim.Projection(b, b, sim.FixedProbabilityConnector(0.5), sim.StaticSynapse(weight=0.1))
    sim.run(1.0)
    assert np.array_equal(np.isfinite(one.get("weight", format="array")), np.eye(3, dtype=bool))
    assert sorted((i, j) for i, j, _ in listed.get("weight")) == [(0, 1), (2, 0)]
    np.testing.assert_allclose([w for _, _, w in sorted(listed.get("weight"))], [0.4, 0.5],
                               rtol=0.02)
    assert len(arr) == 2
    assert 0 < len(rnd) < 9


def test_poisson_sources_run_on_the_chip_and_record_when_asked(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    noise = sim.Population(10, sim.SpikeSourcePoisson(rate=50.0), label="noise")
    pop = sim.Population(2, sim.IF_curr_exp(), label="pop")
    sim.Projection(noise, pop, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5))
    noise.record("spikes")
    pop.record("spikes")
    sim.run(1000.0)
    counts = [len(t) for t in noise.get_data().segments[0].spiketrains]
    assert 30 < np.mean(counts) < 70
    assert sum(pop.get_spike_counts().values()) > 0


# -- what the core cannot do ---------------------------------------------------------------

def test_different_excitatory_and_inhibitory_time_constants_are_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    sf_sim.Population(4, sf_sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=10.0))
    with pytest.raises(sf_sim.PyNNError, match=r"tau_syn_E=5 ms and tau_syn_I=10 ms differ; "
                       r"the core has one synaptic time constant per neuron"):
        sf_sim.run(10.0)


@pytest.mark.parametrize("delay", [2.0, 0.5])
def test_a_delay_other_than_one_step_is_an_error(sf_sim, delay):
    sf_sim.setup(timestep=1.0)
    a = sf_sim.Population(2, sf_sim.IF_curr_exp())
    with pytest.raises(sf_sim.PyNNError, match=rf"delay={delay:g} ms is not supported: the core "
                       r"delivers every spike one time step later.*delay=1"):
        sf_sim.Projection(a, a, sf_sim.AllToAllConnector(),
                          sf_sim.StaticSynapse(weight=0.1, delay=delay))


def test_a_listed_delay_other_than_one_step_is_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    a = sf_sim.Population(2, sf_sim.IF_curr_exp())
    sf_sim.Projection(a, a, sf_sim.FromListConnector([(0, 1, 0.1, 3.0)]))
    with pytest.raises(sf_sim.PyNNError, match=r"delay=3 ms is not supported"):
        sf_sim.run(1.0)


def test_a_min_delay_other_than_the_timestep_is_an_error(sf_sim):
    with pytest.raises(sf_sim.PyNNError, match=r"min_delay=2.0 ms: .* the only delay is the "
                       r"timestep \(1 ms\)"):
        sf_sim.setup(timestep=1.0, min_delay=2.0)


def test_more_neurons_than_the_device_holds_is_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    sf_sim.Population(1000, sf_sim.IF_curr_exp(), label="big")
    sf_sim.Population(100, sf_sim.IF_curr_exp(), label="more")
    with pytest.raises(sf_sim.PyNNError, match=r"the network has 1100 neurons; the device "
                       r"model:// holds at most 1024: scale the populations down"):
        sf_sim.run(1.0)


@pytest.mark.parametrize("cell", ["IF_cond_exp", "Izhikevich", "IF_curr_alpha"])
def test_a_cell_type_without_a_mapping_is_an_error(sf_sim, cell):
    sf_sim.setup(timestep=1.0)
    with pytest.raises(sf_sim.PyNNError, match=rf"cell type {cell} has no mapping on the core: "
                       r"spikeforge.pynn runs IF_curr_exp and IF_curr_delta"):
        sf_sim.Population(4, getattr(sf_sim, cell)())


def test_a_pynn_cell_type_object_is_an_error_too(sf_sim):
    cells = pytest.importorskip("pyNN.standardmodels.cells")
    sf_sim.setup(timestep=1.0)
    with pytest.raises(sf_sim.PyNNError, match=r"cell type IF_cond_exp has no mapping"):
        sf_sim.Population(4, cells.IF_cond_exp())


def test_an_inhibitory_weight_with_the_wrong_sign_is_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    a = sf_sim.Population(2, sf_sim.IF_curr_exp())
    with pytest.raises(sf_sim.PyNNError, match=r"inhibitory weights of current-based synapses "
                       r"are negative in PyNN \(got 0.1\)"):
        sf_sim.Projection(a, a, sf_sim.AllToAllConnector(), sf_sim.StaticSynapse(weight=0.1),
                          receptor_type="inhibitory")


def test_changing_the_network_after_run_is_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    sf_sim.Population(2, sf_sim.IF_curr_exp())
    sf_sim.run(1.0)
    with pytest.raises(sf_sim.PyNNError, match=r"creating a Population after the first run is "
                       r"not supported"):
        sf_sim.Population(2, sf_sim.IF_curr_exp())


def test_calls_before_setup_say_so():
    import spikeforge.pynn as sim

    sim.end()
    with pytest.raises(sim.PyNNError, match=r"call sim.setup\(\) first"):
        sim.run(10.0)


def test_if_curr_delta_weights_are_jumps_of_v_in_millivolts(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0, 30.0]), label="src")
    pop = sim.Population(2, sim.IF_curr_delta(), label="pop")
    proj = sim.Projection(src, pop, sim.FromListConnector([(0, 0, 5.0), (0, 1, 20.0)]))
    pop.record(["spikes", "v"])
    sim.run(40.0)
    segment = pop.get_data().segments[0]
    v = segment.filter(name="v")[0].magnitude
    # the input at 10 ms arrives after one step: v of neuron 0 jumps by 5 mV in that step
    assert v[10, 0] == pytest.approx(-65.0, abs=0.01)
    assert v[11, 0] - v[10, 0] == pytest.approx(5.0, rel=0.03)
    # 20 mV crosses the 15 mV to threshold at once, twice
    assert segment.spiketrains[0].size == 0
    np.testing.assert_array_equal(segment.spiketrains[1].magnitude, [12.0, 32.0])
    np.testing.assert_allclose(proj.get("weight", format="array"), [[5.0, 20.0]], rtol=0.03)


def test_pynn_random_distributions_and_sequences_are_drawn_once(sf_sim):
    random = pytest.importorskip("pyNN.random")
    from pyNN.parameters import Sequence

    sim = sf_sim
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(
        spike_times=[Sequence([5.0, 9.0]), Sequence([7.0])]), label="src")
    tau_m = random.RandomDistribution("uniform", (15.0, 25.0), rng=random.NumpyRNG(seed=1))
    pop = sim.Population(5, sim.IF_curr_exp(tau_m=tau_m), label="pop")
    weight = random.RandomDistribution("normal", (0.5, 0.1), rng=random.NumpyRNG(seed=2))
    proj = sim.Projection(src, pop, sim.AllToAllConnector(), sim.StaticSynapse(weight=weight))
    src.record("spikes")
    sim.run(20.0)
    drawn = pop.get("tau_m")
    assert drawn.shape == (5,) and np.all((drawn >= 15.0) & (drawn <= 25.0))
    np.testing.assert_allclose(sim.quantization_report()["tau_m"].asked * 1e3, drawn)
    np.testing.assert_array_equal(pop.get("tau_m"), drawn)
    w = proj.get("weight", format="array")
    assert w.shape == (2, 5) and np.unique(np.round(w, 2)).size > 3
    trains = src.get_data().segments[0].spiketrains
    assert [list(t.magnitude) for t in trains] == [[5.0, 9.0], [7.0]]


def test_setup_config_reaches_the_core_at_pynn_default_timestep(sf_sim):
    sim = sf_sim
    for bits, worst in ((12, 0.03), (16, 0.001)):
        sim.setup(config={"decay_bits": bits})          # PyNN's default timestep, 0.1 ms
        assert sim.get_time_step() == 0.1
        sim.Population(2, sim.IF_curr_exp(), label="pop")
        report = sim.quantization_report()
        error = abs(float(report["tau_m"].used[0]) / 0.02 - 1)
        assert error < worst
        assert (error > 0.01) == (bits == 12)
        sim.end()


def test_get_data_clear_forgets_one_population_only(sf_sim):
    import quantities as pq

    sim = sf_sim
    sim.setup(timestep=1.0)
    src, pop, _ = _drive(sim, weight=1.5, cm=0.25, times=(10.0, 60.0))
    pop.record(["spikes", "v"])
    src.record("spikes")
    sim.run(40.0)
    first = pop.get_data(clear=True).segments[0]
    assert first.spiketrains[0].size == 1
    sim.run(40.0)
    later = pop.get_data().segments[0]
    assert later.t_start == 40.0 * pq.ms
    times = later.spiketrains[0].rescale(pq.ms).magnitude
    assert times.size == 1 and 61.0 <= times[0] <= 66.0
    assert later.filter(name="v")[0].shape == (40, 4)
    # the source was not cleared: both runs, both spikes
    inputs = src.get_data().segments[0].spiketrains[0].rescale(pq.ms).magnitude
    np.testing.assert_array_equal(inputs, [10.0, 60.0])


def test_get_data_without_neo_names_the_extra(sf_sim, monkeypatch):
    import sys

    from spikeforge._extras import MissingExtra

    sim = sf_sim
    sim.setup(timestep=1.0)
    pop = sim.Population(2, sim.IF_curr_exp(), label="pop")
    pop.record("spikes")
    sim.run(10.0)           # running needs no extra
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(MissingExtra) as info:
        pop.get_data()
    assert str(info.value) == ("Population.get_data: the Python package `neo` is not "
                               "installed; pip install 'spikeforge[pynn]' (in a checkout: "
                               "scripts/setup)")


def test_more_spike_sources_than_input_lines_is_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    sf_sim.Population(1100, sf_sim.SpikeSourcePoisson(rate=5.0), label="noise")
    sf_sim.Population(2, sf_sim.IF_curr_exp(), label="pop")
    with pytest.raises(sf_sim.PyNNError, match=r"the network has 1100 spike sources; the device "
                       r"model:// holds at most 1024 input lines"):
        sf_sim.run(1.0)


def test_a_connection_probability_above_one_is_an_error(sf_sim):
    sf_sim.setup(timestep=1.0)
    with pytest.raises(sf_sim.PyNNError, match=r"p_connect=1.5 is not a probability"):
        sf_sim.FixedProbabilityConnector(1.5)


def test_population_views_connect_and_read_a_part_of_a_population(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    src = sim.Population(4, sim.SpikeSourceArray(spike_times=[10.0]), label="src")
    pop = sim.Population(6, sim.IF_curr_exp(cm=0.25, tau_refrac=2.0), label="pop")
    # sources 2 and 3 drive neurons 1, 3 and 5 hard enough to fire them
    proj = sim.Projection(src[2:], pop[1::2], sim.AllToAllConnector(),
                          sim.StaticSynapse(weight=0.8))
    assert len(proj) == 6
    view = pop[[5, 1, 0]]
    view.record(["spikes", "v"])
    sim.run(30.0)
    w = proj.get("weight", format="array")
    assert w.shape == (2, 3)
    np.testing.assert_allclose(w, 0.8, rtol=0.01)
    segment = view.get_data().segments[0]
    assert [t.annotations["source_index"] for t in segment.spiketrains] == [5, 1, 0]
    assert [t.size for t in segment.spiketrains] == [1, 1, 0]
    v = segment.filter(name="v")[0]
    assert v.shape == (30, 3)
    assert list(v.array_annotations["channel_index"]) == [5, 1, 0]
    assert view.get_spike_counts() == {0: 1, 1: 1, 2: 0}
    assert sum(pop.get_spike_counts().values()) == 3
    with pytest.raises(sf_sim.PyNNError, match=r"selects a neuron twice"):
        pop[[1, 1]]


def test_the_quantiser_warnings_reach_the_script_at_the_first_run(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]), label="src")
    pop = sim.Population(1, sim.IF_curr_exp(), label="pop")
    # 0.0005 nA is 10 uV of R I: far below the weight unit set by the 2 nA synapse
    sim.Projection(src, pop, sim.FromListConnector([(0, 0, 2.0)]))
    other = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]), label="other")
    sim.Projection(other, pop, sim.FromListConnector([(0, 0, 0.0005)]))
    with pytest.warns(sim.QuantizationWarning, match=r"quantisation: .*round to zero.*"
                      r"sim.quantization_report\(\)"):
        sim.run(10.0)


def test_counts_are_not_a_pynn_recordable_and_the_error_says_where_they_are(sf_sim):
    sim = sf_sim
    sim.setup(timestep=1.0)
    _, pop, _ = _drive(sim)
    with pytest.raises(sim.PyNNError, match=r"pop: cannot record 'counts' through PyNN .* "
                                            r"Device.run\(counts=True\)"):
        pop.record("counts")
    with pytest.raises(sim.PyNNError, match=r"pop: cannot record 'gsyn_exc'; recordable are "
                                            r"spikes, v"):
        pop.record(["spikes", "gsyn_exc"])
