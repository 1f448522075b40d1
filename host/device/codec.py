"""The host side of the link protocol, without I/O.

Pure functions and one incremental decoder: :func:`cobs_encode` / :func:`cobs_decode`,
:func:`encode_frame` (header, payload, CRC, COBS, delimiter), :class:`FrameDecoder` (fed with
byte chunks of any size, yields :class:`Frame` objects and counts what it had to discard), and
packers/unpackers of every payload. The wire format itself (opcodes, error codes, CRC, header)
comes from :mod:`spikeforge.rtl.protocol`, which the RTL imports too; ``docs/protocol.md``
describes it.
"""

import zlib
from dataclasses import dataclass

import numpy as np

from ...rtl.protocol import (ACK, CRC_BYTES, FRAME_OVERHEAD, HEADER, HEADER_BYTES, IDENTIFY,
                            INPUT_ARGS, INPUT_RECORD, MAX_COUNT_WINDOW, NACK, OUTPUT_HEADER,
                            PROBE_INDEX, RECORD, REGION_ARGS, REGION_CRC_ARGS, RESET_ARGS,
                            RUN_ARGS, SPIKE_COUNT, STATUS, ErrorCode, Feature, Opcode, OutputFlag,
                            RecordSelect, ResetFlag, RunFlag, SHORT_RUN_MAX_EVERY,
                            SHORT_RUN_MAX_PERIOD_US, field_bytes, input_index_bits,
                            layout_bytes, pack_layout, unpack_layout, word_bytes)
from ...rtl.regions import Region, region_depth

__all__ = ["CodecError", "FramingError", "ChecksumError", "PayloadError", "Frame",
           "cobs_encode", "cobs_decode", "encode_frame", "decode_frame", "FrameDecoder",
           "crc32", "pack_write", "pack_read", "pack_region_crc", "pack_run", "pack_input",
           "input_record", "pack_reset", "record_select", "unpack_words", "unpack_identify",
           "unpack_status",
           "unpack_output", "unpack_nack", "nack_expected", "unpack_result", "describe_nack",
           "Output"]


class CodecError(ValueError):
    """Bytes that are not a valid frame or payload; the message names the defect."""


class FramingError(CodecError):
    """The COBS encoding is broken, or the frame is shorter or longer than its header says."""


class ChecksumError(CodecError):
    """The frame's CRC does not match its contents."""


class PayloadError(CodecError):
    """A payload does not have the layout its opcode requires."""


def crc32(data):
    """CRC of :data:`spikeforge.rtl.protocol.CRC` over ``data``.

    :data:`~spikeforge.rtl.protocol.CRC` is CRC-32/Ethernet (reflected 0x04C11DB7, initial and
    final XOR 0xFFFFFFFF), the CRC of :func:`zlib.crc32`, which computes it in C about 40 times
    faster than ``CRC.compute``; the tests check that both give the same value."""
    return zlib.crc32(data)


# -- COBS -----------------------------------------------------------------------------------------

def cobs_encode(data):
    """COBS encoding of ``data`` (no delimiter). Every block, including a final empty one after
    a full 254-byte block, is emitted; this is also what the engine sends."""
    out = bytearray()
    block = bytearray()
    for byte in bytes(data):
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data):
    """Inverse of :func:`cobs_encode` (also accepts the shorter encoding without a final empty
    block). Raises :class:`FramingError` on a zero byte or a block running past the end."""
    data = bytes(data)
    out = bytearray()
    index = 0
    pending_zero = False
    while index < len(data):
        code = data[index]
        if code == 0:
            raise FramingError(f"zero byte at offset {index} inside a COBS frame")
        if pending_zero:
            out.append(0)
        block = data[index + 1:index + code]
        if len(block) != code - 1:
            raise FramingError(f"COBS block at offset {index} announces {code - 1} bytes, only "
                               f"{len(block)} follow")
        if 0 in block:
            raise FramingError(f"zero byte inside the COBS block at offset {index}")
        out += block
        pending_zero = code != 0xFF
        index += code
    return bytes(out)


