"""Song, Miller & Abbott (2000) plasticity check on the twin.

One neuron (N=1) receives ``inputs`` independent Poisson (Bernoulli per step) spike trains
through plastic synapses. Additive pair-based STDP with depression slightly stronger than
potentiation makes the synapses compete: those whose spikes tend to precede output spikes
grow, the rest shrink, and the weight distribution becomes bimodal — most weights end near
``w_min`` or ``w_max`` — while the output rate settles at a value set by the balance of the
two (Song, Miller & Abbott, Nature Neuroscience 3:919, 2000, Fig. 1; the Brian2 example
``frompapers/Song_Miller_Abbott_2000`` reproduces it).

The model is the core's integer model (``docs/model.md``): exponential current synapse
(``alpha_i``), leaky membrane (``alpha_v``), pre traces ``xin`` and post trace ``y`` with equal
time constants (``alpha_x = alpha_y``, 20 steps). Potentiation ``(a_plus * xin) >> stdp_shift``
is applied at each output spike, depression ``(a_minus * y) >> stdp_shift`` at each input
spike; :func:`stdp_windows` gives the resulting integer windows: with the defaults one pair
potentiates by 1 for input-before-output lags 0..6 and depresses by 1 for output-before-input
lags 1..8, so summed depression exceeds summed potentiation by 1/7 (Song et al. used 5 %;
finer ratios need larger steps per pair, which widen the final distribution).
"""

import time

import numpy as np

from spikeforge.config import CoreConfig

from ..model.params import GlobalParams, Network, NeuronParams
from ..model.quantize import fraction_factor
from ..model.fast import make_twin
from ..model.twin import dec

__all__ = ["SONG2000_DEFAULTS", "song2000_network", "stdp_windows", "bimodality",
           "run_song2000"]

#: Default parameters of :func:`run_song2000` (one time step stands for 1 ms).
SONG2000_DEFAULTS = dict(
    inputs=200,         # Poisson input lines
    rate=0.02,          # spike probability per step of every input (20 Hz at 1 ms steps)
    thr=2000,           # output threshold
    refrac=2,           # output refractory steps
    alpha_v=0.905,      # membrane decay per step (time constant 10 steps)
    alpha_i=0.6,        # synaptic current decay per step (time constant 2 steps)
    w_min=0, w_max=127,
    a_plus=24, a_minus=26, stdp_shift=10,
    x_inc=64, y_inc=64,
    alpha_x=0.951, alpha_y=0.951,   # trace time constants 20 steps
)


def _fraction(config, value):
    return fraction_factor(value, config.decay_bits)


def song2000_network(rng, **overrides):
    """The one-neuron network, initial input weights uniform in ``[w_min, w_max]``."""
    p = dict(SONG2000_DEFAULTS)
    p.update(overrides)
    config = CoreConfig(neurons=1, inputs=int(p["inputs"]))
    neuron = NeuronParams.full(
        config, thr=p["thr"], v_reset=0, reset_sub=0, refrac=p["refrac"],
        alpha_v=_fraction(config, p["alpha_v"]), alpha_i=_fraction(config, p["alpha_i"]),
        bias=0, theta_inc=0, alpha_th=0)
    glob = GlobalParams(
        w_shift=0, w_min=p["w_min"], w_max=p["w_max"], a_plus=p["a_plus"],
        a_minus=p["a_minus"], stdp_shift=p["stdp_shift"], x_inc=p["x_inc"], y_inc=p["y_inc"],
        alpha_x=_fraction(config, p["alpha_x"]), alpha_y=_fraction(config, p["alpha_y"]))
    W = np.zeros((config.rows, 1), dtype=np.int64)
    W[1:, 0] = rng.integers(p["w_min"], p["w_max"], size=config.inputs, endpoint=True)
    mask = np.zeros((config.rows, 1), dtype=bool)
    mask[1:] = True            # the input synapses learn; the self-synapse (0) stays 0
    return Network(config, neuron, glob, W, mask).validate()


