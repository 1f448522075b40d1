"""Memory regions of the core: their word layouts, depths, and host-side packing.

The same :class:`~amaranth.lib.data.Layout` objects describe a region's word in the RTL and on the
host, so a field's position is written in exactly one place. Host code packs numpy arrays into
region words with :func:`pack_region` and unpacks them with :func:`unpack_region`; the RTL views
its memories through the same layouts.
"""

import zlib

import numpy as np
from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data, enum
from amaranth.lib.crc import catalog

from ..config import ConfigError, ceil_log2

__all__ = ["Region", "region_layout", "region_depth", "region_width", "bus_width", "addr_bits",
           "pack_region", "unpack_region", "region_crc", "crc_parameters", "crc_width"]


class Region(enum.Enum, shape=4):
    """Addressable memory regions of the core (the host reads and writes them word by word)."""
    WEIGHT = 0    #: (N+M) rows × ceil(N/L) words of L signed weights, interleaved over banks
    MASK = 1      #: plasticity mask, same addressing as WEIGHT, L bits per word
    PARAM = 2     #: per-neuron parameters, one word per neuron
    STATE = 3     #: per-neuron state (v, i, r, s, theta), one word per neuron
    XTRACE = 4    #: pre-synaptic trace of each neuron
    YTRACE = 5    #: post-synaptic trace of each neuron
    XINTRACE = 6  #: pre-synaptic trace of each input
    GLOBAL = 7    #: the global parameter word (depth 1)
    POISSON_RATE = 8   #: per-input Poisson rate (spike probability rate / 2**16 per step)
    POISSON_STATE = 9  #: per-input xorshift32 state of the Poisson generator
    RECORD = 10   #: one bit per neuron: recorded when a run selects the RECORD set


def _param_layout(c):
    fields = {
        "thr": signed(c.v_bits),
        "v_reset": signed(c.v_bits),
        "reset_sub": unsigned(1),
        "refrac": unsigned(c.refrac_bits),
        "alpha_v": unsigned(c.decay_bits),
        "alpha_i": unsigned(c.decay_bits),
        "bias": signed(c.i_bits),
    }
    if c.adaptive_threshold:
        fields["theta_inc"] = unsigned(c.theta_bits)
        fields["alpha_th"] = unsigned(c.decay_bits)
    return data.StructLayout(fields)


#: Fields at the bottom of a PARAM word that the core reads late (in the neuron update's third
#: stage, see :mod:`spikeforge.rtl.core`); they are kept in a memory of their own.
LATE_PARAM_FIELDS = ("thr", "v_reset", "reset_sub", "refrac")


def late_param_bits(config):
    """Width of the late fields of a PARAM word (they are its low bits)."""
    layout = _param_layout(config)
    names = list(layout.members)
    assert tuple(names[:len(LATE_PARAM_FIELDS)]) == LATE_PARAM_FIELDS
    last = layout[LATE_PARAM_FIELDS[-1]]
    return last.offset + last.width


def _state_layout(c):
    fields = {
        "v": signed(c.v_bits),
        "i": signed(c.i_bits),
        "r": unsigned(c.refrac_bits),
        "s": unsigned(1),
    }
    if c.adaptive_threshold:
        fields["theta"] = unsigned(c.theta_bits)
    return data.StructLayout(fields)


def _global_layout(c):
    fields = {"w_shift": unsigned(max(1, ceil_log2(c.max_w_shift + 1)))}
    if c.has_poisson:
        fields["poisson_on"] = unsigned(1)
    if c.stdp:
        fields.update({
            "w_min": signed(c.weight_bits),
            "w_max": signed(c.weight_bits),
            "a_plus": unsigned(c.rate_bits),
            "a_minus": unsigned(c.rate_bits),
            "stdp_shift": unsigned(c.stdp_shift_bits),
            "x_inc": unsigned(c.trace_bits),
            "y_inc": unsigned(c.trace_bits),
            "alpha_x": unsigned(c.decay_bits),
            "alpha_y": unsigned(c.decay_bits),
        })
    # the later model features go last, so that a word without them keeps its layout
    if c.v_floor:
        fields["v_min"] = signed(c.v_bits)
    if c.weight_decay:
        fields["a_decay"] = unsigned(c.rate_bits)
    if c.winner_take_all:
        fields["wta"] = unsigned(1)
    if c.stochastic_rounding:
        fields["sr_seed"] = unsigned(32)
    return data.StructLayout(fields)