# -- frames ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """A decoded, checked frame. ``opcode`` is the raw byte (requests, ``op | ACK``,
    :attr:`Opcode.OUTPUT` or :attr:`Opcode.NACK`)."""
    seq: int
    opcode: int
    payload: bytes

    @property
    def is_nack(self):
        return self.opcode == Opcode.NACK.value

    @property
    def is_output(self):
        return self.opcode == Opcode.OUTPUT.value

    def acks(self, opcode):
        """True if this frame is the successful response to a request of ``opcode``."""
        return self.opcode == (Opcode(opcode).value | ACK)


def encode_frame(seq, opcode, payload=b""):
    """A complete frame on the wire: COBS(header + payload + CRC) + 0x00."""
    top = (1 << HEADER["seq"].width) - 1
    if not 0 <= seq <= top:
        raise CodecError(f"sequence number {seq} is out of range 0..{top}")
    opcode = opcode.value if isinstance(opcode, Opcode) else int(opcode)
    top = (1 << HEADER["opcode"].width) - 1
    if not 0 <= opcode <= top:
        raise CodecError(f"opcode {opcode} is out of range 0..{top}")
    payload = bytes(payload)
    try:
        body = pack_layout(HEADER, seq=seq, opcode=opcode, length=len(payload)) + payload
    except OverflowError:
        raise CodecError(f"payload of {len(payload)} bytes exceeds the "
                         f"{(1 << HEADER['length'].width) - 1} of the header") from None
    return cobs_encode(body + crc32(body).to_bytes(CRC_BYTES, "little")) + b"\x00"


def decode_frame(encoded):
    """Decode one COBS block (without its delimiter) into a :class:`Frame`."""
    body = cobs_decode(encoded)
    if len(body) < FRAME_OVERHEAD:
        raise FramingError(f"frame of {len(body)} bytes is shorter than header and CRC "
                           f"({FRAME_OVERHEAD} bytes)")
    header = unpack_layout(HEADER, body)
    length = header["length"]
    if len(body) != FRAME_OVERHEAD + length:
        raise FramingError(f"header announces a {length}-byte payload, the frame carries "
                           f"{len(body) - FRAME_OVERHEAD}")
    if crc32(body[:-CRC_BYTES]) != int.from_bytes(body[-CRC_BYTES:], "little"):
        raise ChecksumError("frame CRC does not match its contents")
    return Frame(header["seq"], header["opcode"], body[HEADER_BYTES:-CRC_BYTES])


class FrameDecoder:
    """Incremental decoder: :meth:`feed` any chunk of received bytes, get complete frames.

    Bytes of corrupted or truncated frames are discarded at the next ``0x00`` and counted in
    :attr:`errors` (with the last reason in :attr:`last_error`); empty frames (a lone delimiter)
    are ignored. ``max_frame`` bounds the bytes buffered while waiting for a delimiter.
    """

    def __init__(self, max_frame=1 << 17):
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._overflow = False
        self.frames = 0
        self.errors = 0
        self.last_error = None

    def feed(self, chunk):
        frames = []
        for part_index, part in enumerate(bytes(chunk).split(b"\x00")):
            if part_index:
                self._end(frames)
            if len(self._buffer) + len(part) > self.max_frame:
                self._overflow = True
                self._buffer.clear()
            elif not self._overflow:
                self._buffer += part
        return frames

    def _end(self, frames):
        encoded = bytes(self._buffer)
        self._buffer.clear()
        if self._overflow:
            self._overflow = False
            self._error(FramingError(f"frame longer than {self.max_frame} bytes"))
            return
        if not encoded:
            return
        try:
            frames.append(decode_frame(encoded))
            self.frames += 1
        except CodecError as error:
            self._error(error)

    def _error(self, error):
        self.errors += 1
        self.last_error = error

    @property
    def pending(self):
        """Bytes buffered of a frame whose delimiter has not arrived."""
        return len(self._buffer)


# -- request payloads -----------------------------------------------------------------------------

def _region(config, region):
    try:
        region = Region(region)
    except ValueError:
        raise PayloadError(f"unknown region {region!r}: choose one of "
                           f"{', '.join(r.name for r in Region)}") from None
    if not region_depth(config, region):
        raise PayloadError(f"region {region.name} is not built in {config.describe()}")
    return region


def _check_range(config, region, offset, count):
    depth = region_depth(config, region)
    if count < 1 or offset < 0 or offset + count > depth:
        raise PayloadError(f"{region.name} holds {depth} words: {count} words at offset "
                           f"{offset} do not fit")


def pack_write(config, region, offset, words):
    """WRITE payload: :data:`REGION_ARGS`, then words of :func:`word_bytes` bytes each."""
    region = _region(config, region)
    words = [int(word) for word in words]
    _check_range(config, region, offset, len(words))
    size = word_bytes(config, region)
    head = _region_args(region, offset, len(words))
    try:
        return head + b"".join(word.to_bytes(size, "little") for word in words)
    except OverflowError:
        raise PayloadError(f"a word does not fit the {size} bytes of a {region.name} word") \
            from None


def pack_read(config, region, offset, count):
    """READ payload: :data:`REGION_ARGS`."""
    region = _region(config, region)
    _check_range(config, region, offset, count)
    return _region_args(region, offset, count)


def _region_args(region, offset, count):
    try:
        return pack_layout(REGION_ARGS, region=region.value, offset=offset, count=count)
    except OverflowError as error:
        raise PayloadError(f"{region.name}: {error}: split the request") from None


def pack_region_crc(config, region):
    """REGION_CRC payload: :data:`REGION_CRC_ARGS`."""
    return pack_layout(REGION_CRC_ARGS, region=_region(config, region).value)


def pack_reset(all_regions=False, counters=False):
    """RESET payload: :data:`RESET_ARGS`."""
    flags = (ResetFlag.ALL if all_regions else 0) | (ResetFlag.COUNTERS if counters else 0)
    return pack_layout(RESET_ARGS, flags=int(flags))


def record_select(record):
    """A :class:`RecordSelect` from itself or its name (``"all"``, ``"set"``, ``"none"``)."""
    if isinstance(record, RecordSelect):
        return record
    try:
        return RecordSelect[str(record).upper()]
    except KeyError:
        raise PayloadError(f"record={record!r}: choose 'all', 'set' or 'none'") from None


def pack_run(steps, *, learn=False, stream=False, period_us=0, probes=(), record="all",
             every=1, counts=False):
    """RUN payload: :data:`RUN_ARGS` (``steps`` 0: until STOP, ``period_us`` 0: free-running;
    ``record``: whose spikes are sent, a :class:`RecordSelect` or its name; ``counts``: spike
    counts over windows of ``every`` steps instead of spikes; probes, and counts, are sent in
    the steps s with ``(s + 1) % every == 0``), then one :data:`PROBE_INDEX` per probe."""
    select = record_select(record)
    top = (1 << RUN_ARGS["every"].width) - 1
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) \
            or not 1 <= every <= top:
        raise PayloadError(f"every={every!r} is out of range 1..{top}")
    if counts and every > MAX_COUNT_WINDOW:
        raise PayloadError(f"every={every} with counts: at most {MAX_COUNT_WINDOW} steps per "
                           f"window (a u8 count)")
    record_byte = pack_layout(RECORD, select=select.value, counts=int(bool(counts)), zero=0)[0]
    for name, value in (("steps", steps), ("period_us", period_us)):
        top = (1 << RUN_ARGS[name].width) - 1
        if not 0 <= value <= top:
            raise PayloadError(f"{name}={value} is out of range 0..{top}")
    probes = [int(p) for p in probes]
    top = (1 << RUN_ARGS["probes"].width) - 1
    if len(probes) > top:
        raise PayloadError(f"{len(probes)} probes: at most {top}")
    flags = ((RunFlag.LEARN if learn else 0) | (RunFlag.STREAM if stream else 0)
             | (RunFlag.PACED if period_us else 0))
    try:
        return (pack_layout(RUN_ARGS, steps=steps, flags=int(flags), period_us=period_us,
                            probes=len(probes), record=record_byte, every=int(every))
                + b"".join(pack_layout(PROBE_INDEX, index=p) for p in probes))
    except OverflowError as error:
        raise PayloadError(f"probe index: {error}") from None


def input_record(config, spikes):
    """One step of input spikes (bool vector of length M) as an INPUT record: a bitmap or a
    list of indices, whichever is shorter."""
    m = config.inputs
    spikes = np.asarray(spikes, dtype=bool).reshape(-1)
    if spikes.shape != (m,):
        raise PayloadError(f"input vector has {spikes.size} entries, expected M={m}")
    indices = np.flatnonzero(spikes)
    size = field_bytes(config.input_index_bits)
    bitmap_bytes = -(-m // 8)
    if len(indices) * size <= bitmap_bytes:
        return pack_layout(INPUT_RECORD, count=len(indices), bitmap=0) + b"".join(
            int(k).to_bytes(size, "little") for k in indices)
    bits = np.packbits(spikes, bitorder="little").tobytes()
    return pack_layout(INPUT_RECORD, count=0, bitmap=1) + bits


def pack_input(config, steps, first_step):
    """INPUT payload: the step index of the first row (modulo 2**16), then one record per row
    of ``steps`` (a ``(k, M)`` bool array)."""
    return pack_layout(INPUT_ARGS, first_step=int(first_step) & 0xFFFF) + b"".join(
        input_record(config, row) for row in np.asarray(steps, dtype=bool))


# -- response payloads ----------------------------------------------------------------------------

def unpack_words(config, region, payload, count):
    """Words of a READ response."""
    size = word_bytes(config, Region(region))
    if len(payload) != size * count:
        raise PayloadError(f"READ response of {len(payload)} bytes, expected {count} words of "
                           f"{size} bytes")
    return [int.from_bytes(payload[k:k + size], "little") for k in range(0, len(payload), size)]


def unpack_identify(payload):
    """IDENTIFY response as a dict (fields of :data:`IDENTIFY` plus ``board`` and one boolean
    per feature)."""
    try:
        result = unpack_layout(IDENTIFY, payload)
    except ValueError:
        raise PayloadError(f"IDENTIFY response of {len(payload)} bytes is too short") from None
    result["board"] = bytes(payload[layout_bytes(IDENTIFY):]).decode("ascii", "replace")
    features = Feature(result["features"])
    result["stdp"] = bool(features & Feature.STDP)
    result["adaptive_threshold"] = bool(features & Feature.ADAPTIVE_THRESHOLD)
    result["stochastic_rounding"] = bool(features & Feature.STOCHASTIC_ROUNDING)
    result["v_floor"] = bool(features & Feature.V_FLOOR)
    result["record_counts"] = bool(features & Feature.RECORD_COUNTS)
    result["record_set"] = bool(features & Feature.RECORD_SET)
    result["span"] = bool(features & Feature.SPAN)
    short = bool(features & Feature.SHORT_RUN)
    result["max_every"] = SHORT_RUN_MAX_EVERY if short else (1 << RUN_ARGS["every"].width) - 1
    result["max_period_us"] = (SHORT_RUN_MAX_PERIOD_US if short
                               else (1 << RUN_ARGS["period_us"].width) - 1)
    return result


def unpack_status(payload):
    """STATUS response (:data:`STATUS`): every counter of ``STATUS_COUNTERS``, ``running``,
    ``steps_done`` and ``free_slots``."""
    expected = layout_bytes(STATUS)
    if len(payload) != expected:
        raise PayloadError(f"STATUS response of {len(payload)} bytes, expected {expected}")
    result = unpack_layout(STATUS, payload)
    result["running"] = bool(result["running"])
    return result


@dataclass(frozen=True)
class Output:
    """One OUTPUT frame: the step (counted from 0 in its run), the core's clock cycles for it,
    ``span`` (the device's clock cycles from the start of the previous step of the run to the
    start of this one, 0 in the first step), the recorded neurons' spikes (bool, N; neurons not
    recorded False), probed ``v`` and ``i`` (int64; ``None`` in steps without probes), whether
    it ends the run, and the recorded neurons' spike counts over the window ending in this step
    (uint8 per recorded neuron in ascending order; ``None`` in other steps)."""
    step: int
    cycles: int
    span: int
    spikes: np.ndarray
    v: np.ndarray
    i: np.ndarray
    last: bool
    counts: np.ndarray = None


def _signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def unpack_output(config, payload, probes, recorded=None):
    """Decode an OUTPUT payload of a run with ``probes`` probed neurons, recording the neurons
    ``recorded`` (ascending indices; ``None``: all)."""
    n = config.neurons
    try:
        header = unpack_layout(OUTPUT_HEADER, payload)
    except ValueError:
        raise PayloadError(f"OUTPUT payload of {len(payload)} bytes is too short") from None
    step, cycles, span = header["step"], header["cycles"], header["span"]
    flags = OutputFlag(header["flags"])
    rest = payload[layout_bytes(OUTPUT_HEADER):]
    spikes = np.zeros(n, dtype=bool)
    if flags & OutputFlag.LIST:
        try:
            count = unpack_layout(SPIKE_COUNT, rest)["count"]
        except ValueError:
            raise PayloadError("OUTPUT spike list is truncated") from None
        size = field_bytes(config.neuron_index_bits)
        rest = rest[layout_bytes(SPIKE_COUNT):]
        body = rest[:count * size]
        if len(body) != count * size:
            raise PayloadError("OUTPUT spike list is truncated")
        for k in range(count):
            index = int.from_bytes(body[k * size:(k + 1) * size], "little")
            if index >= n:
                raise PayloadError(f"OUTPUT spike index {index} is not a neuron (N={n})")
            spikes[index] = True
        rest = rest[count * size:]
    else:
        size = -(-n // 8)
        if len(rest) < size:
            raise PayloadError("OUTPUT spike bitmap is truncated")
        spikes[:] = np.unpackbits(np.frombuffer(rest[:size], dtype=np.uint8),
                                  bitorder="little")[:n].astype(bool)
        rest = rest[size:]
    n_recorded = n if recorded is None else len(recorded)
    counts = None
    if flags & OutputFlag.COUNTS:
        if len(rest) < n_recorded:
            raise PayloadError(f"OUTPUT counts of {len(rest)} bytes, expected {n_recorded}")
        counts = np.frombuffer(bytes(rest[:n_recorded]), dtype=np.uint8).copy()
        rest = rest[n_recorded:]
    if recorded is not None and np.any(spikes[np.setdiff1d(np.arange(n), recorded)]):
        raise PayloadError("OUTPUT holds a spike of a neuron that is not recorded")
    if not flags & OutputFlag.PROBES:
        if len(rest):
            raise PayloadError(f"OUTPUT without probes has {len(rest)} bytes left over")
        return Output(step, cycles, span, spikes, None, None, bool(flags & OutputFlag.LAST),
                      counts)
    vb, ib = field_bytes(config.v_bits), field_bytes(config.i_bits)
    if len(rest) != probes * (vb + ib):
        raise PayloadError(f"OUTPUT probe part of {len(rest)} bytes, expected {probes} probes "
                           f"of {vb + ib} bytes")
    v = np.zeros(probes, dtype=np.int64)
    i = np.zeros(probes, dtype=np.int64)
    for k in range(probes):
        base = k * (vb + ib)
        v[k] = _signed(int.from_bytes(rest[base:base + vb], "little"), config.v_bits)
        i[k] = _signed(int.from_bytes(rest[base + vb:base + vb + ib], "little"), config.i_bits)
    return Output(step, cycles, span, spikes, v, i, bool(flags & OutputFlag.LAST), counts)


def unpack_result(layout, payload):
    """Fields of a response payload that is exactly ``layout`` (REGION_CRC, RUN, STOP)."""
    if len(payload) != layout_bytes(layout):
        raise PayloadError(f"response of {len(payload)} bytes, expected {layout_bytes(layout)}")
    return unpack_layout(layout, payload)


def unpack_nack(payload):
    """(ErrorCode or raw int, request opcode) of a NACK (:data:`NACK`)."""
    if len(payload) != layout_bytes(NACK):
        raise PayloadError(f"NACK payload of {len(payload)} bytes, expected {layout_bytes(NACK)}")
    fields = unpack_layout(NACK, payload)
    try:
        code = ErrorCode(fields["error"])
    except ValueError:
        code = fields["error"]
    return code, fields["opcode"]


def nack_expected(payload, received, input_slots):
    """The index of the next input step a device expects, from an INPUT_GAP NACK received
    after ``received`` outputs of the run: the NACK carries its low
    :func:`~spikeforge.rtl.protocol.input_index_bits` bits, and the index is at least
    ``received`` and at most ``input_slots`` more."""
    unpack_nack(payload)
    bits = input_index_bits(input_slots)
    low = unpack_layout(NACK, payload)["expected"]
    return received + ((low - received) & ((1 << bits) - 1))


_NACK_HINTS = {
    ErrorCode.UNKNOWN_OPCODE: "the device does not know this request: host and bitstream "
                              "speak different protocol versions",
    ErrorCode.BAD_LENGTH: "the payload length does not fit the request",
    ErrorCode.BAD_REGION: "the region is unknown or not built in this configuration",
    ErrorCode.BAD_RANGE: "offset or count is outside the region, or the response would be "
                         "longer than the device's max_payload",
    ErrorCode.BUSY: "a run is in progress: stop it first (STOP) or wait for its last output",
    ErrorCode.NO_CREDIT: "more input steps were sent than the device has free slots",
    ErrorCode.BAD_ARGUMENT: "an argument is out of range (probe or input index, flags, "
                            "record, every)",
    ErrorCode.INPUT_GAP: "an earlier INPUT frame of the run was lost: the device expects the "
                         "steps from the index it reports",
    ErrorCode.INPUT_REPEAT: "the INPUT frame repeats steps the device already has: dropped",
}


def describe_nack(payload):
    code, opcode = unpack_nack(payload)
    try:
        request = Opcode(opcode).name
    except ValueError:
        request = f"opcode 0x{opcode:02x}"
    name = code.name if isinstance(code, ErrorCode) else f"error {code}"
    return f"{request} refused with {name}: {_NACK_HINTS.get(code, 'unknown error code')}"
