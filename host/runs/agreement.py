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

:func:`agreement_report` runs a network file's network on several backends (``brian2``: the
float reference of :mod:`spikeforge.host.model.brian2_ref`; anything else a device URL or name for
:func:`~spikeforge.host.device.open_device`) with learning off and compares every pair.
"""

import itertools

import numpy as np

from spikeforge.config import ConfigError

from ..device import DeviceError, open_device
from .results import run_spec

__all__ = ["spike_agreement", "coincidence_count", "agreement_report", "BRIAN2"]

#: The backend name of the float Brian2 reference.
BRIAN2 = "brian2"


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


def _device_url(name):
    if "://" in name or "/" in name or name.upper().startswith("COM"):
        return name
    return f"{name}://"


def agreement_report(spec, backends=(BRIAN2, "model", "sim"), steps=None, window=2, *,
                     rounding="float"):
    """Run ``spec`` (a :class:`~spikeforge.host.formats.netfile.NetworkSpec`) on every backend with
    learning off and compare the spike rasters of every pair.

    ``backends``: ``"brian2"`` (the float Brian2 reference; ``rounding`` is passed to
    :func:`~spikeforge.host.model.brian2_ref.brian2_network_run`), device names (``model``,
    ``sim``) or device URLs. All run the same input raster (``spec.input_raster(steps)``),
    from the zero state. ``steps`` defaults to the file's ``[run] steps``.

    Returns ``{"network", "steps", "window", "backends", "spikes" {backend: count},
    "pairs": [{"reference", "other", **spike_agreement(...)}, ...]}`` with one pair per
    combination, in the order the backends are given (the first of a pair is the reference).
    Devices are opened before anything runs, so a bad name fails at once with a
    :class:`ConfigError`. The twin and a correct device are expected to agree exactly
    (Γ = 1, no rate error).
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
    if g.poisson_on and spec.config.has_poisson and np.any(network.poisson_rate > 0):
        fix = ("set on_chip = false in its [sources.NAME] table (the host then draws the "
               "spikes)" if getattr(spec, "compiled", None) is not None else
               "set [globals] poisson_on = 0 and give the inputs as [inputs] rate or spikes")
        raise ConfigError("the network draws on-chip Poisson inputs (poisson_on = 1), which the "
                          "Brian2 reference does not model and which make the input raster "
                          f"device-dependent: {fix}")

    devices = {}
    try:
        for name in backends:
            if name == BRIAN2:
                continue
            url = _device_url(name)
            try:
                devices[name] = open_device(url, spec.config)
            except DeviceError as error:
                raise ConfigError(f"cannot open backend {name!r}: {error} (or brian2 for the "
                                  f"float Brian2 reference)") from None
        rasters = {}
        for name in backends:
            if name == BRIAN2:
                from ..model.brian2_ref import brian2_network_run

                rasters[name] = brian2_network_run(network, spec.input_raster(steps), steps,
                                                   rounding=rounding)
            else:
                rasters[name] = run_spec(devices[name], spec, steps=steps, learn=False).spikes
    finally:
        for device in devices.values():
            device.close()

    pairs = []
    for first, second in itertools.combinations(backends, 2):
        pairs.append({"reference": first, "other": second,
                      **spike_agreement(rasters[first], rasters[second], window)})
    return {
        "network": spec.name,
        "steps": steps,
        "window": int(window),
        "backends": backends,
        "spikes": {name: int(raster.sum()) for name, raster in rasters.items()},
        "pairs": pairs,
    }
