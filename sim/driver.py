"""Drive a :class:`~spikeforge.rtl.core.Core` from any simulator, and compare it with the twin.

:class:`CoreDriver` speaks to the core's ports through a tiny adapter with four coroutines —
``set(name, value)``, ``get(name)``, ``tick()`` (one clock; afterwards outputs show the state
after that edge) and ``wait(name)`` (clock until the named output is high). Adapters exist for
Amaranth's simulator (:class:`AmaranthIO`) and for cocotb (in ``spikeforge.sim.tb_core``), so the
same test code checks the core in both.
"""

import enum

import numpy as np

from ..host.model.regions import twin_region_words
from ..rtl.regions import Region, pack_region, region_crc, region_depth, unpack_region

__all__ = ["CoreDriver", "AmaranthIO", "CoreSimulation", "simulate_core", "StateMismatch",
           "twin_region_words", "expected_cycles", "STATE_REGIONS", "compare_step"]

#: Regions that change while the core runs (compared after every step).
STATE_REGIONS = (Region.STATE, Region.XTRACE, Region.YTRACE, Region.XINTRACE,
                 Region.POISSON_STATE, Region.WEIGHT)


class StateMismatch(AssertionError):
    """The core and the twin disagree; the message names step, region, index and field."""


class AmaranthIO:
    """Adapter for an Amaranth simulator testbench context."""

    def __init__(self, ctx, dut):
        self.ctx = ctx
        self.dut = dut

    def _port(self, name):
        # a dotted name walks into an interface ("bus.region"); a port with a layout is set
        # and read as its bits
        port = self.dut
        for part in name.split("."):
            port = getattr(port, part)
        return port.as_value() if hasattr(port, "as_value") else port

    async def set(self, name, value):
        if isinstance(value, enum.Enum):
            value = value.value
        self.ctx.set(self._port(name), value)

    async def get(self, name):
        return int(self.ctx.get(self._port(name)))

    async def tick(self):
        await self.ctx.tick()

    async def wait(self, name):
        await self.ctx.tick().until(self._port(name))


class CoreSimulation:
    """A core of ``config`` in Amaranth's simulator, built once and run many times.

    Building the simulator (compiling the design) takes seconds, far longer than a few steps of
    a small core; :meth:`run` reuses it, each run from the power-on state: before every run
    after the first the simulator is reset (every signal and memory to its initial value, the
    clock and the test bench restarted), as a new simulator would start.
    """

    def __init__(self, config):
        self.config = config
        self._sim = None
        self._body = None
        self._result = None
        self._fresh = False

    def _build(self):
        from amaranth.sim import Simulator

        from ..rtl.core import Core
        dut = Core(self.config)
        sim = Simulator(dut)
        sim.add_clock(1e-6)

        async def testbench(ctx):
            self._result = await self._body(CoreDriver(self.config, AmaranthIO(ctx, dut)))

        sim.add_testbench(testbench)
        self._sim, self._fresh = sim, True

    def run(self, body):
        """Run ``await body(driver)`` (``driver`` a :class:`CoreDriver`) from the power-on
        state and return its result."""
        if self._sim is None:
            self._build()
        elif not self._fresh:
            self._sim.reset()
        self._body, self._fresh = body, False
        try:
            self._sim.run()
        except BaseException:
            self._sim = None                    # a run that stopped half-way: build anew
            raise
        finally:
            self._body = None
        result, self._result = self._result, None
        return result


def simulate_core(config, body):
    """Run ``await body(driver)`` on a new core in Amaranth's simulator and return its result.

    ``driver`` is a :class:`CoreDriver` over an :class:`AmaranthIO` for a fresh
    :class:`~spikeforge.rtl.core.Core` of ``config``, clocked at 1 MHz (simulated time only).
    """
    return CoreSimulation(config).run(body)


#: Clocks within which the core's bus returns a read (rtl.core: one, three for WEIGHT and MASK).
READ_LATENCY_MAX = 8