def region_layout(config, region):
    """The layout (or plain shape) of one word of ``region``."""
    region = Region(region)
    c = config
    if region == Region.WEIGHT:
        return data.ArrayLayout(signed(c.weight_bits), c.lanes)
    if region == Region.MASK:
        return unsigned(c.lanes)
    if region == Region.PARAM:
        return _param_layout(c)
    if region == Region.STATE:
        return _state_layout(c)
    if region in (Region.XTRACE, Region.YTRACE, Region.XINTRACE):
        return unsigned(c.trace_bits)
    if region == Region.GLOBAL:
        return _global_layout(c)
    if region == Region.POISSON_RATE:
        return unsigned(c.poisson_rate_bits)
    if region == Region.POISSON_STATE:
        return unsigned(c.poisson_state_bits)
    if region == Region.RECORD:
        return unsigned(1)
    raise AssertionError(region)


def region_depth(config, region):
    """Number of words in ``region``; 0 when the region is not built in this configuration."""
    region = Region(region)
    c = config
    if region == Region.WEIGHT:
        return c.weight_depth
    if region == Region.MASK:
        return c.weight_depth if c.stdp else 0
    if region in (Region.PARAM, Region.STATE, Region.RECORD):
        return c.neurons
    if region in (Region.XTRACE, Region.YTRACE):
        return c.neurons if c.stdp else 0
    if region == Region.XINTRACE:
        return c.inputs if c.stdp else 0
    if region == Region.GLOBAL:
        return 1
    if region in (Region.POISSON_RATE, Region.POISSON_STATE):
        return c.inputs if c.has_poisson else 0
    raise AssertionError(region)


def region_width(config, region):
    return Shape.cast(region_layout(config, region)).width


def bus_width(config):
    """Width of the host bus data word: the widest region word."""
    return max(region_width(config, region) for region in Region)


def addr_bits(config):
    return max(1, ceil_log2(max(region_depth(config, region) for region in Region)))


