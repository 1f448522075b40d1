"""Benchmarks of the core: clock cycles per step and synaptic operations per cycle, measured on
the RTL running in Verilator (the core counts its own cycles), and the twin against Brian2.

Workloads (all deterministic, seeded):

* ``dense`` — the worst case: every neuron spikes in every step (threshold at the bottom of the
  membrane range, no refractory period) and every input spikes in every step, so each step
  delivers ``N + M`` rows;
* ``digits`` — the NeuroCoreX-sized digits workload: N=100, M=64, L=8 by default, each input
  spiking with probability 0.1 per step, random weights, default neuron parameters.

A synaptic operation is one weight delivered to one neuron: ``arriving rows × N`` per step.
"""

import json
import os
import tempfile
import time

import numpy as np

from ..config import CoreConfig
from ..host.model.params import GlobalParams, Network, NeuronParams
from ..host.model.twin import Twin

__all__ = ["WORKLOADS", "END_TO_END", "build_workload", "bench_core", "summarise",
           "bench_end_to_end"]

#: (name, configuration, workload) of ``spikeforge bench core``.
WORKLOADS = [
    ("dense", CoreConfig(neurons=100, inputs=64, lanes=8), {"kind": "dense", "steps": 12}),
    ("dense", CoreConfig(neurons=100, inputs=64, lanes=8),
     {"kind": "dense", "steps": 12, "learn": True}),
    ("digits", CoreConfig(neurons=100, inputs=64, lanes=8), {"kind": "digits", "steps": 300}),
    ("digits", CoreConfig(neurons=100, inputs=64, lanes=8),
     {"kind": "digits", "steps": 300, "learn": True}),
    ("dense", CoreConfig(neurons=256, inputs=64, lanes=8), {"kind": "dense", "steps": 6}),
]

#: Cycles per step of NeuroCoreX (96 neuron slots of 1,000 cycles at 100 MHz, whatever the
#: activity; ANCHORS.md).
NEUROCOREX_CYCLES_PER_STEP = 96_000


def build_workload(config, workload):
    """The twin (network and initial state), the ``(steps, M)`` input raster and the learning
    flag of a workload description."""
    rng = np.random.default_rng(workload.get("seed", 0))
    steps = int(workload["steps"])
    learn = bool(workload.get("learn", False)) and config.stdp
    N, M = config.neurons, config.inputs
    if workload["kind"] == "dense":
        W = rng.integers(*config.weight_range, size=(config.rows, N), endpoint=True)
        neuron = NeuronParams.default(config, thr=config.v_range[0], refrac=0)
        raster = np.ones((steps, M), dtype=bool)
        twin = Twin(Network(config, neuron, GlobalParams.default(config), W).validate())
        twin.s[:] = True                      # the first step delivers every row as well
    elif workload["kind"] == "digits":
        W = np.zeros((config.rows, N), dtype=np.int64)
        W[N:] = rng.integers(-40, 80, size=(M, N))          # input weights
        W[:N] = rng.integers(-30, 20, size=(N, N))          # recurrent weights
        neuron = NeuronParams.default(config)
        raster = rng.random((steps, M)) < float(workload.get("input_rate", 0.1))
        twin = Twin(Network(config, neuron, GlobalParams.default(config), W).validate())
    else:
        raise ValueError(f"unknown workload kind {workload['kind']!r}: dense or digits")
    return twin, raster, learn


def summarise(name, config, workload, records):
    """Figures of one measured workload (the first step, which rebuilds the spike list after
    the upload, is excluded from the averages)."""
    from .driver import expected_cycles

    cycles = np.asarray(records["cycles"])
    arrivals = np.asarray(records["arrivals"])
    spikes = np.asarray(records["spikes"])
    learn = bool(workload.get("learn", False))
    formula = [expected_cycles(config, int(a), int(s), learn, rebuild=(k == 0))
               for k, (a, s) in enumerate(zip(arrivals, spikes))]
    steady = slice(1, None)
    sops = arrivals[steady] * config.neurons
    total_cycles = int(cycles[steady].sum())
    return {
        "workload": name,
        "neurons": config.neurons, "inputs": config.inputs, "lanes": config.lanes,
        "stdp": learn,
        "steps": int(len(cycles) - 1),
        "cycles_per_step": total_cycles / max(1, len(cycles) - 1),
        "max_cycles_per_step": int(cycles[steady].max()) if len(cycles) > 1 else 0,
        "synaptic_ops_per_step": float(sops.mean()) if len(sops) else 0.0,
        "sop_per_cycle": float(sops.sum() / total_cycles) if total_cycles else 0.0,
        "sop_per_cycle_over_lanes": (float(sops.sum() / total_cycles) / config.lanes
                                     if total_cycles else 0.0),
        "input_spikes_per_step": float(arrivals[steady].mean() - spikes[:-1].mean())
        if len(cycles) > 1 else 0.0,
        "neuron_spikes_per_step": float(spikes[steady].mean()) if len(cycles) > 1 else 0.0,
        "formula_exact": [int(c) for c in cycles] == formula,
        "speedup_vs_neurocorex": NEUROCOREX_CYCLES_PER_STEP * max(1, len(cycles) - 1)
        / max(1, total_cycles),
        "simulated_cycles_per_s": float(cycles.sum() / records["wall_s"]),
    }