class CoreDriver:
    """Word-level access to a core's regions, input pushes and steps."""

    def __init__(self, config, io):
        self.config = config
        self.io = io

    async def write(self, region, addr, word):
        io = self.io
        await io.set("bus.region", Region(region))
        await io.set("bus.addr", addr)
        await io.set("bus.wdata", int(word))
        await io.set("bus.we", 1)
        await io.tick()
        await io.set("bus.we", 0)

    async def write_region(self, region, words, offset=0):
        io = self.io
        await io.set("bus.region", Region(region))
        await io.set("bus.we", 1)
        for index, word in enumerate(words):
            await io.set("bus.addr", offset + index)
            await io.set("bus.wdata", int(word))
            await io.tick()
        await io.set("bus.we", 0)

    async def read_region(self, region, offset=0, count=None):
        io = self.io
        if count is None:
            count = region_depth(self.config, region) - offset
        await io.set("bus.region", Region(region))
        await io.set("bus.re", 1)
        words = []
        # one read issued per clock; the data arrive in order, a few clocks later (bus_rvalid)
        for index in range(count):
            await io.set("bus.addr", offset + index)
            await io.tick()
            if await io.get("bus.rvalid"):
                words.append(await io.get("bus.rdata"))
        await io.set("bus.re", 0)
        for _ in range(READ_LATENCY_MAX):
            if len(words) == count:
                break
            await io.tick()
            if await io.get("bus.rvalid"):
                words.append(await io.get("bus.rdata"))
        if len(words) != count:
            raise AssertionError(f"{count - len(words)} of {count} reads of {Region(region).name} "
                                 f"returned no data within {READ_LATENCY_MAX} clocks")
        return words

    async def read_spikes(self):
        """The spikes of the last step (the STATE region's spike bits), as a list of bools."""
        state = unpack_region(self.config, Region.STATE, await self.read_region(Region.STATE))
        return [bool(bit) for bit in state["s"]]

    async def crc(self, region):
        io = self.io
        await io.set("bus.region", Region(region))
        await io.set("bus.crc_start", 1)
        await io.tick()
        await io.set("bus.crc_start", 0)
        await io.wait("bus.crc_done")
        return await io.get("bus.crc_value")

    async def step(self, inputs=(), learn=False):
        """Push the input spikes (distinct input indices) and run one step; return its cycles."""
        io = self.io
        for index in inputs:
            await io.set("input.payload", int(index))
            await io.set("input.valid", 1)
            await io.tick()
        await io.set("input.valid", 0)
        await io.set("learn", int(bool(learn)))
        await io.set("start", 1)
        await io.tick()
        await io.set("start", 0)
        await io.wait("done")
        return await io.get("step_cycles")

    async def load(self, twin):
        """Write the twin's weights, mask, parameters, globals and state into the core."""
        c = self.config
        for region in Region:
            if region_depth(c, region):
                await self.write_region(region, twin_region_words(twin, region))


def expected_cycles(config, arriving, spikes, learn, rebuild=False, poisson=False):
    """Clock cycles of one step by the formula of docs/model.md."""
    from ..rtl.core import OVERHEAD_BASE, OVERHEAD_LEARN
    c = config
    cycles = arriving * c.words_per_row + max(c.neurons, c.inputs) + OVERHEAD_BASE
    if poisson and c.has_poisson:
        cycles += c.inputs + 1
    if learn and c.stdp and spikes:
        cycles += spikes * (c.neuron_bank_rows + c.input_bank_rows + 1) + OVERHEAD_LEARN
    if rebuild:
        cycles += c.neurons + 2
    return cycles


def describe_difference(config, region, rtl_words, twin_words, step):
    """A sentence naming the first differing element of a region."""
    rtl = unpack_region(config, region, rtl_words)
    ref = unpack_region(config, region, twin_words)
    if isinstance(rtl, dict):
        for name in rtl:
            diff = np.flatnonzero(rtl[name] != ref[name])
            if diff.size:
                k = diff[0]
                return (f"step {step}: {region.name} field {name!r} of neuron/index {k}: "
                        f"RTL {rtl[name][k]}, twin {ref[name][k]}")
    else:
        diff = np.argwhere(np.asarray(rtl) != np.asarray(ref))
        if diff.size:
            k = tuple(diff[0])
            return (f"step {step}: {region.name} element {k}: RTL {rtl[k]}, twin {ref[k]}")
    return f"step {step}: {region.name} words differ only in padding"


async def compare_step(driver, twin, step, *, mode="full"):
    """Compare every state region of the core with the twin.

    ``mode="full"`` reads every word back; ``mode="crc"`` compares the core's region CRC with
    the CRC of the twin's words and reads the region back only to name a difference.
    """
    c = driver.config
    for region in STATE_REGIONS:
        if not region_depth(c, region):
            continue
        expected = twin_region_words(twin, region)
        if mode == "crc":
            if await driver.crc(region) == region_crc(c, expected):
                continue
        words = await driver.read_region(region)
        if words != expected:
            raise StateMismatch(describe_difference(c, region, words, expected, step))
