"""Throughput of the host link, measured cycle-accurately on the simulated device.

:func:`bench_link` builds the whole device (:class:`~spikeforge.rtl.top.Top`) with Verilator,
uploads a full WEIGHT region with pipelined WRITE frames and runs a streamed run, and reports
payload bytes per second computed from simulated clock cycles (not wall time) as a fraction of
the line rate (``baud / 10`` bytes per second for 8N1).

:func:`bench_streamed` gives each board's streamed steps per second: computed from the core's
cycles (the formula the RTL follows), the engine's, and the bytes of each step's INPUT and
OUTPUT frames (:func:`streamed_wire_bytes`) at the board's clock and line rate, and measured on
``sim://`` with the UART pins at the board's divisor, timed in simulated cycles
(:meth:`~spikeforge.sim.simboard.SimDevice.mark`).
"""

import json
import tempfile
from pathlib import Path

import numpy as np

from ..config import CoreConfig
from ..rtl.regions import Region

__all__ = ["bench_link", "output_payload", "streamed_wire_bytes", "core_cycles",
           "bitmap_spikes", "output_items", "engine_cycles", "streamed_step_cycles",
           "measure_streamed", "bench_streamed", "recorded_output_payload", "recorded_wire_bytes",
           "recorded_engine_cycles", "bench_recording", "RECORDING_MODES"]


def bench_link(config=None, *, clk_hz=12_000_000, divisor=4, steps=50):
    """Measure the link on the simulated device.

    Arguments
    ---------
    config : CoreConfig
        The core (default: N=100, M=64, L=8).
    clk_hz : int
        Clock frequency the figures in bytes/s and steps/s refer to.
    divisor : int
        Clock cycles per UART bit (``baud = clk_hz / divisor``).
    steps : int
        Steps of the streamed run (inputs at rate 0.2, one probe).

    Returns a dict: ``upload_efficiency`` (payload bytes/s of the upload over the line rate),
    ``upload_bytes_per_s``, ``run_steps_per_s``, ``run_input_efficiency``,
    ``run_output_efficiency`` and the raw byte and cycle counts.
    """
    from ..rtl.top import Top
    from .verilator import build_core, run_cocotb

    config = config or CoreConfig()
    baud = clk_hz // divisor
    top_name = f"top_d{divisor}"
    build_dir = build_core(config, top=Top(config, clk_hz, baud), top_name=top_name)
    with tempfile.TemporaryDirectory() as folder:
        result_path = Path(folder) / "bench.json"
        env = {"SPIKEFORGE_TB_LINK": json.dumps({"clk_hz": clk_hz, "baud": baud}),
               "COCOTB_TEST_FILTER": "top_bench", "SPIKEFORGE_TB_STEPS": str(steps),
               "SPIKEFORGE_TB_RESULT": str(result_path)}
        tests, failures = run_cocotb(config, build_dir, "spikeforge.sim.tb_top",
                                     top_name=top_name, extra_env=env, results_dir=folder)
        if failures or not result_path.exists():
            raise RuntimeError(f"the link benchmark failed ({failures} of {tests} tests); see "
                               f"the cocotb log above")
        return json.loads(result_path.read_text())


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(bench_link(), indent=2))


# -- streamed runs per board: bytes per step from the protocol, cycles per step from the RTL --

#: Bytes of the UART's transmit FIFO (:data:`spikeforge.rtl.uart.FIFO_DEPTH`): the last bytes of
#: a step's OUTPUT frame leave while the next step computes.
def _tx_fifo_depth():
    from ..rtl.uart import FIFO_DEPTH
    return FIFO_DEPTH


