"""cocotb test bench of the whole device (:class:`~spikeforge.rtl.top.Top`) under Verilator.

Only the UART pins are touched: a bit-level UART model drives ``rx`` and decodes ``tx``, the
host codec builds and checks the frames. Tests (select with ``COCOTB_TEST_FILTER``):

* ``top_protocol`` — IDENTIFY, corrupt and truncated frames, NACKs, STATUS counters;
* ``top_serial_device`` — :class:`~spikeforge.host.device.link.SerialDevice` over ``socket://``
  (a TCP bridge to the UART model): upload a random network, read it back, run with streamed
  inputs and compare spikes, probes and final state with the twin;
* ``top_fuzz`` — random, truncated, bit-flipped and replayed frames (``SPIKEFORGE_FUZZ_FRAMES``);
* ``top_bench`` — cycle-accurate link throughput, written as JSON to ``SPIKEFORGE_TB_RESULT``.

The link parameters arrive as JSON in ``SPIKEFORGE_TB_LINK`` (``clk_hz``, ``baud``).
"""

import json
import os
import queue
import socket
import threading
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer
from cocotb.utils import get_sim_time

from ..config import CoreConfig
from ..host.device import codec
from ..rtl.protocol import (FRAME_OVERHEAD, REGION_ARGS, REGION_ARGS_BYTES, RUN_RESULT,
                            ErrorCode, Opcode, pack_layout, word_bytes)
from ..rtl.regions import Region, region_depth
from .verilator import CONFIG_ENV

LINK_ENV = "SPIKEFORGE_TB_LINK"
RESULT_ENV = "SPIKEFORGE_TB_RESULT"
CLOCK_NS = 10