def bench_core(workloads=None, *, steps_scale=1.0, progress=None):
    """Run each workload on the Verilator-built core; return a list of figure dicts."""
    from .verilator import build_core, run_cocotb

    results = []
    for name, config, workload in workloads or WORKLOADS:
        workload = dict(workload)
        workload["steps"] = max(3, int(workload["steps"] * steps_scale))
        if progress:
            progress(f"{name}: {config.describe()}, learn={workload.get('learn', False)}, "
                     f"{workload['steps']} steps")
        build_dir = build_core(config)
        with tempfile.TemporaryDirectory() as scratch:
            out = os.path.join(scratch, "records.json")
            tests, failures = run_cocotb(config, build_dir, "spikeforge.sim.tb_bench",
                                         results_dir=scratch,
                                         extra_env={"SPIKEFORGE_BENCH_WORKLOAD":
                                                    json.dumps(workload),
                                                    "SPIKEFORGE_BENCH_OUT": out})
            if failures or not os.path.exists(out):
                raise RuntimeError(f"the {name} workload failed in simulation "
                                   f"(see {scratch} for the log)")
            with open(out) as file:
                records = json.load(file)
        results.append(summarise(name, config, workload, records))
    return results


#: Configurations of the end-to-end figures of ``spikeforge bench core``: the digits workload.
END_TO_END = [CoreConfig(neurons=100, inputs=64, lanes=8), CoreConfig(neurons=256, inputs=64,
                                                                      lanes=8)]

#: Input slots of the simulated board of the end-to-end figures: the host keeps this many
#: steps of inputs buffered ahead, so the board does not wait for it.
END_TO_END_SLOTS = 64


def bench_end_to_end(configs=None, *, steps=300, progress=None):
    """Clock cycles of a whole step on the simulated board: the core's and the command
    engine's, from the ``span`` of each OUTPUT frame (docs/protocol.md).

    The digits workload runs through ``sim://`` (the board's engine and core behind the byte
    streams) built with :data:`END_TO_END_SLOTS` input slots, so the host sends the inputs of
    many steps ahead and the board does not wait for them. ``span`` of step ``k`` is the core's
    cycles of step ``k - 1`` plus everything the engine did between the two starts (sending
    OUTPUT, parsing INPUT frames, pushing the inputs); steps 2 and later are averaged (step 0
    rebuilds the spike list after the upload, and has no span). Returns a list of figure dicts.
    """
    from ..host.device import open_device

    results = []
    for config in configs or END_TO_END:
        twin, raster, _ = build_workload(config, {"kind": "digits", "steps": steps})
        reference = twin.run(raster)["spikes"]
        if progress:
            progress(f"end to end on sim:// ({END_TO_END_SLOTS} input slots): "
                     f"{config.describe()}, {steps} steps")
        load = [_load_average()]
        with open_device("sim://", config, input_slots=END_TO_END_SLOTS,
                         progress=progress) as device:
            device.load_network(twin.network)
            result = device.run(inputs=raster)
        load.append(_load_average())
        cycles = np.asarray(result.cycles, dtype=np.int64)
        span = np.asarray(result.span, dtype=np.int64)
        core = cycles[1:-1]
        engine = span[2:] - core
        results.append({
            "workload": "digits", "neurons": config.neurons, "inputs": config.inputs,
            "lanes": config.lanes, "steps": steps, "input_slots": END_TO_END_SLOTS,
            "core_cycles_per_step": float(core.mean()),
            "span_per_step": float(span[2:].mean()),
            "engine_cycles_per_step": float(engine.mean()),
            "engine_cycles_median": float(np.median(engine)),
            "engine_cycles_min": int(engine.min()), "engine_cycles_max": int(engine.max()),
            "engine_share": float(engine.mean() / core.mean()),
            "neuron_spikes_per_step": float(result.spikes.sum(axis=1).mean()),
            "input_spikes_per_step": float(raster.sum(axis=1).mean()),
            "spikes_equal_twin": bool(np.array_equal(result.spikes, reference)),
            "span_at_least_core_cycles": bool((span[1:] > cycles[:-1]).all()),
            "load_average": max(load),
        })
    return results


