"""From physical values (seconds, volts) to the core's integers, with a report of what changed.

The conventions (docs/units.md):

* times in **seconds** (``dt``, every ``tau``, the refractory period);
* membrane voltages in **volts** (``v_rest``, ``v_reset``, ``v_thresh``, the adaptive-threshold
  increment);
* currents as the voltage they drive across the membrane resistance (``R * I``, volts): a
  weight is the jump of ``R * I`` that one spike causes, the bias a constant ``R * I``;
* pair-STDP amplitudes ``A_plus``, ``A_minus`` and bounds ``w_min``, ``w_max`` in weight units
  (volts, like the weights).

The model is the current-based LIF neuron of Brian2 and PyNN (``IF_curr_exp``)::

    tau_m dV/dt = v_rest - V + I          (held at v_reset for t_ref after a spike)
    tau_syn dI/dt = I_bias - I            (each arriving spike adds its weight to I)
    spike when V >= v_thresh (+ theta; theta decays with tau_th, rises by theta_inc per spike)

The core follows it at steps of ``dt`` (``a = exp(-dt / tau)``): the response to spikes
exactly (a spike arrives at the start of its step, ``V`` is sampled at the end), a bias with
its exact steady state; its integers then round, at a cost the report states.

With ``s`` state units per volt the core holds ``v = s (V - v_rest)`` and ``i = s K I`` (``K``:
:func:`step_gain`, the share of a current jump that reaches ``V`` within its step), so
``thr = s (v_thresh - v_rest)``, ``W 2^w_shift = s K w`` and
``bias = s (1 - a_m)(1 - a_syn) I_bias``.

:func:`decay_fraction` is the one conversion from a time constant to a decay factor in the
package; everything else (parameter defaults, NIR, the demos, the benchmarks) calls it.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from spikeforge.config import ConfigError, CoreConfig

__all__ = ["quantize", "QuantizationReport", "ParameterReport", "Stdp", "decay_fraction",
           "decay_factor", "factor_tau", "fraction_factor", "step_gain", "QuantizationError"]


class QuantizationError(ConfigError):
    """A physical value cannot be meant as given (a negative tau, a tau in milliseconds where
    seconds are expected, a threshold at or below the reset)."""


# -- the one tau <-> decay factor conversion ------------------------------------------------------

def decay_fraction(tau, dt):
    """``exp(-dt / tau)``: the factor by which a quantity with time constant ``tau`` decays in
    one step of ``dt`` (same units for both). ``tau = 0`` gives 0 (no memory). Scalars or
    arrays."""
    tau = np.asarray(tau, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(tau > 0, np.exp(-dt / np.where(tau > 0, tau, 1.0)), 0.0)
    return float(value) if value.ndim == 0 else value


def fraction_factor(fraction, decay_bits):
    """The core's decay factor nearest ``fraction * 2^F``, kept inside ``0..2^F-1``."""
    top = (1 << decay_bits) - 1
    value = np.clip(np.rint(np.asarray(fraction, dtype=float) * (1 << decay_bits)), 0, top)
    value = value.astype(np.int64)
    return int(value) if value.ndim == 0 else value


def decay_factor(tau, dt, decay_bits):
    """The core's integer decay factor (``a / 2^F``) of time constant ``tau`` at step ``dt``."""
    return fraction_factor(decay_fraction(tau, dt), decay_bits)


def factor_tau(factor, dt, decay_bits):
    """The time constant an integer decay factor stands for (``dt`` units); 0 for factor 0."""
    a = np.asarray(factor, dtype=float) / (1 << decay_bits)
    with np.errstate(divide="ignore"):
        value = np.where(a > 0, -dt / np.log(np.where(a > 0, a, 0.5)), 0.0)
    return float(value) if value.ndim == 0 else value


