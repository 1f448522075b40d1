"""Speed of the twin against Brian2 on the same network, rate-matched, and of the batched twin.

The network (:func:`bench_network`): N leaky integrate-and-fire neurons with exponential
current synapses, all-to-all recurrent weights (no self-connections), all-to-all input weights
from M = 64 inputs spiking with probability 0.1 per step, pair STDP on every synapse (or
learning off), steps of 1 ms.

How the Brian2 network is made to do what the core does (so that both fire the same spikes):
it is the integer model of ``docs/model.md`` written as a float Brian2 model, as
:mod:`.brian2_ref` builds it (one ``run_regularly`` neuron update in the model's order of
operations, with its saturation bounds, refractory hold and reset; inputs arriving in their
step and recurrent spikes one step later), with STDP as the core does it:

* traces are per source and per neuron, as in the core: the post trace ``y`` and the pre trace
  ``x`` of a neuron are neuron variables, decayed in the update; ``y`` grows on a spike, ``x``
  when the spike arrives (from last step's spike flag); the inputs are a group that spikes as
  the raster says (a ``TimedArray``) and carries its own trace;
* depression on a pre-synaptic arrival, before the neuron update, by ``floor(k_minus * y_post)``
  with ``y`` from the start of the step; potentiation by ``floor(k_plus * x_pre)`` on a post
  spike *in the step of the spike, after the neuron update* (the post pathway is scheduled
  after the threshold), so pre-before-post in one step sees the incremented pre trace;
  ``k = a / 2^stdp_shift``, weights clipped to ``[w_min, w_max]``, traces to their range;
* every decay rounds toward zero (``brian2_ref``'s ``rounding="toward_zero"``): all values are
  integers held exactly in float64.

Measured: both fire exactly the same spikes (the counts are printed side by side). With
float decays (no rounding) and per-synapse event-driven pre traces, the usual Brian2 STDP
idiom, the learning runs drift apart by 30-130 % in spike count: learning amplifies the
rounding differences, so a rate-matched comparison needs the core's rounding. Its cost to
Brian2 is a ``floor`` per neuron variable per step and one per STDP update.

Timing: CPU seconds (``time.process_time`` for in-process runs; ``getrusage(RUSAGE_CHILDREN)``
for the ``cpp_standalone`` binary, whose build — code generation and compilation — is timed
apart and not counted). Brian2's runtime targets are timed around ``Network.run`` after a
warm-up step that triggers code generation and compilation. Contenders are interleaved,
repeated, and the median is reported with the load average.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from spikeforge._extras import install_hint
from spikeforge.config import CoreConfig

from .fast import BatchTwin, CompiledTwin, kernel_name
from .params import GlobalParams, Network, NeuronParams, random_network
from .twin import Twin

__all__ = ["bench_twin_vs_brian2", "bench_batch", "bench_network", "bench_raster",
           "RATE_TOLERANCE"]

#: largest relative difference of the twin's and Brian2's firing rates for "rate-matched"
RATE_TOLERANCE = 0.05
INPUTS = 64
INPUT_RATE = 0.1


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


def bench_config(neurons, learn=True):
    return CoreConfig(neurons=neurons, inputs=INPUTS, stdp=True, adaptive_threshold=False,
                      poisson=False)


def bench_raster(steps, seed=0):
    """The input spikes of the benchmark: ``(steps, 64)``, each entry true with p = 0.1."""
    rng = np.random.default_rng(seed + 1)
    return rng.random((steps, INPUTS)) < INPUT_RATE


def _load_average():
    """The 1-minute load average (NaN where the platform has none, e.g. Windows)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _import_brian2():
    try:
        import brian2
    except ImportError:
        raise RuntimeError(f"Brian2 is not installed; the comparison needs it: "
                           f"{install_hint('compare')}") from None
    except Exception as error:  # e.g. a Brian2 release older than the installed numpy
        raise RuntimeError(
            f"Brian2 is installed but fails to import with numpy {np.__version__}: "
            f"{type(error).__name__}: {error}. Install a numpy that this Brian2 supports "
            f"(for Brian2 2.9: pip install 'numpy<2.4') or a newer Brian2 "
            f"(pip install -U brian2)") from None
    return brian2


# -- the Brian2 side (runs in a worker process: one Brian2 device and target per process) -----