def output_payload(config, step, cycles, spikes, *, span=0, last=False, probes=()):
    """The OUTPUT payload the engine sends for one step (docs/protocol.md): ``OUTPUT_HEADER``
    (``step``, ``cycles``, ``span``, flags), the spikes as a bitmap or a list (whichever is
    shorter), then ``v`` and ``i`` of each probe (``probes``: pairs of integers; flagged
    ``PROBES``)."""
    from ..rtl.protocol import OUTPUT_HEADER, OutputFlag, field_bytes, pack_layout

    n = config.neurons
    spikes = np.asarray(spikes, dtype=bool).reshape(-1)
    indices = np.flatnonzero(spikes)
    size = field_bytes(config.neuron_index_bits)
    use_list = 2 + len(indices) * size < -(-n // 8)
    flags = ((OutputFlag.LAST if last else 0) | (OutputFlag.LIST if use_list else 0)
             | (OutputFlag.PROBES if len(probes) else 0))
    body = pack_layout(OUTPUT_HEADER, step=step, cycles=cycles, span=span, flags=flags)
    if use_list:
        body += len(indices).to_bytes(2, "little") + b"".join(
            int(k).to_bytes(size, "little") for k in indices)
    else:
        body += np.packbits(spikes, bitorder="little").tobytes()
    vb, ib = field_bytes(config.v_bits), field_bytes(config.i_bits)
    for v, i in probes:
        body += ((int(v) & ((1 << 8 * vb) - 1)).to_bytes(vb, "little")
                 + (int(i) & ((1 << 8 * ib) - 1)).to_bytes(ib, "little"))
    return body


def streamed_wire_bytes(config, raster, spikes, cycles, *, seq=1):
    """Bytes on the wire of each step of a streamed run: ``(input, output)`` arrays.

    ``raster`` (steps × M) are the inputs, ``spikes`` (steps × N) and ``cycles`` the outputs.
    Output: one OUTPUT frame per step (COBS, CRC and delimiter included). Input: one INPUT frame
    of one record per step (with its step index), as the host sends them once the run is under
    way (each OUTPUT returns one credit).
    """
    from ..host.device import codec
    from ..rtl.protocol import Opcode

    steps = len(spikes)
    out = np.array([len(codec.encode_frame(seq, Opcode.OUTPUT, output_payload(
        config, k, cycles[k], spikes[k], last=(k == steps - 1)))) for k in range(steps)])
    stream = bool(config.inputs) and bool(np.asarray(raster).any())
    inp = np.array([len(codec.encode_frame(seq, Opcode.INPUT,
                                           codec.pack_input(config, [row], k)))
                    if stream else 0 for k, row in enumerate(np.asarray(raster, dtype=bool))])
    return inp, out


def core_cycles(config, raster, spikes, *, learn=False):
    """The core's clock cycles of each step of a run after a network upload, by the formula of
    docs/model.md (the RTL reports the same count)."""
    from .driver import expected_cycles

    raster = np.asarray(raster, dtype=bool)
    spikes = np.asarray(spikes, dtype=bool)
    previous = np.concatenate([[0], spikes.sum(axis=1)[:-1]])
    arrivals = raster.sum(axis=1) + previous
    return np.array([expected_cycles(config, int(a), int(s), learn)
                     for k, (a, s) in enumerate(zip(arrivals, spikes.sum(axis=1)))])


def bitmap_spikes(config, spikes):
    """Spikes of each step that the engine sends in a bitmap (0 where it sends a LIST): it
    builds a bitmap from the core's spike list at two cycles per spike."""
    from ..rtl.protocol import SPIKE_COUNT, field_bytes, layout_bytes

    counts = np.asarray(spikes, dtype=bool).reshape(len(spikes), -1).sum(axis=1)
    as_list = (layout_bytes(SPIKE_COUNT) + counts * field_bytes(config.neuron_index_bits)
               < -(-config.neurons // 8))
    return np.where(as_list, 0, counts)


def output_items(config, spikes):
    """Entries of each step's LIST, or bytes of its bitmap: the engine spends a state on each
    besides the bytes it sends."""
    from ..rtl.protocol import SPIKE_COUNT, field_bytes, layout_bytes

    counts = np.asarray(spikes, dtype=bool).reshape(len(spikes), -1).sum(axis=1)
    nb = -(-config.neurons // 8)
    as_list = layout_bytes(SPIKE_COUNT) + counts * field_bytes(config.neuron_index_bits) < nb
    return np.where(as_list, counts, nb)


def engine_cycles(config, out_wire_bytes, bitmap_spike_counts, fixed, *, link=None, items=None,
                  core=None):
    """Cycles the command engine adds to a step besides the core's (transmitter always ready),
    for its :class:`~spikeforge.rtl.protocol.LinkParams` ``link`` (the defaults if ``None``).

    With the single-block COBS encoder (``cobs_double=False``): two cycles per byte of the
    OUTPUT frame on the wire (the encoder takes one byte per cycle and holds the engine while
    it sends each block) and two per spike sent in a bitmap (:func:`bitmap_spikes`; the bitmap
    is built from the core's spike list). With the double-buffered encoder: one cycle per byte
    on the wire, one per LIST entry or bitmap byte (``items``, :func:`output_items`: the
    engine's state between two fields, which the single-block encoder hid while it sent) and
    two per spike sent in a bitmap. Then ``fixed`` cycles (INPUT parsing and state changes,
    measured on ``sim://``). With ``link.overlap`` the OUTPUT is framed while the next step
    runs: a step costs ``fixed`` (its start and the pushing of its inputs) and the part of the
    OUTPUT's work beyond the core's cycles ``core``."""
    from ..rtl.protocol import LinkParams

    link = LinkParams(config) if link is None else link
    wire = np.asarray(out_wire_bytes)
    bitmap = np.asarray(bitmap_spike_counts)
    if not link.cobs_double:
        work = 2 * wire + 2 * bitmap
    else:
        if items is None:
            raise ValueError("engine_cycles with the double-buffered COBS encoder needs the "
                             "LIST entries or bitmap bytes of each step (items=)")
        work = wire + np.asarray(items) + 2 * bitmap
    if link.overlap:
        if core is None:
            raise ValueError("engine_cycles with overlap needs the core's cycles (core=)")
        return fixed + np.maximum(0, work - np.asarray(core))
    return work + fixed


def streamed_step_cycles(core, engine, wire_in, wire_out, divisor, *, overlap=False):
    """Clock cycles of a streamed step at ``divisor`` clocks per UART bit, and which side bounds
    it: the link (a step's OUTPUT or INPUT frame takes longer on the wire than the step's work)
    or the core (its cycles, the engine's, and the wait for room in the transmit FIFO when the
    OUTPUT frame is longer than it; ``"core+link"`` when that wait is the larger part). With
    ``overlap`` (:class:`~spikeforge.rtl.protocol.LinkParams`) the engine waits for room while
    the next step runs: the wait is no longer added to the step's work."""
    byte = 10 * divisor
    link = np.maximum(wire_in, wire_out) * byte
    wait = np.maximum(0, wire_out - _tx_fifo_depth()) * byte
    if overlap:
        wait = np.zeros_like(wait)
    work = core + engine + wait
    cycles = np.maximum(link, work)
    if link.mean() >= work.mean():
        return cycles, "link"
    # the step's work and the part of its OUTPUT frame beyond the FIFO take turns
    return cycles, ("core" if (core + engine).mean() >= wait.mean() else "core+link")


def measure_streamed(config, twin, raster, *, uart="bytes", divisor=4, progress=None,
                     recording=None, link_options=None):
    """A streamed run on ``sim://`` timed in simulated cycles, from the first byte of its RUN
    frame to the last byte of its last OUTPUT frame; with the bytes the host sent and received
    during it."""
    from ..host.device import open_device

    if progress:
        progress(f"sim:// uart={uart}" + (f" divisor={divisor}" if uart == "pins" else "")
                 + f", {config.describe()}, {len(raster)} steps")
    url = f"sim://?uart=pins&divisor={divisor}" if uart == "pins" else "sim://"
    device = open_device(url, config, **({"link_options": link_options} if link_options
                                         else {}))
    try:
        device.load_network(twin.network)
        counts = {"sent": 0, "received": 0}
        send, read = device.port.write, device._read

        def counted_write(data):
            counts["sent"] += len(data)
            return send(data)

        def counted_read():
            chunk = read()
            counts["received"] += len(chunk)
            return chunk

        if recording is not None and recording.select == "set":
            # the RECORD region is written before the timed window
            device.write_region(Region.RECORD, [int(n in recording.recorded)
                                                for n in range(config.neurons)])
        device.mark()
        device.port.write, device._read = counted_write, counted_read
        try:
            if recording is None:
                result = device.run(inputs=raster)
            else:
                # (the region was written: no check of it in the timed window)
                result = device._run(len(raster), np.asarray(raster, dtype=bool), False, (),
                                     recording=recording)
        finally:
            device.port.write, device._read = send, read
        mark = device.mark()
    finally:
        device.close()
    window = mark["last_out"] - mark["first_in"] + 1
    from ..host.model.fast import make_twin
    fresh = make_twin(twin.network)
    fresh.reset_state()
    twin_spikes = fresh.run(np.asarray(raster, dtype=bool))["spikes"]
    from ..host.device import codec
    from ..rtl.protocol import ACK, Opcode
    # the RUN's answer: free_slots u8 (never 0 when a run starts: every value has one length)
    run_ack = len(codec.encode_frame(1, Opcode.RUN.value | ACK, b"\x01"))
    return {"window_cycles": int(window), "bytes_sent": counts["sent"], "run_ack_bytes": run_ack,
            "bytes_received": counts["received"], "spikes": result.spikes,
            "all_spikes": twin_spikes,
            "cycles": np.asarray(result.cycles)}


def bench_streamed(boards=None, *, steps=200, measure=True, progress=None):
    """Streamed steps per second of each board: computed and measured.

    For each board of :mod:`spikeforge.boards.registry`: its default configuration runs the
    digits-like workload (inputs at rate 0.1, spikes of every neuron returned, no probes) in the
    twin; the core's cycles per step come from the formula the RTL follows, the engine's from
    the OUTPUT frame's bytes and the spikes (its fixed part measured on ``sim://``), the bytes per step
    from the protocol's layouts; the board's clock and line rate (``clk_hz / baud`` clocks per
    bit) turn them into steps per second, bounded by the core or by the link. With ``measure``
    the same workload at N=100, M=64, L=8 also runs on ``sim://`` with the UART pins at each
    board's divisor, timed in simulated cycles, beside the figure computed for it.
    """
    from ..boards.registry import BOARDS
    from .bench import build_workload

    n100 = CoreConfig(neurons=100, inputs=64, lanes=8)
    twin, raster, _ = build_workload(n100, {"kind": "digits", "steps": steps})
    reference = twin.run(raster)["spikes"]
    # the engine's fixed cycles: a run without streamed inputs on the byte streams never waits
    # for the host, so its cycles are the core's and the engine's alone (every neuron spikes)
    # (twice: the engine with overlap, as sim:// and the larger boards have it, and without)
    dense, _, _ = build_workload(n100, {"kind": "dense", "steps": steps})
    zeros = np.zeros((steps, n100.inputs), dtype=bool)
    from ..rtl.protocol import LinkParams
    fixed = {}
    calibration = {"config": n100.describe(), "steps": steps,
                   "workload": "every neuron spikes every step, no streamed inputs"}
    for overlap in (True, False):
        options = {} if overlap else {"overlap": False}
        link = LinkParams(n100, **options)
        free = measure_streamed(n100, dense, zeros, progress=progress, link_options=options)
        _, free_out = streamed_wire_bytes(n100, zeros, free["spikes"], free["cycles"])
        measured_engine = free["window_cycles"] / steps - free["cycles"].mean()
        fixed[overlap] = float(measured_engine - engine_cycles(
            n100, free_out, bitmap_spikes(n100, free["spikes"]), 0, link=link,
            items=output_items(n100, free["spikes"]), core=free["cycles"]).mean())
        calibration["overlap" if overlap else "sequential"] = {
            "cycles_per_step_measured": free["window_cycles"] / steps,
            "core_cycles_per_step": float(free["cycles"].mean()),
            "engine_cycles_per_step_measured": float(measured_engine),
            "output_bytes_per_step": float(free_out.mean()),
            "output_bytes_received_equal_computed": bool(
                free["bytes_received"] == free_out.sum() + free["run_ack_bytes"]),
            "engine_fixed_cycles": fixed[overlap],
        }
    rows = []
    for name in boards or BOARDS:
        board = BOARDS[name]
        divisor = board.clk_hz / board.baud
        row = {"board": name, "clk_hz": board.clk_hz, "baud": board.baud,
               "divisor": divisor}
        for label, config in (("default", board.default_config()), ("n100", n100)):
            # the board's engine; at N=100 the engine of sim:// it is measured on
            link = ((board.link_params(config) if label == "default" else None)
                    or LinkParams(config))
            twin, raster, _ = build_workload(config, {"kind": "digits", "steps": steps})
            spikes = twin.run(raster)["spikes"]
            core = core_cycles(config, raster, spikes, learn=False)
            wire_in, wire_out = streamed_wire_bytes(config, raster, spikes, core)
            engine = engine_cycles(config, wire_out, bitmap_spikes(config, spikes),
                                   fixed[link.overlap], link=link,
                                   items=output_items(config, spikes), core=core)
            cycles, bound = streamed_step_cycles(core, engine, wire_in, wire_out, divisor,
                                                 overlap=link.overlap)
            row[label] = {
                "config": config.describe(), "neurons": config.neurons,
                "overlap": link.overlap,
                "core_cycles_per_step": float(core.mean()),
                "engine_cycles_per_step": float(engine.mean()),
                "input_bytes_per_step": float(wire_in.mean()),
                "output_bytes_per_step": float(wire_out.mean()),
                "core_bound_steps_per_s": board.clk_hz / float((core + engine).mean()),
                "link_bound_steps_per_s": board.baud / 10
                / float(np.maximum(wire_in, wire_out).mean()),
                "computed_steps_per_s": board.clk_hz / float(cycles.mean()),
                "bound": bound,
            }
        if measure and float(divisor).is_integer():
            twin, raster, _ = build_workload(n100, {"kind": "digits", "steps": steps})
            run = measure_streamed(n100, twin, raster, uart="pins", divisor=int(divisor),
                                   progress=progress)
            row["n100"].update({
                "measured_cycles_per_step": run["window_cycles"] / steps,
                "measured_steps_per_s": board.clk_hz * steps / run["window_cycles"],
                "measured_spikes_equal_twin": bool(np.array_equal(run["spikes"], reference)),
                "measured_core_cycles_equal_formula": bool(
                    np.array_equal(run["cycles"], core_cycles(n100, raster, reference))),
            })
        rows.append(row)
    return {"calibration": calibration, "boards": rows,
            "workload": f"digits-like: inputs at rate 0.1, {steps} steps, every neuron's spikes "
                        f"returned, no probes, learning off"}


# -- recording selection: what a streamed run costs when only some neurons are sent ---------

#: The recording modes of :func:`bench_recording`: (name, record, every, counts); ``record``
#: ``"first32"`` is the set of the first 32 neurons.
RECORDING_MODES = (("all", "all", 1, False), ("set32", "first32", 1, False),
                   ("none", "none", 1, False), ("counts32_every10", "first32", 10, True))


def _recording(config, record, every, counts):
    from ..host.device.base import Recording

    if record == "first32":
        return Recording("set", tuple(range(min(32, config.neurons))), every, counts)
    return Recording(record, None, every, counts)


def recorded_output_payload(config, step, spikes, recording, counts=None, *, last=False):
    """The OUTPUT payload the engine sends for one step of a run with ``recording`` (a
    :class:`~spikeforge.host.device.base.Recording`): the recorded neurons' spikes (a bitmap or
    a list, the shorter; an empty list with NONE or counts), then with ``counts`` (the window's
    counts, in its last step) one byte per recorded neuron. No probes."""
    from ..rtl.protocol import OUTPUT_HEADER, OutputFlag, field_bytes, pack_layout

    n = config.neurons
    shown = np.zeros(n, dtype=bool)
    recorded = recording.indices(n)
    if not recording.counts:
        shown[recorded] = np.asarray(spikes, dtype=bool)[recorded]
    indices = np.flatnonzero(shown)
    size = field_bytes(config.neuron_index_bits)
    use_list = (2 + len(indices) * size < -(-n // 8) or recording.counts
                or recording.select == "none")
    flags = ((OutputFlag.LAST if last else 0) | (OutputFlag.LIST if use_list else 0)
             | (OutputFlag.COUNTS if counts is not None else 0))
    body = pack_layout(OUTPUT_HEADER, step=step, cycles=0, span=0, flags=flags)
    if use_list:
        body += len(indices).to_bytes(2, "little") + b"".join(
            int(k).to_bytes(size, "little") for k in indices)
    else:
        body += np.packbits(shown, bitorder="little").tobytes()
    if counts is not None:
        body += bytes(np.asarray(counts, dtype=np.uint8))
    return body


def recorded_wire_bytes(config, spikes, recording, *, seq=1):
    """Bytes on the wire of each step's OUTPUT frame (COBS, CRC and delimiter included) of a
    run with ``recording``."""
    from ..host.device import codec
    from ..rtl.protocol import Opcode

    spikes = np.asarray(spikes, dtype=bool)
    steps = len(spikes)
    recorded = recording.indices(config.neurons)
    out = []
    for k in range(steps):
        counts = None
        if recording.counts and (k + 1) % recording.every == 0:
            window = spikes[k + 1 - recording.every:k + 1, recorded]
            counts = window.sum(axis=0)
        out.append(len(codec.encode_frame(seq, Opcode.OUTPUT, recorded_output_payload(
            config, k, spikes[k], recording, counts, last=(k == steps - 1)))))
    return np.array(out)


def recorded_engine_cycles(config, spikes, recording, wire_out, fixed, *, link=None, core=None):
    """The command engine's cycles per step besides the core's, by its states (rtl/engine.py):
    the OUTPUT frame's bytes on the wire as in :func:`engine_cycles` (two cycles each with the
    single-block COBS encoder; one each and one per entry sent or bitmap byte with the
    double-buffered one); a bitmap built from the core's spike list at two cycles per entry;
    for a recorded set a pass over the list counting the recorded spikes and a second sending
    them, four cycles per entry each (a bitmap: three in the second; each entry is registered
    before it addresses the RECORD region); for counts a pass adding
    the list to the counts, three cycles per entry, and in a window's last step two cycles per
    neuron sending them; and ``fixed`` cycles of state changes (measured on ``sim://``). With
    ``link.overlap``, ALL and NONE are framed while the next step runs (:func:`engine_cycles`:
    ``fixed`` and the work beyond the core's cycles ``core``); a set and counts read the core's
    regions and are sent before the next step starts."""
    from ..rtl.protocol import LinkParams, field_bytes

    link = LinkParams(config) if link is None else link
    n = config.neurons
    spikes = np.asarray(spikes, dtype=bool)
    fired = spikes.sum(axis=1)
    wire_out = np.asarray(wire_out)
    steps = len(spikes)
    recorded = recording.indices(n)
    sent = spikes[:, recorded].sum(axis=1)
    nb = -(-n // 8)
    bitmap = 2 + sent * field_bytes(config.neuron_index_bits) >= nb
    if recording.counts:
        walk = 3 * fired + np.where((np.arange(steps) + 1) % recording.every == 0, 2 * n, 0)
        items = np.zeros(steps)
    elif recording.select == "none":
        walk = np.zeros(steps)
        items = np.zeros(steps)
    elif recording.select == "all":
        walk = np.where(bitmap, 2 * fired, 0)
        items = np.where(bitmap, nb, sent)
    else:
        walk = 4 * fired + np.where(bitmap, 3 * fired, 4 * fired)
        items = np.where(bitmap, nb, 0)
    if link.cobs_double:
        work = walk + wire_out + items
    else:
        work = walk + 2 * wire_out
    if link.overlap and not recording.counts and recording.select in ("all", "none"):
        if core is None:
            raise ValueError("recorded_engine_cycles with overlap needs the core's cycles "
                             "(core=)")
        return fixed + np.maximum(0, work - np.asarray(core))
    return work + fixed


def bench_recording(boards=None, *, steps=200, measure=True, progress=None, extra_baud=None):
    """Streamed steps/s per board with recording selection: every neuron's spikes (ALL), the
    first 32 neurons' (SET), none (NONE), and the first 32 neurons' spike counts over windows
    of 10 steps (COUNTS), on the digits-like workload of :func:`bench_streamed`, computed for
    each board's default configuration at its clock and line rate (and at ``extra_baud``:
    ``{board: baud}`` of line rates its USB bridge also takes). With ``measure``, ALL, SET and
    NONE also run at N=100 on ``sim://`` with the UART pins at the ULX3S's divisor (20), timed
    in simulated cycles, beside the figure computed for them. The engine's fixed cycles are
    measured on the byte streams with every neuron spiking and recorded; the model's cycles of
    the other modes are given beside their measured ones."""
    from ..boards.registry import BOARDS
    from .bench import build_workload

    n100 = CoreConfig(neurons=100, inputs=64, lanes=8)
    extra_baud = {"ulx3s": 3_000_000} if extra_baud is None else extra_baud
    twin, raster, _ = build_workload(n100, {"kind": "digits", "steps": steps})
    reference = twin.run(raster)["spikes"]
    modes = {name: _recording(n100, *spec) for name, *spec in RECORDING_MODES}
    # the engine's fixed cycles: free-running on the byte streams (no inputs, so no waits for
    # the host), every neuron recorded; checked against the same run with the others
    zeros = np.zeros((steps, n100.inputs), dtype=bool)
    dense, _, _ = build_workload(n100, {"kind": "dense", "steps": steps})
    # (ALL calibrates the engine with overlap, SET the one without: the engine of sim:// sends
    # a set before the next step starts)
    calibration = {"workload": "every neuron spikes every step, no streamed inputs"}
    fixed = {}
    from ..rtl.protocol import LinkParams
    sim_link = LinkParams(n100)
    for name in ("all", "set32", "none", "counts32_every10"):
        recording = modes[name]
        free = measure_streamed(n100, dense, zeros, progress=progress, recording=recording)
        spikes = free["all_spikes"]
        out = recorded_wire_bytes(n100, spikes, recording)
        measured = free["window_cycles"] / steps - free["cycles"].mean()
        key = name == "all"
        if key not in fixed and name in ("all", "set32"):
            fixed[key] = float(measured - recorded_engine_cycles(
                n100, spikes, recording, out, 0, link=sim_link, core=free["cycles"]).mean())
        overlapped = sim_link.overlap and name in ("all", "none")
        model = float(recorded_engine_cycles(n100, spikes, recording, out, fixed[overlapped],
                                             link=sim_link, core=free["cycles"]).mean())
        calibration[name] = {
            "engine_cycles_per_step_measured": float(measured),
            "engine_cycles_per_step_model": model,
            "output_bytes_per_step": float(out.mean()),
            "output_bytes_received_equal_computed": bool(
                free["bytes_received"] == out.sum() + free["run_ack_bytes"]),
        }
    calibration["engine_fixed_cycles"] = {"overlap": fixed[True], "sequential": fixed[False]}
    rows = []
    for name in boards or BOARDS:
        board = BOARDS[name]
        config = board.default_config()
        from ..rtl.protocol import LinkParams
        link = board.link_params(config) or LinkParams(config)
        ctwin, craster, _ = build_workload(config, {"kind": "digits", "steps": steps})
        spikes = ctwin.run(craster)["spikes"]
        core = core_cycles(config, craster, spikes, learn=False)
        wire_in, _ = streamed_wire_bytes(config, craster, spikes, core)
        rates = [board.baud] + ([extra_baud[name]] if name in extra_baud else [])
        row = {"board": name, "clk_hz": board.clk_hz, "config": config.describe(),
               "neurons": config.neurons, "modes": {}}
        for mode, spec in zip(modes, RECORDING_MODES):
            recording = _recording(config, *spec[1:])
            if (recording.select == "set" and not link.record_set) or (
                    recording.counts and not link.record_counts):
                row["modes"][mode] = {"built": False}
                continue
            out = recorded_wire_bytes(config, spikes, recording)
            overlapped = link.overlap and not recording.counts and recording.select != "set"
            engine = recorded_engine_cycles(config, spikes, recording, out, fixed[overlapped],
                                            link=link, core=core)
            figures = {"built": True, "output_bytes_per_step": float(out.mean()),
                       "input_bytes_per_step": float(wire_in.mean()),
                       "core_cycles_per_step": float(core.mean()),
                       "engine_cycles_per_step": float(engine.mean()), "line_rates": []}
            for baud in rates:
                cycles, bound = streamed_step_cycles(core, engine, wire_in, out,
                                                     board.clk_hz / baud,
                                                     overlap=link.overlap and overlapped)
                figures["line_rates"].append({
                    "baud": baud, "divisor": board.clk_hz / baud,
                    "computed_steps_per_s": board.clk_hz / float(cycles.mean()),
                    "bound": bound})
            row["modes"][mode] = figures
        rows.append(row)
    measured = {}
    if measure:
        divisor = 20
        for name in ("all", "set32", "none"):
            recording = modes[name]
            run = measure_streamed(n100, twin, raster, uart="pins", divisor=divisor,
                                   progress=progress, recording=recording)
            core = core_cycles(n100, raster, reference)
            wire_in, _ = streamed_wire_bytes(n100, raster, reference, core)
            out = recorded_wire_bytes(n100, reference, recording)
            overlapped = name in ("all", "none")
            engine = recorded_engine_cycles(n100, reference, recording, out, fixed[overlapped],
                                            link=sim_link, core=core)
            cycles, bound = streamed_step_cycles(core, engine, wire_in, out, divisor,
                                                 overlap=sim_link.overlap and overlapped)
            measured[name] = {
                "divisor": divisor, "output_bytes_per_step": float(out.mean()),
                "computed_cycles_per_step": float(cycles.mean()), "bound": bound,
                "measured_cycles_per_step": run["window_cycles"] / steps,
                "measured_spikes_equal_twin": bool(np.array_equal(
                    run["spikes"], recording.apply(reference)[0])),
            }
    return {"calibration": calibration, "boards": rows, "measured_n100": measured,
            "workload": f"digits-like: inputs at rate 0.1, {steps} steps, no probes, learning "
                        f"off; modes: " + ", ".join(name for name, *_ in RECORDING_MODES)}
