"""Running a network file on a device, saving and reading run folders, comparing backends.

Everything here goes through the public :class:`~spikeforge.host.device.Device` API, so the same
functions drive the twin (``model://``), the simulated board and a real board.

A run folder holds:

* ``spikes.npz`` -- ``spikes`` ``(steps, N)`` bool, ``inputs`` ``(steps, M)`` bool, and
  ``cycles`` ``(steps,)`` when the backend measures them;
* ``probes.npz`` -- ``probe_ids``, ``v`` and ``i`` ``(steps, len(probe_ids))`` int64;
* ``weights.npz`` -- ``W_before``, ``W_after`` ``(N+M, N)`` int64, ``mask`` bool, ``thr``;
* ``state.npz`` -- the final state (``v, i, r, s, theta, x, y, xin``);
* ``summary.json`` -- device, configuration, steps, spike counts, rate, wall time.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge.config import ConfigError

from ..device import STATE_NAMES

__all__ = ["RunRecord", "run_spec", "save_run", "load_run", "compare_backends", "Difference",
           "RUN_FILES"]

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


def _chunks(steps, pieces=50):
    size = max(1, -(-steps // pieces))
    start = 0
    while start < steps:
        yield start, min(steps, start + size)
        start += size


def run_spec(device, spec, *, steps=None, learn=None, progress=None, verify=True):
    """Upload ``spec.network`` to ``device``, zero the state, run and read the results back.

    ``steps`` and ``learn`` override the file's run settings. ``progress(done, total)`` is
    called after every chunk of steps (a run is split into about 50 chunks when a callback is
    given; the device keeps its state between chunks, so the outcome is the same).
    """
    steps = spec.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ConfigError(f"steps={steps!r} is not allowed: use an integer >= 0")
    learn = spec.learn if learn is None else bool(learn)
    if learn and not spec.config.stdp:
        raise ConfigError("learning was requested but the network's core is built without "
                          "STDP: set [config] stdp = true or run with --no-learn")
    network = spec.network
    device.load_network(network, verify=verify)
    device.reset("state")
    if network.config.has_poisson and network.poisson_rate.any():
        device.seed_poisson(spec.poisson_seed)
    inputs = spec.input_raster(steps)
    probes = spec.probes
    spikes, v, i, cycles = [], [], [], []
    start = time.perf_counter()
    pieces = list(_chunks(steps)) if progress else [(0, steps)]
    for first, last in pieces:
        result = device.run(last - first, inputs[first:last], learn=learn, probes=probes)
        spikes.append(result.spikes)
        if probes:
            v.append(result.probes["v"])
            i.append(result.probes["i"])
        cycles.append(result.cycles)
        if progress:
            progress(last, steps)
    wall = time.perf_counter() - start
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


def load_run(run_dir):
    """Read a run folder back as a dict of arrays (``spikes, inputs, probe_ids, v, i,
    W_before, W_after, mask, thr``) and ``summary``."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError(f"run folder {str(folder)!r} does not exist; create one with "
                          f"`spikeforge run NETWORK --out {folder}`")
    missing = [name for name in ("spikes.npz", "summary.json") if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder} is not a run folder: {', '.join(missing)} missing; create "
                          f"one with `spikeforge run NETWORK --out {folder}`")
    data = {}
    for name in ("spikes.npz", "probes.npz", "weights.npz"):
        if (folder / name).is_file():
            with np.load(folder / name, allow_pickle=False) as archive:
                data.update({key: archive[key] for key in archive.files})
    try:
        data["summary"] = json.loads((folder / "summary.json").read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{folder / 'summary.json'} is not valid JSON: {error}") from None
    return data


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
