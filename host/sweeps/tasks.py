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
    ``spikeforge run``) and the run folder files of ``spikeforge run``.
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

__all__ = ["run_point", "network_metrics"]


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
        message = " ".join(str(error).split()) or type(error).__name__
        result |= {"status": "error", "metrics": {}, "files": {},
                   "error": f"{type(error).__name__}: {message}",
                   "traceback": traceback.format_exc()}
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


def _network_point(job, matrices):
    from ..formats.netfile import load_network_file
    from ..runs.results import run_spec, save_run
    from .pool import pooled_device

    data = dict(job["data"])
    data["matrices"] = "matrices.npz"
    files = {"network.toml": _network_toml(data).encode()}
    if matrices is not None:
        files["matrices.npz"] = _npz_bytes(**matrices)
    else:
        data.pop("matrices")
        files["network.toml"] = _network_toml(data).encode()
    with tempfile.TemporaryDirectory(prefix="spikeforge-point-") as tmp:
        tmp = Path(tmp)
        for name, content in files.items():
            (tmp / name).write_bytes(content)
        spec = load_network_file(tmp / "network.toml")
        spec.name = job.get("name", spec.name)
        with pooled_device(job["device"], spec.config) as device:
            record = run_spec(device, spec, steps=job.get("steps"), learn=job.get("learn"))
        record.device = job["device"]
        out = tmp / "run"
        for path in save_run(record, out):
            files[path.name] = path.read_bytes()
    return network_metrics(record), files


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