def stdp_windows(network, lags=200):
    """The integer STDP windows of ``network`` for one isolated pre/post pair.

    Returns ``(ltp, ltd)``: ``ltp[k]`` is the potentiation when the input spike arrives ``k``
    steps before the output spike (``k = 0``: same step), ``ltd[k - 1]`` the depression when
    it arrives ``k >= 1`` steps after it.
    """
    g, F = network.global_params, network.config.decay_bits

    def window(inc, alpha, rate):
        trace, out = inc, []
        for _ in range(lags):
            out.append((rate * trace) >> g.stdp_shift)
            trace = dec(trace, alpha, F)
        return np.array(out, dtype=np.int64)

    return window(g.x_inc, g.alpha_x, g.a_plus), window(g.y_inc, g.alpha_y, g.a_minus)


def bimodality(weights, w_min, w_max, edge=0.2, bins=10):
    """Measures of how bimodal a weight distribution is.

    ``frac_low`` / ``frac_high``: shares of weights in the lowest / highest ``edge`` of the
    range ``[w_min, w_max]``; ``frac_ends`` their sum; ``histogram``: counts in ``bins`` equal
    bins over the range; ``sarle_b``: Sarle's bimodality coefficient
    ``(skewness^2 + 1) / (excess kurtosis + 3 (n-1)^2 / ((n-2)(n-3)))`` (5/9 for a uniform
    distribution, above it for bimodal ones, 1 for two spikes).
    """
    w = np.asarray(weights, dtype=float).ravel()
    span = float(w_max - w_min)
    low = w <= w_min + edge * span
    high = w >= w_max - edge * span
    n = w.size
    centred = w - w.mean()
    m2 = np.mean(centred ** 2)
    if m2 > 0 and n > 3:
        skew = np.mean(centred ** 3) / m2 ** 1.5
        kurt = np.mean(centred ** 4) / m2 ** 2 - 3.0
        sarle = (skew ** 2 + 1.0) / (kurt + 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    else:
        sarle = float("nan")
    histogram, edges = np.histogram(w, bins=bins, range=(w_min, w_max))
    return {"frac_low": float(low.mean()), "frac_high": float(high.mean()),
            "frac_ends": float(low.mean() + high.mean()), "sarle_b": float(sarle),
            "histogram": histogram, "bin_edges": edges, "mean": float(w.mean())}


def run_song2000(steps=150_000, seed=0, chunk=10_000, device=None, **overrides):
    """Run the Song-2000 experiment for ``steps`` steps with learning on, on the twin or, when
    ``device`` is given, on that :class:`~spikeforge.host.device.Device` (same network, same
    input spikes: the final weights are bit-identical).

    Keyword arguments override :data:`SONG2000_DEFAULTS`. Returns a dict: ``initial`` and
    ``final`` input weights, ``histogram`` and the other :func:`bimodality` measures of the
    final weights (and ``initial_bimodality``), ``post_rate`` (output spikes per step over the
    whole run and over its last fifth), the integer STDP windows and the ratio of their sums,
    ``steps`` and ``wall_s``.
    """
    params = dict(SONG2000_DEFAULTS)
    params.update(overrides)
    rng = np.random.default_rng(seed)
    network = song2000_network(rng, **overrides)
    twin = make_twin(network)
    if device is not None:
        device.load_network(network)
        device.reset("state")
    m = network.config.inputs
    initial = network.W[1:, 0].copy()
    spikes = np.zeros(steps, dtype=bool)
    start = time.perf_counter()
    done = 0
    while done < steps:
        count = min(chunk, steps - done)
        raster = rng.random((count, m)) < params["rate"]
        if device is None:
            spikes[done:done + count] = twin.run(raster, learn=True)["spikes"][:, 0]
        else:
            spikes[done:done + count] = device.run(inputs=raster, learn=True).spikes[:, 0]
        done += count
    wall = time.perf_counter() - start
    final = np.array((twin.W if device is None else device.read_network().W)[1:, 0],
                     dtype=np.int64)
    ltp, ltd = stdp_windows(network)
    result = bimodality(final, params["w_min"], params["w_max"])
    tail = spikes[-max(1, steps // 5):]
    result.update({
        "initial": initial, "final": final,
        "initial_bimodality": bimodality(initial, params["w_min"], params["w_max"]),
        "post_rate": float(spikes.mean()) if steps else 0.0,
        "post_rate_end": float(tail.mean()) if steps else 0.0,
        "ltp_window": ltp, "ltd_window": ltd,
        "depression_ratio": float(ltd.sum() / max(1, ltp.sum())),
        "steps": steps, "seed": seed, "params": params, "wall_s": wall})
    return result
