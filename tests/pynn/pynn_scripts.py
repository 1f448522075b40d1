"""Scripts written only against the PyNN API: each takes the simulator module (``pyNN.brian2``,
``spikeforge.pynn``) and runs unchanged on either."""

import numpy as np


def poisson_times(n, rate_hz, duration_ms, seed, dt_ms=1.0):
    """Spike times (ms, on the time grid) of ``n`` Poisson trains, one list per train."""
    rng = np.random.default_rng(seed)
    steps = int(duration_ms / dt_ms)
    raster = rng.random((steps, n)) < rate_hz * dt_ms * 1e-3
    return [list(np.flatnonzero(raster[:, k]) * dt_ms + dt_ms) for k in range(n)]


def ei_network(sim, duration=1000.0, n_exc=64, n_inh=16, n_noise=40, seed=1, **setup):
    """A Vogels-Abbott-style E/I network scaled to one core: IF_curr_exp populations driven by
    replayed Poisson input, sparse recurrent excitation and inhibition. Returns spike counts
    and spike times (ms) per neuron of both populations."""
    sim.setup(timestep=1.0, **setup)
    cell = dict(tau_m=20.0, cm=0.25, tau_syn_E=5.0, tau_syn_I=5.0, v_rest=-65.0,
                v_reset=-65.0, v_thresh=-50.0, tau_refrac=2.0)
    exc = sim.Population(n_exc, sim.IF_curr_exp(**cell), label="exc")
    inh = sim.Population(n_inh, sim.IF_curr_exp(**cell), label="inh")
    noise = sim.Population(n_noise, sim.SpikeSourceArray(
        spike_times=poisson_times(n_noise, 20.0, duration, seed)), label="noise")
    rng = np.random.default_rng(seed)

    def mask(n_pre, n_post, p):
        return rng.random((n_pre, n_post)) < p

    def connect(pre, post, p, weight, receptor):
        sim.Projection(pre, post, sim.ArrayConnector(mask(pre.size, post.size, p)),
                       sim.StaticSynapse(weight=weight, delay=1.0), receptor_type=receptor)

    connect(noise, exc, 0.3, 0.16, "excitatory")
    connect(noise, inh, 0.3, 0.14, "excitatory")
    connect(exc, exc, 0.1, 0.04, "excitatory")
    connect(exc, inh, 0.2, 0.1, "excitatory")
    connect(inh, exc, 0.3, -0.2, "inhibitory")
    connect(inh, inh, 0.2, -0.1, "inhibitory")
    exc.record("spikes")
    inh.record("spikes")
    sim.run(duration)
    out = {}
    for pop in (exc, inh):
        trains = pop.get_data().segments[0].spiketrains
        out[pop.label] = [np.asarray(t.rescale("ms").magnitude) for t in trains]
    sim.end()
    return out


def stdp_pair(sim, duration=1000.0, seed=3, **setup):
    """One post neuron driven by 20 inputs through plastic synapses: inputs 0-9 spike a few ms
    before five strong teacher inputs make the neuron fire, inputs 10-19 a few ms after.
    Returns the weights (nA) before and after learning, as read through Projection.get, and the
    number of post spikes."""
    sim.setup(timestep=1.0, **setup)
    period = 50.0
    beats = np.arange(10.0, duration - 10.0, period)
    times = [list(beats - 4.0) for _ in range(10)] + [list(beats + 4.0) for _ in range(10)]
    inputs = sim.Population(20, sim.SpikeSourceArray(spike_times=times), label="inputs")
    teacher = sim.Population(5, sim.SpikeSourceArray(spike_times=list(beats)), label="teacher")
    post = sim.Population(1, sim.IF_curr_exp(tau_m=10.0, cm=0.25, tau_refrac=2.0), label="post")
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.04,
                                            A_minus=0.04),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.2),
        weight=0.1, delay=1.0, dendritic_delay_fraction=0)
    plastic = sim.Projection(inputs, post, sim.AllToAllConnector(), synapse_type=stdp)
    sim.Projection(teacher, post, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=0.2, delay=1.0))
    post.record("spikes")
    before = np.array(plastic.get("weight", format="array"), dtype=float)
    sim.run(duration)
    after = np.array(plastic.get("weight", format="array"), dtype=float)
    spikes = len(post.get_data().segments[0].spiketrains[0])
    sim.end()
    return before, after, spikes
