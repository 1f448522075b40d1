"""The wire format of the host link, defined once for the RTL and the host.

A frame on the wire is a COBS-encoded block followed by a single ``0x00`` delimiter. Decoded, it
is a :data:`HEADER` (sequence number, opcode, payload length, 4 bytes), the payload, and a
CRC-32 (:data:`CRC`, little-endian) over header and payload. The command engine
(:mod:`spikeforge.rtl.engine`) and the host codec (:mod:`spikeforge.host.codec`) both import
:class:`Opcode`, :class:`ErrorCode`, :data:`CRC` and the payload helpers of this module, so no
number of the protocol is written twice. ``docs/protocol.md`` describes every payload.
"""

from amaranth.hdl import Shape
from amaranth.lib import data, enum
from amaranth.lib.crc import catalog

from ..config import CoreConfig
from .regions import Region, region_depth, region_width

__all__ = ["PROTOCOL_VERSION", "CRC", "HEADER", "HEADER_BYTES", "CRC_BYTES", "FRAME_OVERHEAD",
           "ACK", "Opcode", "ErrorCode", "RunFlag", "OutputFlag", "RecordSelect", "RECORD",
           "ResetFlag", "STATUS_COUNTERS",
           "Feature", "SHORT_RUN_MAX_EVERY", "SHORT_RUN_MAX_PERIOD_US", "word_bytes", "reset_regions", "link_regions", "IDENTIFY", "IDENTIFY_BYTES",
           "BOARD_NAME_BYTES", "LinkParams", "identify_payload", "build_id", "INPUT_BITMAP",
           "field_bytes", "REGION_ARGS", "REGION_ARGS_BYTES", "RESET_ARGS", "REGION_CRC_ARGS",
           "RUN_ARGS", "MAX_COUNT_WINDOW", "PROBE_INDEX", "REQUEST_ARGS", "STATUS",
           "STATUS_COUNTER", "NACK",
           "REGION_CRC_RESULT", "RUN_RESULT", "STOP_RESULT", "OUTPUT_HEADER", "SPIKE_COUNT",
           "INPUT_RECORD", "INPUT_ARGS", "input_index_bits", "layout_bytes", "pack_layout",
           "unpack_layout"]

#: Bumped whenever a payload or the framing changes incompatibly.
PROTOCOL_VERSION = 4

#: CRC of a decoded frame: the same parameters give ``CRC.compute()`` on the host and
#: ``CRC.create()`` (a byte-wide processor) in the engine.
CRC = catalog.CRC32_ETHERNET(data_width=8)

#: Decoded frame header; bytes in little-endian order: seq, opcode, length low, length high.
HEADER = data.StructLayout({"seq": 8, "opcode": 8, "length": 16})
HEADER_BYTES = HEADER.size // 8
CRC_BYTES = CRC.algorithm.crc_width // 8
#: Decoded bytes of a frame besides its payload.
FRAME_OVERHEAD = HEADER_BYTES + CRC_BYTES

#: A successful response carries the request's opcode with this bit set.
ACK = 0x80


class Opcode(enum.Enum, shape=8):
    """Request opcodes (host to device), and the two unsolicited/negative device opcodes."""
    IDENTIFY = 0x01     #: who is there: protocol, configuration hash, sizes, clock, board
    STATUS = 0x02       #: link and run counters
    RESET = 0x03        #: zero state (or everything), stop a run, drop buffered inputs
    WRITE = 0x10        #: :data:`REGION_ARGS`, then the words
    READ = 0x11         #: :data:`REGION_ARGS`
    REGION_CRC = 0x12   #: region u8
    RUN = 0x20          #: steps u32, flags u8, period_us u32, probes u8, record u8, every u16,
    #: probe indices u16 each
    INPUT = 0x21        #: input spikes of one or more steps (one credit each)
    STOP = 0x22         #: end a run after the current step
    OUTPUT = 0x40       #: device to host, one per step of a run (sequence number of the RUN)
    NACK = 0x7F         #: device to host: error code u8, request opcode u8


