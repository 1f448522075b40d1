"""A floating-point Brian2 counterpart of a spikeforge network, as an independent reference.

:func:`brian2_network_run` builds the network of a :class:`~spikeforge.host.model.params.Network`
from Brian2 objects and runs it on an input raster. It is the model of ``docs/model.md`` with
every integer operation replaced by its real-valued counterpart: a decay multiplies by
``alpha / 2^F`` exactly (no rounding toward zero), everything else is the same, including the
order of the operations of a step, the saturation bounds (as real clamps), the refractory hold,
both reset modes and the adaptive threshold. Per step ``t`` and neuron ``j``::

    acc     = sum of W[r, j] over arriving rows r     (inputs of step t, neurons of step t-1)
    i       = clip(alpha_i * i + acc * 2^w_shift + bias)
    if r > 0:  r = r - 1 (v held, no spike)
    else:      v = clip(alpha_v * v + i) (not below v_min with v_floor);  th = clip(thr + theta)
               spike = v >= th
    on spike:  v = clip(v - th) if reset_sub else v_reset;  r = refrac
    theta   = clip(alpha_th * theta + (theta_inc if spike else 0))

With ``learn=True`` the weights learn by float pair STDP written in the core's step order
(docs/model.md, phases A to C)::

    phase A  for every arriving row r and plastic synapse (r, j):
                 W[r, j] = clip(W[r, j] - a_minus * y_j / 2^stdp_shift, w_min, w_max)
             (after its weight entered acc; y_j is the post trace from the start of the step)
    phase B  the neuron update above, then
                 y_j = clip(alpha_y * y_j + (y_inc if j spikes), 0, 2^TB - 1)
                 x_j = clip(alpha_x * x_j + (x_inc if j spiked in step t-1), 0, 2^TB - 1)
                 xin_k = clip(alpha_x * xin_k + (x_inc if input k spikes), 0, 2^TB - 1)
    phase C  for every neuron j that spiked and plastic synapse (r, j):
                 W[r, j] = clip(W[r, j] + a_plus * X_r / 2^stdp_shift, w_min, w_max)
             with X_r the pre trace after phase B (x_r, or xin_k for input row N + k);
             with weight_decay the change is (a_plus * X_r - a_decay * W[r, j]) / 2^stdp_shift

The changes are the exact quotients the core rounds (down, or stochastically to the same
mean); traces saturate where the core's do. With ``rounding="toward_zero"`` the traces decay
rounded toward zero and every change is rounded down, as in a core without stochastic
rounding: the weights then equal the twin's exactly. On-chip Poisson inputs are not modelled
(the input raster must hold every input spike).

How the discrete-time model maps onto Brian2 objects (numpy code generation target, so there
is no compilation wait; a step costs a few code-object calls, enough for the small networks
this reference is meant for):

* a :class:`brian2.NeuronGroup` without differential equations; its state (``v``, ``I``,
  ``acc``, ``theta``, refractory counter ``r``) is advanced by a ``run_regularly`` operation
  every step, and its threshold and reset codes are the spike test and the reset above;
* a :class:`brian2.SpikeGeneratorGroup` emits the input raster (input ``k`` at time ``t*dt``);
* two :class:`brian2.Synapses` (inputs -> neurons, neurons -> neurons), one synapse per
  non-zero weight (and, when learning, per plastic synapse), with ``on_pre: acc_post += w``.

When learning, the inputs are a :class:`brian2.NeuronGroup` that holds the traces ``xin`` and
fires from a :class:`brian2.TimedArray` of the raster (in ``thresholds``, like the generator);
the depression is part of ``on_pre``, and the potentiation is ``on_post``, whose pathway runs
at the ``end`` of the step, after the traces were updated (``after_synapses``), so that a
synapse is depressed and then potentiated within one step, as in the core.

Brian2 schedules a step as ``thresholds, synapses, ..., resets, end``. The input generator
fires in ``thresholds``; both synaptic pathways deliver in ``synapses``; the neuron update runs
``after_synapses`` and the neurons' threshold is moved (``set_event_schedule``) to
``before_resets``. So in step ``t`` the input pathway sees the inputs of step ``t`` and the
recurrent pathway still sees the neurons' spikes of step ``t-1`` (the threshold of step ``t``
has not run yet): inputs arrive in the same step and recurrent spikes exactly one step later,
as in the model, with a synaptic ``delay`` of 0 on both pathways. A pathway with
``delay = dt`` would deliver in step ``t+1`` after that step's update, one step too late.
"""

