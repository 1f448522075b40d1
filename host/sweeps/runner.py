"""Running a sweep: every point a Dask task, results into point folders and one CSV table.

The out folder of a sweep holds::

    results.csv                  one row per point: index, hash, status, seed, device, the
                                 parameters, the metrics, worker, error
    summary.csv                  one row per parameter combination: the number of finished
                                 seeds and the mean and standard deviation (n - 1) of every
                                 metric over them
    sweep.json                   the spec as run, the counts, the wall time
    points/<hash>/point.json     the point's inputs (parameters, seed, device, hash)
    points/<hash>/result.json    status, metrics, error (and traceback), worker
    points/<hash>/...            the point's artefacts (see :mod:`.tasks`)

A point's hash covers everything that decides its result: the kind, the base network file's
parsed TOML with the point's parameters and seed applied, the matrices' bytes, the device URL,
the steps, learn, the options and the spikeforge version. ``result.json`` is written last (by renaming a finished
file), so a point is either finished or absent; :func:`run_sweep` skips every finished point
(``retry_failed``: also failed ones are run again) and rebuilds ``results.csv`` from all of
them, so an interrupted sweep resumes where it stopped.

Where points run: ``workers=0`` runs them one after another in this process (no Dask);
otherwise a Dask ``Client`` on ``scheduler`` (``tcp://host:8786``), or, with no scheduler, an
in-process ``LocalCluster`` of ``workers`` worker threads (default 1). A point on a board asks
for the board's worker resource (:func:`~.pool.board_resource`). A worker that dies takes its
running point with it; Dask runs that point again elsewhere.
"""

import copy
import csv
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge import __version__
from spikeforge.config import ConfigError

from ..formats.netfile import read_matrices_file, read_toml
from .params import apply_parameter, apply_parameters
from .pool import board_resource, close_pool
from .spec import DIGITS_METRICS, NETWORK_METRICS, SweepSpec, load_sweep_spec
from .tasks import run_point, run_points

__all__ = ["run_sweep", "SweepResult", "point_jobs", "read_results", "summarize"]

RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: ``rows`` (one dict per point, in point order, as in the
    CSV), how many points ran, were skipped (finished earlier) and failed, and where."""
    rows: list
    ran: int
    skipped: int
    failed: int
    out_dir: Path
    table: Path
    wall_s: float = 0.0
    errors: list = field(default_factory=list)
    summary: list = field(default_factory=list)


def summarize(rows, parameters, metrics):
    """Statistics over seeds: one dict per combination of ``parameters`` (in order of first
    appearance) with the parameter values, ``n`` (finished points) and ``<metric>_mean``,
    ``<metric>_std`` (sample standard deviation, n - 1; empty for one point) of every numeric
    metric of the finished points."""
    groups = {}
    for row in rows:
        key = tuple(json.dumps(row[p], default=_jsonable) for p in parameters)
        groups.setdefault(key, []).append(row)
    summary = []
    for members in groups.values():
        ok = [row for row in members if row["status"] == "ok"]
        entry = {p: members[0][p] for p in parameters} | {"n": len(ok)}
        for name in metrics:
            values = [row[name] for row in ok if isinstance(row.get(name), (int, float))
                      and not isinstance(row.get(name), bool)]
            entry[f"{name}_mean"] = float(np.mean(values)) if values else None
            entry[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        summary.append(entry)
    return summary


def _digest(obj):
    text = json.dumps(obj, sort_keys=True, default=_jsonable, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        return list(value)
    return str(value)


def _base_network(spec):
    """The base network file's parsed TOML and its matrices (or None)."""
    path = Path(spec.network)
    data = read_toml(path, "base network file")
    _, matrices = read_matrices_file(path, data)
    return data, matrices or None


