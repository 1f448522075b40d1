"""``spikeforge plot``: draw the pictures of a run folder."""

from pathlib import Path

import click

from spikeforge._extras import require

from ..runs.plots import plot_run


@click.command("plot")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", metavar="DIR", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the PNG files (default: RUN_DIR).")
def plot_command(run_dir, out_dir):
    """Draw raster, traces and weight pictures of a run folder as PNG.

    \b
    Examples:
      spikeforge plot runs/synfire
      spikeforge plot /tmp/stdp --out /tmp/stdp-pictures
    """
    require("matplotlib", "plot")
    for path in plot_run(run_dir, out_dir):
        click.echo(f"wrote {path}")
