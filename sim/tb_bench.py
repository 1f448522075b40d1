"""cocotb bench that measures the core's cycles per step on a workload (see host/bench.py).

The workload arrives as JSON in ``SPIKEFORGE_BENCH_WORKLOAD``; per-step cycles, arrivals and
spikes are written as JSON to ``SPIKEFORGE_BENCH_OUT``. The twin runs the same steps alongside
and the spikes of every step must agree, so a figure is never measured on a diverging core.
"""

import json
import os
import time

import cocotb
import numpy as np

from .bench import build_workload
from .driver import StateMismatch
from .tb_core import start


@cocotb.test()
async def measure(dut):
    driver = await start(dut)
    workload = json.loads(os.environ["SPIKEFORGE_BENCH_WORKLOAD"])
    twin, raster, learn = build_workload(driver.config, workload)
    await driver.load(twin)
    records = {"cycles": [], "arrivals": [], "spikes": []}
    started = time.perf_counter()
    for step in range(len(raster)):
        recurrent = int(twin.s.sum())
        spikes = twin.step(raster[step], learn=learn)
        cycles = await driver.step(np.flatnonzero(raster[step]), learn=learn)
        state = await driver.read_spikes()
        if state != spikes.tolist():
            raise StateMismatch(f"step {step}: the core's spikes differ from the twin's")
        records["cycles"].append(cycles)
        records["arrivals"].append(recurrent + int(twin.last_inputs.sum()))
        records["spikes"].append(int(spikes.sum()))
    records["wall_s"] = time.perf_counter() - started
    with open(os.environ["SPIKEFORGE_BENCH_OUT"], "w") as file:
        json.dump(records, file)
