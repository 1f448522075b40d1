"""Streamed steps/s per board (``spikeforge bench link``): the bytes per step computed from the
protocol's layouts, and a streamed run on sim:// carrying exactly those bytes."""

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.host.device import codec
from spikeforge.host.model.params import random_inputs, random_network
from spikeforge.host.model.twin import Twin
from spikeforge.sim.bench_link import (core_cycles, measure_streamed, output_payload,
                                       streamed_step_cycles, streamed_wire_bytes)
from spikeforge.sim.simboard import SIM_DIVISOR


@pytest.mark.parametrize("config", [CoreConfig(neurons=20, inputs=8, lanes=4),
                                    CoreConfig(neurons=100, inputs=64, lanes=8),
                                    CoreConfig(neurons=300, inputs=16, lanes=2)])
def test_output_payload_decodes_to_what_it_encodes(config):
    rng = np.random.default_rng(config.neurons)
    size = 1 if config.neurons <= 256 else 2
    for rate in (0.0, 0.01, 0.1, 0.9):
        spikes = rng.random(config.neurons) < rate
        probes = [(int(rng.integers(-1000, 1000)), int(rng.integers(-1000, 1000)))
                  for _ in range(2)]
        payload = output_payload(config, 7, 1234, spikes, span=5678, last=rate > 0.5,
                                 probes=probes)
        out = codec.unpack_output(config, payload, len(probes))
        assert (out.step, out.cycles, out.span, out.last) == (7, 1234, 5678, rate > 0.5)
        assert np.array_equal(out.spikes, spikes)
        assert out.v.tolist() == [v for v, _ in probes]
        assert out.i.tolist() == [i for _, i in probes]
        # the shorter of the list and the bitmap
        spike_bytes = min(2 + size * int(spikes.sum()), -(-config.neurons // 8))
        vb, ib = -(-config.v_bits // 8), -(-config.i_bits // 8)
        assert len(payload) == 13 + spike_bytes + len(probes) * (vb + ib)


def test_step_cycles_take_the_slower_of_core_and_link():
    core, engine = np.array([1000.0]), np.array([100.0])
    # 10 bytes at 4 clocks per bit: 400 cycles on the wire, the work takes 1,100
    cycles, bound = streamed_step_cycles(core, engine, np.array([5]), np.array([10]), 4)
    assert cycles.tolist() == [1100] and bound == "core"
    # 100 bytes at 20 clocks per bit: 20,000 cycles on the wire
    cycles, bound = streamed_step_cycles(core, engine, np.array([5]), np.array([100]), 20)
    assert cycles.tolist() == [20_000] and bound == "link"
    # the output frame longer than the transmit FIFO: the engine waits for room
    cycles, bound = streamed_step_cycles(np.array([30_000.0]), engine, np.array([5]),
                                         np.array([100]), 20)
    assert cycles.tolist() == [30_000 + 100 + (100 - 16) * 200] and bound == "core"
    # ... and when that wait is longer than the core's and the engine's cycles
    cycles, bound = streamed_step_cycles(np.array([3_500.0]), engine, np.array([5]),
                                         np.array([100]), 20)
    assert cycles.tolist() == [3_500 + 100 + (100 - 16) * 200] and bound == "core+link"
    # with overlap the engine waits for room while the next step runs
    cycles, bound = streamed_step_cycles(np.array([3_500.0]), engine, np.array([5]),
                                         np.array([100]), 20, overlap=True)
    assert cycles.tolist() == [20_000] and bound == "link"
    cycles, bound = streamed_step_cycles(np.array([30_000.0]), engine, np.array([5]),
                                         np.array([100]), 20, overlap=True)
    assert cycles.tolist() == [30_100] and bound == "core"


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("uart", ["bytes", "pins"])
def test_streamed_run_on_sim_carries_the_computed_bytes(uart):
    config = CoreConfig(neurons=20, inputs=8, lanes=4)
    rng = np.random.default_rng(3)
    network = random_network(config, rng, regime="active")
    raster = random_inputs(config, rng, 25, 0.3)
    spikes = Twin(network).run(raster)["spikes"]
    assert spikes.any() and raster.any()
    # the simulated board's default divisor: the pins build of tests/sim/test_simboard.py
    run = measure_streamed(config, Twin(network), raster, uart=uart, divisor=SIM_DIVISOR)
    computed_cycles = core_cycles(config, raster, spikes)
    assert run["cycles"].tolist() == computed_cycles.tolist()
    assert np.array_equal(run["spikes"], spikes)
    wire_in, wire_out = streamed_wire_bytes(config, raster, spikes, computed_cycles)
    assert run["bytes_received"] == run["run_ack_bytes"] + int(wire_out.sum())
    # the host groups INPUT records into fewer frames when it holds several credits: never
    # more than one frame per record, and every record is sent
    records = sum(len(codec.input_record(config, row)) for row in raster)
    assert run["bytes_sent"] <= len(codec.encode_frame(1, 0x20, codec.pack_run(
        len(raster), stream=True))) + int(wire_in.sum())
    assert run["bytes_sent"] > records
    # the run took at least the wire time of its output frames at this divisor
    if uart == "pins":
        assert run["window_cycles"] >= wire_out.sum() * 10 * SIM_DIVISOR
