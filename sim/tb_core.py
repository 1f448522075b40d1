"""cocotb test bench of the core under Verilator: the differential test against the twin.

Run through :func:`spikeforge.sim.verilator.run_cocotb`; the configuration arrives as JSON in
``SPIKEFORGE_TB_CONFIG``, the seeds and steps in ``SPIKEFORGE_TB_SEEDS`` (comma separated) and
``SPIKEFORGE_TB_STEPS``, the comparison mode (``crc`` or ``full``) in ``SPIKEFORGE_TB_MODE``.
"""

import enum
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from ..config import CoreConfig
from .differential import run_differential
from .driver import CoreDriver
from .verilator import CONFIG_ENV


class CocotbIO:
    """Adapter of :class:`~spikeforge.sim.driver.CoreDriver` for a cocotb DUT.

    Inputs change and outputs are sampled at the falling clock edge, half a cycle away from the
    rising edge at which the core samples and updates.
    """

    def __init__(self, dut):
        self.dut = dut
        self._handles = {}

    def _handle(self, name):
        handle = self._handles.get(name)
        if handle is None:
            # a dotted port name ("bus.region") is the flattened Verilog port "bus__region"
            handle = self._handles[name] = getattr(self.dut, name.replace(".", "__"))
        return handle

    async def set(self, name, value):
        if isinstance(value, enum.Enum):
            value = value.value
        self._handle(name).value = int(value)

    async def get(self, name):
        return int(self._handle(name).value)

    async def tick(self):
        await FallingEdge(self.dut.clk)

    async def wait(self, name):
        await RisingEdge(self._handle(name))
        await FallingEdge(self.dut.clk)


async def start(dut):
    """Start the clock, reset the core, and return a driver for it."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    io = CocotbIO(dut)
    for name in ("start", "learn", "input.valid", "bus.we", "bus.re", "bus.crc_start"):
        await io.set(name, 0)
    dut.rst.value = 1
    for _ in range(3):
        await io.tick()
    dut.rst.value = 0
    await io.tick()
    return CoreDriver(CoreConfig.from_dict(json.loads(os.environ[CONFIG_ENV])), io)


@cocotb.test()
async def core_matches_twin(dut):
    """Random networks with STDP: every state variable equal to the twin's after every step."""
    driver = await start(dut)
    seeds = [int(seed) for seed in os.environ.get("SPIKEFORGE_TB_SEEDS", "0").split(",")]
    steps = int(os.environ.get("SPIKEFORGE_TB_STEPS", "200"))
    mode = os.environ.get("SPIKEFORGE_TB_MODE", "crc")
    for seed in seeds:
        await run_differential(driver, driver.config, seed=seed, steps=steps, mode=mode,
                               log=dut._log.info)
