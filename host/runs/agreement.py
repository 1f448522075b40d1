"""Spike-train agreement between simulators: the float Brian2 reference, the twin and a device.

:func:`spike_agreement` compares two ``(T, N)`` spike rasters of the same network:

* **rate error** -- per-neuron rates in spikes per step, ``mean_j |rate_ref_j - rate_other_j|``,
  its maximum over neurons, and the mean error relative to the reference's mean rate;
* **coincidence factor** Γ (Kistler et al. 1997, Neural Comput. 9:1015) per neuron, averaged
  over the neurons that spike in either raster. A spike of the reference coincides with a
  spike of the other raster at most ``window`` steps away; spikes are matched one to one
  (greedy in time order, which finds the largest matching for this tolerance). With ``K``
  coincidences, ``n_ref`` and ``n_other`` spikes in ``T`` steps, ``nu = n_other / T`` and
  ``B = 2 * window + 1`` steps of tolerance::

      Γ = (K - B * nu * n_ref) / (0.5 * (n_ref + n_other) * (1 - B * nu))

  ``B * nu * n_ref`` is the number of coincidences expected by chance from a Poisson train of
  rate ``nu``, so Γ = 1 for identical trains (and for trains shifted by up to ``window``
  steps), about 0 for independent ones. Γ is undefined for a neuron with ``B * nu >= 1``
  (the other train is so dense that chance alone fills the window); such neurons are left out
  of the mean and counted in ``gamma_undefined``;
* **identical spikes** -- the spikes at the same step and neuron in both rasters over the
  spikes in either (1.0 when the rasters are equal).

:func:`weight_agreement` compares the weights two simulators learned from the same start, over
the plastic synapses (the mask):

* **correlation** -- Pearson's r of the final weights, synapse by synapse;
* **Wasserstein distance** -- the earth mover's distance between the two distributions of final
  weights, in weight units: both sides hold the same number of synapses, so it is the mean of
  ``|a_(k) - b_(k)|`` over the sorted values (a distribution shifted by ``c`` is ``|c|`` away);
  also relative to the range ``w_max - w_min``;
* **histogram distance** -- ``sum |p_b - q_b|`` (L1, 0 to 2) of the normalised histograms in
  ``bins`` equal bins over ``[w_min, w_max]``;
* **drift** -- the mean change of the weights over the run, on both sides; and the shares of
  weights in the lowest and highest fifth of the range (a bimodal distribution has most there).

:func:`agreement_report` runs a network file's network on several backends (``brian2``: the
float reference of :mod:`spikeforge.host.model.brian2_ref`; anything else a device URL or name for
:func:`~spikeforge.host.device.open_device`), with learning off or on, and compares every pair:
spikes always, and with learning the final weights.
"""

import itertools

import numpy as np

from spikeforge.config import ConfigError

from ..device import DeviceError, open_device
from .results import run_spec

__all__ = ["spike_agreement", "coincidence_count", "weight_agreement", "weight_summary",
           "agreement_report", "BRIAN2", "BRIAN2_PHYSICAL"]

#: The backend name of the float Brian2 reference.
BRIAN2 = "brian2"
#: The backend name of the network in physical units as written, in Brian2 (network files in
#: the physical form only).
BRIAN2_PHYSICAL = "brian2-physical"


def coincidence_count(reference_steps, other_steps, window):
    """Number of one-to-one matched spikes at most ``window`` steps apart (both sorted)."""
    count = 0
    k = 0
    other_steps = list(other_steps)
    for t in reference_steps:
        while k < len(other_steps) and other_steps[k] < t - window:
            k += 1
        if k < len(other_steps) and other_steps[k] <= t + window:
            count += 1
            k += 1
    return count


def _check_rasters(reference, other):
    reference = np.asarray(reference, dtype=bool)
    other = np.asarray(other, dtype=bool)
    if reference.ndim != 2 or reference.shape != other.shape:
        raise ValueError(f"spike rasters must be two (T, N) arrays of one shape; got "
                         f"{reference.shape} and {other.shape}")
    return reference, other