import numpy as np

from spikeforge.config import ConfigError

__all__ = ["brian2_network_run", "Brian2Unavailable"]


class Brian2Unavailable(ConfigError):
    """Brian2 is not installed or does not import; the message names the fix."""


def _import_brian2():
    from .bench_twin import _import_brian2 as load

    try:
        return load()
    except RuntimeError as error:
        raise Brian2Unavailable(f"the Brian2 reference cannot run: {error}") from None


_UPDATE = """
th = clip(thr + theta, v_low, v_high)
I = clip({i_decay} + acc * scale + bias, i_low, i_high)
acc = 0
free = int(r <= 0)
v = free * clip({v_decay} + I, v_floor, v_high) + (1 - free) * v
{x_update}fired = (free == 1) and (v >= th)
r = r - (1 - free)
theta = {theta_decay}
{y_update}"""

#: trace updates of phase B (learning only): ``x`` uses the spike of the previous step, which
#: ``fired`` still holds before it is computed anew, ``y`` the spike of this step
_X_UPDATE = "x = clip({x_decay} + x_inc * int(fired), 0, trace_top)\n"
_Y_UPDATE = "y = clip({y_decay} + y_inc * int(fired), 0, trace_top)\n"
_XIN_UPDATE = "xin = clip({x_decay} + x_inc * int(stimulus(t, i) > 0.5), 0, trace_top)\n"

#: the decay ``alpha * x`` of each rounding mode (``alpha = a / 2^F``)
_DECAY = {
    "float": "{alpha} * {x}",
    # rounding toward zero, exact in float64 (|x * a| < 2^53)
    "toward_zero": "sign({alpha} * {x}) * floor(abs({alpha} * {x}))",
}

#: the magnitude of an STDP change of each rounding mode: the exact quotient, or rounded down
#: (the products are integers, so the floor is exact; a negative one, of the potentiation with
#: weight_decay, is floored as the core's arithmetic shift floors it)
_CHANGE = {
    "float": "{rate} * {trace} / stdp_scale",
    "toward_zero": "floor({rate} * {trace} / stdp_scale)",
}


def _update_code(rounding, learn=False):
    decay = _DECAY[rounding]
    return _UPDATE.format(
        i_decay=decay.format(alpha="alpha_i", x="I"),
        v_decay=decay.format(alpha="alpha_v", x="v"),
        theta_decay=decay.format(alpha="alpha_th", x="theta"),
        x_update=_X_UPDATE.format(x_decay=decay.format(alpha="alpha_x", x="x")) if learn else "",
        y_update=_Y_UPDATE.format(y_decay=decay.format(alpha="alpha_y", x="y")) if learn else "")


def _depress_code(rounding):
    change = _CHANGE[rounding].format(rate="a_minus", trace="y_post")
    return ("acc_post += w\n"
            f"w = plastic * clip(w - {change}, w_min, w_max) + (1 - plastic) * w")


def _potentiate_code(rounding, trace, decay=False):
    if decay:
        # the signed product of weight_decay, with the weight after this step's depression
        change = _CHANGE[rounding].format(rate="1", trace=f"(a_plus * {trace} - a_decay * w)")
    else:
        change = _CHANGE[rounding].format(rate="a_plus", trace=trace)
    return f"w = plastic * clip(w + {change}, w_min, w_max) + (1 - plastic) * w"

_RESET = """
v = reset_sub * clip(v - th, v_low, v_high) + (1 - reset_sub) * v_reset
r = refrac
theta = clip(theta + theta_inc, 0, theta_top)
"""

_NEURON_MODEL = """
v : 1
I : 1
acc : 1
theta : 1
th : 1
r : integer
fired : boolean
thr : 1 (constant)
v_reset : 1 (constant)
reset_sub : 1 (constant)
refrac : integer (constant)
alpha_v : 1 (constant)
alpha_i : 1 (constant)
bias : 1 (constant)
theta_inc : 1 (constant)
alpha_th : 1 (constant)
"""

_TRACES = """
x : 1
y : 1
"""


