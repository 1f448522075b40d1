"""The core's interface: its input stream, its region bus, and step control.

:class:`CoreSignature` is the core's side; the command engine takes its flip. The members:

``input`` : In(stream of :func:`input_layout`)
    Push one input spike (input line ``payload.index``) for the next step while the core is
    idle. The events of one step must be distinct; they are consumed (and the list emptied) by
    the step. ``ready`` is low while a step or CRC runs and once ``M`` events are pushed.
``in_count`` : Out
    Input spikes pushed for the next step.
``bus`` : In(:class:`RegionBusSignature`)
    Word access to the regions of :class:`~spikeforge.rtl.regions.Region` while idle, and the
    region CRC engine.
``start``, ``learn`` : In(1)
    ``start`` pulsed while ``busy`` is low runs one time step; ``learn``, sampled with it,
    applies STDP during that step.
``busy``, ``done`` : Out(1)
    ``busy`` is high from ``start`` until the step (or a region CRC) is finished; ``done``
    pulses for one cycle at the end of a step.
``step_cycles``, ``step_count`` : Out(32)
    Clock cycles taken by the last step, from ``start`` to ``done`` (read it while idle: during
    a step it counts up); steps run since reset.
``spike_count`` : Out(range(N + 1))
    Neurons that fired in the last step: the length of the core's spike list. Valid from the
    cycle ``done`` is high until the next ``start``.
``spike_addr`` : In(neuron_index_bits), ``spike_index`` : Out(neuron_index_bits)
    Read port of the spike list while idle: ``spike_index`` is entry ``spike_addr`` of the list,
    one cycle after ``spike_addr`` (a synchronous read, always enabled). Entries
    ``0 .. spike_count - 1`` are the neurons that fired in the last step, in ascending order
    (phase B appends them as it walks the neurons). The list is the next step's event list, so
    it is only read here, never written.
``spike_we``, ``spike_waddr``, ``spike_wdata`` : Out
    The spike list's write port as the core drives it (entry ``spike_waddr`` becomes
    ``spike_wdata`` in a cycle ``spike_we`` is high): an engine that sends a step's spikes
    while the next step runs keeps its own copy of the list from these. (With winner-take-all
    entry 0 may be written several times in a step, each time a better candidate is found:
    the last write holds the winner.)
"""

from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..regions import Region, addr_bits, bus_width

__all__ = ["input_layout", "RegionBusSignature", "CoreSignature"]


def input_layout(config):
    """The payload of the core's input stream: one input line's index."""
    return data.StructLayout({"index": config.input_index_bits})


class RegionBusSignature(wiring.Signature):
    """Word access to the core's regions, seen from the requester (the core takes its flip).

    ``region``, ``addr``, ``wdata``, ``we`` write one word in the cycle ``we`` is high;
    ``re`` issues one read per cycle, whose ``rdata`` arrives with ``rvalid`` one cycle later
    (three for the WEIGHT and MASK regions: their read address and the word read are
    registered), in order. ``ready`` is high while the core is idle: requests are taken only
    then. ``record`` is the RECORD bit of the neuron a one-cycle read (PARAM, STATE, ...)
    addressed, beside its ``rdata``. ``crc_start`` with ``region`` computes the CRC-32 of all the region's words (zero
    extended to the bus width); ``crc_value`` holds it when ``crc_done`` pulses, until the next
    CRC.
    """

    def __init__(self, config):
        width = bus_width(config)
        super().__init__({
            "region": Out(Region),
            "addr": Out(addr_bits(config)),
            "wdata": Out(width),
            "we": Out(1),
            "re": Out(1),
            "rdata": In(width),
            "rvalid": In(1),
            "record": In(1),
            "ready": In(1),
            "crc_start": Out(1),
            "crc_value": In(32),
            "crc_done": In(1),
        })


class CoreSignature(wiring.Signature):
    """The ports of a :class:`~spikeforge.rtl.core.Core` for ``config`` (see the module)."""

    def __init__(self, config):
        self.config = config
        super().__init__({
            "start": In(1),
            "learn": In(1),
            "busy": Out(1),
            "done": Out(1),
            "step_cycles": Out(32),
            "step_count": Out(32),
            "input": In(stream.Signature(input_layout(config))),
            "in_count": Out(range(config.inputs + 1)),
            "bus": In(RegionBusSignature(config)),
            "spike_count": Out(range(config.neurons + 1)),
            "spike_addr": In(config.neuron_index_bits),
            "spike_index": Out(config.neuron_index_bits),
            "spike_we": Out(1),
            "spike_waddr": Out(config.neuron_index_bits),
            "spike_wdata": Out(config.neuron_index_bits),
        })