def _build_brian2(network, raster, learn):
    """Brian2 objects of the benchmark network (see the module docstring); returns the
    ``Network`` and its ``SpikeMonitor``."""
    from brian2 import (NeuronGroup, Network as B2Network, SpikeMonitor, Synapses, TimedArray,
                        ms)

    from .brian2_ref import _NEURON_MODEL, _RESET, _update_code

    config = network.config
    n, m = config.neurons, config.inputs
    p, g = network.neuron_params, network.global_params
    scale = float(1 << config.decay_bits)
    dt = 1 * ms
    namespace = {
        "v_low": float(config.v_range[0]), "v_high": float(config.v_range[1]),
        "v_floor": float(config.v_range[0]),   # the benchmark's core has no membrane floor
        "i_low": float(config.i_range[0]), "i_high": float(config.i_range[1]),
        "scale": float(2 ** g.w_shift), "theta_top": float((1 << config.theta_bits) - 1),
        "alpha_x": g.alpha_x / scale, "alpha_y": g.alpha_y / scale,
        "x_inc": float(g.x_inc), "y_inc": float(g.y_inc),
        "trace_top": float((1 << config.trace_bits) - 1),
        "w_min": float(g.w_min), "w_max": float(g.w_max),
        "k_plus": g.a_plus / 2 ** g.stdp_shift, "k_minus": g.a_minus / 2 ** g.stdp_shift,
        "spk": TimedArray(raster.astype(float), dt=dt),
    }
    # the pre trace x of a neuron counts its spike when it arrives (one step after it),
    # so it is updated from last step's spike flag before the flag is recomputed
    model, update, reset = _NEURON_MODEL, _update_code("toward_zero"), _RESET
    if learn:
        model += "y : 1\nx : 1\n"
        update = ("x = clip(floor(alpha_x * x) + x_inc * int(fired), 0, trace_top)\n" + update
                  + "y = floor(alpha_y * y)\n")
        reset += "y = clip(y + y_inc, 0, trace_top)\n"
    neurons = NeuronGroup(n, model, threshold="fired", reset=reset, dt=dt,
                          namespace=namespace, name="bench_neurons")
    neurons.thr = p.thr.astype(float)
    neurons.v_reset = p.v_reset.astype(float)
    neurons.reset_sub = p.reset_sub.astype(float)
    neurons.refrac = p.refrac
    neurons.alpha_v = p.alpha_v / scale
    neurons.alpha_i = p.alpha_i / scale
    neurons.bias = p.bias.astype(float)
    neurons.theta_inc = 0.0
    neurons.alpha_th = 0.0
    neurons.run_regularly(update, when="after_synapses", name="bench_update")
    neurons.set_event_schedule("spike", when="before_resets")

    # the inputs: a group that spikes as the raster says, in its step, carrying its trace
    inputs = NeuronGroup(m, "x : 1", threshold="spk(t, i) > 0.5",
                         reset="x = clip(x + x_inc, 0, trace_top)" if learn else "",
                         dt=dt, namespace=namespace, name="bench_inputs")
    objects = [neurons, inputs]
    if learn:
        inputs.run_regularly("x = floor(alpha_x * x)", when="after_synapses",
                             name="bench_input_traces")
        on_pre = """acc_post += w
                    w = clip(w - floor(k_minus * y_post), w_min, w_max)"""
        on_post = "w = clip(w + floor(k_plus * x_pre), w_min, w_max)"
    else:
        on_pre, on_post = "acc_post += w", None
    recurrent = Synapses(neurons, neurons, "w : 1", on_pre=on_pre, on_post=on_post,
                         delay=0 * dt, dt=dt, namespace=namespace, name="bench_recurrent")
    recurrent.connect(condition="i != j")
    recurrent.w = network.W[:n][~np.eye(n, dtype=bool)].astype(float)
    feed = Synapses(inputs, neurons, "w : 1", on_pre=on_pre, on_post=on_post, delay=0 * dt,
                    dt=dt, namespace=namespace, name="bench_input_synapses")
    feed.connect()
    feed.w = network.W[n:].reshape(-1).astype(float)
    if learn:
        # potentiation in the step of the post spike, after the neuron update and threshold
        for S in (recurrent, feed):
            S.post.when = "after_resets"
    monitor = SpikeMonitor(neurons, record=False, name="bench_spikes")
    return B2Network(*objects, recurrent, feed, monitor), monitor


