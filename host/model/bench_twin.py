"""Speed of the numpy twin against Brian2 on the same network.

Both simulators run N leaky integrate-and-fire neurons with exponential current synapses,
all-to-all recurrent connections (no self-connections), all-to-all input connections from M
Poisson inputs (about 10 % per step), and pair-based STDP on every synapse, with 1 ms steps.
The twin is integer and bit-exact to the RTL; Brian2 uses floating point with the time
constants derived from the twin's decay factors, ``tau = -1 / ln(alpha / 2^F)`` steps, and the
same thresholds, weights and learning constants in the twin's units.

Timing (``time.perf_counter``, one process): the twin's ``run``; Brian2's ``Network.run``
after construction and after one warm-up step that triggers code generation (and compilation
for the cython target), so the figure is the steady simulation speed.
"""

import math
import time

import numpy as np

from spikeforge.config import CoreConfig

from .params import GlobalParams, Network, NeuronParams
from .twin import Twin

__all__ = ["bench_twin_vs_brian2", "bench_network"]


def bench_network(config, seed=0):
    """The benchmark network: default LIF and STDP parameters, weak excitatory input weights
    and weak, mostly inhibitory recurrent weights (no self-connections), firing a few percent
    of the neurons per step at 10 % input activity. Returns a :class:`Network`."""
    rng = np.random.default_rng(seed)
    n, m = config.neurons, config.inputs
    w_low, w_high = config.weight_range
    W = np.zeros((config.rows, n), dtype=np.int64)
    W[:n] = rng.integers(w_low // 16, w_high // 32, size=(n, n), endpoint=True)
    np.fill_diagonal(W[:n], 0)
    W[n:] = rng.integers(0, w_high // 12, size=(m, n), endpoint=True)
    mask = np.ones(W.shape, dtype=bool)
    mask[np.arange(n), np.arange(n)] = False  # no self-connection to learn
    neuron = NeuronParams.default(config)
    glob = GlobalParams.default(config)
    return Network(config, neuron, glob, W, mask).validate()


def _import_brian2():
    try:
        import brian2
    except ImportError:
        raise RuntimeError("Brian2 is not installed; the comparison needs it: "
                           "pip install brian2 (scripts/setup installs it)") from None
    except Exception as error:  # e.g. a Brian2 release older than the installed numpy
        raise RuntimeError(
            f"Brian2 is installed but fails to import with numpy {np.__version__}: "
            f"{type(error).__name__}: {error}. Install a numpy that this Brian2 supports "
            f"(for Brian2 2.9: pip install 'numpy<2.4') or a newer Brian2 "
            f"(pip install -U brian2)") from None
    return brian2


def _cython_works(b2):
    try:
        import Cython  # noqa: F401
    except ImportError:
        return False
    try:
        return bool(b2.codegen.cpp_prefs.get_compiler_and_args()[0] is not None)
    except Exception:
        return True


def _tau_steps(alpha, decay_bits):
    """Time constant in steps of the decay factor ``alpha / 2^F`` (infinite for no decay
    loss, a tiny one for alpha = 0)."""
    factor = alpha / (1 << decay_bits)
    if factor <= 0:
        return 1e-3
    return -1.0 / math.log(factor)


def _run_brian2(network, raster, target):
    b2 = _import_brian2()
    from brian2 import (NeuronGroup, Synapses, SpikeGeneratorGroup, Network as B2Network,
                        ms, defaultclock, prefs, SpikeMonitor)

    prefs.codegen.target = target
    b2.BrianLogger.suppress_name("base")
    b2.BrianLogger.log_level_error()
    config = network.config
    p, g = network.neuron_params, network.global_params
    n, m = config.neurons, config.inputs
    steps = raster.shape[0]
    F = config.decay_bits
    defaultclock.dt = 1 * ms
    ns = {
        "tau_v": _tau_steps(int(p.alpha_v[0]), F) * ms,
        "tau_i": _tau_steps(int(p.alpha_i[0]), F) * ms,
        "tau_x": _tau_steps(g.alpha_x, F) * ms,
        "tau_y": _tau_steps(g.alpha_y, F) * ms,
        "thr": float(p.thr[0]), "v_reset": float(p.v_reset[0]),
        "scale": float(2 ** g.w_shift), "bias": float(p.bias[0]),
        "w_min": float(g.w_min), "w_max": float(g.w_max),
        "k_plus": g.a_plus / 2 ** g.stdp_shift, "k_minus": g.a_minus / 2 ** g.stdp_shift,
        "x_inc": float(g.x_inc), "y_inc": float(g.y_inc),
        "x_top": float((1 << config.trace_bits) - 1), "y_top": float((1 << config.trace_bits) - 1),
        "step": 1 * ms,
    }
    start = time.perf_counter()
    neurons = NeuronGroup(
        n, """dv/dt = -v / tau_v + I / step : 1 (unless refractory)
              dI/dt = -I / tau_i + bias / step : 1""",
        threshold="v >= thr", reset="v = v_reset",
        refractory=int(p.refrac[0]) * ms, method="exact", namespace=ns)
    stdp_model = """w : 1
                    dxpre/dt = -xpre / tau_x : 1 (event-driven)
                    dypost/dt = -ypost / tau_y : 1 (event-driven)"""
    on_pre = """I_post += w * scale
                w = clip(w - k_minus * ypost, w_min, w_max)
                xpre = clip(xpre + x_inc, 0, x_top)"""
    on_post = """ypost = clip(ypost + y_inc, 0, y_top)
                 w = clip(w + k_plus * xpre, w_min, w_max)"""
    times = np.nonzero(raster)
    source = SpikeGeneratorGroup(m, times[1], times[0] * ms)
    recurrent = Synapses(neurons, neurons, stdp_model, on_pre=on_pre, on_post=on_post,
                         namespace=ns)
    recurrent.connect(condition="i != j")
    recurrent.w = network.W[:n][~np.eye(n, dtype=bool)].astype(float)
    inputs = Synapses(source, neurons, stdp_model, on_pre=on_pre, on_post=on_post,
                      namespace=ns)
    inputs.connect()
    inputs.w = network.W[n:].reshape(-1).astype(float)
    spikes = SpikeMonitor(neurons, record=False)
    net = B2Network(neurons, source, recurrent, inputs, spikes)
    net.store()
    net.run(1 * ms)  # code generation (and compilation) happen here
    net.restore()
    setup = time.perf_counter() - start
    start = time.perf_counter()
    net.run(steps * ms)
    elapsed = time.perf_counter() - start
    return elapsed, setup, int(spikes.num_spikes)


def bench_twin_vs_brian2(steps=10000, neurons=100, inputs=64, seed=0, rate=0.1,
                         target="auto"):
    """Time ``steps`` steps of the benchmark network in the twin and in Brian2.

    ``target`` is the Brian2 code generation target: ``"numpy"``, ``"cython"`` or ``"auto"``
    (cython when a compiler and Cython are available, else numpy).

    Returns ``{'twin_steps_per_s', 'brian2_steps_per_s', 'ratio' (twin / Brian2),
    'brian2_target', 'steps', 'neurons', 'inputs'}`` plus the spike rates of both
    simulators and Brian2's set-up time (construction and code generation).
    """
    b2 = _import_brian2()
    config = CoreConfig(neurons=neurons, inputs=inputs, stdp=True, adaptive_threshold=False)
    network = bench_network(config, seed)
    rng = np.random.default_rng(seed + 1)
    raster = rng.random((steps, inputs)) < rate

    twin = Twin(network)
    start = time.perf_counter()
    out = twin.run(raster, learn=True)
    twin_time = time.perf_counter() - start

    if target == "auto":
        target = "cython" if _cython_works(b2) else "numpy"
    try:
        b2_time, b2_setup, b2_spikes = _run_brian2(network, raster, target)
    except Exception:
        if target != "cython":
            raise
        target = "numpy"
        b2_time, b2_setup, b2_spikes = _run_brian2(network, raster, target)
    return {
        "twin_steps_per_s": steps / twin_time,
        "brian2_steps_per_s": steps / b2_time,
        "ratio": b2_time / twin_time,
        "brian2_target": target,
        "steps": steps,
        "neurons": neurons,
        "inputs": inputs,
        "twin_spike_rate": float(out["spikes"].mean()),
        "brian2_spike_rate": b2_spikes / (steps * neurons),
        "brian2_setup_s": b2_setup,
    }


if __name__ == "__main__":  # pragma: no cover
    for key, value in bench_twin_vs_brian2().items():
        print(f"{key:>20}: {value:.4g}" if isinstance(value, float) else f"{key:>20}: {value}")