def _process_cpu_s(pid):
    """CPU seconds (user + system) used so far by process ``pid``, or None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _sim_run(config, twin, raster, build):
    """One streamed run on a simulated board built with ``build``: its figures."""
    from ..host.device import open_device

    steps = len(raster)
    started = time.perf_counter()
    device = open_device("sim://", config, build=build)
    opened = time.perf_counter() - started
    try:
        device.load_network(twin.network)
        board_cpu = _process_cpu_s(device.process.pid)
        host_cpu = time.process_time()
        run_started = time.perf_counter()
        result = device.run(inputs=raster)
        run_wall = time.perf_counter() - run_started
        host_cpu = time.process_time() - host_cpu
        after = _process_cpu_s(device.process.pid)
        board_cpu = after - board_cpu if board_cpu is not None and after is not None else None
    finally:
        device.close()
    session = time.perf_counter() - started
    return {"start_s": opened, "run_wall_s": run_wall, "board_cpu_s": board_cpu,
            "host_cpu_s": host_cpu, "simulated_cycles": device.sim_cycles,
            "simulated_cycles_per_s": device.sim_cycles / session if device.sim_cycles
            else None,
            "steps_per_s": steps / run_wall,
            "steps_per_board_cpu_s": steps / board_cpu if board_cpu else None,
            "cycles": result.cycles, "spikes": result.spikes}


def bench_sim(config=None, *, steps=500, builds=("plain", "fast"), repeats=3, progress=None):
    """Speed of the simulated board (``sim://``) on the digits-sized workload.

    Every build recipe of :data:`~spikeforge.sim.simboard.BUILDS` in ``builds`` runs the same
    streamed run ``repeats`` times, interleaved (A, B, A, B, ...), so a busy machine slows them
    alike. Figures are medians over the repeats: time steps per second of wall time, time steps
    per CPU-second of the simulated board's process (what the simulation itself costs, less
    sensitive to other load), host CPU per step, simulated clock cycles per second (everything
    the board simulated while open, over the time it was open), the core's cycles per step
    (equal for every build), the time to open a cached build; and the load average (1 minute)
    seen before and after each run.
    """
    from .simboard import BUILDS, SIM_CLK_HZ, build_simboard

    config = config or CoreConfig(neurons=100, inputs=64, lanes=8)
    unknown = [build for build in builds if build not in BUILDS]
    if unknown or not builds:
        raise ValueError(f"unknown build recipe {unknown[0] if unknown else None!r}: choose "
                         f"from {', '.join(BUILDS)}")
    for build in builds:
        if progress:
            progress(f"sim:// ({build} build), {config.describe()}, {steps} steps")
        build_simboard(config, build=build, progress=progress)
    twin, raster, _ = build_workload(config, {"kind": "digits", "steps": steps})
    reference = twin.run(raster)["spikes"]
    runs = {build: [] for build in builds}
    load = [_load_average()]
    for repeat in range(repeats):
        for build in builds:
            if progress:
                progress(f"run {repeat + 1}/{repeats}: {build} build")
            runs[build].append(_sim_run(config, twin, raster, build))
            load.append(_load_average())

    def median(build, key):
        values = [run[key] for run in runs[build] if run[key] is not None]
        return float(np.median(values)) if values else None

    figures = {}
    for build in builds:
        cycles = [np.asarray(run["cycles"]) for run in runs[build] if run["cycles"] is not None]
        figures[build] = {
            "steps_per_s": median(build, "steps_per_s"),
            "steps_per_board_cpu_s": median(build, "steps_per_board_cpu_s"),
            "host_cpu_us_per_step": 1e6 * median(build, "host_cpu_s") / steps,
            "simulated_cycles_per_s": median(build, "simulated_cycles_per_s"),
            "simulated_cycles": median(build, "simulated_cycles"),
            "start_s": median(build, "start_s"),
            "core_cycles_per_step": float(cycles[0].mean()) if cycles else None,
            "spikes_equal_twin": all(np.array_equal(run["spikes"], reference)
                                     for run in runs[build]),
        }
    core_cycles = [np.asarray(run["cycles"]).tolist() for build in builds
                   for run in runs[build] if run["cycles"] is not None]
    last = figures[builds[-1]]
    result = {
        "neurons": config.neurons, "inputs": config.inputs, "lanes": config.lanes,
        "steps": steps, "repeats": repeats, "build": builds[-1],
        # the figures of the last recipe (the default build) at the top level
        **{key: last[key] for key in ("steps_per_s", "steps_per_board_cpu_s",
                                      "host_cpu_us_per_step", "simulated_cycles_per_s",
                                      "core_cycles_per_step", "start_s",
                                      "spikes_equal_twin")},
        "simulated_clock_hz": SIM_CLK_HZ,
        "builds": figures,
        "core_cycles_equal_across_builds": all(c == core_cycles[0] for c in core_cycles),
        "load_average": {"min": min(load), "median": float(np.median(load)),
                         "max": max(load)},
        "cpus": os.cpu_count(),
    }
    if len(builds) > 1:
        first = figures[builds[0]]
        result["speedup"] = {
            key: last[key] / first[key] if first[key] and last[key] else None
            for key in ("steps_per_s", "steps_per_board_cpu_s")}
    return result
