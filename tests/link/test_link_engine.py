"""The command engine with a small core in Amaranth's simulator, driven byte by byte.

The engine's byte streams are driven directly (no UART), with frames built by the host codec;
responses are decoded by the host's incremental decoder.
"""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from spikeforge.config import CoreConfig
from spikeforge.host.device import codec
from spikeforge.host.model.params import Network, NeuronParams, random_network
from spikeforge.host.model.twin import Twin
from spikeforge.rtl.core import Core
from spikeforge.rtl.engine import Engine
from spikeforge.rtl.protocol import (OUTPUT_HEADER, REGION_ARGS, ErrorCode, LinkParams, Opcode,
                                    OutputFlag, identify_payload, layout_bytes, pack_layout,
                                    link_regions, word_bytes)
from spikeforge.rtl.regions import Region, region_crc, region_depth
from spikeforge.sim.driver import twin_region_words

pytestmark = pytest.mark.sim

CLK_HZ = 4_000_000


class Harness(wiring.Component):
    def __init__(self, link):
        self.link = link
        self.engine = Engine(link, identify=identify_payload(link, clk_hz=CLK_HZ, baud=1_000_000,
                                                            board="amaranth-sim"),
                             clk_hz=CLK_HZ)
        self.core = Core(link.config, crc_serial=link.crc_serial, record=link.record_set)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = self.engine
        m.submodules.core = self.core
        wiring.connect(m, self.engine.core, self.core)
        return m


def simulate(config, script, link=None, *, tx_ready=1.0):
    """Run ``script(send, receive)``: ``send(bytes)`` feeds bytes, ``receive(n)`` waits for
    ``n`` decoded frames (returns them). The host takes a byte in a cycle with probability
    ``tx_ready`` (below 1: a slow host). The result holds the clock cycles at which the engine
    started the core (``starts``) and at which each frame's last byte left (``frame_ends``)."""
    link = link or LinkParams(config, max_payload=128, input_slots=3, max_probes=4)
    dut = Harness(link)
    engine = dut.engine
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    decoder = codec.FrameDecoder()
    frames = []
    result = {}

    starts = []

    frame_ends = []
    rng = np.random.default_rng(99)

    async def collector(ctx):
        ctx.set(engine.tx.ready, 1)
        cycle = 0
        async for clk_edge, rst, valid, ready, payload, start in ctx.tick().sample(
                engine.tx.valid, engine.tx.ready, engine.tx.payload, engine.core.start):
            if valid and ready:
                got = decoder.feed(bytes([payload]))
                frames.extend(got)
                frame_ends.extend([cycle] * len(got))
            if start:
                starts.append(cycle)
            cycle += 1
            if tx_ready < 1:
                ctx.set(engine.tx.ready, int(rng.random() < tx_ready))

    async def driver(ctx):
        async def send(data, gap=0):
            for byte in data:
                ctx.set(engine.rx.payload, byte)
                ctx.set(engine.rx.valid, 1)
                await ctx.tick().until(engine.rx.ready)
                ctx.set(engine.rx.valid, 0)
                for _ in range(gap):
                    await ctx.tick()

        async def receive(count, limit=200_000):
            for _ in range(limit):
                if len(frames) >= count:
                    got = frames[:count]
                    del frames[:count]
                    return got
                await ctx.tick()
            raise AssertionError(f"no response after {limit} cycles; got {frames}")

        result["value"] = await script(send, receive, ctx)
        result["decoder"] = decoder
        result["starts"] = starts
        result["frame_ends"] = frame_ends

    sim.add_testbench(collector, background=True)
    sim.add_testbench(driver)
    sim.run()
    return result


SMALL = CoreConfig(neurons=6, inputs=5, lanes=4)


def request(seq, opcode, payload=b""):
    return codec.encode_frame(seq, opcode, payload)


def test_engine_identify_and_status():
    async def script(send, receive, ctx):
        await send(request(7, Opcode.IDENTIFY))
        [frame] = await receive(1)
        await send(request(8, Opcode.STATUS))
        [status] = await receive(1)
        return frame, status

    result = simulate(SMALL, script)
    frame, status = result["value"]
    assert frame.seq == 7 and frame.acks(Opcode.IDENTIFY)
    info = codec.unpack_identify(frame.payload)
    assert info["config_hash"] == SMALL.hash
    assert (info["neurons"], info["inputs"], info["lanes"]) == (6, 5, 4)
    assert info["board"] == "amaranth-sim" and info["clk_hz"] == CLK_HZ
    counters = codec.unpack_status(status.payload)
    assert counters["good_frames"] == 2 and counters["crc_errors"] == 0
    assert status.seq == 8


