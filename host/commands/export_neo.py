"""``spikeforge export-neo``: write a run folder as a Neo file."""

from pathlib import Path

import click

from spikeforge._extras import require
from spikeforge.config import ConfigError

from ..runs.results import run_folder_to_neo

#: File endings and the Neo io that writes each, with the package it needs beyond neo.
NEO_FORMATS = {".pkl": ("PickleIO", None), ".mat": ("NeoMatlabIO", "scipy"),
               ".nix": ("NixIO", "nixio")}


def check_neo_path(out_path):
    """The Neo io class name for ``out_path``, or a :class:`ConfigError` when its ending is
    not one of :data:`NEO_FORMATS` or the package that writes it is missing."""
    import importlib.util

    suffix = out_path.suffix.lower()
    if suffix not in NEO_FORMATS:
        raise ConfigError(f"--out {out_path}: the file must end in "
                          f"{', '.join(NEO_FORMATS)} (Neo's pickle, MATLAB or NIX format)")
    io_name, package = NEO_FORMATS[suffix]
    if package and importlib.util.find_spec(package) is None:
        raise ConfigError(f"--out {out_path}: Neo writes {suffix} files with the Python package "
                          f"`{package}`, which is not installed; pip install {package}, or "
                          f"write a .pkl file")
    return io_name


def write_neo(block, out_path):
    """Write ``block`` to ``out_path`` with the Neo io its ending names (:data:`NEO_FORMATS`)."""
    require("neo", "neo")
    from neo import io as neo_io

    io_name = check_neo_path(out_path)
    suffix = out_path.suffix.lower()
    try:
        if out_path.exists():
            out_path.unlink()           # NixIO and PickleIO would add to or refuse an old file
        io = getattr(neo_io, io_name)(str(out_path),
                                      **({"mode": "ow"} if suffix == ".nix" else {}))
        try:
            io.write_block(block)
        finally:
            if hasattr(io, "close"):
                io.close()
    except OSError as error:
        raise ConfigError(f"cannot write {out_path}: {error.strerror or error}; choose another "
                          f"--out file") from None


@click.command("export-neo")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", "out_path", metavar="FILE", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Neo file to write: .pkl (pickle), .mat (MATLAB, needs scipy) or .nix (NIX, "
                   "needs nixio).")
@click.option("--dt", "dt_ms", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="MS", help="Duration of one step in ms (default: the network's own dt for "
                                 "a network in physical units, else 1 ms).")
def export_neo_command(run_dir, out_path, dt_ms):
    """Write the run folder RUN_DIR (of `spikeforge run`) as a Neo block.

    One segment holds a SpikeTrain per recorded neuron and per input line (times in ms), an
    AnalogSignal per probed quantity (v, i: the core's integers), and for a run with --counts
    the AnalogSignal "counts": a row per window of --every steps (sampling period every * dt,
    from the window's start), a column per recorded neuron (array annotation channel_ids).

    RUN_DIR comes from e.g. `spikeforge run examples/synfire.toml --record 0-31 --every 10
    --counts --out /tmp/counts`.

    \b
    Examples:
      spikeforge export-neo /tmp/counts --out /tmp/counts.pkl
      spikeforge export-neo runs/stdp --out stdp.mat --dt 0.5
    """
    require("neo", "neo")
    check_neo_path(out_path)
    block = run_folder_to_neo(run_dir, dt_ms=dt_ms)
    write_neo(block, out_path)
    (segment,) = block.segments
    signals = ", ".join(f"{signal.name} {signal.shape[0]}x{signal.shape[1]}"
                        for signal in segment.analogsignals) or "none"
    click.echo(f"wrote {out_path}: {len(segment.spiketrains)} spike trains, analog signals: "
               f"{signals}")
