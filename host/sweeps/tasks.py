"""What one point of a sweep does, on whichever worker runs it.

:func:`run_point` takes a *job* (a plain dict the sweep builds on the client, so that a worker
needs no shared file system) and returns a plain dict: ``status`` (``"ok"`` or ``"error"``),
``metrics``, ``error`` (one line) and ``traceback`` for a failed point, and ``files``, the
point's artefacts as ``{name: bytes}``, which the client writes into the point's folder. Any
exception of the point is caught and returned: a failing point never stops the sweep.

Kinds of points:

``network``
    Build the network from the base network file's parsed TOML with the point's parameters
    applied (``job["data"]``) and its matrices, run it on the pooled device with
    :func:`~spikeforge.host.runs.results.run_spec`, and measure spikes, rates and weight
    statistics. Files: ``network.toml`` + ``matrices.npz`` (the point's network, runnable with
    ``spikeforge run``) and the run folder files of ``spikeforge run``. :func:`run_points` runs
    several such points on ``model://`` in one batched twin, with the same results and files.
``digits``
    Run the digits demo (:func:`~spikeforge.host.demos.digits.run_recipe`) with the recipe
    fields of the point on the pooled device. Files: ``results.json``, ``weights.npz``.
"""

import io
import json
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from spikeforge.config import ConfigError

__all__ = ["run_point", "run_points", "network_metrics"]


def _worker_name():
    try:
        from distributed import get_worker

        return get_worker().name
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def run_point(job, matrices=None):
    """Run one point; never raises (see the module docstring). ``matrices`` are the base
    network's ``W`` and ``mask`` (a dict of arrays, shared by every point of a sweep)."""
    start = time.perf_counter()
    result = {"index": job["index"], "hash": job["hash"], "worker": str(_worker_name())}
    try:
        runner = {"network": _network_point, "digits": _digits_point}[job["kind"]]
        metrics, files = runner(job, matrices)
        result |= {"status": "ok", "metrics": metrics, "files": files, "error": ""}
    except Exception as error:   # recorded with the point, not raised
        result = _failure(job, result["worker"], error)
    result["wall_s"] = time.perf_counter() - start
    return result


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _network_toml(data):
    from ..formats.netfile import to_toml

    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {"": top} | {k: v for k, v in data.items() if isinstance(v, dict)}
    return to_toml(tables)


def network_metrics(record):
    """The metrics of a network point from its :class:`~spikeforge.host.runs.results.RunRecord`:
    the run summary's counts, the per-neuron rate range, and statistics of the weights after the
    run (all synapses, and the plastic ones)."""
    summary = record.summary()
    steps = max(record.steps, 1)
    per_neuron = record.spikes.sum(axis=0) / steps if record.spikes.size else np.zeros(1)
    W = record.W_after
    plastic = W[record.mask] if record.mask is not None and record.mask.any() else W.ravel()
    metrics = {
        "spikes": summary["spikes"], "input_spikes": summary["input_spikes"],
        "rate": summary["rate"], "active_neurons": summary["active_neurons"],
        "rate_min": float(per_neuron.min()), "rate_max": float(per_neuron.max()),
        "weights_changed": summary["weights_changed"],
        "w_mean": float(W.mean()), "w_std": float(W.std()),
        "w_min": int(W.min()), "w_max": int(W.max()),
        "w_plastic_mean": float(plastic.mean()),
        "cycles": summary.get("cycles"), "wall_s": summary["wall_time_s"],
    }
    return metrics


def _build(job, matrices, folder):
    """The point's network files (as bytes) and its :class:`NetworkSpec`, read back through
    the network-file reader in ``folder``."""
    from ..formats.netfile import load_network_file

    data = dict(job["data"])
    if matrices is not None:
        data["matrices"] = "matrices.npz"
    else:
        data.pop("matrices", None)
    files = {"network.toml": _network_toml(data).encode()}
    if matrices is not None:
        files["matrices.npz"] = _npz_bytes(**matrices)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    try:
        spec = load_network_file(folder / "network.toml")
    except ConfigError as error:
        # name the file where the sweep keeps it, not the temporary folder it was read from
        raise ConfigError(str(error).replace(str(folder), f"points/{job['hash']}")) from None
    spec.name = job.get("name", spec.name)
    return spec, files


def _record_files(record, folder):
    from ..runs.results import save_run

    return {path.name: path.read_bytes() for path in save_run(record, folder)}


def _network_point(job, matrices):
    from ..runs.results import run_spec
    from .pool import pooled_device

    with tempfile.TemporaryDirectory(prefix="spikeforge-point-") as tmp:
        spec, files = _build(job, matrices, Path(tmp))
        with pooled_device(job["device"], spec.config) as device:
            record = run_spec(device, spec, steps=job.get("steps"), learn=job.get("learn"))
        record.device = job["device"]
        files |= _record_files(record, Path(tmp) / "run")
    return network_metrics(record), files


