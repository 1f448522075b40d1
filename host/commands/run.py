"""``spikeforge run``: run a network file on a device and save spikes, probes, weights and
pictures."""

from pathlib import Path

import click

from ..device import DeviceError
from ..device.base import MAX_RUN_STEPS
from ..formats.netfile import load_network_file
from ..runs.plots import plot_run
from ..runs.results import IncompleteRun, RunWriter, check_steps, run_to_folder
from .common import (EXIT_INTERRUPTED, device_command, device_option, json_option,
                     learn_option, network_argument, opened_device, print_json, print_table,
                     progress_reporter)

#: Runs longer than this are not drawn (the pictures would need the whole run in memory).
PLOT_MAX_STEPS = 1_000_000


@click.command("run")
@network_argument
@device_option
@click.option("--steps", "-k", type=click.IntRange(0, MAX_RUN_STEPS), default=None,
              metavar="K", help="Time steps to run, 0..2^32-1 (default: [run] steps of the "
                                "network file).")
@learn_option
@click.option("--out", "-o", "out_dir", metavar="DIR", type=click.Path(file_okay=False,
              path_type=Path), default=None,
              help="Folder for the results (default: runs/<network name>).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw raster, trace and weight pictures (PNG).")
@json_option
@device_command
def run_command(network, device_url, steps, learn, out_dir, plots, as_json):
    """Run NETWORK on a device and save what it did.

    DIR receives spikes.npz (input and output spikes), probes.npz (v and i of the probed
    neurons), weights.npz (weights before and after), state.npz (final state), summary.json
    and the pictures raster.png, traces.png and weights.png. DIR is checked before the run;
    results are written as they arrive, and the finished folder replaces DIR as a whole. A run
    stopped by Ctrl-C or a device failure keeps the steps received so far in DIR, marked
    "complete": false in summary.json.

    \b
    Examples:
      spikeforge run examples/synfire.toml --device model:// --out /tmp/synfire
      spikeforge run examples/recurrent_stdp.toml --steps 2000 --learn --out runs/stdp
      spikeforge run examples/synfire.toml --device model:// --json --no-plots
    """
    spec = load_network_file(network)
    planned = check_steps(spec.steps if steps is None else steps, "--steps")
    out_dir = out_dir if out_dir is not None else Path("runs") / network.stem
    writer = RunWriter(out_dir, spec.config, spec.probes)
    try:
        with opened_device(device_url, spec.config) as device:
            with progress_reporter("running", enabled=not as_json) as progress:
                summary, files = run_to_folder(device, spec, out_dir, steps=steps, learn=learn,
                                               progress=progress, writer=writer,
                                               device_name=device_url,
                                               name=spec.name or network.stem)
    except IncompleteRun as stopped:
        if isinstance(stopped.cause, KeyboardInterrupt):
            click.echo(f"interrupted: {stopped}", err=True)
            click.get_current_context().exit(EXIT_INTERRUPTED)
        raise DeviceError(f"{stopped.cause}; {stopped}") from None
    finally:
        writer.discard()
    if plots and planned <= PLOT_MAX_STEPS:
        files += plot_run(out_dir)
    elif plots and not as_json:
        click.echo(f"note: no pictures for a run of more than {PLOT_MAX_STEPS} steps", err=True)
    if as_json:
        print_json(summary | {"out": str(out_dir), "files": [str(f) for f in files]})
        return
    print_table([
        ("network", network), ("device", device_url), ("steps", summary["steps"]),
        ("learn", summary["learn"]), ("spikes", summary["spikes"]),
        ("input spikes", summary["input_spikes"]),
        ("rate", f"{summary['rate']:.4f} spikes/neuron/step"),
        ("active neurons", f"{summary['active_neurons']} of {spec.config.neurons}"),
        ("weights changed", summary["weights_changed"]),
        ("wall time", f"{summary['wall_time_s']:.3f} s"),
        ("output", out_dir),
    ], title="run")