def crc_width(config):
    """Data width of the region CRC: the bus width rounded up to whole bytes."""
    return -(-bus_width(config) // 8) * 8


def crc_parameters(config, *, serial=False):
    """CRC-32 (Ethernet) over region words zero-extended to :func:`crc_width` bits, fed a whole
    word per clock, or one byte per clock when ``serial``.

    With reflected input, a word of whole bytes is processed exactly like its little-endian
    bytes, so both give the value the host computes with :func:`zlib.crc32` over the words'
    little-endian bytes (see :func:`region_crc`).
    """
    return catalog.CRC32_ETHERNET(data_width=8 if serial else crc_width(config))


# -- host-side packing ------------------------------------------------------------------------

def _fields(layout):
    """(name, offset, width, signed) of each field of a struct layout."""
    return [(name, field.offset, field.width, field.shape.signed)
            for name, field in layout]


def _to_unsigned(values, width):
    values = np.asarray(values, dtype=object)
    return values & ((1 << width) - 1)


def _from_unsigned(values, width, is_signed):
    values = np.asarray(values, dtype=object) & ((1 << width) - 1)
    if is_signed:
        values = np.where(values >= (1 << (width - 1)), values - (1 << width), values)
    return values.astype(np.int64)


def weight_word_index(config):
    """Region address of word ``w`` of row ``r``, for all rows and words, in row-major order.

    Row ``r`` is neuron ``q = r`` (``r < N``) or input ``q = r - N``; it lives in bank
    ``q mod B`` at bank row ``q // B`` (plus ``ceil(N/B)`` for inputs), and the region address
    is ``(bank_row * ceil(N/L) + w) * B + bank`` — the bank in the low address bits.
    """
    c = config
    rows = np.arange(c.rows)
    q = np.where(rows < c.neurons, rows, rows - c.neurons)
    bank_row = q // c.banks + np.where(rows < c.neurons, 0, c.neuron_bank_rows)
    words = np.arange(c.words_per_row)
    index = ((bank_row[:, None] * c.words_per_row + words[None, :]) * c.banks
             + (q % c.banks)[:, None])
    return index.reshape(-1)


#: Regions whose words are one unsigned number, and that number's width.
_PLAIN_WIDTH = {
    Region.XTRACE: lambda c: c.trace_bits,
    Region.YTRACE: lambda c: c.trace_bits,
    Region.XINTRACE: lambda c: c.trace_bits,
    Region.POISSON_RATE: lambda c: c.poisson_rate_bits,
    Region.POISSON_STATE: lambda c: c.poisson_state_bits,
    Region.RECORD: lambda c: 1,
}


def pack_region(config, region, arrays):
    """Pack numpy data into a list of region words (Python ints).

    ``arrays`` is, per region: WEIGHT — the (N+M)×N weight matrix; MASK — the (N+M)×N bool mask;
    XTRACE/YTRACE/XINTRACE/POISSON_RATE/POISSON_STATE — a 1-D array; PARAM/STATE/GLOBAL — a mapping from field name
    to an array (or, for GLOBAL, a scalar). Lanes past neuron N−1 are packed as 0.
    """
    region = Region(region)
    c = config
    layout = region_layout(c, region)
    if region in (Region.WEIGHT, Region.MASK):
        matrix = np.asarray(arrays)
        if matrix.shape != (c.rows, c.neurons):
            raise ConfigError(f"{region.name.lower()} matrix has shape {matrix.shape}, "
                              f"expected {(c.rows, c.neurons)}")
        padded = np.zeros((c.rows, c.words_per_row * c.lanes), dtype=np.int64)
        padded[:, :c.neurons] = matrix
        lanes = padded.reshape(c.rows * c.words_per_row, c.lanes)
        lane_bits = c.weight_bits if region == Region.WEIGHT else 1
        row_words = np.zeros(lanes.shape[0], dtype=object)
        for lane in range(c.lanes):
            row_words |= _to_unsigned(lanes[:, lane], lane_bits) << (lane * lane_bits)
        words = np.zeros(c.weight_depth, dtype=object)
        words[weight_word_index(c)] = row_words
        return [int(word) for word in words]
    if region in _PLAIN_WIDTH:
        width = _PLAIN_WIDTH[region](c)
        return [int(word) for word in _to_unsigned(np.asarray(arrays, dtype=np.int64), width)]
    depth = region_depth(c, region)
    words = np.zeros(depth, dtype=object)
    for name, offset, width, _ in _fields(layout):
        values = np.broadcast_to(np.asarray(arrays[name], dtype=np.int64), (depth,))
        words |= _to_unsigned(values, width) << offset
    return [int(word) for word in words]


def unpack_region(config, region, words):
    """Inverse of :func:`pack_region`."""
    region = Region(region)
    c = config
    layout = region_layout(c, region)
    words = np.asarray([int(word) for word in words], dtype=object)
    if region in (Region.WEIGHT, Region.MASK):
        words = words[weight_word_index(c)]
        lane_bits = c.weight_bits if region == Region.WEIGHT else 1
        lanes = np.stack([_from_unsigned(words >> (lane * lane_bits), lane_bits,
                                         region == Region.WEIGHT)
                          for lane in range(c.lanes)], axis=1)
        matrix = lanes.reshape(c.rows, c.words_per_row * c.lanes)[:, :c.neurons]
        return matrix.astype(bool) if region == Region.MASK else matrix
    if region in _PLAIN_WIDTH:
        return _from_unsigned(words, _PLAIN_WIDTH[region](c), False)
    result = {name: _from_unsigned(words >> offset, width, is_signed)
              for name, offset, width, is_signed in _fields(layout)}
    if region == Region.GLOBAL:
        return {name: int(value[0]) for name, value in result.items()}
    return result


def region_crc(config, words):
    """CRC of a region's words exactly as the core's region-CRC engine computes it."""
    nbytes = crc_width(config) // 8
    return zlib.crc32(b"".join(int(word).to_bytes(nbytes, "little") for word in words))