def spike_agreement(reference, other, window=2):
    """Agreement of the spike raster ``other`` with ``reference`` (both bool ``(T, N)``).

    Returns a dict of plain Python values:

    ``steps, neurons, window``; ``spikes_reference, spikes_other``; ``rate_reference,
    rate_other`` (mean rates, spikes per step per neuron); ``rate_error`` (mean over neurons
    of the absolute rate difference, spikes per step), ``rate_error_max``,
    ``rate_error_relative`` (``rate_error`` over the reference's mean rate; None if the
    reference is silent); ``gamma`` (mean coincidence factor over the neurons that spike in
    either raster; None if there are none), ``gamma_min``, ``gamma_neurons`` (neurons in the
    mean), ``gamma_undefined``; ``identical_fraction`` and ``identical`` (the rasters are
    equal). See the module documentation for the definitions.
    """
    reference, other = _check_rasters(reference, other)
    window = int(window)
    if window < 0:
        raise ValueError(f"window={window} must be >= 0 steps")
    steps, neurons = reference.shape
    count_ref = reference.sum(axis=0)
    count_other = other.sum(axis=0)
    rate_ref = count_ref / steps if steps else np.zeros(neurons)
    rate_other = count_other / steps if steps else np.zeros(neurons)
    rate_diff = np.abs(rate_ref - rate_other)
    mean_ref = float(rate_ref.mean()) if neurons else 0.0
    rate_error = float(rate_diff.mean()) if neurons else 0.0

    span = 2 * window + 1
    gammas = []
    undefined = 0
    for j in range(neurons):
        n_ref, n_other = int(count_ref[j]), int(count_other[j])
        if n_ref == 0 and n_other == 0:
            continue
        nu = n_other / steps
        norm = 1.0 - span * nu
        if norm <= 0:
            undefined += 1
            continue
        hits = coincidence_count(np.flatnonzero(reference[:, j]), np.flatnonzero(other[:, j]),
                                 window)
        expected = span * nu * n_ref
        gammas.append((hits - expected) / (0.5 * (n_ref + n_other) * norm))

    both = int(np.count_nonzero(reference & other))
    either = int(np.count_nonzero(reference | other))
    return {
        "steps": int(steps),
        "neurons": int(neurons),
        "window": window,
        "spikes_reference": int(count_ref.sum()),
        "spikes_other": int(count_other.sum()),
        "rate_reference": mean_ref,
        "rate_other": float(rate_other.mean()) if neurons else 0.0,
        "rate_error": rate_error,
        "rate_error_max": float(rate_diff.max()) if neurons else 0.0,
        "rate_error_relative": rate_error / mean_ref if mean_ref > 0 else None,
        "gamma": float(np.mean(gammas)) if gammas else None,
        "gamma_min": float(np.min(gammas)) if gammas else None,
        "gamma_neurons": len(gammas),
        "gamma_undefined": undefined,
        "identical_fraction": both / either if either else 1.0,
        "identical": bool(np.array_equal(reference, other)),
    }


def weight_summary(final, initial, w_min, w_max, bins=16, edge=0.2):
    """Summary of one side's learned weights (1-d arrays over the plastic synapses): ``mean``,
    ``drift`` (mean of ``final - initial``), ``histogram`` (counts in ``bins`` equal bins over
    ``[w_min, w_max]``), ``low`` / ``high`` (shares in the lowest / highest ``edge`` of the
    range)."""
    final = np.asarray(final, dtype=float).ravel()
    initial = np.asarray(initial, dtype=float).ravel()
    if final.shape != initial.shape:
        raise ValueError(f"final and initial weights differ in shape: {final.shape} and "
                         f"{initial.shape}")
    w_min, w_max = float(w_min), float(w_max)
    if not w_min < w_max:
        raise ValueError(f"w_min={w_min:g} must be below w_max={w_max:g}")
    span = w_max - w_min
    counts, _ = np.histogram(np.clip(final, w_min, w_max), bins=int(bins), range=(w_min, w_max))
    size = final.size
    return {
        "synapses": int(size),
        "mean": float(final.mean()) if size else None,
        "drift": float((final - initial).mean()) if size else None,
        "histogram": counts.tolist(),
        "low": float(np.mean(final <= w_min + edge * span)) if size else None,
        "high": float(np.mean(final >= w_max - edge * span)) if size else None,
    }


