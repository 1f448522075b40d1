"""The differential test of the core against the twin, shared by every simulator.

A random network (parameters across their legal ranges) and a random initial state are loaded
into both the core and the twin (the compiled twin when numba is installed, which
``tests/host/test_kernel.py`` holds equal to the numpy
:class:`~spikeforge.host.model.twin.Twin`); both run the same random input spikes with
learning switched on and off at random; after every step all state — v, i, the refractory
counters, spike bits, thresholds, traces and weights — is compared, and the step's cycle count
is checked against the formula of ``docs/model.md``.
"""

import numpy as np

from ..host.model.params import random_inputs, random_network
from ..host.model.fast import make_twin
from ..rtl.regions import Region, region_depth
from .driver import STATE_REGIONS, StateMismatch, compare_step, expected_cycles, \
    twin_region_words

__all__ = ["randomize_state", "run_differential", "run_scenario"]


def randomize_state(twin, rng):
    """Put the twin into a random legal state, so that the first step starts from anything.

    A network starts either from rest, from a fully random state (every variable uniform over
    its range, saturating neurons included) or from a mixture of typical and extreme values.
    """
    c = twin.config
    N, M = c.neurons, c.inputs
    kind = rng.choice(["rest", "random", "mixed"], p=[0.2, 0.3, 0.5])
    if kind == "rest":
        return

    def pick(count, low, high, typical_high):
        values = rng.integers(low, high, count, endpoint=True)
        if kind == "mixed":
            typical = rng.integers(max(low, -typical_high), min(high, typical_high), count,
                                   endpoint=True)
            values = np.where(rng.random(count) < 0.8, typical, values)
        return values

    low, high = c.v_range
    twin.v[:] = pick(N, low, high, 64)
    low, high = c.i_range
    twin.i[:] = pick(N, low, high, 64)
    twin.r[:] = pick(N, 0, (1 << c.refrac_bits) - 1, 2)
    twin.s[:] = rng.random(N) < rng.random()
    if c.adaptive_threshold:
        twin.theta[:] = pick(N, 0, (1 << c.theta_bits) - 1, 16)
    if c.has_poisson:
        twin.pstate[:] = rng.integers(0, 1 << 32, M)
    if c.stdp:
        top = (1 << c.trace_bits) - 1
        twin.x[:] = pick(N, 0, top, top)
        twin.y[:] = pick(N, 0, top, top)
        twin.xin[:] = pick(M, 0, top, top)


async def run_differential(driver, config, *, seed, steps, mode="full", log=None):
    """Run one random network for ``steps`` steps on the core and the twin; raise
    :class:`~spikeforge.sim.driver.StateMismatch` at the first difference.

    Returns a dict of totals (spikes, arrivals, learning steps, cycles) for the caller's report.
    """
    rng = np.random.default_rng(seed)
    network = random_network(config, rng)
    twin = make_twin(network)
    randomize_state(twin, rng)
    await driver.load(twin)
    # everything the host wrote reads back unchanged
    for region in Region:
        if region_depth(config, region):
            words = await driver.read_region(region)
            if words != twin_region_words(twin, region):
                raise StateMismatch(f"{region.name} did not read back as written")

    rate = rng.choice([0.02, 0.1, 0.3, 0.6])
    raster = random_inputs(config, rng, steps, rate)
    if config.inputs and steps > 3:
        raster[1] = True                        # every input spiking in one step
        raster[2] = False                       # and none
        raster[3] = True
    learn_probability = rng.choice([0.5, 0.9, 1.0])
    totals = {"spikes": 0, "arrivals": 0, "learning_steps": 0, "cycles": 0}
    rebuild = True                              # the state was written: the spike list is rebuilt
    for step in range(steps):
        learn = bool(rng.random() < learn_probability)
        inputs = np.flatnonzero(raster[step])
        recurrent = int(twin.s.sum())
        spikes = twin.step(raster[step], learn=learn)
        arriving = recurrent + int(twin.last_inputs.sum())   # pushed and Poisson inputs
        cycles = await driver.step(inputs, learn=learn)
        expected = expected_cycles(config, arriving, int(spikes.sum()), learn, rebuild,
                                   twin.poisson_on)
        if cycles != expected:
            raise StateMismatch(f"step {step}: the core took {cycles} cycles, the formula says "
                                f"{expected} ({arriving} arriving rows, {int(spikes.sum())} "
                                f"spikes, learn={learn})")
        rebuild = False
        await compare_step(driver, twin, step, mode=mode)
        totals["spikes"] += int(spikes.sum())
        totals["arrivals"] += arriving
        totals["learning_steps"] += learn
        totals["cycles"] += cycles
    # a last full read-back of every region, independent of the CRC engine
    for region in STATE_REGIONS + (Region.MASK, Region.PARAM, Region.GLOBAL,
                                   Region.POISSON_RATE):
        if region_depth(config, region):
            words = await driver.read_region(region)
            if words != twin_region_words(twin, region):
                raise StateMismatch(f"after {steps} steps: {region.name} differs")
    if log:
        log(f"seed {seed}: {steps} steps, {totals['spikes']} spikes, {totals['arrivals']} "
            f"arrivals, {totals['learning_steps']} learning steps, {totals['cycles']} cycles")
    return totals


async def run_scenario(driver, twin, raster, learn):
    """Run a hand-made scenario: ``twin`` (network and state) is loaded into the core, then both
    run ``raster`` (``(T, M)`` bool) with ``learn`` (a bool or a per-step sequence); all state is
    read back and compared after every step. Returns the twin's spikes ``(T, N)``."""
    config = driver.config
    await driver.load(twin)
    steps = len(raster)
    learn = [bool(learn)] * steps if np.ndim(learn) == 0 else [bool(v) for v in learn]
    spikes = np.zeros((steps, config.neurons), dtype=bool)
    rebuild = True
    for step in range(steps):
        recurrent = int(twin.s.sum())
        spikes[step] = twin.step(raster[step], learn=learn[step])
        arriving = recurrent + int(twin.last_inputs.sum())
        cycles = await driver.step(np.flatnonzero(raster[step]), learn=learn[step])
        expected = expected_cycles(config, arriving, int(spikes[step].sum()), learn[step],
                                   rebuild, twin.poisson_on)
        if cycles != expected:
            raise StateMismatch(f"step {step}: the core took {cycles} cycles, the formula says "
                                f"{expected}")
        rebuild = False
        await compare_step(driver, twin, step, mode="full")
    return spikes