def step_gain(alpha_v, alpha_i, dt, decay_bits):
    """How much of a jump of ``R I`` reaches ``V`` by the end of the step it arrives in, per
    neuron: ``K = tau_syn (a_syn - a_m) / (tau_syn - tau_m)`` (with ``a = exp(-dt / tau)`` of
    the core's decay factors; ``(dt / tau) a`` when the two are equal; ``1 - a_m`` without a
    synaptic time constant). With the core's ``i = s K I`` its ``v`` follows the
    continuous-time model exactly, sampled at the ends of the steps, with each spike arriving
    at the start of its step."""
    a_m = np.asarray(alpha_v, dtype=float) / (1 << decay_bits)
    a_s = np.asarray(alpha_i, dtype=float) / (1 << decay_bits)
    tau_m = np.asarray(factor_tau(alpha_v, dt, decay_bits), dtype=float)
    tau_s = np.asarray(factor_tau(alpha_i, dt, decay_bits), dtype=float)
    close = np.abs(tau_s - tau_m) <= 1e-9 * np.maximum(tau_s, tau_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        general = tau_s * (a_s - a_m) / np.where(close, 1.0, tau_s - tau_m)
        equal = np.where(tau_m > 0, dt / np.where(tau_m > 0, tau_m, 1.0), 0.0) * a_m
    return np.where(a_s == 0, 1.0 - a_m, np.where(close, equal, general))


# -- the report -----------------------------------------------------------------------------------

@dataclass
class ParameterReport:
    """One physical parameter: the value asked for, the value the core uses, the largest
    relative error over its elements (``|used - asked| / |asked|``; absolute when asked is 0)."""
    name: str
    unit: str
    asked: np.ndarray
    used: np.ndarray
    rel_error: float

    def _show(self, values):
        values = np.atleast_1d(values)
        if values.size and np.all(values == values.flat[0]):
            return f"{float(values.flat[0]):.6g}"
        return f"{float(values.min()):.4g}..{float(values.max()):.4g}"

    def line(self):
        return (f"{self.name:<10} {self._show(self.asked):>14} {self._show(self.used):>14} "
                f"{self.unit:<3} {100 * self.rel_error:8.3f} %")


@dataclass
class QuantizationReport:
    """What quantisation did to the user's numbers.

    ``parameters`` maps a name to its :class:`ParameterReport`; ``scales`` holds the chosen
    ``v_scale`` (state units per volt), ``w_shift``, ``stdp_shift`` and the STDP trace
    increment; ``weights`` the counts of non-zero weights that round to zero or clip, and the
    largest relative error of the others; ``warnings`` the plain-language warnings.
    """
    dt: float
    config: CoreConfig
    parameters: dict = field(default_factory=dict)
    scales: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def __getitem__(self, name):
        return self.parameters[name]

    def max_error(self):
        """The largest relative error over every parameter (weights apart)."""
        return max((p.rel_error for p in self.parameters.values()), default=0.0)

    def __str__(self):
        lines = [f"quantisation at dt = {self.dt * 1e3:g} ms: v_scale = "
                 f"{self.scales.get('v_scale', 0):.6g} units/V, w_shift = "
                 f"{self.scales.get('w_shift')}"
                 + (f", stdp_shift = {self.scales['stdp_shift']}"
                    if "stdp_shift" in self.scales else ""),
                 f"{'parameter':<10} {'asked':>14} {'used':>14} {'':<3} {'rel.err':>10}"]
        lines += [p.line() for p in self.parameters.values()]
        w = self.weights
        if w:
            lines.append(f"weights: {w['nonzero']} non-zero, {w['zeroed']} round to zero, "
                         f"{w['clipped']} clip; largest relative error of the others "
                         f"{100 * w['rel_error']:.3f} %")
        lines += [f"warning: {text}" for text in self.warnings]
        return "\n".join(lines)

    def __repr__(self):
        return (f"<QuantizationReport dt={self.dt:g} s, {len(self.parameters)} parameters, "
                f"max error {100 * self.max_error():.3g} %, {len(self.warnings)} warnings>")

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self):
        from html import escape

        head = escape(str(self).splitlines()[0])
        rows = "".join(
            f"<tr><td>{escape(p.name)}</td><td>{escape(p._show(p.asked))}</td>"
            f"<td>{escape(p._show(p.used))}</td><td>{escape(p.unit)}</td>"
            f"<td>{100 * p.rel_error:.3f} %</td></tr>" for p in self.parameters.values())
        tail = "".join(f"<li>{escape(line)}</li>" for line in str(self).splitlines()
                       if line.startswith(("weights:", "warning:")))
        return (f"<p>{head}</p><table><tr><th>parameter</th><th>asked</th><th>used</th>"
                f"<th></th><th>rel. error</th></tr>{rows}</table><ul>{tail}</ul>")

    def to_dict(self):
        return {
            "dt": self.dt,
            "scales": dict(self.scales),
            "weights": dict(self.weights),
            "warnings": list(self.warnings),
            "parameters": {name: {"unit": p.unit, "asked": np.asarray(p.asked).tolist(),
                                  "used": np.asarray(p.used).tolist(),
                                  "rel_error": p.rel_error}
                           for name, p in self.parameters.items()},
        }