def test_engine_discards_corrupt_frames_and_recovers():
    good = request(1, Opcode.IDENTIFY)
    flipped = bytearray(request(2, Opcode.IDENTIFY))
    flipped[3] ^= 0x10
    truncated = request(3, Opcode.STATUS)[:5]

    async def script(send, receive, ctx):
        await send(bytes(flipped))            # CRC error
        await send(truncated + b"\x00")       # cut short: framing error
        await send(b"\x05\x11\x00")           # block runs past the delimiter
        await send(b"\x00\x00")               # empty frames are ignored
        await send(good)
        [ident] = await receive(1)
        await send(request(4, Opcode.STATUS))
        [status] = await receive(1)
        return ident, status

    ident, status = simulate(SMALL, script)["value"]
    assert ident.seq == 1 and ident.acks(Opcode.IDENTIFY)
    counters = codec.unpack_status(status.payload)
    assert counters["good_frames"] == 2
    assert counters["crc_errors"] + counters["frame_errors"] == 3


def test_engine_nacks_bad_requests():
    c = SMALL
    def args(region, offset, count):
        return pack_layout(REGION_ARGS, region=region, offset=offset, count=count)

    cases = [
        (request(1, 0x55), ErrorCode.UNKNOWN_OPCODE),
        (request(2, Opcode.IDENTIFY, b"x"), ErrorCode.BAD_LENGTH),
        (request(3, Opcode.READ, args(15, 0, 1)), ErrorCode.BAD_REGION),
        (request(4, Opcode.READ, args(Region.PARAM.value, 5, 2)), ErrorCode.BAD_RANGE),
        (request(5, Opcode.READ, args(Region.PARAM.value, 0, 0)), ErrorCode.BAD_RANGE),
        (request(6, Opcode.WRITE, args(Region.GLOBAL.value, 0, 1) + b"\x01"),
         ErrorCode.BAD_LENGTH),
        (request(7, Opcode.RUN, codec.pack_run(1, probes=[6])), ErrorCode.BAD_ARGUMENT),
        (request(8, Opcode.READ, args(Region.PARAM.value, 0, 1)[:2]), ErrorCode.BAD_LENGTH),
        # an offset bit above the deepest region's address bits: out of range, not wrapped
        (request(9, Opcode.READ, args(Region.PARAM.value, 1 << 31, 1)), ErrorCode.BAD_RANGE),
        (request(10, Opcode.READ, args(Region.PARAM.value, 1 << 16, 1)), ErrorCode.BAD_RANGE),
    ]

    async def script(send, receive, ctx):
        out = []
        for frame, _ in cases:
            await send(frame)
            out += await receive(1)
        await send(request(len(cases) + 1, Opcode.IDENTIFY))
        out += await receive(1)
        return out

    frames = simulate(c, script)["value"]
    for (_, code), frame, seq in zip(cases, frames, range(1, len(cases) + 1)):
        assert frame.is_nack and frame.seq == seq
        assert codec.unpack_nack(frame.payload)[0] == code, codec.describe_nack(frame.payload)
    assert frames[-1].acks(Opcode.IDENTIFY)


def run_payload(select=0, counts=0, zero=0, every=1, period_us=0):
    """A RUN payload with any ``record`` and ``every``, also those the host codec refuses."""
    from spikeforge.rtl.protocol import RECORD, RUN_ARGS

    record = pack_layout(RECORD, select=select, counts=counts, zero=zero)[0]
    return pack_layout(RUN_ARGS, steps=1, flags=0, period_us=period_us, probes=0, record=record,
                       every=every)