class ErrorCode(enum.Enum, shape=8):
    """Reasons of a NACK."""
    UNKNOWN_OPCODE = 1  #: the opcode is not a request this engine knows
    BAD_LENGTH = 2      #: payload length does not match the opcode's arguments
    BAD_REGION = 3      #: region number unknown or not built in this configuration
    BAD_RANGE = 4       #: offset/count outside the region, count 0, or response too long
    BUSY = 5            #: a run is in progress: WRITE, READ, REGION_CRC, RUN refused
    NO_CREDIT = 6       #: INPUT for more steps than free input slots
    BAD_ARGUMENT = 7    #: an argument is out of range (probe index, input index, flags)
    INPUT_GAP = 8       #: INPUT whose first step is ahead of the next one expected (``expected``)
    INPUT_REPEAT = 9    #: INPUT whose first step is behind the next one expected: dropped whole


class RunFlag(enum.IntFlag):
    LEARN = 1           #: apply STDP in every step of the run
    STREAM = 2          #: each step waits for its inputs from INPUT frames (else: no inputs)
    PACED = 4           #: start a step every ``period_us`` microseconds (else: free-running)


class OutputFlag(enum.IntFlag):
    LAST = 1            #: last step of the run
    LIST = 2            #: spikes as count u16 + indices (else: bitmap of N bits)
    PROBES = 4          #: the probes' v and i follow (in the steps s with (s + 1) % every == 0)
    COUNTS = 8          #: the recorded neurons' spike counts over the window ending here follow


class RecordSelect(enum.Enum, shape=2):
    """Whose spikes a run's OUTPUT frames carry (``select`` of :data:`RECORD`)."""
    ALL = 0             #: every neuron
    SET = 1             #: the neurons whose bit is set in the RECORD region
    NONE = 2            #: none: a spike LIST of count 0 in every step


class ResetFlag(enum.IntFlag):
    ALL = 1             #: zero every region, not only the state regions
    COUNTERS = 2        #: clear the STATUS counters


class Feature(enum.IntFlag):
    STDP = 1
    ADAPTIVE_THRESHOLD = 2
    STOCHASTIC_ROUNDING = 4
    V_FLOOR = 8
    RECORD_COUNTS = 16  #: the engine has a count memory: RUN may ask for spike counts
    RECORD_SET = 32     #: the engine filters spikes by the RECORD region: RUN may select SET
    SPAN = 64           #: OUTPUT carries ``span`` (``LinkParams(span=True)``; else it is 0)
    SHORT_RUN = 128     #: RUN's ``every`` is at most 255 and its ``period_us`` at most
    #: 2**24 - 1 (``LinkParams(every_bits=8, period_bits=24)``)


# -- payloads ------------------------------------------------------------------------------------
# Every payload is a StructLayout of whole bytes, sent little-endian (bit 0 of the layout is bit 0
# of the first byte), possibly followed by a variable tail described next to it. The engine reads
# and writes them through ``data.View``; the host packs them with :func:`pack_layout` and unpacks
# them with :func:`unpack_layout`.

def layout_bytes(layout):
    """Bytes of a layout (or shape) of whole bytes."""
    width = layout.size if isinstance(layout, data.Layout) else Shape.cast(layout).width
    assert width % 8 == 0, f"{layout!r} is not a whole number of bytes"
    return width // 8


#: Counters of a STATUS response (each :data:`STATUS_COUNTER`, in this order).
STATUS_COUNTERS = ("good_frames", "crc_errors", "frame_errors", "uart_framing_errors",
                   "uart_overruns", "nacks", "step_overruns")
STATUS_COUNTER = 32
#: STATUS response: the counters, then whether a run is going on, its steps done so far and the
#: free input slots.
STATUS = data.StructLayout({**{name: STATUS_COUNTER for name in STATUS_COUNTERS},
                            "running": 8, "steps_done": 32, "free_slots": 8})

