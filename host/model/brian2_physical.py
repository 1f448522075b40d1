"""The network as the user wrote it, in Brian2: continuous time, floats, units.

:func:`brian2_physical_run` builds a :class:`~spikeforge.host.model.network.Network` from its
physical description (not from the core's integers) as one would in Brian2::

    dv/dt     = (v_rest - v + I) / tau_m         (unless refractory)
    dI/dt     = (I_bias - I) / tau_syn
    dtheta/dt = -theta / tau_th
    spike when v >= v_thresh + theta; then v = v_reset (or v -= v_thresh - v_rest + theta),
    theta += theta_inc, refractory for t_ref; an arriving spike adds its weight to I

integrated exactly (Brian2's ``exact`` method) at the network's ``dt``, with the same input
spike times. Learning is off unless ``learn`` is given (the weights are constants: the
network's, or the ``weights`` given, e.g. learned ones read back from a device). With
``learn``, the synapses of projections with ``stdp`` learn by the pair STDP of
:class:`~spikeforge.host.model.quantize.Stdp` as one writes it in Brian2, with traces
decaying in continuous time and no bound on them::

    dapre/dt  = -apre / tau_plus      (event-driven)
    dapost/dt = -apost / tau_minus    (event-driven)
    on a pre spike:  I_post += w;  apre += A_plus;   w = clip(w - apost, w_min, w_max)
    on a post spike: apost += A_minus;  w = clip(w + apre, w_min, w_max)

An input spike of the core's step 0 only sets the starting current (see the timing below),
so it takes no part in STDP. Comparing its spikes with the core's shows what quantisation and the
discrete step do to the network the user meant (:func:`spikeforge.host.runs.agreement.
spike_agreement`); ``brian2_ref`` instead runs the core's own integers in floats.

Poisson sources drawn on the host are replayed spike for spike; those on the core's
generators become Brian2 ``PoissonGroup``s at the same rates: other random draws, so only
rates can be compared then.
"""

import numpy as np

from spikeforge.config import ConfigError

__all__ = ["brian2_physical_run"]


_STDP_MODEL = """
w : volt
dapre/dt = -apre / tau_plus : volt (event-driven)
dapost/dt = -apost / tau_minus : volt (event-driven)
"""
_STDP_PRE = """
I_post += w
apre += A_plus
w = clip(w - apost, w_min, w_max)
"""
_STDP_POST = """
apost += A_minus
w = clip(w + apre, w_min, w_max)
"""