def _worker(spec):
    """Build and run the Brian2 network of ``spec`` (neurons, learn, steps, seed, target,
    directory); returns a dict of figures. Runs in its own process."""
    b2 = _import_brian2()
    from brian2 import ms, prefs, set_device, device

    b2.BrianLogger.suppress_name("base")
    b2.BrianLogger.log_level_error()
    config = bench_config(spec["neurons"])
    network = bench_network(config, spec["seed"])
    raster = bench_raster(spec["steps"], spec["seed"])
    steps, target = spec["steps"], spec["target"]
    if target == "cpp_standalone":
        set_device("cpp_standalone", directory=spec["directory"], build_on_run=False)
        start = time.perf_counter()
        net, monitor = _build_brian2(network, raster, spec["learn"])
        net.run(steps * ms)
        device.build(directory=spec["directory"], compile=True, run=False, clean=True)
        build = time.perf_counter() - start
        binary = os.path.join(spec["directory"], "main")
        cpu, inner = _rerun_binary(binary)
        device.run(directory=spec["directory"], with_output=False)   # to read the results
        return {"build_s": build, "cpu_s": cpu, "inner_s": inner,
                "spikes": int(monitor.num_spikes), "binary": binary}
    prefs.codegen.target = target
    start = time.perf_counter()
    net, monitor = _build_brian2(network, raster, spec["learn"])
    net.store()
    net.run(1 * ms)  # code generation (and compilation for cython) happen here
    net.restore()
    build = time.perf_counter() - start
    cpu0 = time.process_time()
    net.run(steps * ms)
    cpu = time.process_time() - cpu0
    return {"build_s": build, "cpu_s": cpu, "spikes": int(monitor.num_spikes)}


def _run_worker(spec):
    result = subprocess.run([sys.executable, "-m", "spikeforge.host.model.bench_twin",
                             "--worker", json.dumps(spec)], capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"Brian2 ({spec['target']}, N={spec['neurons']}) failed: {tail}")
    return json.loads(lines[-1])


def _rerun_binary(binary):
    """Run a built cpp_standalone binary; returns its CPU seconds (the whole process:
    start, loading its arrays, the run, writing results) and the run time the binary measures
    itself around its simulation loop (``std::clock``, CPU time of the process, written to
    ``results/last_run_info.txt``)."""
    import resource     # POSIX only, like the cpp_standalone target it times

    folder = os.path.dirname(binary)
    os.makedirs(os.path.join(folder, "results"), exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, "--results_dir", os.path.join(folder, "results", "")],
                   cwd=folder, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(os.path.join(folder, "results", "last_run_info.txt")) as info:
        inner = float(info.read().split()[0])
    return cpu, inner


def _cython_works():
    try:
        import Cython  # noqa: F401
    except ImportError:
        return False
    return True


# -- the twin side ------------------------------------------------------------------------------

def _time_twin(cls, network, raster, learn):
    twin = cls(network)
    start = time.process_time()
    out = twin.run(raster, learn=learn)
    return time.process_time() - start, int(out["spikes"].sum())


def _median(values):
    return float(np.median(values)) if values else None


