"""The framing components alone in Amaranth's simulator, against the host codec's pure functions.

Every stream is driven with random gaps on the sender's side and random back-pressure on the
receiver's side; frames are random bytes with many zeros and runs of non-zero bytes around the
254-byte COBS block.
"""

import random

import pytest
from amaranth.sim import Simulator

from spikeforge.host.device import codec
from spikeforge.rtl.framing import (COBS_BLOCK, CRCAppender, CRCChecker, COBSDecoder,
                                    COBSEncoder)
from spikeforge.rtl.protocol import CRC_BYTES

pytestmark = pytest.mark.sim


def stream_through(dut, items, *, seed, p_valid=0.7, p_ready=0.6, settle=600):
    """Feed ``items`` (payload values) into ``dut.i`` and return what ``dut.o`` hands on, as
    ``ctx.get`` values, with random gaps and back-pressure; also check that nothing is lost
    or invented while the receiver is not ready."""
    rng = random.Random(seed)
    out = []

    async def bench(ctx):
        index = 0
        idle = 0
        while idle < settle:
            valid = index < len(items) and rng.random() < p_valid
            ctx.set(dut.i.valid, valid)
            if valid:
                ctx.set(dut.i.payload, items[index])
            ready = rng.random() < p_ready
            ctx.set(dut.o.ready, ready)
            if valid and ctx.get(dut.i.ready):
                index += 1
            if ctx.get(dut.o.valid) and ready:
                out.append(ctx.get(dut.o.payload))
                idle = 0
            elif index == len(items):
                idle += 1
            await ctx.tick()
        assert index == len(items), f"the component took {index} of {len(items)} items"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


def random_frame(rng, size):
    """Bytes with zeros, and sometimes long runs without any."""
    kind = rng.randrange(3)
    if kind == 0:
        return bytes(rng.choice((0, rng.randrange(256))) for _ in range(size))
    if kind == 1:
        return bytes(rng.randrange(1, 256) for _ in range(size))
    return bytes(rng.randrange(256) for _ in range(size))


LENGTHS = (1, 2, 7, COBS_BLOCK - 1, COBS_BLOCK, COBS_BLOCK + 1, 2 * COBS_BLOCK, 2 * COBS_BLOCK + 3)


def frames_of(decoded):
    """Split decoder/checker output into (bytes, end item) per frame."""
    frames = []
    body = bytearray()
    for item in decoded:
        if item.end:
            frames.append((bytes(body), item))
            body.clear()
        else:
            body.append(item.data)
    assert not body, "bytes after the last end item"
    return frames


@pytest.mark.parametrize("seed", range(3))
def test_cobs_decoder_returns_the_codec_s_frames(seed):
    rng = random.Random(seed)
    frames = [random_frame(rng, n) for n in LENGTHS] + [b"\x00" * 300, b"\xff" * COBS_BLOCK]
    rng.shuffle(frames)
    wire = b""
    for frame in frames:
        # lone delimiters between frames are empty frames: ignored
        wire += b"\x00" * rng.randrange(2) + codec.cobs_encode(frame) + b"\x00"
    out = stream_through(COBSDecoder(), list(wire), seed=seed)
    got = frames_of(out)
    assert [body for body, _ in got] == frames
    assert not any(end.broken for _, end in got)


def test_cobs_decoder_accepts_the_short_form_and_flags_truncated_blocks():
    full = bytes(range(1, COBS_BLOCK + 1))
    # without the final empty block after a full block (the codec's decoder accepts it too)
    short = codec.cobs_encode(full)[:-1]
    assert codec.cobs_decode(short) == full
    truncated = codec.cobs_encode(b"abcdef")[:-2]
    wire = short + b"\x00" + truncated + b"\x00" + codec.cobs_encode(b"ok") + b"\x00"
    got = frames_of(stream_through(COBSDecoder(), list(wire), seed=5))
    assert [body for body, _ in got] == [full, b"abcd", b"ok"]
    assert [bool(end.broken) for _, end in got] == [False, True, False]


@pytest.mark.parametrize("seed", range(2))
def test_crc_checker_accepts_good_frames_and_refuses_corrupt_ones(seed):
    rng = random.Random(seed)
    items = []
    expected = []
    for n in LENGTHS:
        body = random_frame(rng, n)
        frame = bytearray(body + codec.crc32(body).to_bytes(CRC_BYTES, "little"))
        corrupt = rng.random() < 0.5
        if corrupt:
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        items += [{"data": byte, "end": 0, "broken": 0} for byte in frame]
        items.append({"data": 0, "end": 1, "broken": 0})
        expected.append((bytes(frame), not corrupt))
    got = frames_of(stream_through(CRCChecker(), items, seed=seed))
    assert [(body, bool(end.crc_ok)) for body, end in got] == expected