class UartModel:
    """The host's end of the serial line, bit by bit."""

    def __init__(self, dut, divisor):
        self.dut = dut
        self.bit_ns = divisor * CLOCK_NS
        self.decoder = codec.FrameDecoder()
        self.frames = []
        self.raw = []
        self.framing_errors = 0
        self.sink = None           # called with every received byte (the TCP bridge)
        self.last_rx_ns = 0
        dut.rx.value = 1

    async def send(self, data):
        for byte in bytes(data):
            for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                self.dut.rx.value = bit
                await Timer(self.bit_ns, "ns")

    async def idle(self, bits):
        await Timer(self.bit_ns * bits, "ns")

    async def monitor(self):
        tx = self.dut.tx
        while True:
            await FallingEdge(tx)
            await Timer(self.bit_ns * 3 // 2, "ns")
            byte = 0
            for k in range(8):
                byte |= int(tx.value) << k
                await Timer(self.bit_ns, "ns")
            if not int(tx.value):
                self.framing_errors += 1
            self.last_rx_ns = get_sim_time("ns")
            if self.sink is not None:
                self.sink(byte)
            else:
                self.frames.extend(self.decoder.feed(bytes([byte])))

    async def receive(self, count=1, timeout_bits=200_000):
        waited = 0
        while len(self.frames) < count:
            await Timer(self.bit_ns * 10, "ns")
            waited += 10
            if waited > timeout_bits:
                raise AssertionError(f"device silent: {len(self.frames)} of {count} frames "
                                     f"after {timeout_bits} bit times")
        got, self.frames[:] = self.frames[:count], self.frames[count:]
        return got

    async def request(self, seq, opcode, payload=b""):
        await self.send(codec.encode_frame(seq, opcode, payload))
        [frame] = await self.receive(1)
        assert frame.seq == seq, (frame, seq)
        return frame


def _setup():
    config = CoreConfig.from_dict(json.loads(os.environ[CONFIG_ENV]))
    link = json.loads(os.environ[LINK_ENV])
    return config, link


async def start(dut):
    config, link = _setup()
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    uart = UartModel(dut, round(link["clk_hz"] / link["baud"]))
    dut.rst.value = 1
    await Timer(5 * CLOCK_NS, "ns")
    dut.rst.value = 0
    await uart.idle(2)
    cocotb.start_soon(uart.monitor())
    return config, link, uart


@cocotb.test()
async def top_protocol(dut):
    """IDENTIFY, corruption recovery, NACKs and counters through the pins."""
    config, link, uart = await start(dut)
    frame = await uart.request(1, Opcode.IDENTIFY)
    info = codec.unpack_identify(frame.payload)
    assert info["config_hash"] == config.hash and info["baud"] == link["baud"]
    bad = bytearray(codec.encode_frame(2, Opcode.IDENTIFY))
    bad[2] ^= 0x02                    # opcode 0x01 -> 0x03, no new delimiter
    await uart.send(bytes(bad))
    await uart.send(codec.encode_frame(3, Opcode.STATUS)[:-4] + b"\x00")
    frame = await uart.request(4, Opcode.READ, pack_layout(REGION_ARGS, region=Region.PARAM.value,
                                                           offset=0, count=0))
    assert frame.is_nack and codec.unpack_nack(frame.payload)[0] == ErrorCode.BAD_RANGE
    frame = await uart.request(5, Opcode.STATUS)
    status = codec.unpack_status(frame.payload)
    assert status["good_frames"] == 3, status
    assert status["crc_errors"] + status["frame_errors"] == 2, status
    assert status["nacks"] == 1 and status["uart_framing_errors"] == 0, status
    assert uart.framing_errors == 0 and uart.decoder.errors == 0


# -- SerialDevice through a TCP bridge -----------------------------------------------------------

async def bridge(uart, host, timeout_s=600):
    """Run ``host(url)`` in a thread with a SerialDevice URL bridged to the UART model; return
    its result (or raise its exception)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    url = f"socket://127.0.0.1:{server.getsockname()[1]}"
    results = queue.Queue()

    def target():
        try:
            results.put(("ok", host(url)))
        except BaseException as error:  # handed to the test
            results.put(("error", error))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    server.settimeout(30)
    conn, _ = server.accept()
    conn.setblocking(False)
    outgoing = bytearray()
    uart.sink = outgoing.append
    start = time.monotonic()
    try:
        while thread.is_alive() or not results.empty():
            if outgoing:
                conn.sendall(bytes(outgoing))
                outgoing.clear()
            try:
                data = conn.recv(65536)
            except BlockingIOError:
                data = None
            if data:
                await uart.send(data)
            elif not results.empty():
                break
            else:
                await uart.idle(20)
                time.sleep(0.0002)   # let the host thread run
            if time.monotonic() - start > timeout_s:
                raise AssertionError("the host script did not finish")
    finally:
        uart.sink = None
        conn.close()
        server.close()
    kind, value = results.get(timeout=60)
    if kind == "error":
        raise value
    return value


@cocotb.test()
async def top_serial_device(dut):
    """Upload, read back, run against the twin, through SerialDevice and the pins."""
    from ..host.device.link import SerialDevice
    from ..host.model.params import random_network, random_inputs
    from ..host.model.twin import Twin
    from .driver import twin_region_words

    config, link, uart = await start(dut)
    seed = int(os.environ.get("SPIKEFORGE_TB_SEED", "0"))
    steps = int(os.environ.get("SPIKEFORGE_TB_STEPS", "20"))

    def host(url):
        rng = np.random.default_rng(seed)
        network = random_network(config, rng, regime="active")
        raster = random_inputs(config, rng, steps, 0.3)
        probes = [0, config.neurons - 1]
        with SerialDevice(url, config, timeout=30) as device:
            device.load_network(network)
            back = device.read_network()
            assert np.array_equal(back.W, network.W), "weights differ after read-back"
            if config.stdp:
                assert np.array_equal(back.mask, network.mask), "mask differs"
            for name in ("thr", "v_reset", "bias", "alpha_v", "refrac"):
                assert np.array_equal(getattr(back.neuron_params, name),
                                      getattr(network.neuron_params, name)), name
            twin = Twin(network)
            for region in Region:
                if region_depth(config, region) and region.name in (
                        "STATE", "XTRACE", "YTRACE", "XINTRACE", "POISSON_STATE"):
                    device.write_region(region, twin_region_words(twin, region))
            result = device.run(inputs=raster, learn=config.stdp, probes=probes)
            expected = twin.run(raster, learn=config.stdp, probes=probes)
            assert np.array_equal(result.spikes, expected["spikes"]), "spikes differ"
            assert np.array_equal(result.probes["v"], expected["v"]), "probed v differs"
            assert np.array_equal(result.probes["i"], expected["i"]), "probed i differs"
            for region in Region:
                if region_depth(config, region):
                    expected_crc = _region_crc(config, twin_region_words(twin, region))
                    assert device.region_crc(region) == expected_crc, region.name
            status = device.status()
            assert status["crc_errors"] == status["frame_errors"] == 0, status
            assert status["steps_done"] == steps and not status["running"], status
            return {"spikes": int(result.spikes.sum()), "cycles": int(result.cycles.sum())}

    summary = await bridge(uart, host)
    dut._log.info(f"serial device round trip: {summary}")


def _region_crc(config, words):
    from ..rtl.regions import region_crc
    return region_crc(config, words)


# -- fuzz ---------------------------------------------------------------------------------------

@cocotb.test()
async def top_fuzz(dut):
    """Random, truncated, bit-flipped and replayed frames: no hang, nothing corrupt accepted,
    IDENTIFY answered after every burst, counters consistent."""
    config, link, uart = await start(dut)
    frames = int(os.environ.get("SPIKEFORGE_FUZZ_FRAMES", "2000"))
    rng = np.random.default_rng(int(os.environ.get("SPIKEFORGE_TB_SEED", "0")))
    valid = [
        (Opcode.READ, codec.pack_read(config, Region.PARAM, 0, 1)),
        (Opcode.STATUS, b""),
        (Opcode.REGION_CRC, codec.pack_region_crc(config, Region.WEIGHT)),
        (Opcode.WRITE, codec.pack_write(config, Region.WEIGHT, 0, [0])),
    ]
    sent_good = 0        # frames that must be accepted
    expected_answers = 0
    seq = 0
    burst = 0
    while burst < frames:
        size = int(rng.integers(5, 30))
        answers = 0
        for _ in range(size):
            seq = (seq + 1) & 0xFF
            opcode, payload = valid[int(rng.integers(len(valid)))]
            frame = bytearray(codec.encode_frame(seq, opcode, payload))
            kind = rng.integers(5)
            if kind == 0:      # intact
                sent_good += 1
                answers += 1
            elif kind == 1:    # single bit flip (not creating or removing a delimiter)
                pos = int(rng.integers(len(frame) - 1))
                bit = int(rng.integers(8))
                if frame[pos] == 1 << bit:
                    bit = (bit + 1) % 8
                frame[pos] ^= 1 << bit
                frame = bytes(frame)
                try:
                    codec.decode_frame(frame[:-1])
                    raise AssertionError("a flipped frame decoded on the host")
                except codec.CodecError:
                    pass
            elif kind == 2:    # truncated
                frame = frame[:int(rng.integers(1, len(frame) - 1))] + b"\x00"
            elif kind == 3:    # junk
                frame = bytes(rng.integers(1, 256, size=int(rng.integers(1, 40)),
                                           dtype=np.uint8)) + b"\x00"
            else:              # an intact frame sent twice: answered twice
                sent_good += 2
                answers += 2
                await uart.send(bytes(frame))
            await uart.send(bytes(frame))
            burst += 1
        got = await uart.receive(answers)
        for frame in got:
            assert not frame.is_output
        expected_answers += answers
        seq = (seq + 1) & 0xFF
        frame = await uart.request(seq, Opcode.IDENTIFY)
        assert frame.acks(Opcode.IDENTIFY)
        sent_good += 1
    seq = (seq + 1) & 0xFF
    status = codec.unpack_status((await uart.request(seq, Opcode.STATUS)).payload)
    sent_good += 1
    assert status["good_frames"] == sent_good, (status, sent_good)
    assert uart.decoder.errors == 0 and uart.framing_errors == 0
    assert status["uart_overruns"] == 0 and status["uart_framing_errors"] == 0, status
    dut._log.info(f"fuzz: {burst} frames, {sent_good} good, status {status}")


# -- benchmark ----------------------------------------------------------------------------------

@cocotb.test()
async def top_bench(dut):
    """Payload throughput of a weight upload and of a streamed run, in simulated clock cycles."""
    config, link, uart = await start(dut)
    divisor = round(link["clk_hz"] / link["baud"])
    info = codec.unpack_identify((await uart.request(1, Opcode.IDENTIFY)).payload)
    window = info["rx_buffer"] - 2 * FRAME_OVERHEAD
    max_payload = info["max_payload"]
    rng = np.random.default_rng(0)
    region = Region.WEIGHT
    size = word_bytes(config, region)
    depth = region_depth(config, region)
    words = [int(w) for w in rng.integers(0, 1 << (8 * size - 1), size=depth)]
    per = (max_payload - REGION_ARGS_BYTES) // size
    requests = [codec.pack_write(config, region, start, words[start:start + per])
                for start in range(0, depth, per)]
    payload_bytes = depth * size

    t0 = get_sim_time("ns")
    inflight = {}
    used = 0
    seq = 1
    pending = list(requests)

    async def sender():
        nonlocal used, seq
        for payload in pending:
            need = len(payload) + FRAME_OVERHEAD
            while used + need > window:
                await uart.idle(10)
            seq = (seq + 1) & 0xFF
            inflight[seq] = need
            used += need
            await uart.send(codec.encode_frame(seq, Opcode.WRITE, payload))

    send_task = cocotb.start_soon(sender())
    acked = 0
    while acked < len(requests):
        [frame] = await uart.receive(1)
        assert frame.acks(Opcode.WRITE), frame
        used -= inflight.pop(frame.seq)
        acked += 1
    await send_task
    t1 = uart.last_rx_ns
    cycles = (t1 - t0) / CLOCK_NS
    upload = payload_bytes * 10 * divisor / cycles

    # streamed run: inputs in, outputs out
    steps = int(os.environ.get("SPIKEFORGE_TB_STEPS", "50"))
    raster = rng.random((steps, config.inputs)) < 0.2
    seq = (seq + 1) & 0xFF
    run_seq = seq
    t0 = get_sim_time("ns")
    await uart.send(codec.encode_frame(seq, Opcode.RUN, codec.pack_run(
        steps, stream=bool(config.inputs), probes=[0])))
    [ack] = await uart.receive(1)
    credits = codec.unpack_result(RUN_RESULT, ack.payload)["free_slots"]
    sent = received = 0
    in_bytes = out_bytes = 0
    while received < steps:
        if config.inputs and sent < steps and credits:
            n = min(credits, steps - sent)
            payload = codec.pack_input(config, raster[sent:sent + n], sent)
            in_bytes += len(payload)
            seq = (seq + 1) & 0xFF
            await uart.send(codec.encode_frame(seq, Opcode.INPUT, payload))
            sent += n
            credits -= n
        [frame] = await uart.receive(1)
        assert frame.is_output and frame.seq == run_seq, frame
        out_bytes += len(frame.payload)
        received += 1
        credits += 1
    t1 = uart.last_rx_ns
    run_cycles = (t1 - t0) / CLOCK_NS
    line = 1 / (10 * divisor)      # bytes per clock cycle
    result = {
        "divisor": divisor, "clk_hz": link["clk_hz"], "baud": link["baud"],
        "upload_payload_bytes": payload_bytes, "upload_cycles": cycles,
        "upload_efficiency": upload,
        "upload_bytes_per_s": payload_bytes / cycles * link["clk_hz"],
        "run_steps": steps, "run_cycles": run_cycles,
        "run_steps_per_s": steps / run_cycles * link["clk_hz"],
        "run_input_efficiency": in_bytes / run_cycles / line,
        "run_output_efficiency": out_bytes / run_cycles / line,
        "run_input_payload_bytes": in_bytes, "run_output_payload_bytes": out_bytes,
    }
    dut._log.info(f"bench: {result}")
    path = os.environ.get(RESULT_ENV)
    if path:
        with open(path, "w") as file:
            json.dump(result, file)