def bench_twin_vs_brian2(steps=10000, neurons=(100, 256, 1000), learn=(True, False),
                         targets=("numpy", "cython", "cpp_standalone"), repeats=3, seed=0,
                         progress=None):
    """Steps per CPU-second of the compiled twin, the numpy twin and Brian2 (each target in
    ``targets``) on the benchmark network, for every size in ``neurons`` and every learning
    setting in ``learn``.

    Every contender runs ``repeats`` times, interleaved; figures are medians. Returns a dict
    with ``cases`` (one per size and learning setting: steps per CPU-second of each contender,
    spike rates, whether they match within :data:`RATE_TOLERANCE`, Brian2 build times, the
    compiled twin's ratio to each Brian2 target) and the load average.
    """
    _import_brian2()
    say = progress or (lambda text: None)
    targets = [t for t in targets if t != "cython" or _cython_works()]
    compiled = kernel_name() == "compiled"
    workdir = tempfile.mkdtemp(prefix="spikeforge-bench-brian2-")
    cases = []
    load = [_load_average()]
    for n in neurons:
        config = bench_config(n)
        network = bench_network(config, seed)
        raster = bench_raster(steps, seed)
        for learning in learn:
            name = f"N={n} learning {'on' if learning else 'off'}"
            cpu = {key: [] for key in ["twin compiled", "twin numpy"]
                   + [f"brian2 {t}" for t in targets]}
            if not compiled:
                del cpu["twin compiled"]
            spikes, build, binaries, failed = {}, {}, {}, {}
            for rep in range(repeats):
                say(f"{name}: round {rep + 1} of {repeats}")
                if compiled:
                    _time_twin(CompiledTwin, network, raster[:10], learning)  # loads the kernel
                    seconds, count = _time_twin(CompiledTwin, network, raster, learning)
                    cpu["twin compiled"].append(seconds)
                    spikes["twin compiled"] = count
                seconds, count = _time_twin(Twin, network, raster, learning)
                cpu["twin numpy"].append(seconds)
                spikes["twin numpy"] = count
                for target in targets:
                    key = f"brian2 {target}"
                    if key in failed:
                        continue
                    if target == "cpp_standalone" and key in binaries:
                        seconds, inner = _rerun_binary(binaries[key])
                        cpu[key].append(seconds)
                        cpu[key + " (run loop only)"].append(inner)
                        continue
                    spec = {"neurons": n, "learn": learning, "steps": steps, "seed": seed,
                            "target": target,
                            "directory": os.path.join(workdir, f"N{n}-{int(learning)}")}
                    try:
                        result = _run_worker(spec)
                    except RuntimeError as error:  # e.g. no C++ compiler for this target
                        if target == "numpy":
                            raise
                        failed[key] = str(error)
                        say(f"{name}: {error}; the other contenders go on")
                        del cpu[key]
                        continue
                    cpu[key].append(result["cpu_s"])
                    spikes[key] = result["spikes"]
                    build.setdefault(key, result["build_s"])
                    if "binary" in result:
                        binaries[key] = result["binary"]
                        cpu.setdefault(key + " (run loop only)", []).append(result["inner_s"])
                load.append(_load_average())
            rate = {key: count / (steps * n) for key, count in spikes.items()}
            twin_rate = rate["twin numpy"]
            if compiled and spikes["twin compiled"] != spikes["twin numpy"]:
                raise RuntimeError(f"{name}: the compiled twin fired {spikes['twin compiled']} "
                                   f"spikes, the numpy twin {spikes['twin numpy']}")
            brian_rates = {key: value for key, value in rate.items() if key.startswith("brian2")}
            mismatch = max((abs(value - twin_rate) / twin_rate for value in brian_rates.values()),
                           default=0.0)
            speed = {key: steps / _median(values) for key, values in cpu.items()}
            case = {
                "neurons": n, "inputs": INPUTS, "learning": learning, "steps": steps,
                "steps_per_cpu_s": speed, "cpu_s_medians": {k: _median(v) for k, v in cpu.items()},
                "spike_rate": rate, "rate_mismatch": mismatch,
                "rates_matched": bool(mismatch <= RATE_TOLERANCE),
                "brian2_build_s": build, "brian2_failed": failed,
            }
            best = "twin compiled" if compiled else "twin numpy"
            case["speedup"] = {key: speed[best] / speed[key] for key in speed
                               if key.startswith("brian2")}
            case["speedup_numpy_twin"] = {key: speed["twin numpy"] / speed[key]
                                          for key in speed if key.startswith("brian2")}
            cases.append(case)
            say(f"{name}: " + ", ".join(f"{k} {v:,.0f}" for k, v in speed.items())
                + f" steps/CPU-s; rates {twin_rate:.4f} (twin) "
                + " ".join(f"{v:.4f}" for v in brian_rates.values()))
    return {
        "cases": cases, "repeats": repeats, "twin_kernel": "compiled" if compiled else "numpy",
        "load_average": {"min": min(load), "median": _median(load), "max": max(load)},
        "network": ("LIF + exponential current synapses, all-to-all recurrent (no self) and "
                    f"input weights, {INPUTS} inputs at p={INPUT_RATE} per step, pair STDP, "
                    "1 ms steps (bench_network)"),
        "rate_matching": ("Brian2 runs the core's integer model in float64 (brian2_ref): the "
                          "docs/model.md step order (inputs arrive in their step, recurrent "
                          "spikes one step later), saturation, refractory hold, decays rounded "
                          "toward zero; per-neuron pre and post traces; depression on arrival "
                          "with the post trace from before the step, potentiation in the step "
                          "of the post spike after the neuron update, both floor(k * trace). "
                          "Spike counts are compared: rate_mismatch is their relative "
                          "difference."),
        "timing": ("CPU seconds; Brian2 runtime targets around Network.run after a warm-up "
                   "step; cpp_standalone: the binary's CPU time (getrusage of the child: "
                   "start, loading, run, writing results) and, as '(run loop only)', the "
                   "CPU time the binary measures around its simulation loop (std::clock); "
                   "build time apart; medians of interleaved repeats"),
    }


