"""The neuromorphic core: N LIF neurons with exponential current synapses and on-chip STDP.

The arithmetic is specified in ``docs/model.md``; :class:`spikeforge.host.twin.Twin` executes the
same text in numpy, and the differential tests hold the two bit-identical.

One time step runs three phases (see ``docs/model.md`` for the cycle formula):

* **A, delivery.** For every arriving row (a neuron that spiked last step, an input that spikes
  now) the row's ``ceil(N/L)`` weight words are read, one word of ``L`` weights per clock, and
  added to ``L`` banked accumulators. With learning on, the same pass writes the depressed word
  back, so depression costs no extra cycle.
* **B, update.** One neuron and one input trace per clock: decay, integrate, fire, reset, traces,
  in a pipeline of four stages (products; current; membrane; threshold, reset and write-back).
  Neurons that fire are appended to the spike list, which is the event list of the next step.
* **C, potentiation** (learning on only). For every neuron that fired, its column is walked, one
  synapse per clock.

Host access (``bus_*``) and the region CRC engine work while the core is idle.
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...config import CoreConfig, ceil_log2
from ..regions import Region, addr_bits, bus_width, region_layout
from . import delivery, neuron, poisson, potentiation, sequencer, store
from .store import MemorySpec, inventory

__all__ = ["Core", "OVERHEAD_BASE", "OVERHEAD_LEARN", "MemorySpec", "inventory"]

#: Fixed cycles of every step: phase A prime and drain, phase B drain (four pipeline stages),
#: finish.
OVERHEAD_BASE = 8
#: Extra fixed cycles when phase C runs (its drain).
OVERHEAD_LEARN = 2


class Core(wiring.Component):
    """A time-multiplexed core of ``config.neurons`` LIF neurons.

    Ports
    -----
    start : In(1)
        Pulse while ``busy`` is low to run one time step.
    learn : In(1)
        Sampled with ``start``: apply STDP during this step.
    busy : Out(1)
        High from ``start`` until the step (or a region CRC) is finished.
    done : Out(1)
        One-cycle pulse at the end of a step.
    step_cycles : Out(32)
        Clock cycles taken by the last step, from ``start`` to ``done`` (read it while idle:
        during a step it counts up).
    step_count : Out(32)
        Steps run since reset.
    in_valid, in_index, in_ready
        Push one input spike (input line ``in_index``) for the next step while idle. The events of
        one step must be distinct; they are consumed (and the list emptied) by the step.
    in_count : Out
        Input spikes pushed for the next step.
    bus_region, bus_addr, bus_wdata, bus_we, bus_re, bus_rdata, bus_rvalid, bus_ready
        Word access to the regions of :class:`~spikeforge.rtl.regions.Region` while idle.
        ``bus_rdata`` is valid (``bus_rvalid``) one cycle after ``bus_re``, three cycles for the
        WEIGHT and MASK regions (their read address and the word read are registered).
    crc_start, crc_value, crc_done
        ``crc_start`` with ``bus_region`` computes the CRC-32 of all the region's words (zero
        extended to the bus width); ``crc_value`` holds it when ``crc_done`` pulses.

    Arguments
    ---------
    config : CoreConfig
    crc_serial : bool
        Feed the region CRC one byte per clock (a tenth of the logic, for small FPGAs) instead
        of one word per clock. The value is the same.
    """

    def __init__(self, config, *, crc_serial=False):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        self.config = config
        self.crc_serial = bool(crc_serial)
        c = config
        self._bus_width = bus_width(c)
        super().__init__({
            "start": In(1),
            "learn": In(1),
            "busy": Out(1),
            "done": Out(1),
            "step_cycles": Out(32),
            "step_count": Out(32),
            "in_valid": In(1),
            "in_index": In(c.input_index_bits),
            "in_ready": Out(1),
            "in_count": Out(range(c.inputs + 1)),
            "bus_region": In(Region),
            "bus_addr": In(addr_bits(c)),
            "bus_wdata": In(self._bus_width),
            "bus_we": In(1),
            "bus_re": In(1),
            "bus_rdata": Out(self._bus_width),
            "bus_rvalid": Out(1),
            "bus_ready": Out(1),
            "crc_start": In(1),
            "crc_value": Out(32),
            "crc_done": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        # the parts share one namespace of memory ports and signals, ``k``
        k = SimpleNamespace(config=c, crc_serial=self.crc_serial, bus_width=self._bus_width)
        k.step = self
        k.bus = SimpleNamespace(region=self.bus_region, addr=self.bus_addr, wdata=self.bus_wdata,
                                we=self.bus_we, re=self.bus_re, rdata=self.bus_rdata,
                                rvalid=self.bus_rvalid, ready=self.bus_ready,
                                crc_start=self.crc_start, crc_value=self.crc_value,
                                crc_done=self.crc_done)
        k.input = SimpleNamespace(valid=self.in_valid, index=self.in_index, ready=self.in_ready)

        store.attach_memories(k, store.build_memories(m, c))
        k.gl = Signal(region_layout(c, Region.GLOBAL), init={
            "w_shift": 0,
            **({"w_min": c.weight_range[0], "w_max": c.weight_range[1]} if c.stdp else {}),
        })
        sequencer.build_registers(m, k)
        store.build_host_access(m, k)
        store.build_crc(m, k)
        store.build_rescan(m, k)
        if c.has_poisson:
            poisson.build(m, k)
        delivery.build(m, k)
        neuron.build(m, k)
        if c.stdp:
            potentiation.build(m, k)
        sequencer.build(m, k)
        return m