@pytest.mark.parametrize("options", [True, False])
def test_engine_nacks_bad_recording_arguments(options):
    """Bad ``record`` and ``every`` are refused; so are counts and a set on an engine built
    without them (the small FPGAs)."""
    bad = [run_payload(select=3), run_payload(zero=1), run_payload(zero=16),
           run_payload(every=0), run_payload(counts=1, every=256),
           run_payload(counts=1, every=0)]
    good = [run_payload(select=2, every=7), run_payload(counts=1, every=255),
            run_payload(select=1, every=3)]
    if not options:
        bad += good[1:]
        good = good[:1]
    link = LinkParams(SMALL, max_payload=128, input_slots=3, max_probes=4,
                      record_counts=options, record_set=options)

    async def script(send, receive, ctx):
        out = []
        for seq, payload in enumerate(bad + good, 1):
            await send(request(seq, Opcode.RUN, payload))
            out += await receive(1)
            if seq > len(bad):
                out += await receive(1)         # the run's one OUTPUT
        return out

    frames = simulate(SMALL, script, link)["value"]
    for seq, frame in enumerate(frames[:len(bad)], 1):
        assert frame.is_nack and frame.seq == seq
        assert codec.unpack_nack(frame.payload)[0] == ErrorCode.BAD_ARGUMENT
    answers = frames[len(bad):]
    assert len(answers) == 2 * len(good)
    for ack, output in zip(answers[::2], answers[1::2]):
        assert ack.acks(Opcode.RUN) and output.is_output


#: the engine as small FPGAs build it: 16-bit counters, byte-serial region CRC, two slots
SMALL_FPGA = dict(counter_bits=16, crc_serial=True, input_slots=2, overlap=False)