# -- STDP -----------------------------------------------------------------------------------------

@dataclass
class Stdp:
    """Pair STDP with additive updates and hard bounds.

    A pre spike ``dt_pair`` seconds before a post spike adds ``A_plus exp(-dt_pair / tau_plus)``
    to the weight; a post spike before a pre spike subtracts ``A_minus exp(-dt_pair /
    tau_minus)``; the weight stays in ``[w_min, w_max]``. Amplitudes and bounds in weight units
    (volts, like the weights); times in seconds.
    """
    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    A_plus: float = 0.0
    A_minus: float = 0.0
    w_min: float = 0.0
    w_max: float = None

    def __repr__(self):
        return (f"Stdp(tau_plus={self.tau_plus * 1e3:g} ms, tau_minus={self.tau_minus * 1e3:g} "
                f"ms, A_plus={self.A_plus:g}, A_minus={self.A_minus:g}, w_min={self.w_min:g}, "
                f"w_max={self.w_max if self.w_max is None else format(self.w_max, 'g')})")


# -- checks of what the user handed in ---------------------------------------------------------

def _per_neuron(name, value, n):
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise QuantizationError(f"{name}={value!r} is not a number or an array of numbers")
    if array.ndim == 0:
        array = np.full(n, float(array))
    if array.shape != (n,):
        raise QuantizationError(f"{name} has {array.shape} values; give one number or one per "
                                f"neuron ({n})")
    if not np.all(np.isfinite(array)):
        raise QuantizationError(f"{name} holds a value that is not finite "
                                f"({array[~np.isfinite(array)][0]})")
    return array


def _first(array, condition):
    index = int(np.flatnonzero(condition)[0])
    where = f"[{index}]" if array.size > 1 and np.ptp(array) > 0 else ""
    return index, where, float(array[index])


def _check_tau(name, tau, dt, largest=1.0):
    if np.any(tau < 0):
        _, where, value = _first(tau, tau < 0)
        raise QuantizationError(f"{name}{where}={value:g} is negative: a time constant is a "
                                f"duration in seconds >= 0 (e.g. {abs(value):g})")
    if np.any(tau >= largest):
        _, where, value = _first(tau, tau >= largest)
        raise QuantizationError(f"{name}{where}={value:g} s is implausibly long: times are in "
                                f"seconds; did you mean {value:g} ms = {value * 1e-3:g}?")


def _check_volts(name, volts):
    if np.any(np.abs(volts) >= 1.0):
        _, where, value = _first(volts, np.abs(volts) >= 1.0)
        raise QuantizationError(f"{name}{where}={value:g} V is implausibly large: voltages are "
                                f"in volts; did you mean {value:g} mV = {value * 1e-3:g}?")


def _rel_error(asked, used):
    asked = np.asarray(asked, dtype=float)
    used = np.asarray(used, dtype=float)
    if asked.size == 0:
        return 0.0
    scale = np.where(asked != 0, np.abs(asked), 1.0)
    return float(np.max(np.abs(used - asked) / scale))


# -- the quantiser ------------------------------------------------------------------------------

