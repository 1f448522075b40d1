"""How much RAM a core configuration needs on a board, decided before synthesis.

The core keeps all its state in memories (see :mod:`spikeforge.rtl.core`); their depths and widths
follow from the :class:`~spikeforge.config.CoreConfig` alone. :func:`memories` lists them (from
the core's own inventory of its memories, and the command engine's buffers),
:func:`estimate` maps each onto the RAM primitives of a board's FPGA the way Yosys (or Vivado)
does, and :func:`check` refuses a configuration that cannot fit, with the reason and the largest
network that would, so that nobody waits minutes for a place-and-route to fail.

Mapping rules (checked against the synthesis reports listed in docs/boards.md):

* a memory takes whole block RAMs; its count is the best of the primitive's aspect ratios
  (``ceil(depth / d) * ceil(width / w)``);
* small memories go to LUT RAM and cost no block RAM: on ECP5 those that take at most 28
  TRELLIS_DPR16X4 cells of 16 × 4 bits (Yosys put 64 × 26-bit accumulators there, and 128 × 16-bit
  rates in DP16KD), on Xilinx those of at most 2 Kibit; the iCE40 has no LUT RAM;
* on the iCE40 UP5K the weights go to the single-ported SPRAM (16 K × 16; two 8-bit words share
  one 16-bit row) only when the core is built with single-ported weights; otherwise they take EBR.
  Such a core also keeps the plasticity mask in SPRAM as 16-bit words (16 synapses per word):
  at N=256, M=64 the mask alone would take 20 of the 30 EBR.
"""

from dataclasses import dataclass, field

from ..config import CoreConfig
from .registry import BoardError, get_board

__all__ = ["MemoryNeed", "Estimate", "memories", "core_memories", "link_memories", "estimate",
           "check",
           "largest_neurons",
           "core_supports_spram", "BRAM_SHAPES", "SPRAM_DEPTH", "SPRAM_WIDTH"]

#: (depth, width) aspect ratios of one block RAM used with one read and one write port
BRAM_SHAPES = {
    "ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
    "ecp5": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
    # B-SRAM in semi-dual port mode
    "gowin": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
    # RAMB36 in simple dual port; counted in whole RAMB36 (a RAMB18 half counts 0.5)
    "xilinx7": ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36),
                (512, 72)),
}
RAMB18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: largest memory mapped to LUT RAM: ECP5 in TRELLIS_DPR16X4 cells, Xilinx in bits
ECP5_LUTRAM_MAX_CELLS = 28
XILINX_LUTRAM_MAX_BITS = 2048


