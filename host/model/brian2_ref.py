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
    else:      v = clip(alpha_v * v + i);  th = clip(thr + theta);  spike = v >= th
    on spike:  v = clip(v - th) if reset_sub else v_reset;  r = refrac
    theta   = clip(alpha_th * theta + (theta_inc if spike else 0))

Only learning **off** is modelled: the weights are constants and STDP is not part of the
comparison. On-chip Poisson inputs are not modelled either (the input raster must hold every
input spike).

How the discrete-time model maps onto Brian2 objects (numpy code generation target, so there
is no compilation wait; a step costs a few code-object calls, enough for the small networks
this reference is meant for):

* a :class:`brian2.NeuronGroup` without differential equations; its state (``v``, ``I``,
  ``acc``, ``theta``, refractory counter ``r``) is advanced by a ``run_regularly`` operation
  every step, and its threshold and reset codes are the spike test and the reset above;
* a :class:`brian2.SpikeGeneratorGroup` emits the input raster (input ``k`` at time ``t*dt``);
* two :class:`brian2.Synapses` (inputs -> neurons, neurons -> neurons), one synapse per
  non-zero weight, with ``on_pre: acc_post += w``.

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
v = free * clip({v_decay} + I, v_low, v_high) + (1 - free) * v
fired = (free == 1) and (v >= th)
r = r - (1 - free)
theta = {theta_decay}
"""

#: the decay ``alpha * x`` of each rounding mode (``alpha = a / 2^F``)
_DECAY = {
    "float": "{alpha} * {x}",
    # rounding toward zero, exact in float64 (|x * a| < 2^53)
    "toward_zero": "sign({alpha} * {x}) * floor(abs({alpha} * {x}))",
}


def _update_code(rounding):
    decay = _DECAY[rounding]
    return _UPDATE.format(i_decay=decay.format(alpha="alpha_i", x="I"),
                          v_decay=decay.format(alpha="alpha_v", x="v"),
                          theta_decay=decay.format(alpha="alpha_th", x="theta"))

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


def brian2_network_run(network, raster, steps=None, *, dt_ms=1.0, rounding="float"):
    """Run ``network`` (learning off) as a floating-point Brian2 model on the input raster.

    Arguments
    ---------
    network : Network
        Parameters and weights; the weights stay fixed (STDP is not modelled).
    raster : bool array ``(T, M)``
        Input spikes per step (every input spike: on-chip Poisson inputs are not modelled).
    steps : int, optional
        Steps to run (default ``T``; at most ``T``).
    dt_ms : float
        Brian2's time step in ms. The model is discrete, so it only sets the time unit.
    rounding : ``"float"`` or ``"toward_zero"``
        ``"float"`` (the reference): a decay is the real product ``alpha * x``.
        ``"toward_zero"`` rounds every decay toward zero as the hardware does; every value
        is then an integer held exactly in float64, and the spikes equal the twin's bit for
        bit (a check that the Brian2 network above is the model's network, step order and
        delays included).

    Returns the ``(steps, N)`` bool spike raster. Raises :class:`Brian2Unavailable` (a
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
    if rounding not in _DECAY:
        raise ConfigError(f"rounding={rounding!r} is unknown: use 'float' or 'toward_zero'")
    if steps == 0:
        return np.zeros((0, n), dtype=bool)

    b2 = _import_brian2()
    from brian2 import ms, prefs

    b2.BrianLogger.suppress_name("base")
    b2.BrianLogger.log_level_error()
    previous_target = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        return _build_and_run(network, raster, steps, dt_ms * ms, rounding)
    finally:
        prefs.codegen.target = previous_target


def _build_and_run(network, raster, steps, dt, rounding):
    from brian2 import (NeuronGroup, Network as B2Network, SpikeGeneratorGroup, SpikeMonitor,
                        Synapses)

    config = network.config
    n, m = config.neurons, config.inputs
    p, g = network.neuron_params, network.global_params
    scale = float(1 << config.decay_bits)
    v_low, v_high = config.v_range
    i_low, i_high = config.i_range
    adaptive = config.adaptive_threshold
    namespace = {
        "v_low": float(v_low), "v_high": float(v_high),
        "i_low": float(i_low), "i_high": float(i_high),
        "scale": float(2 ** g.w_shift),
        "theta_top": float((1 << config.theta_bits) - 1),
    }
    neurons = NeuronGroup(n, _NEURON_MODEL, threshold="fired", reset=_RESET, dt=dt,
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
    neurons.run_regularly(_update_code(rounding), when="after_synapses", name="spikeforge_update*")
    neurons.set_event_schedule("spike", when="before_resets")
    objects = [neurons]

    W = network.W
    pre, post = np.nonzero(W[:n])
    if pre.size:
        recurrent = Synapses(neurons, neurons, "w : 1 (constant)", on_pre="acc_post += w",
                             delay=0 * dt, namespace=namespace, name="spikeforge_recurrent*")
        recurrent.connect(i=pre, j=post)
        recurrent.w = W[:n][pre, post].astype(float)
        objects.append(recurrent)
    row, col = np.nonzero(W[n:])
    times, indices = np.nonzero(raster)
    if m and row.size and times.size:
        source = SpikeGeneratorGroup(m, indices, times * dt, dt=dt, name="spikeforge_inputs*")
        inputs = Synapses(source, neurons, "w : 1 (constant)", on_pre="acc_post += w",
                          delay=0 * dt, namespace=namespace, name="spikeforge_input_synapses*")
        inputs.connect(i=row, j=col)
        inputs.w = W[n:][row, col].astype(float)
        objects += [source, inputs]
    monitor = SpikeMonitor(neurons, when="end", name="spikeforge_spikes*")
    objects.append(monitor)
    net = B2Network(*objects)
    net.run(steps * dt, namespace=namespace)
    spikes = np.zeros((steps, n), dtype=bool)
    step_of = np.rint(np.asarray(monitor.t / dt)).astype(np.int64)
    spikes[step_of, np.asarray(monitor.i, dtype=np.int64)] = True
    return spikes