@pytest.mark.parametrize("seed", range(2))
def test_decoder_and_checker_take_the_codec_s_encoded_frames(seed):
    rng = random.Random(seed)
    frames = [(rng.randrange(256), rng.randrange(256), random_frame(rng, n)) for n in LENGTHS]
    wire = b"".join(codec.encode_frame(*frame) for frame in frames)
    decoded = stream_through(COBSDecoder(), list(wire), seed=seed, p_ready=1.0)
    items = [{"data": item.data, "end": item.end, "broken": item.broken} for item in decoded]
    got = frames_of(stream_through(CRCChecker(), items, seed=seed))
    assert all(end.crc_ok and not end.broken for _, end in got)
    assert [codec.decode_frame(codec.cobs_encode(body)) for body, _ in got] == [
        codec.Frame(*frame) for frame in frames]


@pytest.mark.parametrize("seed", range(2))
def test_crc_appender_appends_the_codec_s_crc(seed):
    rng = random.Random(seed)
    frames = [random_frame(rng, n) for n in LENGTHS]
    items = []
    for frame in frames:
        items += [{"data": byte, "end": 0} for byte in frame] + [{"data": 0, "end": 1}]
    out = stream_through(CRCAppender(), items, seed=seed)
    expected = []
    for frame in frames:
        framed = frame + codec.crc32(frame).to_bytes(CRC_BYTES, "little")
        expected += [(byte, index == len(framed) - 1) for index, byte in enumerate(framed)]
    assert [(item.data, bool(item.last)) for item in out] == expected


def framed_items(frames):
    items = []
    for frame in frames:
        items += [{"data": byte, "last": index == len(frame) - 1}
                  for index, byte in enumerate(frame)]
    return items


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_cobs_encoder_matches_the_codec(seed, double):
    rng = random.Random(seed)
    frames = [random_frame(rng, n) for n in LENGTHS] + [b"\x00", b"\xff" * COBS_BLOCK]
    out = stream_through(COBSEncoder(double=double), framed_items(frames), seed=seed)
    assert bytes(out) == b"".join(codec.cobs_encode(frame) + b"\x00" for frame in frames)


@pytest.mark.parametrize("double", [False, True])
def test_cobs_encoder_back_to_back_blocks(double):
    """Frames of one-byte blocks and single zeros, back to back, with a receiver that is
    sometimes not ready: the hand-over of a block as the previous one ends loses nothing."""
    frames = [b"\x00\x00\x05\x00", b"\x07", b"\x00", b"\x01\x00\x02\x00\x00\x03"] * 8
    for seed, p_ready in ((1, 1.0), (2, 0.5), (3, 0.9)):
        out = stream_through(COBSEncoder(double=double), framed_items(frames), seed=seed,
                             p_valid=1.0, p_ready=p_ready)
        assert bytes(out) == b"".join(codec.cobs_encode(frame) + b"\x00" for frame in frames)


def encoder_cycles(double, frames):
    """Clock cycles from the first byte in to the last byte out, sender and receiver always
    ready."""
    dut = COBSEncoder(double=double)
    items = framed_items(frames)
    wire = b"".join(codec.cobs_encode(frame) + b"\x00" for frame in frames)
    result = {}

    async def bench(ctx):
        index, out, cycle = 0, bytearray(), 0
        ctx.set(dut.o.ready, 1)
        while len(out) < len(wire):
            ctx.set(dut.i.valid, index < len(items))
            if index < len(items):
                ctx.set(dut.i.payload, items[index])
                if ctx.get(dut.i.ready):
                    index += 1
            if ctx.get(dut.o.valid):
                out.append(ctx.get(dut.o.payload))
            await ctx.tick()
            cycle += 1
        result["out"], result["cycles"] = bytes(out), cycle

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert result["out"] == wire
    return result["cycles"], len(wire)


def test_cobs_encoder_double_buffer_takes_a_byte_per_cycle():
    """OUTPUT-like frames (16-bit indices: a zero every other byte): with the double buffer the
    wire bytes leave one per cycle after a start-up of two cycles; without it every byte costs
    two cycles. A frame of long blocks: a block's code byte waits for its end (COBS), then the
    bytes leave one per cycle."""
    rng = random.Random(7)
    short = [bytes(b for i in range(40) for b in (rng.randrange(1, 100), 0)) for _ in range(3)]
    fast, wire = encoder_cycles(True, short)
    slow, _ = encoder_cycles(False, short)
    assert fast <= wire + 2
    assert slow >= wire + sum(len(frame) for frame in short)
    long = [bytes(rng.randrange(1, 256) for _ in range(3 * COBS_BLOCK + 10))]
    fast, wire = encoder_cycles(True, long)
    slow, _ = encoder_cycles(False, long)
    assert fast <= wire + COBS_BLOCK + 2 * 4
    assert slow >= wire + len(long[0])