def _distributed(family, depth, width):
    if family in ("ecp5", "gowin"):
        # ECP5 TRELLIS_DPR16X4 and Gowin RAM16SDP4 are both 16 x 4 LUT RAM cells
        return -(-depth // 16) * -(-width // 4) <= ECP5_LUTRAM_MAX_CELLS
    if family == "xilinx7":
        return depth * width <= XILINX_LUTRAM_MAX_BITS
    return False
SPRAM_DEPTH = 16384
SPRAM_WIDTH = 16

#: CoreConfig field that selects single-ported weights (one address for reads and writes)
SPRAM_FIELD = "single_port_weights"


def core_supports_spram(config_class=CoreConfig):
    """Whether this version of the core can keep its weights in single-ported RAM."""
    return SPRAM_FIELD in getattr(config_class, "__dataclass_fields__", {})


def _uses_spram(config, device):
    return device.spram_count > 0 and bool(getattr(config, SPRAM_FIELD, False))


@dataclass(frozen=True)
class MemoryNeed:
    """One memory of the core and what it takes on a device.

    ``kind`` is ``"bram"``, ``"spram"`` or ``"lutram"``; ``blocks`` counts the primitives of that
    kind (block RAMs, SPRAMs; 0 for LUT RAM).
    """
    name: str
    depth: int
    width: int
    kind: str = "bram"
    blocks: float = 0

    @property
    def bits(self):
        return self.depth * self.width


@dataclass
class Estimate:
    """The memories of one configuration on one device, and their totals."""
    config: CoreConfig
    device: object
    items: list = field(default_factory=list)

    @property
    def bram(self):
        return sum(item.blocks for item in self.items if item.kind == "bram")

    @property
    def spram(self):
        return sum(item.blocks for item in self.items if item.kind == "spram")

    @property
    def bits(self):
        return sum(item.bits for item in self.items)

    def fits(self):
        return self.bram <= self.device.bram_count and self.spram <= self.device.spram_count

    def as_dict(self):
        return {
            "bram": self.bram, "bram_available": self.device.bram_count,
            "spram": self.spram, "spram_available": self.device.spram_count,
            "memory_bits": self.bits,
            "memories": [dict(name=item.name, depth=item.depth, width=item.width,
                              kind=item.kind, blocks=item.blocks) for item in self.items],
        }


def memories(config, link=None):
    """(name, depth, width) of every memory the core and its command engine build for
    ``config``.

    The core's memories come from its inventory (:func:`spikeforge.rtl.core.inventory`), the
    data the core builds its memories from; the names are those of its
    :class:`~amaranth.lib.memory.Memory` submodules.
    """
    record = True if link is None else link.record_set
    return ([(spec.name, spec.depth, spec.width)
             for spec in core_memories(config, record=record)]
            + link_memories(config, link))


def core_memories(config, *, record=True):
    """The :class:`~spikeforge.rtl.core.MemorySpec` of every memory of the core (without the
    RECORD memory when not ``record``: ``LinkParams.record_set``)."""
    from ..rtl.core import inventory
    return inventory(config, record=record)


def link_memories(config, link=None):
    """(name, depth, width) of the command engine's buffers (:mod:`spikeforge.rtl.engine`)
    with its default :class:`~spikeforge.rtl.protocol.LinkParams`."""
    try:
        from ..rtl.protocol import BOARD_NAME_BYTES, IDENTIFY_BYTES, LinkParams
    except ImportError:  # pragma: no cover - a core without the command engine
        return []
    c = config
    link = LinkParams(c) if link is None else link
    found = [
        ("ring", link.rx_buffer, 8),
        # the COBS encoder's block buffer; two blocks with ``cobs_double``
        ("block", 512 if link.cobs_double else 256, 8),
        ("probes", max(link.max_probes, 1), c.neuron_index_bits),
        ("ident", IDENTIFY_BYTES + BOARD_NAME_BYTES, 8),
    ]
    if c.inputs:
        found.append(("slots", link.input_slots * c.inputs, c.input_index_bits))
    if link.record_counts:
        found.append(("counts", c.neurons, 8))
    if link.overlap:
        # the engine's copy of the spike list, two steps of it (rtl.engine, overlap)
        found.append(("spike_copy", 2 << c.neuron_index_bits, c.neuron_index_bits))
    # the UART's receive and transmit FIFOs (SyncFIFOBuffered keeps depth - 1 bytes in RAM)
    from ..rtl.uart import FIFO_DEPTH
    found += [("uart_rx", FIFO_DEPTH - 1, 8), ("uart_tx", FIFO_DEPTH - 1, 8)]
    return found


def _bram_blocks(family, depth, width):
    if family == "xilinx7":
        halves = min(-(-depth // d) * -(-width // w) for d, w in RAMB18_SHAPES)
        wholes = min(-(-depth // d) * -(-width // w) for d, w in BRAM_SHAPES["xilinx7"])
        return min(halves / 2, wholes)
    return min(-(-depth // d) * -(-width // w) for d, w in BRAM_SHAPES[family])


def _spram_blocks(depth, width):
    pack = 2 if width <= SPRAM_WIDTH // 2 else 1
    return -(-depth // (SPRAM_DEPTH * pack)) * -(-(width * pack) // SPRAM_WIDTH)


def estimate(config, board):
    """Map the memories of ``config`` onto the RAM of ``board`` (a name or a BoardSpec)."""
    spec = get_board(board)
    device = spec.device
    family = device.family
    result = Estimate(config, device)
    styles = {item.name: item.style for item in core_memories(config)}
    for name, depth, width in memories(config, spec.link_params(config)):
        if styles.get(name) == "spram" and _uses_spram(config, device):
            result.items.append(MemoryNeed(name, depth, width, "spram",
                                           _spram_blocks(depth, width)))
        elif name.startswith("mask") and _uses_spram(config, device):
            words = -(-depth * width // SPRAM_WIDTH)
            result.items.append(MemoryNeed(name, words, SPRAM_WIDTH, "spram",
                                           _spram_blocks(words, SPRAM_WIDTH)))
        elif _distributed(family, depth, width):
            result.items.append(MemoryNeed(name, depth, width, "lutram", 0))
        else:
            result.items.append(MemoryNeed(name, depth, width, "bram",
                                           _bram_blocks(family, depth, width)))
    return result


def largest_neurons(config, board):
    """The largest N that fits ``board`` with the other fields of ``config`` (0 if none)."""
    low, high = 0, 1024
    while low < high:
        middle = (low + high + 1) // 2
        if estimate(config.replace(neurons=middle), board).fits():
            low = middle
        else:
            high = middle - 1
    return low


def _short(config):
    return f"N={config.neurons} M={config.inputs} L={config.lanes}"


def check(config, board):
    """Return the :class:`Estimate` of ``config`` on ``board``, or raise :class:`BoardError`
    saying which RAM runs out and the largest N that fits."""
    spec = get_board(board)
    device = spec.device
    result = estimate(config, spec)
    if result.fits():
        return result
    largest = largest_neurons(config, spec)
    fix = (f"use at most N={largest} with M={config.inputs} L={config.lanes}" if largest
           else "use fewer inputs or lanes")
    if config.stdp:
        fix += " (or build without learning, which drops the mask and traces)"
    if result.spram > device.spram_count:
        raise BoardError(f"{_short(config)} needs {result.spram:g} SPRAMs for its weights"
                         f"{' and mask' if config.stdp else ''}; "
                         f"the {device.name.replace('iCE40', '')} has {device.spram_count}", fix)
    what = device.bram_kind
    biggest = max((item for item in result.items if item.kind == "bram"),
                  key=lambda item: item.blocks)
    where = ""
    if (device.spram_count and biggest.name.startswith("weights")
            and not _uses_spram(config, device)):
        where = (" (the weights go to the SPRAM only with single_port_weights=True, "
                 "which needs stdp=False and banks=1)")
    raise BoardError(f"{_short(config)} needs {result.bram:g} {what} block RAMs "
                     f"({biggest.blocks:g} for {biggest.name}){where}; the {device.name} has "
                     f"{device.bram_count}", fix)