def brian2_network_run(network, raster, steps=None, *, dt_ms=1.0, rounding="float",
                       learn=False):
    """Run ``network`` as a floating-point Brian2 model on the input raster.

    Arguments
    ---------
    network : Network
        Parameters, weights and plasticity mask.
    raster : bool array ``(T, M)``
        Input spikes per step (every input spike: on-chip Poisson inputs are not modelled).
    steps : int, optional
        Steps to run (default ``T``; at most ``T``).
    dt_ms : float
        Brian2's time step in ms. The model is discrete, so it only sets the time unit.
    rounding : ``"float"`` or ``"toward_zero"``
        ``"float"`` (the reference): a decay is the real product ``alpha * x`` and an STDP
        change the exact quotient ``rate * trace / 2^stdp_shift``.
        ``"toward_zero"`` rounds every decay toward zero and every STDP change down as the
        hardware does (without stochastic rounding); every value is then an integer held
        exactly in float64, and the spikes (and learned weights) equal the twin's bit for bit
        (a check that the Brian2 network above is the model's network, step order and delays
        included).
    learn : bool
        Apply the float pair STDP above to the synapses of the plasticity mask (needs a
        configuration with ``stdp``); otherwise the weights stay fixed.

    Returns the ``(steps, N)`` bool spike raster; with ``learn`` the pair ``(raster, W)``,
    ``W`` the float ``(N+M, N)`` weights after the run. Raises :class:`Brian2Unavailable` (a
    :class:`ConfigError`) naming the fix when Brian2 is missing.
    """
    network.validate()
    config = network.config
    n, m = config.neurons, config.inputs
    raster = np.asarray(raster, dtype=bool)
    if raster.ndim != 2 or raster.shape[1] != m:
        raise ConfigError(f"input raster has shape {raster.shape}, expected (steps, {m})")
    steps = raster.shape[0] if steps is None else int(steps)
    if not 0 <= steps <= raster.shape[0]:
        raise ConfigError(f"steps={steps} is outside 0..{raster.shape[0]} (the raster's rows)")
    raster = raster[:steps]
    g = network.global_params
    if g.poisson_on and config.has_poisson and np.any(network.poisson_rate > 0):
        raise ConfigError("the network draws on-chip Poisson inputs (poisson_on = 1), which the "
                          "Brian2 reference does not model: set [globals] poisson_on = 0 and "
                          "give the inputs as [inputs] rate or spikes")
    if g.wta and config.winner_take_all:
        raise ConfigError("the network runs winner-take-all (wta = 1), which the Brian2 "
                          "reference does not model: set [globals] wta = 0, or compare the "
                          "model and sim backends only")
    if rounding not in _DECAY:
        raise ConfigError(f"rounding={rounding!r} is unknown: use 'float' or 'toward_zero'")
    if learn and not config.stdp:
        raise ConfigError("learning needs a core built with STDP: set [config] stdp = true or "
                          "run with learning off")
    if steps == 0:
        empty = np.zeros((0, n), dtype=bool)
        return (empty, network.W.astype(float)) if learn else empty

    b2 = _import_brian2()
    from brian2 import ms, prefs

    b2.BrianLogger.suppress_name("base")
    b2.BrianLogger.log_level_error()
    previous_target = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        spikes, W = _build_and_run(network, raster, steps, dt_ms * ms, rounding, learn)
    finally:
        prefs.codegen.target = previous_target
    return (spikes, W) if learn else spikes


