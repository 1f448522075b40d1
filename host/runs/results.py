"""Running a network file on a device, saving and reading run folders, comparing backends.

Everything here goes through the public :class:`~spikeforge.host.device.Device` API, so the same
functions drive the twin (``model://``), the simulated board and a real board.

A run folder holds:

* ``spikes.npz`` -- ``spikes`` ``(steps, N)`` bool (the recorded neurons' spikes; the columns
  of neurons not recorded are False), ``recorded`` (their indices), ``inputs`` ``(steps, M)``
  bool, ``cycles`` ``(steps,)`` (the core's clock cycles per step) when the backend measures
  them, and ``span`` ``(steps,)`` (clock cycles from the start of the previous step to the
  start of this one, the command engine included; 0 at the first step of each run the device
  was given, as a long run goes in chunks) on devices that count it;
* ``probes.npz`` -- ``probe_ids``, ``probe_steps`` (the steps whose probes were sent: every
  step, or every ``every``-th), ``v`` and ``i`` ``(len(probe_steps), len(probe_ids))`` int64;
* ``counts.npz`` -- for a run recording spike counts: ``counts`` ``(windows, len(recorded))``
  uint8, the recorded neurons' spikes in each window of ``every`` steps, ``recorded``,
  ``every``;
* ``weights.npz`` -- ``W_before``, ``W_after`` ``(N+M, N)`` int64, ``mask`` bool, ``thr``;
* ``state.npz`` -- the final state (``v, i, r, s, theta, x, y, xin``);
* ``summary.json`` -- device, configuration, steps, spike counts, rate, wall time, and
  ``complete`` (false for a run that was interrupted, with ``incomplete_reason`` and
  ``steps_planned``).

:func:`run_to_folder` writes a run folder as the run goes: the folder is prepared (and checked
writable) before the first step, every chunk of steps goes to disk as it arrives (memory does not
grow with the number of steps), and the finished folder replaces ``out_dir`` by a rename, so it
never mixes files of two runs. An interrupted run (Ctrl-C, a link fault) keeps the steps received
so far, marked incomplete with the reason.
"""

import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge.config import ConfigError

from ..device import STATE_NAMES, DeviceError
from ..device.base import MAX_RUN_STEPS, Recording

__all__ = ["RunRecord", "run_spec", "save_run", "load_run", "compare_backends", "Difference",
           "RUN_FILES", "RunWriter", "run_to_folder", "IncompleteRun", "check_steps",
           "run_folder_to_neo"]

RUN_FILES = ("spikes.npz", "probes.npz", "weights.npz", "state.npz", "summary.json")


@dataclass(eq=False)
class RunRecord:
    """Everything one run produced."""
    device: str
    config: object
    steps: int
    learn: bool
    inputs: np.ndarray
    spikes: np.ndarray
    probe_ids: tuple = ()
    probes: dict = field(default_factory=dict)
    W_before: np.ndarray = None
    W_after: np.ndarray = None
    mask: np.ndarray = None
    thr: np.ndarray = None
    state: dict = field(default_factory=dict)
    cycles: np.ndarray = None
    wall_time: float = 0.0
    name: str = ""

    def summary(self):
        n = self.config.neurons
        total = int(self.spikes.sum())
        steps = self.steps
        changed = 0
        if self.W_before is not None and self.W_after is not None:
            changed = int(np.count_nonzero(self.W_before != self.W_after))
        summary = {
            "name": self.name,
            "device": self.device,
            "config": self.config.to_dict(),
            "steps": steps,
            "learn": self.learn,
            "spikes": total,
            "input_spikes": int(self.inputs.sum()),
            "rate": total / (n * steps) if steps else 0.0,
            "active_neurons": int(np.count_nonzero(self.spikes.any(axis=0))) if steps else 0,
            "weights_changed": changed,
            "probes": list(self.probe_ids),
            "wall_time_s": round(self.wall_time, 6),
            "steps_per_s": round(steps / self.wall_time, 3) if self.wall_time > 0 else None,
        }
        if self.cycles is not None:
            summary["cycles"] = int(np.sum(self.cycles))
        return summary

    def to_neo(self, dt_ms=1.0, units=None):
        """The run as a :class:`neo.Block`: a spike train per neuron and per input, the probes
        as analog signals (see :func:`spikeforge.host.formats.neo_io.run_to_neo`)."""
        from ..formats.neo_io import run_to_neo

        return run_to_neo(self.spikes, dt_ms=dt_ms, inputs=self.inputs,
                          probe_ids=self.probe_ids, probes=self.probes, units=units,
                          name=self.name, annotations={
                              "device": self.device, "config_hash": f"0x{self.config.hash:08x}",
                              "steps": self.steps, "learn": self.learn})