@pytest.mark.parametrize("small_fpga", [False, True], ids=["default", "small_fpga"])
def test_engine_write_read_crc_reset(small_fpga):
    c = SMALL
    link = (LinkParams(c, max_payload=128, max_probes=4, **SMALL_FPGA) if small_fpga
            else None)
    rng = np.random.default_rng(1)
    network = random_network(c, rng)
    twin = Twin(network)
    regions = {region: twin_region_words(twin, region) for region in Region
               if region_depth(c, region)}

    async def script(send, receive, ctx):
        seq = 0
        checks = {}
        for region, words in regions.items():
            size = word_bytes(c, region)
            per = max(1, (120 - 5) // size)
            for start in range(0, len(words), per):
                seq += 1
                await send(request(seq, Opcode.WRITE,
                                   codec.pack_write(c, region, start, words[start:start + per])))
                [ack] = await receive(1)
                assert ack.acks(Opcode.WRITE) and ack.seq == seq, ack
            seq += 1
            await send(request(seq, Opcode.READ,
                               codec.pack_read(c, region, 0, min(len(words), 128 // size))))
            [data] = await receive(1)
            seq += 1
            await send(request(seq, Opcode.REGION_CRC, codec.pack_region_crc(c, region)))
            [crc] = await receive(1)
            checks[region] = (data, crc)
        await send(request(200, Opcode.RESET, codec.pack_reset()))
        [reset] = await receive(1)
        await send(request(201, Opcode.REGION_CRC, codec.pack_region_crc(c, Region.STATE)))
        [state_crc] = await receive(1)
        await send(request(202, Opcode.REGION_CRC, codec.pack_region_crc(c, Region.WEIGHT)))
        [weight_crc] = await receive(1)
        await send(request(203, Opcode.STATUS))
        [status] = await receive(1)
        return checks, reset, state_crc, weight_crc, status, seq

    checks, reset, state_crc, weight_crc, status, sent = simulate(c, script, link)["value"]
    # every request of the loop, then RESET, two CRCs and STATUS: all received intact
    assert codec.unpack_status(status.payload)["good_frames"] == sent + 4
    for region, (data, crc) in checks.items():
        words = regions[region]
        count = min(len(words), 128 // word_bytes(c, region))
        assert data.acks(Opcode.READ)
        assert codec.unpack_words(c, region, data.payload, count) == words[:count], region
        assert int.from_bytes(crc.payload, "little") == region_crc(c, words), region
    assert reset.acks(Opcode.RESET)
    assert int.from_bytes(state_crc.payload, "little") == region_crc(
        c, [0] * region_depth(c, Region.STATE))
    assert int.from_bytes(weight_crc.payload, "little") == region_crc(c, regions[Region.WEIGHT])


def test_short_run_engine_without_record_region():
    """An engine built as on the UP5K boards (no set, no counts, a short RUN): RUN refuses an
    ``every`` above 255 and a ``period_us`` of 2**24 or more, and the bits that must be 0;
    WRITE, READ and REGION_CRC of RECORD draw BAD_REGION; RESET with ALL is answered."""
    from spikeforge.rtl.protocol import ResetFlag

    link = LinkParams(SMALL, max_payload=128, input_slots=3, max_probes=4, record_counts=False,
                      record_set=False, every_bits=8, period_bits=24)
    bad_runs = [run_payload(every=256), run_payload(every=1 << 15), run_payload(every=0),
                run_payload(period_us=1 << 24), run_payload(period_us=1 << 31),
                run_payload(zero=1), run_payload(counts=1, every=3), run_payload(select=1),
                run_payload(select=3)]
    good_runs = [run_payload(every=255), run_payload(select=2, every=2),
                 run_payload(every=3, period_us=5)]

    def args(offset, count):
        return pack_layout(REGION_ARGS, region=Region.RECORD.value, offset=offset, count=count)

    bad_regions = [(Opcode.READ, args(0, 1)), (Opcode.WRITE, args(0, 1) + b"\x01"),
                   (Opcode.REGION_CRC, bytes([Region.RECORD.value]))]

    async def script(send, receive, ctx):
        out = []
        seq = 0
        for opcode, payload in [(Opcode.RUN, p) for p in bad_runs] + bad_regions:
            seq += 1
            await send(request(seq, opcode, payload))
            out += await receive(1)
        for payload in good_runs:
            seq += 1
            await send(request(seq, Opcode.RUN, payload))
            out += await receive(2)             # the ACK and the run's one OUTPUT
        await send(request(seq + 1, Opcode.RESET, bytes([int(ResetFlag.ALL)])))
        out += await receive(1)
        return out

    frames = simulate(SMALL, script, link)["value"]
    refused = frames[:len(bad_runs) + len(bad_regions)]
    codes = [ErrorCode.BAD_ARGUMENT] * len(bad_runs) + [ErrorCode.BAD_REGION] * len(bad_regions)
    for seq, (frame, code) in enumerate(zip(refused, codes), 1):
        assert frame.is_nack and frame.seq == seq, seq
        assert codec.unpack_nack(frame.payload)[0] == code, codec.describe_nack(frame.payload)
    answers = frames[len(refused):-1]
    assert len(answers) == 2 * len(good_runs)
    for ack, output in zip(answers[::2], answers[1::2]):
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        assert output.is_output
    assert frames[-1].acks(Opcode.RESET), codec.describe_nack(frames[-1].payload)


async def upload(send, receive, config, regions):
    """Write every region's words through WRITE requests (sequence numbers 1, 2, ...)."""
    seq = 0
    for region, words in regions.items():
        per = max(1, (120 - 5) // word_bytes(config, region))
        for start in range(0, len(words), per):
            seq += 1
            await send(request(seq, Opcode.WRITE,
                               codec.pack_write(config, region, start, words[start:start + per])))
            [ack] = await receive(1)
            assert ack.acks(Opcode.WRITE), codec.describe_nack(ack.payload)


def network_regions(config, network, link=None):
    """Every region's words (those an engine built with ``link`` holds)."""
    load = Twin(network)
    regions = [region for region in Region if region_depth(config, region)]
    if link is not None:
        regions = link_regions(link)
    return {region: twin_region_words(load, region) for region in regions}


def test_engine_endless_run_stops_on_request():
    """RUN with steps=0 runs until STOP; STOP answers with the steps done, every one of which
    was sent as an OUTPUT frame, and no output follows it."""
    c = SMALL
    network = random_network(c, np.random.default_rng(11), regime="active")
    expected = Twin(network).run(np.zeros((60, c.inputs), dtype=bool), learn=True)

    async def script(send, receive, ctx):
        await upload(send, receive, c, network_regions(c, network))
        await send(request(100, Opcode.RUN, codec.pack_run(0, learn=True)))
        [ack] = await receive(1)
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        outputs = await receive(4)
        await send(request(101, Opcode.STOP))
        while True:
            [frame] = await receive(1)
            if not frame.is_output:
                break
            outputs.append(frame)
        await send(request(102, Opcode.STATUS))
        [status] = await receive(1)
        return outputs, frame, status

    outputs, stop, status = simulate(c, script)["value"]
    assert stop.seq == 101 and stop.acks(Opcode.STOP), codec.describe_nack(stop.payload)
    stopped = int.from_bytes(stop.payload, "little")
    assert stopped == len(outputs) >= 4
    for step, frame in enumerate(outputs):
        out = codec.unpack_output(c, frame.payload, 0)
        assert frame.seq == 100 and out.step == step and not out.last
        assert np.array_equal(out.spikes, expected["spikes"][step]), step
    counters = codec.unpack_status(status.payload)
    assert not counters["running"] and counters["steps_done"] == stopped


async def receive_outputs(send, receive, config, raster, steps, credits):
    """The OUTPUT frames of a run of ``steps`` steps whose RUN was answered with ``credits``;
    with a ``raster``, its steps are sent as INPUT frames as credits come back."""
    frames, sent = [], 0
    while len(frames) < steps:
        if raster is not None and sent < steps and credits:
            count = min(credits, steps - sent)
            await send(request(101, Opcode.INPUT, codec.pack_input(
                config, raster[sent:sent + count], sent)))
            sent += count
            credits -= count
        [frame] = await receive(1)
        assert frame.is_output, codec.describe_nack(frame.payload)
        frames.append(frame)
        credits += 1
    return frames


@pytest.mark.parametrize("stream", [False, True])
def test_engine_run_matches_twin(stream):
    c = SMALL
    rng = np.random.default_rng(5)
    network = random_network(c, rng, regime="active")
    twin = Twin(network)
    steps = 6
    raster = rng.random((steps, c.inputs)) < (0.5 if stream else 0.0)
    probes = [0, 5, 3]
    expected = twin.run(raster, learn=True, probes=probes)
    regions = network_regions(c, network)

    async def script(send, receive, ctx):
        await upload(send, receive, c, regions)
        await send(request(100, Opcode.RUN, codec.pack_run(steps, learn=True, stream=stream,
                                                           probes=probes)))
        [ack] = await receive(1)
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        outputs = await receive_outputs(send, receive, c, raster if stream else None,
                                        steps, ack.payload[0])
        await send(request(102, Opcode.STATUS))
        [status] = await receive(1)
        return outputs, status

    outputs, status = simulate(c, script)["value"]
    for step, frame in enumerate(outputs):
        assert frame.seq == 100
        out = codec.unpack_output(c, frame.payload, len(probes))
        assert out.step == step and out.last == (step == steps - 1)
        assert np.array_equal(out.spikes, expected["spikes"][step]), step
        assert np.array_equal(out.v, expected["v"][step]) and np.array_equal(
            out.i, expected["i"][step]), step
        assert out.cycles > 0
    counters = codec.unpack_status(status.payload)
    assert not counters["running"] and counters["steps_done"] == steps


@pytest.mark.parametrize("record", ["all", "none"])
def test_small_fpga_engine_records_all_or_none_and_every_other_probe(record):
    """An engine built without sets and counts (the UP5K boards): all spikes or none, and
    the probes of every second step, as the twin gives them."""
    c = SMALL
    rng = np.random.default_rng(6)
    network = random_network(c, rng, regime="active")
    steps, probes = 7, [1, 4]
    expected = Twin(network).run(np.zeros((steps, c.inputs), bool), probes=probes)
    assert expected["spikes"].any()
    link = LinkParams(c, max_payload=128, max_probes=4, record_set=False, record_counts=False,
                      every_bits=8, period_bits=24, **SMALL_FPGA)

    async def script(send, receive, ctx):
        await upload(send, receive, c, network_regions(c, network, link))
        await send(request(100, Opcode.RUN, codec.pack_run(steps, probes=probes, record=record,
                                                           every=2)))
        [ack] = await receive(1)
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        return await receive(steps)

    outputs = simulate(c, script, link)["value"]
    for step, frame in enumerate(outputs):
        out = codec.unpack_output(c, frame.payload, len(probes),
                                  None if record == "all" else [])
        assert out.step == step
        want = expected["spikes"][step] if record == "all" else np.zeros(c.neurons, bool)
        assert np.array_equal(out.spikes, want), step
        if step % 2:
            assert np.array_equal(out.v, expected["v"][step]), step
            assert np.array_equal(out.i, expected["i"][step]), step
        else:
            assert out.v is None and out.i is None


def test_engine_refuses_input_gaps_and_drops_repeats():
    """An INPUT frame ahead of the step the engine expects draws INPUT_GAP with that step; one
    behind it draws INPUT_REPEAT and is dropped whole; the run goes on with the right frames."""
    c = SMALL
    raster = np.random.default_rng(2).random((4, c.inputs)) < 0.5
    slots = 3                                   # simulate()'s input_slots

    async def script(send, receive, ctx):
        await send(request(1, Opcode.RUN, codec.pack_run(4, stream=True)))
        out = await receive(1)
        await send(request(2, Opcode.INPUT, codec.pack_input(c, raster[1:2], 1)))     # gap
        out += await receive(1)
        await send(request(3, Opcode.INPUT, codec.pack_input(c, raster[0:2], 0)))
        out += await receive(2)
        await send(request(4, Opcode.INPUT, codec.pack_input(c, raster[0:2], 0)))     # repeat
        out += await receive(1)
        await send(request(5, Opcode.INPUT, codec.pack_input(c, raster[3:4], 3)))     # gap
        out += await receive(1)
        await send(request(6, Opcode.INPUT, codec.pack_input(c, raster[2:4], 2)))
        out += await receive(2)
        await send(request(7, Opcode.STATUS))
        out += await receive(1)
        return out

    ack, gap0, out0, out1, repeat, gap2, out2, out3, status = simulate(c, script)["value"]
    assert ack.acks(Opcode.RUN)
    assert codec.unpack_nack(gap0.payload) == (ErrorCode.INPUT_GAP, Opcode.INPUT.value)
    assert gap0.seq == 2 and codec.nack_expected(gap0.payload, 0, slots) == 0
    assert codec.unpack_nack(repeat.payload) == (ErrorCode.INPUT_REPEAT, Opcode.INPUT.value)
    assert codec.unpack_nack(gap2.payload)[0] == ErrorCode.INPUT_GAP
    assert codec.nack_expected(gap2.payload, 2, slots) == 2
    steps = [codec.unpack_output(c, frame.payload, 0).step for frame in (out0, out1, out2, out3)]
    assert steps == [0, 1, 2, 3]
    fields = codec.unpack_status(status.payload)
    assert fields["nacks"] == 3 and fields["steps_done"] == 4 and not fields["running"]


def run_outputs(config, network, raster, *, probes=(), link=None, tx_ready=1.0, ends=None):
    """Upload ``network``, run ``len(raster)`` steps (streamed when ``raster`` has a spike) and
    return the decoded outputs, each one's encoding (``"list"`` or ``"bitmap"``) and the clock
    cycles at which the engine started the core; ``ends``, a list, gets the cycles at which
    each OUTPUT frame's last byte left."""
    steps = len(raster)
    stream = bool(np.asarray(raster).any())

    async def script(send, receive, ctx):
        await upload(send, receive, config, network_regions(config, network))
        await send(request(100, Opcode.RUN, codec.pack_run(steps, stream=stream,
                                                           probes=probes)))
        [ack] = await receive(1)
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        return await receive_outputs(send, receive, config, raster if stream else None,
                                     steps, ack.payload[0])

    result = simulate(config, script, link=link, tx_ready=tx_ready)
    if ends is not None:
        ends += result["frame_ends"][-steps:]
    outputs = [codec.unpack_output(config, frame.payload, len(probes))
               for frame in result["value"]]
    header = layout_bytes(OUTPUT_HEADER)
    kinds = ["list" if frame.payload[header - 1] & OutputFlag.LIST else "bitmap"
             for frame in result["value"]]
    wire = [len(codec.encode_frame(frame.seq, Opcode.OUTPUT, frame.payload))
            for frame in result["value"]]
    return outputs, kinds, result["starts"], wire


def test_engine_span_is_the_cycles_between_starts():
    """span of each OUTPUT equals the clock cycles between the engine's starts of the core
    (0 in the first step), and covers the previous step's core cycles."""
    c = SMALL
    rng = np.random.default_rng(3)
    network = random_network(c, rng, regime="active")
    raster = rng.random((8, c.inputs)) < 0.5
    outputs, _, starts, _ = run_outputs(c, network, raster, probes=[1])
    assert len(starts) == len(outputs)
    assert [out.span for out in outputs] == [0] + np.diff(starts).tolist()
    for previous, out in zip(outputs, outputs[1:]):
        assert out.span > previous.cycles


@pytest.mark.parametrize("config", [SMALL, CoreConfig(neurons=40, inputs=5, lanes=4)])
def test_engine_span_of_a_free_running_step(config):
    """Without overlap, the single-block COBS encoder, streamed inputs or probes, the engine's
    part of a span is two cycles per byte of the previous OUTPUT frame on the wire and two per
    spike it sent in a bitmap, or one cycle fewer (where the COBS encoder's blocks end depends
    on the zero bytes): docs/protocol.md."""
    from spikeforge.sim.bench_link import bitmap_spikes, engine_cycles

    c = config
    link = LinkParams(c, max_payload=128, input_slots=3, max_probes=4, overlap=False,
                      cobs_double=False)
    network = random_network(c, np.random.default_rng(8), regime="active")
    outputs, kinds, starts, wire = run_outputs(c, network, np.zeros((10, c.inputs), dtype=bool),
                                               link=link)
    assert [out.span for out in outputs] == [0] + np.diff(starts).tolist()
    spikes = np.array([out.spikes for out in outputs])
    model = engine_cycles(c, wire, bitmap_spikes(c, spikes), 0, link=link)
    engine = np.array([out.span - previous.cycles
                       for previous, out in zip(outputs, outputs[1:])])
    assert ((model[:-1] - 1 <= engine) & (engine <= model[:-1])).all(), (engine, model)


LISTED = CoreConfig(neurons=40, inputs=5, lanes=4)


@pytest.mark.parametrize("overlap", [True, False])
def test_engine_recorded_set_sends_list_and_bitmap_entries(overlap):
    """A recorded set at N=40 (a LIST up to two sent spikes, a bitmap from three): the spikes
    of the set's neurons, as the twin gives them, whichever encoding a step takes; with overlap
    such steps are sent before the next step starts."""
    c = LISTED
    rng = np.random.default_rng(21)
    network = random_network(c, rng, regime="active")
    steps = 8
    expected = Twin(network).run(np.zeros((steps, c.inputs), dtype=bool))["spikes"]
    recorded = [1, 4, 9, 16, 17, 25, 33, 38]
    regions = network_regions(c, network)
    regions[Region.RECORD] = [int(n in recorded) for n in range(c.neurons)]
    link = LinkParams(c, max_payload=128, input_slots=3, max_probes=4, overlap=overlap)

    async def script(send, receive, ctx):
        await upload(send, receive, c, regions)
        await send(request(100, Opcode.RUN, codec.pack_run(steps, record="set")))
        [ack] = await receive(1)
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        return await receive(steps)

    header = layout_bytes(OUTPUT_HEADER)
    kinds = set()
    for step, frame in enumerate(simulate(c, script, link)["value"]):
        out = codec.unpack_output(c, frame.payload, 0, recorded)
        assert out.step == step
        want = np.zeros(c.neurons, dtype=bool)
        want[recorded] = expected[step][recorded]
        assert np.array_equal(out.spikes, want), step
        kinds.add("list" if frame.payload[header - 1] & OutputFlag.LIST else "bitmap")
        sent = expected[step][recorded].sum()
        assert (sent <= 2) == (frame.payload[header - 1] & OutputFlag.LIST != 0), step
    assert kinds == {"list", "bitmap"}, expected[:, recorded].sum(axis=1)


def test_engine_overlap_span_is_the_core_cycles_and_a_constant():
    """With overlap, a free-running step whose previous OUTPUT is shorter than it starts
    OVERLAP_START_CYCLES after the core's cycles of the previous step, and that OUTPUT leaves
    while the step runs."""
    from spikeforge.rtl.engine import OVERLAP_START_CYCLES

    c = LISTED
    network = random_network(c, np.random.default_rng(8), regime="active")
    ends = []
    outputs, _, starts, _ = run_outputs(c, network, np.zeros((10, c.inputs), dtype=bool),
                                        ends=ends)
    assert [out.span for out in outputs] == [0] + np.diff(starts).tolist()
    assert [out.span - previous.cycles for previous, out in zip(outputs, outputs[1:])] == [
        OVERLAP_START_CYCLES] * (len(outputs) - 1)
    # OUTPUT t is sent after step t + 1 started, and before step t + 2 starts
    assert all(starts[t + 1] < ends[t] < starts[t + 2] for t in range(len(outputs) - 2))


@pytest.mark.parametrize("overlap", [True, False])
def test_engine_overlap_under_back_pressure_loses_nothing(overlap):
    """A slow host (the transmitter ready one cycle in six) and short free-running core steps:
    the steps wait for their OUTPUT frames, and every OUTPUT arrives, in order, equal to the
    twin's (spikes, probes of every second step)."""
    c = SMALL
    network = random_network(c, np.random.default_rng(12), regime="active")
    steps, probes = 9, [2, 5]
    expected = Twin(network).run(np.zeros((steps, c.inputs), dtype=bool), probes=probes)
    assert expected["spikes"].any()
    link = LinkParams(c, max_payload=128, input_slots=3, max_probes=4, overlap=overlap)

    async def script(send, receive, ctx):
        await upload(send, receive, c, network_regions(c, network))
        await send(request(100, Opcode.RUN, codec.pack_run(steps, probes=probes, every=2)))
        [ack] = await receive(1)
        assert ack.acks(Opcode.RUN), codec.describe_nack(ack.payload)
        return await receive(steps)

    result = simulate(c, script, link, tx_ready=1 / 6)
    starts, ends = result["starts"], result["frame_ends"][-steps:]
    assert len(starts) == steps
    # the core's steps are far shorter than their OUTPUT frames on the slow link: the link
    # sets the pace
    cycles = [codec.unpack_output(c, frame.payload, len(probes)).cycles
              for frame in result["value"]]
    assert (starts[-1] - starts[0]) / (steps - 1) > 5 * max(cycles)
    assert all(ends[t] > starts[t + 1] for t in range(steps - 1))
    for step, frame in enumerate(result["value"]):
        out = codec.unpack_output(c, frame.payload, len(probes))
        assert out.step == step and out.last == (step == steps - 1)
        assert np.array_equal(out.spikes, expected["spikes"][step]), step
        if step % 2:
            assert np.array_equal(out.v, expected["v"][step]), step
            assert np.array_equal(out.i, expected["i"][step]), step
        else:
            assert out.v is None


@pytest.mark.parametrize("regime", ["silent", "every", "active"])
def test_engine_output_list_and_bitmap_equal_the_twin(regime):
    """Steps with no spike (a LIST of 0 entries), with every neuron spiking (a bitmap) and
    with a few (a LIST of the core's spike list, or a bitmap built from it) decode to the
    twin's spikes."""
    c = LISTED
    rng = np.random.default_rng(8)
    network = random_network(c, rng, regime="active")
    steps = 6
    raster = rng.random((steps, c.inputs)) < 0.4
    if regime == "silent":
        network = Network(c, NeuronParams.default(c), network.global_params,
                          np.zeros_like(network.W))
        raster[:] = False
    elif regime == "every":
        network = Network(c, NeuronParams.default(c, thr=c.v_range[0], refrac=0),
                          network.global_params, network.W)
    expected = Twin(network).run(raster)["spikes"]
    outputs, kinds, _, _ = run_outputs(c, network, raster)
    for step, out in enumerate(outputs):
        assert np.array_equal(out.spikes, expected[step]), step
    counts = expected.sum(axis=1)
    # the engine picks the shorter encoding: a count and one byte per spike, or 5 bytes
    assert kinds == ["list" if 2 + n < 5 else "bitmap" for n in counts]
    if regime == "silent":
        assert not counts.any()
    elif regime == "every":
        assert (counts == c.neurons).all()
    else:
        assert {"list", "bitmap"} <= set(kinds), counts


def test_engine_without_span_sends_zero_and_says_so():
    """LinkParams(span=False) (the UP5K boards) builds no span counter: OUTPUT sends 0 and
    IDENTIFY clears Feature.SPAN, so the host reports no span."""
    c = SMALL
    link = LinkParams(c, max_payload=128, input_slots=3, max_probes=4, span=False)
    network = random_network(c, np.random.default_rng(3), regime="active")
    outputs, _, starts, _ = run_outputs(c, network, np.zeros((4, c.inputs), dtype=bool),
                                        link=link)
    assert len(starts) == 4 and [out.span for out in outputs] == [0, 0, 0, 0]
    assert not codec.unpack_identify(identify_payload(link, clk_hz=CLK_HZ, baud=1_000_000,
                                                      board="x"))["span"]
    assert codec.unpack_identify(identify_payload(LinkParams(c), clk_hz=CLK_HZ, baud=1_000_000,
                                                  board="x"))["span"]