def _build_and_run(network, raster, steps, dt, rounding, learn):
    from brian2 import (NeuronGroup, Network as B2Network, SpikeGeneratorGroup, SpikeMonitor,
                        Synapses, TimedArray)

    config = network.config
    n, m = config.neurons, config.inputs
    p, g = network.neuron_params, network.global_params
    scale = float(1 << config.decay_bits)
    v_low, v_high = config.v_range
    i_low, i_high = config.i_range
    adaptive = config.adaptive_threshold
    v_floor = g.v_min if config.v_floor and g.v_min is not None else v_low
    namespace = {
        "v_low": float(v_low), "v_high": float(v_high), "v_floor": float(max(v_floor, v_low)),
        "i_low": float(i_low), "i_high": float(i_high),
        "scale": float(2 ** g.w_shift),
        "theta_top": float((1 << config.theta_bits) - 1),
    }
    if learn:
        namespace.update({
            "trace_top": float((1 << config.trace_bits) - 1),
            "x_inc": float(g.x_inc), "y_inc": float(g.y_inc),
            "alpha_x": g.alpha_x / scale, "alpha_y": g.alpha_y / scale,
            "a_plus": float(g.a_plus), "a_minus": float(g.a_minus),
            "a_decay": float(g.a_decay if config.weight_decay else 0),
            "stdp_scale": float(2 ** g.stdp_shift),
            "w_min": float(g.w_min), "w_max": float(g.w_max),
            "stimulus": TimedArray(raster.astype(float), dt=dt),
        })
    model = _NEURON_MODEL + (_TRACES if learn else "")
    neurons = NeuronGroup(n, model, threshold="fired", reset=_RESET, dt=dt,
                          namespace=namespace, name="spikeforge_neurons*")
    neurons.thr = p.thr.astype(float)
    neurons.v_reset = p.v_reset.astype(float)
    neurons.reset_sub = p.reset_sub.astype(float)
    neurons.refrac = p.refrac
    neurons.alpha_v = p.alpha_v / scale
    neurons.alpha_i = p.alpha_i / scale
    neurons.bias = p.bias.astype(float)
    # without the adaptive threshold theta stays 0, as in the twin
    neurons.theta_inc = p.theta_inc.astype(float) if adaptive else 0.0
    neurons.alpha_th = p.alpha_th / scale if adaptive else 0.0
    neurons.run_regularly(_update_code(rounding, learn), when="after_synapses",
                          name="spikeforge_update*")
    neurons.set_event_schedule("spike", when="before_resets")
    objects = [neurons]

    W = network.W
    mask = network.mask if learn else np.zeros(W.shape, dtype=bool)
    synapse_model = "w : 1\nplastic : 1 (constant)" if learn else "w : 1 (constant)"
    on_pre = _depress_code(rounding) if learn else "acc_post += w"
    pathways = []

    def connect(source, rows, trace, name):
        pre, post = np.nonzero((W[rows] != 0) | mask[rows])
        if not pre.size:
            return
        kwargs = ({"on_post": _potentiate_code(rounding, trace, config.weight_decay)}
                  if learn else {})
        syn = Synapses(source, neurons, synapse_model, on_pre=on_pre, delay=0 * dt,
                       namespace=namespace, name=name, **kwargs)
        syn.connect(i=pre, j=post)
        syn.w = W[rows][pre, post].astype(float)
        if learn:
            syn.plastic = mask[rows][pre, post].astype(float)
            # the potentiation of step t follows that step's trace update
            syn.post.when = "end"
        objects.append(syn)
        pathways.append((syn, rows, pre, post))

    connect(neurons, slice(0, n), "x_pre", "spikeforge_recurrent*")
    times, indices = np.nonzero(raster)
    if m and learn:
        source = NeuronGroup(m, "xin : 1", threshold="stimulus(t, i) > 0.5", dt=dt,
                             namespace=namespace, name="spikeforge_inputs*")
        source.run_regularly(_XIN_UPDATE.format(x_decay=_DECAY[rounding].format(
            alpha="alpha_x", x="xin")), when="after_synapses", name="spikeforge_input_traces*")
        objects.append(source)
        connect(source, slice(n, n + m), "xin_pre", "spikeforge_input_synapses*")
    elif m and times.size:
        source = SpikeGeneratorGroup(m, indices, times * dt, dt=dt, name="spikeforge_inputs*")
        objects.append(source)
        connect(source, slice(n, n + m), None, "spikeforge_input_synapses*")
    monitor = SpikeMonitor(neurons, when="end", name="spikeforge_spikes*")
    objects.append(monitor)
    net = B2Network(*objects)
    net.run(steps * dt, namespace=namespace)
    spikes = np.zeros((steps, n), dtype=bool)
    step_of = np.rint(np.asarray(monitor.t / dt)).astype(np.int64)
    spikes[step_of, np.asarray(monitor.i, dtype=np.int64)] = True
    weights = W.astype(float)
    for syn, rows, pre, post in pathways:
        block = weights[rows]
        block[pre, post] = np.asarray(syn.w[:], dtype=float)
    return spikes, weights