def quantize(weights, *, dt=1e-3, tau_m=20e-3, tau_syn=5e-3, v_rest=-65e-3, v_reset=-65e-3,
             v_thresh=-50e-3, t_ref=2e-3, bias=0.0, theta_inc=0.0, tau_th=0.1,
             reset="value", mask=None, stdp=None, poisson_rate=None, config=None,
             v_scale=None, w_shift=None, stdp_shift=None, trace_inc=None):
    """Turn a network given in physical units into the core's integers.

    Arguments
    ---------
    weights : array ``(N+M, N)`` of float, volts
        ``weights[r, j]``: the jump of ``R I`` of neuron ``j`` when source ``r`` spikes (rows
        ``0..N-1`` neurons, ``N..`` inputs).
    dt : float, seconds
        The time step.
    tau_m, tau_syn, v_rest, v_reset, v_thresh, t_ref, bias, theta_inc, tau_th :
        per neuron, one number or one per neuron; times in seconds, voltages in volts, ``bias``
        a constant ``R I`` in volts, ``theta_inc`` the threshold's rise per spike (volts, needs
        a core with ``adaptive_threshold``) decaying with ``tau_th``.
    reset : ``"value"`` or ``"subtract"``, or one of them per neuron
        After a spike, set ``V`` to ``v_reset``, or lower it by ``v_thresh - v_rest`` (plus
        the adaptive offset ``theta``).
    mask : array ``(N+M, N)`` of bool, optional
        Which synapses learn (default: all when ``stdp`` is given, none otherwise).
    stdp : :class:`Stdp`, optional
        Pair-STDP parameters.
    poisson_rate : array ``(M,)`` of float, Hz, optional
        Rates of the core's on-chip Poisson generators.
    config : :class:`CoreConfig`, optional
        The core; by default one of ``N`` neurons and ``M`` inputs, every feature built.
    v_scale, w_shift, stdp_shift, trace_inc :
        Override the chosen scales: state units per volt, the weight shift, the STDP shift and
        the STDP trace increment.

    Returns ``(network, report)``: the :class:`~spikeforge.host.model.params.Network` the
    devices load, and a :class:`QuantizationReport`.
    """
    from .params import GlobalParams, Network, NeuronParams

    try:
        weights = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise QuantizationError("weights must be an (N+M, N) array of numbers (volts)")
    if weights.ndim != 2 or weights.shape[0] < weights.shape[1]:
        raise QuantizationError(f"weights has shape {weights.shape}; expected (N+M, N): one "
                                f"row per source (N neurons, then M inputs), one column per "
                                f"neuron")
    if not np.all(np.isfinite(weights)):
        raise QuantizationError("weights holds a value that is not finite")
    n = weights.shape[1]
    m = weights.shape[0] - n
    if config is None:
        config = CoreConfig(neurons=n, inputs=m, lanes=min(8, 1 << max(0, (n - 1).bit_length())))
    if not isinstance(config, CoreConfig):
        raise QuantizationError(f"config must be a CoreConfig, not {config!r}")
    if (config.neurons, config.inputs) != (n, m):
        raise QuantizationError(f"weights of shape {weights.shape} give N={n}, M={m}, but the "
                                f"config has neurons={config.neurons}, inputs={config.inputs}")
    dt = float(dt)
    if not dt > 0 or not math.isfinite(dt):
        raise QuantizationError(f"dt={dt:g} is not allowed: the time step is a duration in "
                                f"seconds > 0 (e.g. 0.001 for 1 ms)")
    if dt >= 0.1:
        raise QuantizationError(f"dt={dt:g} s is implausibly long: times are in seconds; did "
                                f"you mean {dt:g} ms = {dt * 1e-3:g}?")
    resets = [reset] * n if isinstance(reset, str) else list(reset)
    if len(resets) != n or any(r not in ("value", "subtract") for r in resets):
        bad = next((r for r in resets if r not in ("value", "subtract")), reset)
        raise QuantizationError(f"reset={bad!r} is unknown: use 'value' (set v to v_reset) "
                                f"or 'subtract' (subtract the threshold), one for all or one "
                                f"per neuron ({n})")
    F = config.decay_bits
    report = QuantizationReport(dt=dt, config=config)
    warn = report.warnings.append
    params = {name: _per_neuron(name, value, n) for name, value in dict(
        tau_m=tau_m, tau_syn=tau_syn, v_rest=v_rest, v_reset=v_reset, v_thresh=v_thresh,
        t_ref=t_ref, bias=bias, theta_inc=theta_inc, tau_th=tau_th).items()}
    for name in ("tau_m", "tau_syn"):
        _check_tau(name, params[name], dt)
    _check_tau("tau_th", params["tau_th"], dt, largest=1000.0)
    _check_tau("t_ref", params["t_ref"], dt)
    for name in ("v_rest", "v_reset", "v_thresh", "bias", "theta_inc"):
        _check_volts(name, params[name])
    if np.any(params["theta_inc"] < 0):
        _, where, value = _first(params["theta_inc"], params["theta_inc"] < 0)
        raise QuantizationError(f"theta_inc{where}={value:g} is negative: the threshold rises "
                                f"by theta_inc >= 0 volts per spike")
    bad = params["v_thresh"] <= params["v_reset"]
    if np.any(bad):
        index, where, value = _first(params["v_thresh"], bad)
        raise QuantizationError(
            f"v_thresh{where}={value:g} V is not above v_reset={params['v_reset'][index]:g} V: "
            f"the neuron would fire at every step; the threshold must lie above the reset "
            f"(e.g. v_thresh=-0.050, v_reset=-0.065)")
    if weights.size and np.max(np.abs(weights)) >= 1.0:
        value = float(weights.flat[np.argmax(np.abs(weights))])
        raise QuantizationError(f"weight {value:g} V is implausibly large: weights are in "
                                f"volts; did you mean {value:g} mV = {value * 1e-3:g}?")

    # -- time constants
    used = {}
    factors = {}
    for name, label in (("tau_m", "alpha_v"), ("tau_syn", "alpha_i"), ("tau_th", "alpha_th")):
        tau = params[name]
        if name == "tau_th" and not (config.adaptive_threshold and np.any(params["theta_inc"])):
            factors[label] = np.zeros(n, dtype=np.int64)
            continue
        factors[label] = decay_factor(tau, dt, F)
        used[name] = factor_tau(factors[label], dt, F)
        _warn_tau(warn, name, tau, used[name], dt)
    refrac_top = (1 << config.refrac_bits) - 1
    refrac = np.rint(params["t_ref"] / dt).astype(np.int64)
    if np.any(refrac > refrac_top):
        _, where, value = _first(params["t_ref"], refrac > refrac_top)
        raise QuantizationError(f"t_ref{where}={value:g} s is {value / dt:.0f} steps; the core "
                                f"counts at most {refrac_top} (refrac_bits={config.refrac_bits})")
    used["t_ref"] = refrac * dt
    if np.any((params["t_ref"] > 0) & (refrac == 0)):
        warn(f"t_ref below dt/2 rounds to no refractory period at dt = {dt:g} s")

    # -- voltages
    a_m = factors["alpha_v"] / (1 << F)
    a_syn = factors["alpha_i"] / (1 << F)
    rel_thr = params["v_thresh"] - params["v_rest"]
    rel_reset = params["v_reset"] - params["v_rest"]
    v_low, v_high = config.v_range
    if v_scale is None:
        largest = float(np.max(np.abs(np.concatenate([rel_thr, rel_reset]))))
        v_scale = (v_high // 4) / largest if largest > 0 else 1.0
    v_scale = float(v_scale)
    if not v_scale > 0 or not math.isfinite(v_scale):
        raise QuantizationError(f"v_scale={v_scale:g} is not allowed: state units per volt > 0")
    thr = np.rint(v_scale * rel_thr).astype(np.int64)
    v_res = np.rint(v_scale * rel_reset).astype(np.int64)
    for name, values in (("v_thresh", thr), ("v_reset", v_res)):
        if np.any((values < v_low) | (values > v_high)):
            _, where, value = _first(params[name], (values < v_low) | (values > v_high))
            raise QuantizationError(f"{name}{where}={value:g} V lies outside the membrane range "
                                    f"at v_scale={v_scale:g} units/V (v_bits={config.v_bits}): "
                                    f"use a smaller v_scale or leave it to the quantiser")
    used["v_thresh"] = params["v_rest"] + thr / v_scale
    used["v_reset"] = params["v_rest"] + v_res / v_scale
    used["v_rest"] = params["v_rest"]
    h_top = (1 << config.theta_bits) - 1
    theta = np.rint(v_scale * params["theta_inc"]).astype(np.int64)
    if np.any(theta > h_top):
        _, where, value = _first(params["theta_inc"], theta > h_top)
        raise QuantizationError(f"theta_inc{where}={value:g} V exceeds the threshold offset's "
                                f"range ({h_top} units, {h_top / v_scale:g} V at this v_scale)")
    if config.adaptive_threshold:
        used["theta_inc"] = theta / v_scale
    elif np.any(params["theta_inc"]):
        raise QuantizationError("theta_inc is set but the core has no adaptive threshold: "
                                "build it with adaptive_threshold=True or set theta_inc=0")

    # -- current gain per neuron: a jump of R I (volts) -> core current units
    gain = v_scale * step_gain(factors["alpha_v"], factors["alpha_i"], dt, F)
    i_low, i_high = config.i_range
    bias_gain = v_scale * (1.0 - a_m) * (1.0 - a_syn)
    b = np.rint(bias_gain * params["bias"]).astype(np.int64)
    if np.any((b < i_low) | (b > i_high)):
        _, where, value = _first(params["bias"], (b < i_low) | (b > i_high))
        raise QuantizationError(f"bias{where}={value:g} V lies outside the current range "
                                f"(i_bits={config.i_bits}) at v_scale={v_scale:g} units/V")
    with np.errstate(divide="ignore", invalid="ignore"):
        back = np.where(bias_gain > 0, b / bias_gain, 0.0)
    used["bias"] = back

    # -- weights
    w_low, w_high = config.weight_range
    target = weights * gain[None, :]
    largest = float(np.max(np.abs(target))) if target.size else 0.0
    if stdp is not None and stdp.w_max is not None:
        largest = max(largest, float(np.max(np.abs(stdp.w_max * gain))),
                      float(np.max(np.abs(stdp.w_min * gain))))
    if w_shift is None:
        w_shift = 0
        while w_shift < config.max_w_shift and largest / (1 << w_shift) > w_high:
            w_shift += 1
    if not 0 <= int(w_shift) <= config.max_w_shift:
        raise QuantizationError(f"w_shift={w_shift} is out of range 0..{config.max_w_shift}")
    w_shift = int(w_shift)
    raw = np.rint(target / (1 << w_shift))
    W = np.clip(raw, w_low, w_high).astype(np.int64)
    nonzero = weights != 0
    zeroed = nonzero & (W == 0)
    clipped = raw != W
    kept = nonzero & ~zeroed & ~clipped
    with np.errstate(divide="ignore", invalid="ignore"):
        w_used = np.where(gain[None, :] > 0, W * (1 << w_shift) / gain[None, :], 0.0)
    report.weights = {"nonzero": int(nonzero.sum()), "zeroed": int(zeroed.sum()),
                      "clipped": int(clipped.sum()),
                      "rel_error": _rel_error(weights[kept], w_used[kept]),
                      "unit_V": float((1 << w_shift) / np.median(gain)) if n else 0.0}
    if zeroed.any():
        warn(f"{int(zeroed.sum())} of {int(nonzero.sum())} non-zero weights round to zero "
             f"(one weight unit is {(1 << w_shift) / float(np.max(gain)):.3g} V or more); pass "
             f"a smaller w_shift or use more weight_bits")
    if clipped.any():
        warn(f"{int(clipped.sum())} weights clip to the signed {config.weight_bits}-bit range "
             f"at w_shift={w_shift}; pass a larger w_shift")

    # -- STDP
    glob = dict(w_shift=w_shift, w_min=w_low, w_max=w_high, a_plus=0, a_minus=0,
                stdp_shift=0, x_inc=0, y_inc=0, alpha_x=0, alpha_y=0)
    if mask is None:
        mask = np.full(weights.shape, stdp is not None)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != weights.shape:
        raise QuantizationError(f"mask has shape {mask.shape}; expected {weights.shape}")
    if stdp is not None:
        if not config.stdp:
            raise QuantizationError("stdp is given but the core has no STDP engine: build it "
                                    "with stdp=True or leave stdp out")
        _quantize_stdp(stdp, glob, used, params, report, gain, mask, w_shift, stdp_shift,
                       trace_inc, dt, config)
    else:
        mask = np.zeros(weights.shape, dtype=bool) if not config.stdp else mask
    report.scales.update(v_scale=v_scale, w_shift=w_shift)

    # -- predicted saturation of i and v (plastic weights counted at the STDP bound w_max)
    grown = np.where(mask, np.maximum(W, glob["w_max"]), W) if stdp is not None else W
    incoming = np.sum(np.maximum(grown, 0), axis=0) * (1 << w_shift) + np.maximum(b, 0)
    if n and np.any(incoming > i_high):
        j = int(np.argmax(incoming))
        grow = " (plastic weights at w_max)" if stdp is not None and np.any(mask[:, j]) else ""
        warn(f"the synaptic current of neuron {j} saturates when all its excitatory sources "
             f"spike in one step{grow} ({int(incoming[j])} > {i_high}, "
             f"i_bits={config.i_bits})")
    steady = np.where(a_syn < 1, np.abs(b) / np.maximum(1 - a_syn, 1e-12), 0) / \
        np.maximum(1 - a_m, 1e-12)
    if n and np.any(steady > v_high):
        j = int(np.argmax(steady))
        warn(f"the bias of neuron {j} alone drives v past the membrane range (steady state "
             f"{steady[j]:.0f} > {v_high}, v_bits={config.v_bits})")


    # -- Poisson rates
    rates = None
    if poisson_rate is not None:
        hz = np.asarray(poisson_rate, dtype=float)
        if hz.ndim == 0:
            hz = np.full(m, float(hz))
        if hz.shape != (m,) or np.any(hz < 0):
            raise QuantizationError(f"poisson_rate needs {m} rates >= 0 Hz (one per input)")
        top = (1 << config.poisson_rate_bits) - 1
        p = hz * dt
        if np.any(p > top / 65536):
            _, where, value = _first(hz, p > top / 65536)
            raise QuantizationError(f"poisson_rate{where}={value:g} Hz exceeds one spike per "
                                    f"step at dt={dt:g} s (at most {top / 65536 / dt:.4g} Hz)")
        rates = np.rint(p * 65536).astype(np.int64)
        if np.any(rates) and not config.has_poisson:
            raise QuantizationError("poisson_rate is set but the core has no Poisson "
                                    "generators: build it with poisson=True")
        used["poisson_rate"] = rates / 65536 / dt
        params["poisson_rate"] = hz

    units = {"tau_m": "s", "tau_syn": "s", "tau_th": "s", "t_ref": "s", "v_rest": "V",
             "v_reset": "V", "v_thresh": "V", "bias": "V", "theta_inc": "V",
             "poisson_rate": "Hz", "tau_plus": "s", "tau_minus": "s", "A_plus": "V",
             "A_minus": "V", "w_min": "V", "w_max": "V"}
    for name, value in used.items():
        asked = params[name]
        report.parameters[name] = ParameterReport(name, units[name], asked, value,
                                                  _rel_error(asked, value))
    neuron = NeuronParams.full(
        config, thr=thr, v_reset=v_res, reset_sub=[int(r == "subtract") for r in resets], refrac=refrac,
        alpha_v=factors["alpha_v"], alpha_i=factors["alpha_i"], bias=b,
        theta_inc=theta if config.adaptive_threshold else 0, alpha_th=factors["alpha_th"])
    glob["poisson_on"] = int(rates is not None and bool(np.any(rates)))
    network = Network(config, neuron, GlobalParams(**glob), W, mask, rates).validate()
    return network, report


def _warn_tau(warn, name, tau, used, dt):
    short = (tau > 0) & (tau < 2 * dt)
    if np.any(short):
        value = float(tau[np.flatnonzero(short)[0]])
        warn(f"{name}={value:g} s is shorter than 2 dt ({2 * dt:g} s): the decay is coarse "
             f"(factor {decay_fraction(value, dt):.3f} per step); use a smaller dt")
    error = np.abs(used - tau) / np.where(tau > 0, tau, 1.0)
    poor = (tau >= 2 * dt) & (error > 0.01)
    if np.any(poor):
        k = int(np.flatnonzero(poor)[0])
        warn(f"{name}={tau[k]:g} s becomes {used[k]:.4g} s ({100 * error[k]:.1f} % off): poor "
             f"decay-factor resolution at dt = {dt:g} s; use more decay_bits or a larger dt")


def _quantize_stdp(stdp, glob, used, params, report, gain, mask, w_shift, stdp_shift, trace_inc,
                   dt, config):
    """Fill the global STDP fields; the weight unit is the one of the median plastic neuron."""
    F = config.decay_bits
    for name in ("tau_plus", "tau_minus"):
        tau = np.atleast_1d(float(getattr(stdp, name)))
        _check_tau(name, tau, dt)
        params[name] = tau
    for name in ("A_plus", "A_minus"):
        value = float(getattr(stdp, name))
        if value < 0:
            raise QuantizationError(f"{name}={value:g} is negative: give the size of the "
                                    f"change (>= 0); A_minus is subtracted")
        params[name] = np.atleast_1d(value)
    plastic = np.any(mask, axis=0)
    if np.any(plastic) and np.ptp(gain[plastic]) > 1e-9 * np.max(gain[plastic]):
        report.warnings.append("plastic neurons differ in tau_m: STDP amplitudes and bounds "
                               "are exact for the median neuron only")
    unit_gain = float(np.median(gain[plastic])) if np.any(plastic) else float(np.median(gain))
    unit = (1 << w_shift) / unit_gain      # volts per weight unit
    w_low, w_high = config.weight_range
    w_max = stdp.w_max if stdp.w_max is not None else w_high * unit
    if stdp.w_min >= w_max:
        raise QuantizationError(f"w_min={stdp.w_min:g} is not below w_max={w_max:g}: the "
                                f"weights need room to move")
    bounds = {}
    for name, value in (("w_min", stdp.w_min), ("w_max", w_max)):
        q = int(np.clip(np.rint(value / unit), w_low, w_high))
        bounds[name] = q
        params[name] = np.atleast_1d(float(value))
        used[name] = np.atleast_1d(q * unit)
    t_top = (1 << config.trace_bits) - 1
    inc = int(trace_inc) if trace_inc is not None else 1 << (config.trace_bits - 1)
    if not 1 <= inc <= t_top:
        raise QuantizationError(f"trace_inc={inc} is out of range 1..{t_top}")
    rate_top = (1 << config.rate_bits) - 1
    amounts = [stdp.A_plus / unit * 1.0, stdp.A_minus / unit * 1.0]   # weight units per pair
    if stdp_shift is None:
        stdp_shift = 0
        # the finest shift at which every rate, lifted to a whole change (below), still fits
        need = max(max(amounts), float(np.max(np.rint(amounts))))
        while stdp_shift < 31 and math.ceil(need * (1 << (stdp_shift + 1)) / inc) <= rate_top:
            stdp_shift += 1
    stdp_shift = int(stdp_shift)
    if not 0 <= stdp_shift <= 31:
        raise QuantizationError(f"stdp_shift={stdp_shift} is out of range 0..31")
    rates = []
    for a in amounts:
        rate = int(np.clip(np.rint(a * (1 << stdp_shift) / inc), 0, rate_top))
        # the core floors each change: lift the rate so that a pair at distance 0 changes the
        # weight by the nearest whole number of units, when the rate range allows it
        want = int(np.rint(a))
        if want and (rate * inc) >> stdp_shift < want:
            rate = min(rate_top, -(-(want << stdp_shift) // inc))
        rates.append(rate)
    for name, rate, asked in (("A_plus", rates[0], amounts[0]), ("A_minus", rates[1], amounts[1])):
        change = (rate * inc) >> stdp_shift
        used[name] = np.atleast_1d(change * unit)
        if asked and rate == rate_top and asked * (1 << stdp_shift) / inc > rate_top + 0.5:
            report.warnings.append(
                f"{name}={asked * unit:g} V needs a learning rate above {rate_top} at "
                f"stdp_shift={stdp_shift}; it clips to {change * unit:.4g} V: use a smaller "
                f"stdp_shift (or leave it to the quantiser)")
        elif asked > 0 and change == 0:
            report.warnings.append(
                f"{name}={asked * unit:g} V is {asked:.3g} weight units: every change rounds "
                f"to zero; raise it, or use a larger weight range")
        elif asked and abs(change - asked) / asked > 0.1:
            report.warnings.append(
                f"{name}={asked * unit:g} V becomes {change * unit:.4g} V "
                f"({100 * abs(change - asked) / asked:.0f} % off): learning steps are whole "
                f"weight units of {unit:.3g} V; use more weight_bits")
    alpha_x = decay_factor(stdp.tau_plus, dt, F)
    alpha_y = decay_factor(stdp.tau_minus, dt, F)
    used["tau_plus"] = np.atleast_1d(factor_tau(alpha_x, dt, F))
    used["tau_minus"] = np.atleast_1d(factor_tau(alpha_y, dt, F))
    _warn_tau(report.warnings.append, "tau_plus", params["tau_plus"], used["tau_plus"], dt)
    _warn_tau(report.warnings.append, "tau_minus", params["tau_minus"], used["tau_minus"], dt)
    glob.update(w_min=bounds["w_min"], w_max=bounds["w_max"], a_plus=rates[0],
                a_minus=rates[1], stdp_shift=stdp_shift, x_inc=inc, y_inc=inc,
                alpha_x=alpha_x, alpha_y=alpha_y)
    report.scales.update(stdp_shift=stdp_shift, trace_inc=inc, weight_unit_V=unit)