#: Arguments of WRITE and READ: the region, the first word's offset in it, the number of words.
#: The offset is 32 bits wide so that every region of every configuration is addressable.
#: WRITE's words follow (:func:`word_bytes` each); READ's response is the words.
REGION_ARGS = data.StructLayout({"region": 8, "offset": 32, "count": 16})
REGION_ARGS_BYTES = layout_bytes(REGION_ARGS)
#: Argument of RESET: :class:`ResetFlag` bits.
RESET_ARGS = data.StructLayout({"flags": 8})
#: Argument of REGION_CRC, and its response.
REGION_CRC_ARGS = data.StructLayout({"region": 8})
REGION_CRC_RESULT = data.StructLayout({"crc": 32})
#: Arguments of RUN (``steps`` 0: until STOP; ``period_us`` 0: free-running; ``flags``:
#: :class:`RunFlag`), then ``probes`` × :data:`PROBE_INDEX`. Its response: the initial credits.
#: ``record`` (:data:`RECORD`) says whose spikes are sent and whether as counts; probes (and
#: counts) are sent in the steps s (from 0 in the run) with ``(s + 1) % every == 0``.
RUN_ARGS = data.StructLayout({"steps": 32, "flags": 8, "period_us": 32, "probes": 8,
                              "record": 8, "every": 16})
#: The ``record`` byte of RUN: ``select`` (:class:`RecordSelect`; 3 is refused), ``counts``
#: (send per-neuron spike counts over each window of ``every`` steps instead of the spikes;
#: ``every`` must then be at most :data:`MAX_COUNT_WINDOW`), and bits that must be 0.
RECORD = data.StructLayout({"select": 2, "counts": 1, "zero": 5})
#: The longest counting window: a u8 count never saturates.
MAX_COUNT_WINDOW = 255
PROBE_INDEX = data.StructLayout({"index": 16})
RUN_RESULT = data.StructLayout({"free_slots": 8})
#: Response of STOP: the steps the run completed.
STOP_RESULT = data.StructLayout({"steps_done": 32})
#: Response to a refused request. ``expected`` is meaningful in an INPUT_GAP NACK only: the
#: index of the next input step the device expects, modulo ``2 ** input_index_bits(slots)``
#: (the host restores the full index from the outputs it has received, see
#: :func:`input_index_bits`); other NACKs carry some value there.
NACK = data.StructLayout({"error": 8, "opcode": 8, "expected": 16})
#: Argument of INPUT: the step index (modulo 2**16) of the frame's first record; the records
#: follow.
INPUT_ARGS = data.StructLayout({"first_step": 16})

#: Fixed arguments of each request; what follows them is the request's variable tail.
REQUEST_ARGS = {
    Opcode.IDENTIFY: None, Opcode.STATUS: None, Opcode.RESET: RESET_ARGS,
    Opcode.WRITE: REGION_ARGS, Opcode.READ: REGION_ARGS, Opcode.REGION_CRC: REGION_CRC_ARGS,
    Opcode.RUN: RUN_ARGS, Opcode.INPUT: INPUT_ARGS, Opcode.STOP: None,
}

#: Header of an OUTPUT payload (``flags``: :class:`OutputFlag`). The recorded neurons' spikes
#: follow: a bitmap of ``ceil(N/8)`` bytes (bits of neurons not recorded 0), or with ``LIST`` a
#: :data:`SPIKE_COUNT` and that many neuron indices of ``field_bytes(neuron_index_bits)`` bytes;
#: with ``COUNTS`` one u8 spike count per recorded neuron, in ascending neuron order; with
#: ``PROBES`` per probe ``v`` and ``i`` of ``field_bytes(v_bits)`` and ``field_bytes(i_bits)``
#: bytes, two's complement.
OUTPUT_HEADER = data.StructLayout({"step": 32, "cycles": 32, "span": 32, "flags": 8})
SPIKE_COUNT = data.StructLayout({"count": 16})