#: Values (bools or words) held in memory per chunk of a streamed run: about 16 MB.
CHUNK_VALUES = 1 << 21


def _chunks(steps, size):
    start = 0
    while start < steps:
        yield start, min(steps, start + size)
        start += size


def chunk_steps(spec, steps, progress=False):
    """Steps per chunk: bounded memory, and about 50 chunks when progress is reported."""
    width = spec.config.neurons + spec.config.inputs + 16 * len(spec.probes) + 8
    size = max(1, CHUNK_VALUES // width)
    if progress:
        size = min(size, max(1, -(-steps // 50)))
    return size


def check_steps(steps, where="steps"):
    """``steps`` as an int, or a :class:`ConfigError` when it is not a whole number from 0 to
    the protocol's limit."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
            or not 0 <= steps <= MAX_RUN_STEPS:
        raise ConfigError(f"{where}={steps!r} is not allowed: use a whole number from 0 to "
                          f"{MAX_RUN_STEPS} (the protocol's 32-bit step count)")
    return int(steps)


def input_chunks(spec, steps, size):
    """``(first, last, raster)`` pieces of ``spec.input_raster(steps)``, drawn piece by piece
    (the same values: the generator draws row after row), so no piece holds more than ``size``
    rows."""
    m = spec.config.inputs
    rate = np.asarray(spec.input_rate, dtype=float)
    rng = np.random.default_rng(spec.input_seed) if np.any(rate > 0) and m else None
    explicit = np.asarray(spec.input_spikes).reshape(-1, 2)
    explicit = explicit[np.argsort(explicit[:, 0], kind="stable")]
    for first, last in _chunks(steps, size):
        if rng is not None:
            raster = rng.random((last - first, m)) < rate
        else:
            raster = np.zeros((last - first, m), dtype=bool)
        lo, hi = np.searchsorted(explicit[:, 0], [first, last])
        rows = explicit[lo:hi]
        raster[rows[:, 0] - first, rows[:, 1]] = True
        yield first, last, raster


def _prepare_run(device, spec, steps, learn, verify):
    steps = check_steps(spec.steps if steps is None else steps)
    learn = spec.learn if learn is None else bool(learn)
    if learn and not spec.config.stdp:
        raise ConfigError("learning was requested but the network's core is built without "
                          "STDP: set [config] stdp = true or run with --no-learn")
    device.load_network(spec.network, verify=verify)
    device.reset("state")
    network = spec.network
    if network.config.has_poisson and network.poisson_rate.any():
        device.seed_poisson(spec.poisson_seed)
    return steps, learn


def _run_pieces(device, spec, steps, learn, size):
    """Run ``steps`` steps in pieces of ``size``; yield ``(first, last, inputs, result)``."""
    for first, last, inputs in input_chunks(spec, steps, size):
        result = device.run(last - first, inputs, learn=learn, probes=spec.probes)
        yield first, last, inputs, result


def run_spec(device, spec, *, steps=None, learn=None, progress=None, verify=True):
    """Upload ``spec.network`` to ``device``, zero the state, run and read the results back,
    all in memory (see :func:`run_to_folder` for runs of any length).

    ``steps`` and ``learn`` override the file's run settings. ``progress(done, total)`` is
    called after every chunk of steps (a run is split into about 50 chunks when a callback is
    given; the device keeps its state between chunks, so the outcome is the same).
    """
    steps, learn = _prepare_run(device, spec, steps, learn, verify)
    network = spec.network
    probes = spec.probes
    spikes, v, i, cycles, inputs = [], [], [], [], []
    start = time.perf_counter()
    size = chunk_steps(spec, steps, progress) if progress else max(1, steps)
    for first, last, piece, result in _run_pieces(device, spec, steps, learn, size):
        inputs.append(piece)
        spikes.append(result.spikes)
        if probes:
            v.append(result.probes["v"])
            i.append(result.probes["i"])
        cycles.append(result.cycles)
        if progress:
            progress(last, steps)
    wall = time.perf_counter() - start
    inputs = (np.concatenate(inputs) if inputs
              else np.zeros((0, network.config.inputs), dtype=bool))
    n = network.config.neurons
    after = device.read_network()
    record = RunRecord(
        device=getattr(device, "url", None) or device.backend,
        config=network.config, steps=steps, learn=learn, inputs=inputs,
        spikes=np.concatenate(spikes) if spikes else np.zeros((0, n), dtype=bool),
        probe_ids=tuple(probes),
        probes={"v": np.concatenate(v), "i": np.concatenate(i)} if probes and v else {},
        W_before=network.W.copy(), W_after=after.W, mask=network.mask.copy(),
        thr=network.neuron_params.thr.copy(), state=device.read_state(),
        cycles=(np.concatenate(cycles) if cycles and all(c is not None for c in cycles)
                else None),
        wall_time=wall, name=spec.name)
    return record


def save_run(record, out_dir):
    """Write ``record`` into the folder ``out_dir`` (created if needed); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"spikes": record.spikes, "inputs": record.inputs}
    if record.cycles is not None:
        arrays["cycles"] = record.cycles
    np.savez_compressed(out / "spikes.npz", **arrays)
    probes = {"probe_ids": np.asarray(record.probe_ids, dtype=np.int64)}
    steps = record.steps
    probes["v"] = record.probes.get("v", np.zeros((steps, 0), dtype=np.int64))
    probes["i"] = record.probes.get("i", np.zeros((steps, 0), dtype=np.int64))
    np.savez_compressed(out / "probes.npz", **probes)
    np.savez_compressed(out / "weights.npz", W_before=record.W_before, W_after=record.W_after,
                        mask=record.mask, thr=record.thr,
                        neurons=np.int64(record.config.neurons))
    np.savez_compressed(out / "state.npz", **{name: record.state[name] for name in STATE_NAMES
                                              if name in record.state})
    (out / "summary.json").write_text(json.dumps(record.summary(), indent=2) + "\n")
    return [out / name for name in RUN_FILES]


class IncompleteRun(Exception):
    """A run stopped before its last step; what was received is saved in :attr:`folder`.
    :attr:`cause` is the exception that stopped it (a :class:`DeviceError` or
    :class:`KeyboardInterrupt`)."""

    def __init__(self, message, folder, cause):
        super().__init__(message)
        self.folder = folder
        self.cause = cause


def _write_npy_stream(archive, name, dtype, shape, pieces):
    """Write one ``name.npy`` entry of the zip ``archive`` from ``pieces`` (arrays whose rows
    together make ``shape``), never holding more than one piece in memory."""
    with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
        np.lib.format.write_array_header_1_0(entry, {"descr": np.lib.format.dtype_to_descr(
            np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
        for piece in pieces:
            entry.write(np.ascontiguousarray(piece, dtype=dtype).tobytes())


class RunWriter:
    """A run folder written while the run goes.

    The constructor prepares the folder (refusing an ``out_dir`` that cannot be written, or that
    holds files that are not a run's) before any step is run. :meth:`add` stores one chunk of
    steps on disk; :meth:`finish` assembles the ``.npz`` files chunk by chunk, writes the
    summary and moves the folder into place by a rename (an earlier run in ``out_dir`` is
    replaced as a whole).
    """

    def __init__(self, out_dir, config, probe_ids=(), recording=None):
        out = Path(out_dir)
        self.out = out
        self.config = config
        self.probe_ids = tuple(int(p) for p in probe_ids)
        self.recording = recording or Recording()
        self.recorded = self.recording.indices(config.neurons)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file, not a folder: choose a new folder name")
        if out.is_dir() and any(out.iterdir()) and not (out / "summary.json").is_file():
            raise ConfigError(f"--out {out} holds files that are not a spikeforge run: choose "
                              f"an empty or new folder")
        parent = out.absolute().parent
        self.partial = parent / f".{out.name}.partial-{os.getpid()}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.partial, ignore_errors=True)
            (self.partial / "chunks").mkdir(parents=True)
            (self.partial / "chunks" / ".writable").write_bytes(b"")
        except OSError as error:
            raise ConfigError(f"cannot write the results to {out}: {error.strerror or error}; "
                              f"choose another --out folder") from None
        self.steps = 0
        self.chunks = []
        self.spike_total = 0
        self.input_total = 0
        self.active = np.zeros(config.neurons, dtype=bool)
        self.has_cycles = True
        self.cycle_total = 0
        # ``span`` (cycles between the starts of two steps) where the device counts it; 0 at
        # the first step of every device run (each chunk is one), left out of the mean
        self.has_span = True
        self.span_total = 0
        self.span_steps = 0
        self.probe_rows = 0
        self.count_rows = 0
        self.count_total = 0
        self.summary = None

    def add(self, inputs, result):
        """Store the inputs and the :class:`~spikeforge.host.device.RunResult` of one chunk."""
        arrays = {"spikes": np.asarray(result.spikes, dtype=bool),
                  "inputs": np.asarray(inputs, dtype=bool)}
        if result.cycles is None:
            self.has_cycles = False
        else:
            arrays["cycles"] = np.asarray(result.cycles, dtype=np.int64)
            self.cycle_total += int(arrays["cycles"].sum())
        span = getattr(result, "span", None)
        if span is None:
            self.has_span = False
        else:
            arrays["span"] = np.asarray(span, dtype=np.int64)
            self.span_total += int(arrays["span"].sum())
            self.span_steps += int(np.count_nonzero(arrays["span"]))
        arrays["probe_steps"] = self.steps + np.asarray(result.probe_steps, dtype=np.int64)
        if self.probe_ids:
            arrays["v"] = np.asarray(result.probes["v"], dtype=np.int64)
            arrays["i"] = np.asarray(result.probes["i"], dtype=np.int64)
        self.probe_rows += len(arrays["probe_steps"])
        if self.recording.counts:
            arrays["counts"] = np.asarray(result.counts, dtype=np.uint8)
            self.count_rows += arrays["counts"].shape[0]
            self.count_total += int(arrays["counts"].sum(dtype=np.int64))
        path = self.partial / "chunks" / f"{len(self.chunks):06d}.npz"
        np.savez_compressed(path, **arrays)
        self.chunks.append((path, arrays["spikes"].shape[0]))
        self.steps += arrays["spikes"].shape[0]
        self.spike_total += int(arrays["spikes"].sum())
        self.input_total += int(arrays["inputs"].sum())
        self.active |= arrays["spikes"].any(axis=0)

    def _pieces(self, name):
        for path, _ in self.chunks:
            with np.load(path) as archive:
                yield archive[name]

    def _stream_npz(self, filename, entries):
        """Write ``filename`` from ``(name, dtype, shape, pieces)`` entries."""
        with zipfile.ZipFile(self.partial / filename, "w", zipfile.ZIP_DEFLATED,
                             allowZip64=True) as archive:
            for name, dtype, shape, pieces in entries:
                _write_npy_stream(archive, name, dtype, shape, pieces)

    def finish(self, summary, *, W_before=None, W_after=None, mask=None, thr=None,
               state=None):
        """Assemble the folder, write ``summary`` (a dict; ``steps``, ``spikes``,
        ``input_spikes``, ``active_neurons`` and ``rate`` are filled in from what was stored)
        and move it to :attr:`out`. Returns the paths written."""
        c = self.config
        p = len(self.probe_ids)
        steps = self.steps
        rows = self.probe_rows
        recorded = np.asarray(self.recorded, dtype=np.int64)
        spikes = [("spikes", bool, (steps, c.neurons), self._pieces("spikes")),
                  ("recorded", np.int64, recorded.shape, [recorded]),
                  ("inputs", bool, (steps, c.inputs), self._pieces("inputs"))]
        if self.has_cycles and self.chunks:
            spikes.append(("cycles", np.int64, (steps,), self._pieces("cycles")))
        if self.has_span and self.chunks:
            spikes.append(("span", np.int64, (steps,), self._pieces("span")))
        self._stream_npz("spikes.npz", spikes)
        self._stream_npz("probes.npz", [
            ("probe_ids", np.int64, (p,), [np.asarray(self.probe_ids, dtype=np.int64)]),
            ("probe_steps", np.int64, (rows,), self._pieces("probe_steps"))] + [
            (name, np.int64, (rows, p), self._pieces(name) if p else []) for name in ("v", "i")])
        files = [self.partial / "spikes.npz", self.partial / "probes.npz"]
        if self.recording.counts:
            self._stream_npz("counts.npz", [
                ("counts", np.uint8, (self.count_rows, len(recorded)), self._pieces("counts")),
                ("recorded", np.int64, recorded.shape, [recorded]),
                ("every", np.int64, (), [np.int64(self.recording.every)])])
            files.append(self.partial / "counts.npz")
        if W_before is not None:
            weights = {"W_before": W_before, "mask": mask, "thr": thr,
                       "neurons": np.int64(c.neurons)}
            if W_after is not None:
                weights["W_after"] = W_after
            np.savez_compressed(self.partial / "weights.npz", **weights)
            files.append(self.partial / "weights.npz")
        if state:
            np.savez_compressed(self.partial / "state.npz", **{
                name: state[name] for name in STATE_NAMES if name in state})
            files.append(self.partial / "state.npz")
        # the rate of the recorded neurons, from their spikes or their counts
        counted = self.count_rows * self.recording.every
        if self.recording.counts:
            rate = (self.count_total / (len(recorded) * counted)
                    if counted and len(recorded) else None)
        else:
            rate = self.spike_total / (len(recorded) * steps) if steps and len(recorded) else None
        summary = dict(summary) | {
            "steps": steps, "spikes": self.spike_total, "input_spikes": self.input_total,
            "rate": 0.0 if steps == 0 else rate,
            "active_neurons": int(np.count_nonzero(self.active)),
            "probes": list(self.probe_ids),
            "record": {"select": self.recording.select, "neurons": len(recorded),
                       "every": self.recording.every, "counts": self.recording.counts}}
        if self.recording.counts:
            summary["counted_spikes"] = self.count_total
        if self.has_cycles and self.chunks:
            summary["cycles"] = self.cycle_total
        if self.has_span and self.span_steps:
            summary["span_per_step"] = self.span_total / self.span_steps
        self.summary = summary
        (self.partial / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        files.append(self.partial / "summary.json")
        shutil.rmtree(self.partial / "chunks")
        self._move_into_place()
        return [self.out / path.name for path in files]

    def _move_into_place(self):
        out = self.out
        old = None
        if out.exists():
            old = out.absolute().parent / f".{out.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
        os.rename(self.partial, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self):
        """Remove the folder being written (a run that failed before its first step)."""
        shutil.rmtree(self.partial, ignore_errors=True)


def run_to_folder(device, spec, out_dir, *, steps=None, learn=None, progress=None,
                  verify=True, writer=None, device_name=None, name=None, recording=None):
    """Run ``spec`` on ``device`` writing the results into the run folder ``out_dir`` as they
    arrive (memory does not grow with ``steps``). Returns ``(summary, files)``.

    Pass a :class:`RunWriter` made beforehand as ``writer`` to have ``out_dir`` checked before
    the device is opened. A run stopped by Ctrl-C or a :class:`DeviceError` is saved with what
    was received, marked ``"complete": false`` with the reason, and :class:`IncompleteRun` is
    raised (its ``cause`` is the original exception). ``recording`` (a
    :class:`~spikeforge.host.device.base.Recording`) says what the device sends back: the
    run goes in pieces of whole windows of its ``every`` steps.
    """
    recording = recording or (writer.recording if writer else Recording())
    writer = writer or RunWriter(out_dir, spec.config, spec.probes, recording)
    try:
        device.check_recording(recording)        # before the network's upload
        steps, learn = _prepare_run(device, spec, steps, learn, verify)
    except BaseException:
        writer.discard()
        raise
    network = spec.network
    summary = {"name": name or spec.name, "device": device_name or getattr(device, "url", None)
               or device.backend, "config": spec.config.to_dict(), "steps_planned": steps,
               "learn": learn}
    start = time.perf_counter()
    try:
        size = chunk_steps(spec, steps, progress)
        size = max(recording.every, size // recording.every * recording.every)
        for first, last, inputs in input_chunks(spec, steps, size):
            result = device.run(last - first, inputs, learn=learn, probes=spec.probes,
                                record=(list(recording.recorded) if recording.select == "set"
                                        else recording.select),
                                every=recording.every, counts=recording.counts)
            writer.add(inputs, result)
            if progress:
                progress(last, steps)
    except (DeviceError, KeyboardInterrupt) as error:
        partial = getattr(error, "partial", None)
        if partial is not None and partial.steps:
            writer.add(inputs[:partial.steps], partial)
        wall = time.perf_counter() - start
        reason = ("interrupted (Ctrl-C)" if isinstance(error, KeyboardInterrupt)
                  else f"device failure: {error}")
        files = writer.finish(summary | {"complete": False, "incomplete_reason": reason,
                                         "wall_time_s": round(wall, 6)},
                              W_before=network.W, mask=network.mask,
                              thr=network.neuron_params.thr)
        raise IncompleteRun(f"the run stopped after {writer.steps} of {steps} steps; what was "
                            f"received is saved in {writer.out} (marked incomplete)",
                            writer.out, error) from error
    wall = time.perf_counter() - start
    after = device.read_network()
    summary |= {"complete": True, "wall_time_s": round(wall, 6),
                "steps_per_s": round(steps / wall, 3) if wall > 0 else None,
                "weights_changed": int(np.count_nonzero(network.W != after.W))}
    status = device.status()
    if status:
        summary["status"] = status         # the device's counters at the end of the run
    files = writer.finish(summary, W_before=network.W, W_after=after.W, mask=network.mask,
                          thr=network.neuron_params.thr, state=device.read_state())
    return writer.summary, files


def load_run(run_dir):
    """Read a run folder back as a dict of arrays (``spikes, inputs, recorded, probe_ids,
    probe_steps, v, i, W_before, W_after, mask, thr``, and ``counts, every`` for a run that
    recorded counts) and ``summary``."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError(f"run folder {str(folder)!r} does not exist; create one with "
                          f"`spikeforge run NETWORK --out {folder}`")
    missing = [name for name in ("spikes.npz", "summary.json") if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder} is not a run folder: {', '.join(missing)} missing; create "
                          f"one with `spikeforge run NETWORK --out {folder}`")
    data = {}
    for name in ("spikes.npz", "probes.npz", "counts.npz", "weights.npz"):
        if (folder / name).is_file():
            try:
                with np.load(folder / name, allow_pickle=False) as archive:
                    data.update({key: archive[key] for key in archive.files})
            except Exception:
                raise ConfigError(f"{folder / name} is damaged (truncated or not a numpy .npz "
                                  f"archive); run the network again to write it") from None
    try:
        data["summary"] = json.loads((folder / "summary.json").read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{folder / 'summary.json'} is not valid JSON: {error}") from None
    return data


def run_folder_to_neo(run_dir, dt_ms=None, units=None):
    """The run folder ``run_dir`` as a :class:`neo.Block` (see
    :func:`spikeforge.host.formats.neo_io.run_to_neo`): a spike train per recorded neuron and
    per input, the probes as analog signals, and for a run that recorded counts the analog
    signal ``counts``. ``dt_ms`` is the duration of a step: by default the network's own
    (``dt_s`` of ``summary.json``, a network in physical units), else 1 ms."""
    from ..formats.neo_io import run_to_neo

    data = load_run(run_dir)
    summary = data["summary"]
    if dt_ms is None:
        dt_ms = summary["dt_s"] * 1e3 if summary.get("dt_s") else 1.0
    record = summary.get("record", {})
    every = int(record.get("every", 1))
    probes = {name: data[name] for name in ("v", "i")
              if name in data and len(data.get("probe_ids", ()))}
    if probes and "probe_steps" in data and len(data["probe_steps"]) != data["spikes"].shape[0] \
            // every:
        raise ConfigError(f"{run_dir}: its probes do not cover whole windows of {every} steps "
                          f"(an interrupted run); run the network again to export it")
    annotations = {"device": summary.get("device"), "steps": summary.get("steps"),
                   "learn": summary.get("learn"), "complete": summary.get("complete", True),
                   "record_select": record.get("select", "all"), "every": every}
    return run_to_neo(data["spikes"], dt_ms=dt_ms, inputs=data.get("inputs"),
                      probe_ids=data.get("probe_ids", ()), probes=probes, units=units,
                      name=summary.get("name") or Path(run_dir).name,
                      annotations={k: v for k, v in annotations.items() if v is not None},
                      recorded=data.get("recorded"), every=every, counts=data.get("counts"))


# -- comparing backends ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """The first place two backends disagree. ``step`` is None for the final state."""
    backend_a: str
    backend_b: str
    variable: str
    step: int = None
    neuron: int = None
    value_a: int = None
    value_b: int = None

    def describe(self):
        where = (f"step {self.step}, " if self.step is not None else "final state, ")
        index = "row/col" if self.variable in ("W", "mask") else "neuron"
        if self.variable == "xin":
            index = "input"
        at = f"{index} {self.neuron}" if self.neuron is not None else ""
        return (f"{self.backend_a} and {self.backend_b} differ at {where}{at}, variable "
                f"{self.variable}: {self.value_a} != {self.value_b}")

    def to_dict(self):
        return {"backend_a": self.backend_a, "backend_b": self.backend_b,
                "variable": self.variable, "step": self.step, "neuron": self.neuron,
                "value_a": self.value_a, "value_b": self.value_b}


def _first_step_difference(a, b, names):
    """First (step, neuron, variable) where the per-step arrays of two runs differ."""
    first = None
    for name in names:
        x, y = a[name], b[name]
        diff = np.argwhere(np.asarray(x) != np.asarray(y))
        if diff.size:
            step, neuron = (int(v) for v in diff[0])
            if first is None or (step, neuron) < first[:2]:
                first = (step, neuron, name, int(x[step, neuron]), int(y[step, neuron]))
    return first


def compare_backends(spec, devices, *, steps=None, learn=None, progress=None):
    """Run ``spec`` on every ``(label, device)`` of ``devices`` and return the first
    :class:`Difference` against the first backend, or None if all spikes, traces, final states
    and weights are identical. Also returns the records.

    The spikes of every neuron are compared at every step; ``v`` and ``i`` at every step for as
    many neurons as every backend can probe (all of them on the twin, ``max_probes`` of a board);
    the whole state and the weights after the run."""
    records = []
    probed = spec.copy()
    count = min([spec.config.neurons] + [device.max_probes for _, device in devices])
    probed.probes = tuple(range(count))
    for label, device in devices:
        record = run_spec(device, probed, steps=steps, learn=learn, progress=progress)
        record.device = label
        records.append(record)
    base = records[0]
    for other in records[1:]:
        a = {"spike": base.spikes, "v": base.probes.get("v"), "i": base.probes.get("i")}
        b = {"spike": other.spikes, "v": other.probes.get("v"), "i": other.probes.get("i")}
        names = ["spike"] + (["v", "i"] if base.probes else [])
        found = _first_step_difference(a, b, names)
        if found:
            step, neuron, name, x, y = found
            return Difference(base.device, other.device, name, step, neuron, x, y), records
        for name in STATE_NAMES:
            x, y = np.asarray(base.state[name]), np.asarray(other.state[name])
            diff = np.flatnonzero(x != y)
            if diff.size:
                k = int(diff[0])
                return Difference(base.device, other.device, name, None, k, int(x[k]),
                                  int(y[k])), records
        for name, x, y in (("W", base.W_after, other.W_after),):
            diff = np.argwhere(x != y)
            if diff.size:
                r, c = (int(v) for v in diff[0])
                return Difference(base.device, other.device, name, None, (r, c),
                                  int(x[r, c]), int(y[r, c])), records
    return None, records


# -- upload with read-back ------------------------------------------------------------------------

def upload_network(device, network):
    """Upload ``network`` (the device checks every region's CRC), read it back and return a
    description of the first value that differs, or None if everything reads back as written."""
    from ..model.params import GLOBAL_FIELDS, NEURON_FIELDS

    device.load_network(network, verify=True)
    back = device.read_network()
    diff = np.argwhere(back.W != network.W)
    if diff.size:
        r, c = (int(v) for v in diff[0])
        return f"W[{r}, {c}] reads back as {int(back.W[r, c])}, written {int(network.W[r, c])}"
    if network.config.stdp:
        diff = np.argwhere(back.mask != network.mask)
        if diff.size:
            r, c = (int(v) for v in diff[0])
            return (f"mask[{r}, {c}] reads back as {bool(back.mask[r, c])}, written "
                    f"{bool(network.mask[r, c])}")
    for name in NEURON_FIELDS:
        if name in ("theta_inc", "alpha_th") and not network.config.adaptive_threshold:
            continue
        a = getattr(back.neuron_params, name)
        b = getattr(network.neuron_params, name)
        diff = np.flatnonzero(a != b)
        if diff.size:
            k = int(diff[0])
            return f"neuron parameter {name}[{k}] reads back as {int(a[k])}, written {int(b[k])}"
    stdp_only = ("w_min", "w_max", "a_plus", "a_minus", "stdp_shift", "x_inc", "y_inc",
                 "alpha_x", "alpha_y")
    for name in GLOBAL_FIELDS:
        if name in stdp_only and not network.config.stdp:
            continue
        a = getattr(back.global_params, name)
        b = getattr(network.global_params, name)
        if a != b:
            return f"global parameter {name} reads back as {a}, written {b}"
    return None
