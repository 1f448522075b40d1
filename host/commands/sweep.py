"""``spikeforge sweep``: run a sweep spec on Dask and gather the results into one table."""

from pathlib import Path

import click

from .common import json_option, print_json, print_table, progress_reporter

__all__ = ["sweep_command"]


@click.command("sweep")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: an in-process "
                   "cluster, nothing to start).")
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None, metavar="N",
              help="Worker threads of the in-process cluster (default 1); 0 runs the points "
                   "here one by one, without Dask. Not used with --scheduler.")
@click.option("--out", "-o", "out_dir", metavar="DIR", type=click.Path(file_okay=False,
              path_type=Path), default=None,
              help="Folder of the sweep (default: sweeps/<spec name>). Finished points found "
                   "there are not run again.")
@click.option("--retry-failed/--keep-failed", default=True, show_default=True,
              help="Run points that failed in an earlier invocation again, or keep their "
                   "recorded error.")
@json_option
def sweep_command(spec_path, scheduler, workers, out_dir, retry_failed, as_json):
    """Run every point of the sweep SPEC and gather the results into DIR/results.csv.

    SPEC is a TOML file naming a base network file, the parameters to vary ([grid] values,
    [random] ranges), the seeds, the device and the metrics (docs/sweeps.md). Each point is a
    Dask task that builds its network, runs it on a device and writes DIR/points/<hash>/. A
    point that fails is recorded with its error and the sweep goes on; run the same command
    again to resume: finished points are skipped by the hash of their inputs.

    \b
    Examples:
      spikeforge sweep examples/sweeps/threshold.toml
      spikeforge sweep examples/sweeps/threshold.toml --workers 2 --out /tmp/threshold
      spikeforge sweep examples/sweeps/digits_seeds.toml --json
      spikeforge sweep examples/sweeps/threshold.toml --scheduler tcp://10.0.0.5:8786
    """
    from ..sweeps import load_sweep_spec, run_sweep

    spec = load_sweep_spec(spec_path)
    log = None if as_json else (lambda text: click.echo(f"note: {text}", err=True))
    with progress_reporter(f"sweep {spec.name}", enabled=not as_json) as progress:
        result = run_sweep(spec, out_dir, scheduler=scheduler, workers=workers,
                           progress=progress, retry_failed=retry_failed, log=log)
    summary = {"name": spec.name, "points": len(result.rows), "ran": result.ran,
               "skipped": result.skipped, "failed": result.failed,
               "out": str(result.out_dir), "table": str(result.table),
               "wall_s": round(result.wall_s, 3)}
    if as_json:
        print_json(summary | {"rows": result.rows, "summary": result.summary})
        return
    print_table([
        ("spec", spec_path), ("kind", spec.kind),
        ("points", f"{len(result.rows)} ({result.ran} run, {result.skipped} already "
                   f"finished)"),
        ("failed", result.failed), ("table", result.table),
        ("summary", f"{result.table.with_name('summary.csv')} ({len(result.summary)} "
                    f"parameter combinations)"),
        ("wall time", f"{result.wall_s:.1f} s"),
    ], title="sweep")
    if len(result.summary) == 1:       # one combination: the figures over the seeds
        entry = result.summary[0]
        names = [key[:-5] for key in entry if key.endswith("_mean")]
        print_table([(name, _mean_std(entry[f"{name}_mean"], entry[f"{name}_std"]))
                     for name in names if entry[f"{name}_mean"] is not None],
                    title=f"over {entry['n']} seeds: mean ± standard deviation")


def _mean_std(mean, std):
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"