def weight_agreement(reference, other, initial, w_min, w_max, bins=16):
    """Agreement of the final weights ``other`` with ``reference`` learned from ``initial``
    (three 1-d arrays over the same plastic synapses, in weight units; the bounds of STDP
    ``w_min < w_max``).

    Returns plain Python values: ``synapses``, ``bins``; ``correlation`` (Pearson's r; 1.0 for
    equal weights, None if one side is constant and they differ); ``wasserstein`` (weight
    units) and ``wasserstein_relative`` (over ``w_max - w_min``); ``histogram_l1`` (0 to 2);
    ``mean_abs_difference`` and ``max_abs_difference`` synapse by synapse;
    ``identical_fraction`` (equal weights over synapses) and ``identical``;
    ``drift_reference``, ``drift_other``, ``drift_difference`` (other minus reference); and
    ``reference`` / ``other``: :func:`weight_summary` of each side. See the module
    documentation for the definitions.
    """
    a = np.asarray(reference, dtype=float).ravel()
    b = np.asarray(other, dtype=float).ravel()
    start = np.asarray(initial, dtype=float).ravel()
    if not a.shape == b.shape == start.shape:
        raise ValueError(f"weights to compare must be three arrays of one length; got "
                         f"{a.shape}, {b.shape} and {start.shape}")
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"bins={bins} must be >= 1")
    side_a = weight_summary(a, start, w_min, w_max, bins)
    side_b = weight_summary(b, start, w_min, w_max, bins)
    span = float(w_max) - float(w_min)
    size = a.size
    equal = bool(np.array_equal(a, b))
    if equal:
        correlation = 1.0
    elif size > 1 and np.ptp(a) > 0 and np.ptp(b) > 0:
        correlation = float(np.corrcoef(a, b)[0, 1])
    else:
        correlation = None
    if size:
        wasserstein = float(np.mean(np.abs(np.sort(a) - np.sort(b))))
        p = np.asarray(side_a["histogram"], dtype=float) / size
        q = np.asarray(side_b["histogram"], dtype=float) / size
        difference = np.abs(a - b)
    else:
        wasserstein, p, q, difference = 0.0, np.zeros(1), np.zeros(1), np.zeros(1)
    return {
        "synapses": int(size),
        "bins": bins,
        "correlation": correlation,
        "wasserstein": wasserstein,
        "wasserstein_relative": wasserstein / span,
        "histogram_l1": float(np.abs(p - q).sum()),
        "mean_abs_difference": float(difference.mean()),
        "max_abs_difference": float(difference.max()),
        "identical_fraction": float(np.mean(a == b)) if size else 1.0,
        "identical": equal,
        "drift_reference": side_a["drift"],
        "drift_other": side_b["drift"],
        "drift_difference": (side_b["drift"] - side_a["drift"]) if size else None,
        "reference": side_a,
        "other": side_b,
    }


def _physical_run(spec, steps, learn):
    """Spikes (and with ``learn`` the weights, in the core's weight units) of the physical
    network of ``spec`` run as written in Brian2."""
    from ..model.brian2_physical import brian2_physical_run

    compiled = spec.compiled
    net = compiled.source
    if steps == 0:
        return np.zeros((0, spec.config.neurons), dtype=bool), spec.network.W.astype(float)
    result = brian2_physical_run(net, steps * compiled.dt, learn=learn)
    if not learn:
        return result, None
    raster, learned = result
    W = spec.network.W.astype(float)
    gain = compiled._gain()
    shift = 1 << spec.network.global_params.w_shift
    for proj, volts in learned.items():
        rows, cols = compiled.rows(proj.pre), compiled.neuron_slice[proj.post]
        block = W[rows, cols]
        units = volts * gain[cols][None, :] / shift
        block[proj.connected] = units[proj.connected]
        W[rows, cols] = block
    return raster, W


def _device_url(name):
    if "://" in name or "/" in name or name.upper().startswith("COM"):
        return name
    return f"{name}://"