# -- the batched twin ---------------------------------------------------------------------------

def bench_batch(sizes=(1, 8, 64), neurons=100, steps=500, repeats=3, learn=True, seed=0,
                progress=None):
    """Speed of the batched twin: ``B`` random networks of one configuration (different
    weights, parameters and inputs) advanced together against the same ``B`` networks run one
    after another, for every ``B`` in ``sizes``; medians of interleaved repeats, CPU seconds.

    Sequential runs are timed with the numpy twin (what a loop over ``Twin`` does) and with
    the compiled twin; the batch with the compiled kernel. Before timing, every member's
    spikes are checked equal to its network run alone.
    """
    say = progress or (lambda text: None)
    config = CoreConfig(neurons=neurons, inputs=INPUTS, stdp=True, adaptive_threshold=True)
    compiled = kernel_name() == "compiled"
    load = [_load_average()]
    results = []
    for size in sizes:
        networks = [random_network(config, seed + b, regime="active") for b in range(size)]
        rng = np.random.default_rng(seed + 1000)
        rasters = rng.random((size, steps, config.inputs)) < INPUT_RATE
        batch_kind = "compiled" if compiled else "numpy"
        check = BatchTwin(networks, kind=batch_kind).run(rasters[:, :50], learn=learn)
        for b in range(size):
            alone = Twin(networks[b]).run(rasters[b, :50], learn=learn)["spikes"]
            if not np.array_equal(alone, check["spikes"][b]):
                raise RuntimeError(f"batch member {b} differs from its network run alone")
        cpu = {"sequential numpy": [], "batch": []}
        if compiled:
            cpu["sequential compiled"] = []
        spikes = 0
        for rep in range(repeats):
            say(f"B={size}: round {rep + 1} of {repeats}")
            twins = [Twin(network) for network in networks]
            start = time.process_time()
            for b, twin in enumerate(twins):
                twin.run(rasters[b], learn=learn)
            cpu["sequential numpy"].append(time.process_time() - start)
            if compiled:
                twins = [CompiledTwin(network) for network in networks]
                start = time.process_time()
                for b, twin in enumerate(twins):
                    twin.run(rasters[b], learn=learn)
                cpu["sequential compiled"].append(time.process_time() - start)
            batch = BatchTwin(networks, kind=batch_kind)
            start = time.process_time()
            out = batch.run(rasters, learn=learn)
            cpu["batch"].append(time.process_time() - start)
            spikes = int(out["spikes"].sum())
            load.append(_load_average())
        medians = {key: _median(values) for key, values in cpu.items()}
        entry = {"batch": size, "neurons": neurons, "inputs": INPUTS, "steps": steps,
                 "learning": learn, "batch_kernel": batch_kind,
                 "network_steps_per_cpu_s": {key: size * steps / value
                                             for key, value in medians.items()},
                 "speedup_vs_sequential_numpy": medians["sequential numpy"] / medians["batch"],
                 "spike_rate": spikes / (size * steps * neurons)}
        if compiled:
            entry["speedup_vs_sequential_compiled"] = (medians["sequential compiled"]
                                                       / medians["batch"])
        results.append(entry)
        say(f"B={size}: {entry['speedup_vs_sequential_numpy']:.1f}x over sequential numpy "
            f"twins")
    return {"results": results, "repeats": repeats,
            "load_average": {"min": min(load), "median": _median(load), "max": max(load)}}


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
    else:
        print(json.dumps(bench_twin_vs_brian2(progress=print), indent=2))
