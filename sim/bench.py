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

__all__ = ["WORKLOADS", "build_workload", "bench_core", "summarise"]

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


def bench_sim(config=None, *, steps=500, progress=None):
    """Speed of the simulated board (``sim://``) on the digits-sized workload.

    Returns simulated clock cycles per second (everything the board simulated while open,
    divided by the time it was open), time steps per second of a streamed run through the
    public Device API, the core's own cycles per step, and the time to open a cached build.
    """
    from ..host.device import open_device
    from .simboard import SIM_CLK_HZ, build_simboard

    config = config or CoreConfig(neurons=100, inputs=64, lanes=8)
    if progress:
        progress(f"sim://, {config.describe()}, {steps} steps")
    build_simboard(config, progress=progress)
    twin, raster, _ = build_workload(config, {"kind": "digits", "steps": steps})
    started = time.perf_counter()
    device = open_device("sim://", config)
    opened = time.perf_counter() - started
    try:
        device.load_network(twin.network)
        run_started = time.perf_counter()
        result = device.run(inputs=raster)
        run_wall = time.perf_counter() - run_started
    finally:
        device.close()
    session = time.perf_counter() - started
    reference = twin.run(raster)["spikes"]
    cycles = np.asarray(result.cycles) if result.cycles is not None else None
    return {
        "neurons": config.neurons, "inputs": config.inputs, "lanes": config.lanes,
        "steps": steps,
        "start_s": opened,
        "simulated_cycles": device.sim_cycles,
        "simulated_cycles_per_s": device.sim_cycles / session if device.sim_cycles else None,
        "steps_per_s": steps / run_wall,
        "core_cycles_per_step": float(cycles.mean()) if cycles is not None else None,
        "simulated_clock_hz": SIM_CLK_HZ,
        "spikes_equal_twin": bool(np.array_equal(result.spikes, reference)),
    }