def brian2_physical_run(net, duration, *, weights=None, record_v=False, learn=False):
    """Run ``net`` for ``duration`` seconds in Brian2; returns the ``(steps, N)`` bool spike
    raster at the network's ``dt``, in the core's steps; with ``record_v`` also the membrane
    potential (volts) at the end of every step, ``(steps, N)``; with ``learn`` last the
    learned weights ``{projection: (n_pre, n_post) array}`` in volts (NaN where there is no
    synapse) of every projection with ``stdp``.

    ``weights``: ``{projection: (n_pre, n_post) array}`` in volts replacing the projections'
    weights (NaN where there is no synapse, as :meth:`Session.weights` gives them).
    """
    from .brian2_ref import _import_brian2
    from .network import SpikeSourceArray, SpikeSourcePoisson

    b2 = _import_brian2()
    from brian2 import (Hz, NeuronGroup, PoissonGroup, SpikeGeneratorGroup, SpikeMonitor,
                        Synapses, second, volt)
    from brian2 import Network as B2Network

    compiled = net.compile()
    dt = net.dt
    steps = compiled.steps(duration)
    weights = dict(weights or {})
    pops = net.populations
    n = sum(p.n for p in pops)

    def per_neuron(name):
        return np.concatenate([np.broadcast_to(np.asarray(p.params[name], dtype=float), (p.n,))
                               for p in pops])

    if np.any(per_neuron("tau_syn") <= 0):
        raise ConfigError("the Brian2 model needs tau_syn > 0 for every neuron")
    subtract = np.concatenate([np.full(p.n, p.reset == "subtract") for p in pops])
    # subtractive reset: V drops by the distance from rest to the threshold, as on the core
    reset = ("v = v_reset + subtract * (v - (v_thresh - v_rest) - theta - v_reset); "
             "theta += theta_inc")
    eqs = """
    dv/dt = (v_rest - v + I) / tau_m : volt (unless refractory)
    dI/dt = (I_bias - I) / tau_syn : volt
    dtheta/dt = -theta / tau_th : volt
    v_rest : volt (constant)
    v_reset : volt (constant)
    v_thresh : volt (constant)
    I_bias : volt (constant)
    theta_inc : volt (constant)
    subtract : 1 (constant)
    tau_m : second (constant)
    tau_syn : second (constant)
    tau_th : second (constant)
    t_ref : second (constant)
    """
    b2.defaultclock.dt = dt * second
    b2.prefs.codegen.target = "numpy"
    group = NeuronGroup(n, eqs, threshold="v >= v_thresh + theta", reset=reset,
                        refractory="t_ref", method="exact", dt=dt * second)
    for name in ("v_rest", "v_reset", "v_thresh", "theta_inc"):
        setattr(group, name, per_neuron(name) * volt)
    group.I_bias = per_neuron("bias") * volt
    group.subtract = subtract.astype(float)
    # Brian2's exact solution divides by tau_syn - tau_m: nudge equal ones apart (1e-6)
    tau_m, tau_s = per_neuron("tau_m"), per_neuron("tau_syn")
    tau_s = np.where(np.abs(tau_s - tau_m) < 1e-6 * tau_m, tau_s * (1 + 1e-6), tau_s)
    group.tau_m = tau_m * second
    group.tau_syn = tau_s * second
    # Brian2 frees a refractory neuron one step earlier than the core, which holds V at
    # v_reset for t_ref after the end of the step in which it spiked: with t_ref + dt both hold
    # it equally long (tests/host/test_brian2_physical.py checks spikes and traces)
    group.t_ref = (per_neuron("t_ref") + dt) * second
    group.tau_th = np.maximum(per_neuron("tau_th"), dt) * second
    group.v = per_neuron("v_rest") * volt
    objects = [group]

    # Timing. Brian2's clock step t integrates the state from t to t + dt, then tests the
    # threshold (a spike stamped t means V(t + dt) crossed), then delivers spikes, which act
    # from t + dt on. The core's step k integrates from k dt to (k + 1) dt with the spikes that
    # arrive at its start. So a neuron's spike stamped t is the core's step t / dt, and it
    # reaches its targets at the start of the next step, as on the core; an input spike of
    # the core's step k is emitted at (k - 1) dt, one of step 0 starts the run in I.
    sources, first = {}, {}
    for src in net.sources:
        if isinstance(src, SpikeSourceArray):
            index = np.concatenate([np.full(t.size, k) for k, t in enumerate(src.times)]
                                   + [np.zeros(0)]).astype(int)
            times = np.concatenate(src.times + [np.zeros(0)])
            # one spike per line and step, as on the core
            step = np.rint(times / dt).astype(np.int64)
            _, keep = np.unique(np.stack([index, step]), axis=1, return_index=True)
            index, step = index[keep], step[keep]
            first[src] = index[step == 0]
            later = step > 0
            sources[src] = SpikeGeneratorGroup(src.n, index[later],
                                               (step[later] - 1) * dt * second, dt=dt * second)
        elif compiled.host_drawn(src):        # host-drawn Poisson spikes: replayed exactly
            step, index = np.nonzero(compiled.input_raster(0, steps)[:, compiled.input_slice[src]])
            first[src] = index[step == 0]
            later = step > 0
            sources[src] = SpikeGeneratorGroup(src.n, index[later],
                                               (step[later] - 1) * dt * second, dt=dt * second)
        elif isinstance(src, SpikeSourcePoisson):
            sources[src] = PoissonGroup(src.n, rates=src.rate_hz * Hz, dt=dt * second)
        objects.append(sources[src])

    offsets = {pop: compiled.neuron_slice[pop].start for pop in pops}
    plastic = []
    start_current = np.zeros(n)
    for k, proj in enumerate(net.projections):
        values = weights.get(proj, proj.weight)
        values = np.where(proj.connected, np.nan_to_num(np.asarray(values, dtype=float)), 0.0)
        pre_index, post_index = np.nonzero(proj.connected)
        if pre_index.size == 0:
            continue
        if proj.pre in first:
            post = compiled.neuron_slice[proj.post]
            start_current[post] += values[first[proj.pre]].sum(axis=0)
        pre = group if proj.pre in offsets else sources[proj.pre]
        shift = offsets.get(proj.pre, 0)
        rule = proj.stdp if learn else None
        if rule is None:
            syn = Synapses(pre, group, "w : volt", on_pre="I_post += w", dt=dt * second,
                           name=f"projection_{k}")
        else:
            w_max = rule.w_max if rule.w_max is not None else compiled.report.scales.get(
                "weight_unit_V", 0.0) * compiled.network.config.weight_range[1]
            stdp_namespace = {"tau_plus": rule.tau_plus * second,
                              "tau_minus": rule.tau_minus * second,
                              "A_plus": rule.A_plus * volt, "A_minus": rule.A_minus * volt,
                              "w_min": rule.w_min * volt, "w_max": w_max * volt}
            syn = Synapses(pre, group, _STDP_MODEL, on_pre=_STDP_PRE, on_post=_STDP_POST,
                           dt=dt * second, namespace=stdp_namespace, name=f"projection_{k}")
            plastic.append((proj, syn, pre_index, post_index))
        syn.connect(i=pre_index + shift, j=post_index + offsets[proj.post])
        syn.w = values[pre_index, post_index] * volt
        objects.append(syn)
    group.I = start_current * volt        # from i = 0, plus the inputs of step 0
    monitor = SpikeMonitor(group)
    objects.append(monitor)
    if record_v:
        # recorded before the update of clock step k + 1: V((k + 1) dt), the core's v after
        # its step k
        trace = b2.StateMonitor(group, "v", record=True)
        objects.append(trace)
    network = B2Network(*objects)
    # an explicit namespace: the locals here (tau_m, subtract, ...) are not the model's
    network.run((steps + 1) * dt * second, namespace={})

    raster = np.zeros((steps, n), dtype=bool)
    step = np.rint(np.asarray(monitor.t / second) / dt).astype(np.int64)
    keep = step < steps
    raster[step[keep], np.asarray(monitor.i)[keep]] = True
    out = [raster]
    if record_v:
        out.append(np.asarray(trace.v / volt).T[1:steps + 1])
    if learn:
        learned = {}
        for proj, syn, pre_index, post_index in plastic:
            block = np.full(proj.connected.shape, np.nan)
            block[pre_index, post_index] = np.asarray(syn.w[:] / volt, dtype=float)
            learned[proj] = block
        out.append(learned)
    return out[0] if len(out) == 1 else tuple(out)