#: Header of one step's record in an INPUT payload. With ``bitmap`` set (``count`` 0) a bitmap
#: of ``ceil(M/8)`` bytes follows, else ``count`` input indices of
#: ``field_bytes(input_index_bits)`` bytes.
INPUT_RECORD = data.StructLayout({"count": 15, "bitmap": 1})
#: The record header's value with only ``bitmap`` set.
INPUT_BITMAP = 1 << INPUT_RECORD["bitmap"].offset


def input_index_bits(input_slots):
    """Low bits of an input step index the engine keeps and compares (``ceil(log2(2 *
    input_slots))``). The first step of an INPUT frame is never more than ``input_slots`` behind
    nor ``input_slots - 1`` ahead of the step the engine expects (the host sends a step only
    while it holds fewer than ``input_slots`` unanswered ones), so the difference of these low
    bits, read as a signed number, is the exact difference."""
    return max(1, (2 * int(input_slots) - 1).bit_length())


def pack_layout(layout, **values):
    """Bytes (little-endian) of a :class:`data.StructLayout` whose fields are whole bytes."""
    value = 0
    for name, field in layout:
        width = Shape.cast(field.shape).width
        field_value = int(values[name])
        if not 0 <= field_value < 1 << width:
            raise OverflowError(f"{name}={field_value} does not fit {width} bits")
        value |= field_value << field.offset
    return value.to_bytes(layout_bytes(layout), "little")


def unpack_layout(layout, payload):
    """Fields (a dict of unsigned ints) of a :class:`data.StructLayout` from the first bytes of
    ``payload``; raises ``ValueError`` if it is shorter than the layout."""
    size = layout_bytes(layout)
    if len(payload) < size:
        raise ValueError(f"{len(payload)} bytes are fewer than the {size} of the layout")
    value = int.from_bytes(bytes(payload[:size]), "little")
    return {name: (value >> field.offset) & ((1 << Shape.cast(field.shape).width) - 1)
            for name, field in layout}


#: Regions holding neuron state, zeroed by RESET without ResetFlag.ALL (those built).
_STATE_REGION_NAMES = ("STATE", "XTRACE", "YTRACE", "XINTRACE")
#: Regions RESET never zeroes: the Poisson generators keep their place in their sequences
#: (an all-zero xorshift state would stop them for good).
_KEEP_REGION_NAMES = ("POISSON_STATE",)


