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

Host access (the region bus) and the region CRC engine work while the core is idle.

The parts, one module each: :mod:`.store` (memories and their inventory, host access, region
CRC), :mod:`.poisson` (phase 0), :mod:`.delivery` (phase A), :mod:`.neuron` (phase B),
:mod:`.potentiation` (phase C) and :mod:`.sequencer` (the step's state machine);
:mod:`.interface` holds the core's signature. Every part builds into the core's one module and
shares a namespace of memory ports and signals (``k``): the phases take turns on the same
memory ports, so their address and write multiplexers stay those of one flat design.
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from ...config import CoreConfig
from ..regions import Region, bus_width, region_layout
from . import delivery, neuron, poisson, potentiation, sequencer, store
from .interface import CoreSignature, RegionBusSignature, input_layout
from .store import MemorySpec, inventory

__all__ = ["Core", "CoreSignature", "RegionBusSignature", "input_layout", "OVERHEAD_BASE",
           "OVERHEAD_LEARN", "MemorySpec", "inventory"]

#: Fixed cycles of every step: phase A prime and drain, phase B drain (four pipeline stages),
#: finish.
OVERHEAD_BASE = 8
#: Extra fixed cycles when phase C runs (its drain).
OVERHEAD_LEARN = 2


class Core(wiring.Component):
    """A time-multiplexed core of ``config.neurons`` LIF neurons.

    Ports are those of :class:`~spikeforge.rtl.core.interface.CoreSignature`: the input
    stream, the region bus (host access and the region CRC, while idle) and step control.

    Arguments
    ---------
    config : CoreConfig
    crc_serial : bool
        Feed the region CRC one byte per clock (a tenth of the logic, for small FPGAs) instead
        of one word per clock. The value is the same.
    record : bool
        Build the RECORD region (one bit per neuron, read by the engine beside each neuron's
        word as ``bus.record``). Without it the core has no RECORD memory and ``bus.record``
        is 0: for an engine that records no set of neurons (``LinkParams.record_set``).
    """

    def __init__(self, config, *, crc_serial=False, record=True):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        self.config = config
        self.crc_serial = bool(crc_serial)
        self.record = bool(record)
        self._bus_width = bus_width(config)
        super().__init__(CoreSignature(config))

    def elaborate(self, platform):
        c = self.config
        m = Module()
        # the parts share one namespace of memory ports and signals, ``k``
        k = SimpleNamespace(config=c, crc_serial=self.crc_serial, record=self.record,
                            bus_width=self._bus_width)
        k.step, k.bus, k.input = self, self.bus, self.input

        store.attach_memories(k, store.build_memories(m, c, record=self.record))
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