def run_points(jobs, matrices=None):
    """Run several ``network`` points on ``model://`` together in the batched twin
    (:class:`~spikeforge.host.model.fast.BatchTwin`): the points that share a core
    configuration, steps, learning and probes advance in one batch, each bit-identical to
    running it alone on ``model://``. Returns one :func:`run_point` result per job, in order;
    a point whose network cannot be built fails alone."""
    from urllib.parse import parse_qsl, urlsplit

    from ..device import STATE_NAMES
    from ..model.fast import BatchTwin
    from ..model.params import poisson_states
    from ..runs.results import RunRecord

    start = time.perf_counter()
    worker = str(_worker_name())
    results = [None] * len(jobs)
    groups = {}
    with tempfile.TemporaryDirectory(prefix="spikeforge-batch-") as tmp:
        built = {}
        for k, job in enumerate(jobs):
            try:
                spec, files = _build(job, matrices, Path(tmp) / str(k))
                steps = spec.steps if job.get("steps") is None else job["steps"]
                learn = spec.learn if job.get("learn") is None else bool(job["learn"])
                if learn and not spec.config.stdp:
                    raise ConfigError("learning was requested but the network's core is built "
                                      "without STDP: set [config] stdp = true or learn = false")
                built[k] = (spec, files, steps, learn)
                key = (spec.config, steps, learn, spec.probes)
                groups.setdefault(key, []).append(k)
            except Exception as error:
                results[k] = _failure(job, worker, error)
        for (config, steps, learn, probes), members in groups.items():
            kernel = dict(parse_qsl(urlsplit(jobs[members[0]]["device"]).query)).get("kernel",
                                                                                     "auto")
            try:
                specs = [built[k][0] for k in members]
                rasters = np.stack([s.input_raster(steps) for s in specs]) if specs else None
                began = time.perf_counter()
                batch = BatchTwin([s.network for s in specs], kind=kernel)
                for b, s in enumerate(specs):
                    # as run_spec seeds a device's generators
                    if config.has_poisson and s.network.poisson_rate.any():
                        batch.load_member_state(
                            b, {"pstate": poisson_states(config, s.poisson_seed)})
                out = batch.run(rasters, learn=learn, probes=list(probes) or None)
                wall = (time.perf_counter() - began) / len(members)
                for b, k in enumerate(members):
                    spec, files, _, _ = built[k]
                    state = batch.member_state(b)
                    record = RunRecord(
                        device=jobs[k]["device"], config=config, steps=steps, learn=learn,
                        inputs=rasters[b], spikes=out["spikes"][b], probe_ids=tuple(probes),
                        probes={"v": out["v"][b], "i": out["i"][b]} if probes else {},
                        W_before=spec.network.W.copy(), W_after=state["W"],
                        mask=spec.network.mask.copy(), thr=spec.network.neuron_params.thr.copy(),
                        state={name: state[name] for name in STATE_NAMES}, wall_time=wall,
                        name=spec.name)
                    files = dict(files) | _record_files(record, Path(tmp) / str(k) / "run")
                    results[k] = {"index": jobs[k]["index"], "hash": jobs[k]["hash"],
                                  "worker": worker, "status": "ok",
                                  "metrics": network_metrics(record), "files": files,
                                  "error": "", "batch": len(members)}
            except Exception as error:
                for k in members:
                    results[k] = _failure(jobs[k], worker, error)
    for result in results:
        result["wall_s"] = time.perf_counter() - start
    return results


def _failure(job, worker, error):
    message = " ".join(str(error).split()) or type(error).__name__
    return {"index": job["index"], "hash": job["hash"], "worker": worker, "status": "error",
            "metrics": {}, "files": {}, "error": f"{type(error).__name__}: {message}",
            "traceback": traceback.format_exc()}


def _digits_point(job, matrices):
    import dataclasses

    from ..demos.digits import DeviceBackend, DigitsRecipe, run_recipe
    from .pool import pooled_device

    recipe = dataclasses.replace(DigitsRecipe(), **job["recipe"])
    options = job.get("options", {})
    with pooled_device(job["device"], recipe.config()) as device:
        result = run_recipe(recipe, DeviceBackend(device),
                            train_samples=options.get("train_samples"),
                            test_samples=options.get("test_samples"))
    train, test = result["train"], result["test"]
    metrics = {
        "accuracy": float(result["accuracy"]),
        "train_samples": int(train["samples"]), "test_samples": int(test["samples"]),
        "train_spikes_per_sample": float(train["spikes_per_sample"]),
        "test_spikes_per_sample": float(test["spikes_per_sample"]),
        "test_synaptic_ops_per_sample": float(test["synaptic_ops_per_sample"]),
        "wall_s": float(result["wall_s"]),
    }
    summary = {"device": job["device"], "recipe": result["recipe"], "config": result["config"],
               "accuracy": metrics["accuracy"], "split": result["split"],
               "confusion": np.asarray(result["confusion"]).tolist()} | metrics
    files = {"results.json": (json.dumps(summary, indent=2) + "\n").encode(),
             "weights.npz": _npz_bytes(initial=train["initial_weights"],
                                       learned=train["weights"], mask=train["mask"])}
    return metrics, files