def agreement_report(spec, backends=(BRIAN2, "model", "sim"), steps=None, window=2, *,
                     rounding="float", learn=False, bins=16):
    """Run ``spec`` (a :class:`~spikeforge.host.formats.netfile.NetworkSpec`) on every backend with
    learning off (or on, with ``learn``) and compare the spike rasters of every pair.

    ``backends``: ``"brian2"`` (the float Brian2 reference; ``rounding`` is passed to
    :func:`~spikeforge.host.model.brian2_ref.brian2_network_run`), ``"brian2-physical"``
    (for a network file in physical units: the network as written, in continuous time, by
    :func:`~spikeforge.host.model.brian2_physical.brian2_physical_run`; its learned weights
    are converted to the core's weight units of each target neuron), device names
    (``model``, ``sim``) or device URLs. All run the same input raster (``spec.input_raster(steps)``),
    from the zero state. ``steps`` defaults to the file's ``[run] steps``.

    Returns ``{"network", "steps", "window", "backends", "spikes" {backend: count},
    "pairs": [{"reference", "other", **spike_agreement(...)}, ...]}`` with one pair per
    combination, in the order the backends are given (the first of a pair is the reference).
    Devices are opened before anything runs, so a bad name fails at once with a
    :class:`ConfigError`. The twin and a correct device are expected to agree exactly
    (Γ = 1, no rate error).

    With ``learn`` every backend learns by STDP during the run (Brian2 by the float pair STDP
    of :mod:`~spikeforge.host.model.brian2_ref`), and the report adds ``"weights"``
    ``{backend: weight_summary(...)}``, ``"rate_quarters"`` ``{backend: [mean rate in each
    quarter of the run]}``, ``"w_min"``, ``"w_max"`` and per pair
    ``"weights": weight_agreement(...)`` over the plastic synapses (``bins`` histogram bins).
    """
    backends = [str(name).strip() for name in backends]
    if len(backends) < 2:
        raise ConfigError(f"give at least two backends to compare, e.g. brian2,model; got "
                          f"{','.join(backends) or 'none'}")
    if any(not name for name in backends):
        raise ConfigError("an empty backend name was given: list backends as brian2,model,sim "
                          "or device URLs")
    duplicates = sorted({name for name in backends if backends.count(name) > 1})
    if duplicates:
        raise ConfigError(f"backend {duplicates[0]!r} is listed twice")
    steps = spec.steps if steps is None else int(steps)
    if steps < 0:
        raise ConfigError(f"steps={steps} is not allowed: use an integer >= 0")
    network = spec.network
    g = network.global_params
    learn = bool(learn)
    if learn and not spec.config.stdp:
        raise ConfigError("learning needs a core built with STDP: set [config] stdp = true in "
                          "the network file, or compare with learning off (--no-learn)")
    if learn and g.w_min >= g.w_max:
        raise ConfigError(f"learning with w_min={g.w_min} and w_max={g.w_max} leaves the weights "
                          f"no room: set [globals] w_min below w_max")
    if learn and not np.any(network.mask):
        raise ConfigError("learning is on but no synapse is plastic (the mask is empty): give "
                          "a projection stdp = true (or a mask), or compare with learning off "
                          "(--no-learn)")
    if g.poisson_on and spec.config.has_poisson and np.any(network.poisson_rate > 0):
        fix = ("set on_chip = false in its [sources.NAME] table (the host then draws the "
               "spikes)" if getattr(spec, "compiled", None) is not None else
               "set [globals] poisson_on = 0 and give the inputs as [inputs] rate or spikes")
        raise ConfigError("the network draws on-chip Poisson inputs (poisson_on = 1), which the "
                          "Brian2 reference does not model and which make the input raster "
                          f"device-dependent: {fix}")

    compiled = getattr(spec, "compiled", None)
    if compiled is not None and steps > spec.steps:
        # a file in physical units holds the input spikes of its [run] duration: draw the
        # sources (arrays, host-drawn Poisson) on for the longer run, for every backend alike
        spec = spec.copy()
        spec.input_spikes = np.argwhere(compiled.input_raster(0, steps))
        spec.steps = steps
    if BRIAN2_PHYSICAL in backends and compiled is None:
        raise ConfigError(f"backend {BRIAN2_PHYSICAL} needs a network file in physical units "
                          f"(populations, sources, projections): use brian2 for a file of the "
                          f"core's integers")

    devices = {}
    try:
        for name in backends:
            if name in (BRIAN2, BRIAN2_PHYSICAL):
                continue
            url = _device_url(name)
            try:
                devices[name] = open_device(url, spec.config)
            except DeviceError as error:
                raise ConfigError(f"cannot open backend {name!r}: {error} (or brian2 for the "
                                  f"float Brian2 reference)") from None
        rasters, weights = {}, {}
        for name in backends:
            if name == BRIAN2:
                from ..model.brian2_ref import brian2_network_run

                result = brian2_network_run(network, spec.input_raster(steps), steps,
                                            rounding=rounding, learn=learn)
                rasters[name], weights[name] = result if learn else (result, None)
            elif name == BRIAN2_PHYSICAL:
                rasters[name], weights[name] = _physical_run(spec, steps, learn)
            else:
                record = run_spec(devices[name], spec, steps=steps, learn=learn)
                rasters[name], weights[name] = record.spikes, record.W_after
    finally:
        for device in devices.values():
            device.close()

    plastic = np.asarray(network.mask, dtype=bool)
    initial = network.W[plastic]
    pairs = []
    for first, second in itertools.combinations(backends, 2):
        pair = {"reference": first, "other": second,
                **spike_agreement(rasters[first], rasters[second], window)}
        if learn:
            pair["weights"] = weight_agreement(weights[first][plastic],
                                               weights[second][plastic], initial,
                                               g.w_min, g.w_max, bins)
        pairs.append(pair)
    report = {
        "network": spec.name,
        "steps": steps,
        "window": int(window),
        "backends": backends,
        "learn": learn,
        "spikes": {name: int(raster.sum()) for name, raster in rasters.items()},
        "pairs": pairs,
    }
    if learn:
        # the mean rate (spikes per step and neuron) in each quarter of the run: how the
        # rates move while the weights learn
        report["rate_quarters"] = {name: [float(part.mean()) if part.size else 0.0
                                          for part in np.array_split(raster, 4)]
                                   for name, raster in rasters.items()}
        report["w_min"], report["w_max"] = int(g.w_min), int(g.w_max)
        report["weights"] = {name: weight_summary(weights[name][plastic], initial, g.w_min,
                                                  g.w_max, bins)
                             for name in backends}
    return report