def field_bytes(bits):
    """Bytes of a little-endian field of ``bits`` bits."""
    return max(1, -(-int(bits) // 8))


def word_bytes(config, region):
    """Bytes of one word of ``region`` in WRITE and READ payloads."""
    return field_bytes(region_width(config, region))


def link_regions(link):
    """Regions a device built with ``link`` (a :class:`LinkParams`) holds: those built in its
    configuration, but RECORD only with ``link.record_set``."""
    return [region for region in Region if region_depth(link.config, region)
            and (link.record_set or region != Region.RECORD)]


def reset_regions(config, all_regions=False, *, record=True):
    """Regions zeroed by RESET (those built in ``config``; RECORD only with ``record``): the
    state regions, or with ``all_regions`` every region but the Poisson generator state."""
    return [region for region in Region
            if region_depth(config, region) and region.name not in _KEEP_REGION_NAMES
            and (record or region != Region.RECORD)
            and (all_regions or region.name in _STATE_REGION_NAMES)]


class LinkParams:
    """Sizes of the engine's buffers, and the clock, as the device advertises them.

    Arguments
    ---------
    max_payload : int, 16..16384
        Largest payload of a request or a response, in bytes.
    rx_buffer : int, power of two
        Bytes of the receive ring holding decoded requests; the host keeps at most
        ``rx_buffer - 2 * FRAME_OVERHEAD`` bytes of requests unanswered.
    input_slots : int, 1..64
        Steps of input spikes the engine buffers (the credits of a streamed run).
    max_probes : int, 0..255
        Probed neurons per run.
    counter_bits : int, 16..32
        Width of the engine's STATUS counters (sent as u32 whatever the width; they wrap at
        ``2**counter_bits``) and of its ``span`` counter (which saturates). Small FPGAs use 16
        to save logic.
    span : bool
        Count ``span`` of OUTPUT (clock cycles between the starts of two steps; two registers
        of ``counter_bits``). Without it OUTPUT sends 0 and IDENTIFY clears ``Feature.SPAN``:
        for FPGAs that have no logic cells to spare.
    crc_serial : bool
        The core feeds REGION_CRC one byte per clock instead of one word (same value, a tenth
        of the logic, several times the cycles): for small FPGAs.
    record_counts : bool
        The engine keeps a count memory (N × 8 bits) and can send spike counts over windows of
        steps (RUN's ``record.counts``, IDENTIFY's :attr:`Feature.RECORD_COUNTS`).
    record_set : bool
        The engine sends only the spikes of the neurons set in the RECORD region when RUN
        selects SET (IDENTIFY's :attr:`Feature.RECORD_SET`). Without it, RUN records ALL or
        NONE, and the device has no RECORD region (WRITE, READ and REGION_CRC of it are
        refused with BAD_REGION; RESET skips it).
    every_bits : 8 or 16
        Width of the engine's copy of RUN's ``every`` (and of its window counter).
    period_bits : 24 or 32
        Width of the engine's copy of RUN's ``period_us`` (and of its pacing counter).
        ``every_bits=8`` and ``period_bits=24`` go together (a short RUN, for FPGAs that have
        no logic cells to spare): RUN then refuses an ``every`` above 255 or a ``period_us``
        above 2**24 - 1 (BAD_ARGUMENT), and IDENTIFY sets :attr:`Feature.SHORT_RUN`.
    cobs_double : bool
        The transmitter's COBS encoder gathers a block while it sends the previous one
        (:class:`~spikeforge.rtl.framing.COBSEncoder`): a response byte costs the engine one
        cycle instead of two (:attr:`tx_cycles_per_byte`). Same block RAM where a memory block
        holds 512 bytes, a few dozen more logic cells.
    """

    def __init__(self, config, *, max_payload=1024, rx_buffer=None, input_slots=4,
                 max_probes=8, counter_bits=32, crc_serial=False, span=True,
                 record_counts=True, record_set=True, every_bits=16,
                 period_bits=32, cobs_double=True, overlap=True):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        if not 16 <= max_payload <= 16384:
            raise ValueError(f"max_payload={max_payload} is out of range 16..16384")
        if rx_buffer is None:
            rx_buffer = 1 << (2 * (max_payload + FRAME_OVERHEAD) - 1).bit_length()
        if rx_buffer & (rx_buffer - 1) or rx_buffer < 2 * (max_payload + FRAME_OVERHEAD):
            raise ValueError(f"rx_buffer={rx_buffer} must be a power of two of at least "
                             f"2 * (max_payload + {FRAME_OVERHEAD}) = "
                             f"{2 * (max_payload + FRAME_OVERHEAD)}")
        if not 1 <= input_slots <= 64:
            raise ValueError(f"input_slots={input_slots} is out of range 1..64")
        if not 0 <= max_probes <= 255:
            raise ValueError(f"max_probes={max_probes} is out of range 0..255")
        if not 16 <= counter_bits <= 32:
            raise ValueError(f"counter_bits={counter_bits} is out of range 16..32")
        record = (layout_bytes(INPUT_ARGS) + layout_bytes(INPUT_RECORD)
                  + max(-(-config.inputs // 8), 0))
        if config.inputs and input_slots * (record + FRAME_OVERHEAD) > rx_buffer // 2:
            raise ValueError(f"input_slots={input_slots} INPUT frames of {record} bytes do not "
                             f"fit half the receive buffer ({rx_buffer // 2} bytes): use fewer "
                             f"slots or a larger rx_buffer")
        if (every_bits, period_bits) not in ((16, 32), (8, 24)):
            raise ValueError(f"every_bits={every_bits!r}, period_bits={period_bits!r}: use "
                             f"16 and 32 (the default), or 8 and 24 (a short RUN)")
        self.config = config
        self.max_payload = max_payload
        self.rx_buffer = rx_buffer
        self.input_slots = input_slots if config.inputs else 0
        self.max_probes = max_probes
        self.counter_bits = counter_bits
        self.crc_serial = bool(crc_serial)
        self.span = bool(span)
        self.record_counts = bool(record_counts)
        self.record_set = bool(record_set)
        self.every_bits = every_bits
        self.period_bits = period_bits
        self.cobs_double = bool(cobs_double)
        self.overlap = bool(overlap)

    @property
    def tx_cycles_per_byte(self):
        """Clock cycles a byte of a response on the wire costs the engine when the transmitter
        is always ready (a block's code byte, the CRC and the delimiter included)."""
        return 1 if self.cobs_double else 2

    @property
    def window(self):
        """Bytes of decoded requests the host may have outstanding at any time."""
        return self.rx_buffer - 2 * FRAME_OVERHEAD


def build_id():
    """32-bit ID of the design's code (:func:`~spikeforge.rtl.identity.rtl_identity`): what a
    simulated board reports to IDENTIFY. Bitstreams report the ID of their build plan instead
    (:func:`~spikeforge.rtl.identity.plan_identity`)."""
    from .identity import id32, rtl_identity
    return id32(rtl_identity())


#: Limits of RUN's ``every`` and ``period_us`` on a device with :attr:`Feature.SHORT_RUN`.
SHORT_RUN_MAX_EVERY = (1 << 8) - 1
SHORT_RUN_MAX_PERIOD_US = (1 << 24) - 1


#: Fixed part of an IDENTIFY response; the board name (ASCII, up to :data:`BOARD_NAME_BYTES`)
#: follows as the rest of the payload.
IDENTIFY = data.StructLayout({
    "protocol": 8, "config_hash": 32, "neurons": 16, "inputs": 16, "lanes": 8,
    "weight_bits": 8, "v_bits": 8, "i_bits": 8, "decay_bits": 8, "refrac_bits": 8,
    "trace_bits": 8, "theta_bits": 8, "rate_bits": 8, "features": 8, "clk_hz": 32,
    "baud": 32, "rx_buffer": 16, "input_slots": 8, "max_probes": 8, "max_payload": 16,
    "build_id": 32,
})
IDENTIFY_BYTES = layout_bytes(IDENTIFY)
BOARD_NAME_BYTES = 32


def identify_payload(link, *, clk_hz, baud, board, build=None):
    """The IDENTIFY response payload of a device (a constant of the bitstream)."""
    c = link.config
    features = ((Feature.STDP if c.stdp else 0)
                | (Feature.ADAPTIVE_THRESHOLD if c.adaptive_threshold else 0)
                | (Feature.STOCHASTIC_ROUNDING if c.stochastic_rounding else 0)
                | (Feature.V_FLOOR if c.v_floor else 0)
                | (Feature.SPAN if link.span else 0)
                | (Feature.RECORD_COUNTS if link.record_counts else 0)
                | (Feature.RECORD_SET if link.record_set else 0)
                | (Feature.SHORT_RUN if link.every_bits < 16 else 0))
    values = {
        "protocol": PROTOCOL_VERSION, "config_hash": c.hash, "neurons": c.neurons,
        "inputs": c.inputs, "lanes": c.lanes, "weight_bits": c.weight_bits,
        "v_bits": c.v_bits, "i_bits": c.i_bits, "decay_bits": c.decay_bits,
        "refrac_bits": c.refrac_bits, "trace_bits": c.trace_bits, "theta_bits": c.theta_bits,
        "rate_bits": c.rate_bits, "features": int(features), "clk_hz": int(clk_hz),
        "baud": int(baud), "rx_buffer": link.rx_buffer, "input_slots": link.input_slots,
        "max_probes": link.max_probes, "max_payload": link.max_payload,
        "build_id": build_id() if build is None else build,
    }
    name = board.encode("ascii")
    if len(name) > BOARD_NAME_BYTES:
        raise ValueError(f"board name {board!r} is longer than {BOARD_NAME_BYTES} characters")
    return pack_layout(IDENTIFY, **values) + name