def point_jobs(spec):
    """The jobs of every point of ``spec`` (see :func:`.tasks.run_point`) and the base
    matrices they share."""
    base, matrices = (None, None)
    matrices_digest = None
    if spec.kind == "network":
        base, matrices = _base_network(spec)
        if matrices is not None:
            h = hashlib.sha256()
            for key in sorted(matrices):
                array = np.ascontiguousarray(matrices[key])
                h.update(f"{key}{array.dtype.str}{array.shape}".encode())
                h.update(array.tobytes())
            matrices_digest = h.hexdigest()
    jobs = []
    for point in spec.points():
        job = {"kind": spec.kind, "index": point.index, "device": point.device,
               "params": point.params, "seed": point.seed, "name": spec.name}
        if spec.kind == "network":
            data = apply_parameters(copy.deepcopy(base), point.params)
            apply_parameter(data, spec.seed_path, point.seed)
            job |= {"data": data, "steps": spec.steps, "learn": spec.learn}
            inputs = {"kind": "network", "data": data, "matrices": matrices_digest,
                      "device": point.device, "steps": spec.steps, "learn": spec.learn}
        else:
            recipe = {path.split(".", 1)[1]: value for path, value in point.params.items()}
            recipe[spec.seed_path.split(".", 1)[1]] = point.seed
            job |= {"recipe": recipe, "options": dict(spec.options)}
            inputs = {"kind": spec.kind, "recipe": recipe, "options": spec.options,
                      "device": point.device}
        inputs["spikeforge"] = __version__       # another release may compute otherwise
        job["hash"] = _digest(inputs)[:16]
        jobs.append(job)
    return jobs, matrices


def _point_dir(out_dir, job):
    return Path(out_dir) / "points" / job["hash"]


def _finished(out_dir, job, retry_failed):
    path = _point_dir(out_dir, job) / "result.json"
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if result.get("hash") != job["hash"]:
        return None
    if retry_failed and result.get("status") != "ok":
        return None
    return result


def _store(out_dir, job, result):
    """Write the point's folder; ``result.json`` last, by rename."""
    folder = _point_dir(out_dir, job)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (result.pop("files", None) or {}).items():
        (folder / name).write_bytes(content)
    point = {k: job[k] for k in ("index", "hash", "kind", "params", "seed", "device")}
    (folder / "point.json").write_text(json.dumps(point, indent=2, default=_jsonable) + "\n")
    result = dict(result)
    tmp = folder / f"result.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, folder / "result.json")
    return result


def _metric_names(spec):
    if spec.metrics:
        return list(spec.metrics)
    return list(NETWORK_METRICS if spec.kind == "network" else DIGITS_METRICS)


def _row(spec, job, result):
    row = {"index": job["index"], "hash": job["hash"], "status": result.get("status", "error"),
           "seed": job["seed"], "device": job["device"]}
    for path in spec.parameters:
        row[path] = job["params"].get(path)
    metrics = result.get("metrics") or {}
    for name in _metric_names(spec):
        row[name] = metrics.get(name)
    row["worker"] = result.get("worker", "")
    row["error"] = result.get("error", "")
    return row


def _write_table(path, rows):
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as stream:
        if rows:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    os.replace(tmp, path)


def read_results(path):
    """The rows of a ``results.csv`` as dicts of strings."""
    with Path(path).open(newline="") as stream:
        return list(csv.DictReader(stream))


def _open_client(scheduler, workers, resources):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        from spikeforge._extras import MissingExtra

        raise MissingExtra("distributed", "sweep") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as error:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r} ({error}); start "
                              f"one with `dask scheduler` or leave --scheduler out to run "
                              f"here") from None
    cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=False,
                           dashboard_address=None, resources=resources or None)
    return Client(cluster), cluster


def _check_resources(client, needed):
    """Refuse a sweep whose boards no worker declares: its points would wait forever."""
    if not needed:
        return
    declared = set()
    for info in client.scheduler_info().get("workers", {}).values():
        declared |= {name for name, amount in (info.get("resources") or {}).items() if amount}
    missing = sorted(set(needed) - declared)
    if missing:
        raise ConfigError(f"no Dask worker owns the board resource(s) {', '.join(missing)}: "
                          f"start one on the machine with the board, e.g. `dask worker "
                          f"SCHEDULER --nthreads 1 --resources \"{missing[0]}=1\"`")


def run_sweep(spec, out_dir=None, *, scheduler=None, workers=None, progress=None,
              retry_failed=True, log=None):
    """Run every unfinished point of ``spec`` (a :class:`SweepSpec` or the path of a spec file)
    and gather the results.

    Arguments
    ---------
    out_dir : path
        The sweep's folder (default ``sweeps/<name>``).
    scheduler : str
        A Dask scheduler address (``tcp://host:8786``); None: an in-process cluster.
    workers : int
        Workers of the in-process cluster (default 1); 0: no Dask, points run here one by one.
    progress : callable
        ``progress(done, total)`` after every point (skipped points count as done).
    retry_failed : bool
        Run points that failed before again (default); False keeps their recorded error.
    log : callable
        ``log(text)`` for one line per failed point.

    Returns a :class:`SweepResult`.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep_spec(spec)
    out_dir = Path(out_dir) if out_dir is not None else Path("sweeps") / spec.name
    if workers is not None and (isinstance(workers, bool) or workers < 0):
        raise ConfigError(f"workers={workers!r} is not allowed: use 0 (no Dask) or more")
    start = time.perf_counter()
    jobs, matrices = point_jobs(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, todo = {}, {}
    for job in jobs:
        done = _finished(out_dir, job, retry_failed)
        if done is not None:
            results[job["index"]] = done
        else:
            todo.setdefault(job["hash"], []).append(job)
    skipped = len(results)
    total = len(jobs)
    if progress:
        progress(skipped, total)
    errors = []

    def finish(group, result):
        for job in group:
            stored = _store(out_dir, job, dict(result, index=job["index"]))
            results[job["index"]] = stored
            if stored.get("status") != "ok":
                errors.append((job["index"], stored.get("error", "")))
                if log:
                    log(f"point {job['index']} ({job['hash']}) failed: {stored.get('error')}")
        if progress:
            progress(len(results), total)

    # the tasks: a point each, or `batch` model:// network points run in the batched twin
    tasks = []
    singles, batched = [], []
    for group in todo.values():
        batchable = spec.batch > 1 and spec.kind == "network" \
            and group[0]["device"].startswith("model://")
        (batched if batchable else singles).append(group)
    tasks += [(run_point, [group]) for group in singles]
    tasks += [(run_points, batched[k:k + spec.batch])
              for k in range(0, len(batched), spec.batch)]

    def outcomes(function, groups, value):
        return list(zip(groups, value if function is run_points else [value]))

    def call_args(function, groups, shared):
        jobs = [group[0] for group in groups]
        return (jobs if function is run_points else jobs[0], shared)

    if tasks and workers == 0 and not scheduler:
        for function, groups in tasks:
            for group, result in outcomes(function, groups,
                                          function(*call_args(function, groups, matrices))):
                finish(group, result)
    elif tasks:
        resources = {}
        for group in todo.values():
            name = board_resource(group[0]["device"])
            if name:
                resources[name] = 1
        client, cluster = _open_client(scheduler, workers, resources)
        try:
            from distributed import as_completed

            _check_resources(client, resources)
            shared = client.scatter(matrices, broadcast=True) if matrices is not None else None
            futures = {}
            for function, groups in tasks:
                name = board_resource(groups[0][0]["device"])
                digest = "-".join(group[0]["hash"] for group in groups)
                if len(groups) > 1:
                    digest = hashlib.sha256(digest.encode()).hexdigest()[:16]
                future = client.submit(function, *call_args(function, groups, shared),
                                       key=f"sweep-point-{digest}", pure=False,
                                       resources={name: 1} if name else None)
                futures[future] = (function, groups)
            for future in as_completed(futures):
                function, groups = futures[future]
                try:
                    value = future.result()
                except Exception as error:      # e.g. every worker that tried it died
                    value = [{"hash": g[0]["hash"], "status": "error", "metrics": {},
                              "error": f"{type(error).__name__}: {error}", "worker": ""}
                             for g in groups]
                    value = value if function is run_points else value[0]
                for group, result in outcomes(function, groups, value):
                    finish(group, result)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
                close_pool()        # the devices of the in-process workers' threads
    rows = [_row(spec, job, results[job["index"]]) for job in jobs]
    table = out_dir / RESULTS_CSV
    _write_table(table, rows)
    stats = summarize(rows, spec.parameters, _metric_names(spec))
    _write_table(out_dir / SUMMARY_CSV, stats)
    wall = time.perf_counter() - start
    failed = sum(1 for row in rows if row["status"] != "ok")
    summary = {"name": spec.name, "kind": spec.kind, "points": total, "ran": total - skipped,
               "skipped": skipped, "failed": failed, "wall_s": round(wall, 3),
               "spec": str(spec.source) if spec.source else None,
               "parameters": spec.parameters, "seeds": list(spec.seeds),
               "devices": list(spec.devices), "scheduler": scheduler or "local"}
    (out_dir / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n")
    return SweepResult(rows=rows, ran=total - skipped, skipped=skipped, failed=failed,
                       out_dir=out_dir, table=table, wall_s=wall, errors=errors,
                       summary=stats)
