"""``spikeforge run``: run a network file on a device and save spikes, probes, weights and
pictures."""

import json
from pathlib import Path

import click

from ..device import DeviceError
from ..device.base import MAX_EVERY, MAX_RUN_STEPS, Recording, parse_record
from ...rtl.protocol import MAX_COUNT_WINDOW, RUN_ARGS, SHORT_RUN_MAX_EVERY
from ..formats.netfile import load_network_file
from ..runs.plots import plot_run
from ..runs.results import IncompleteRun, RunWriter, check_steps, run_to_folder
from .common import (EXIT_INTERRUPTED, device_command, device_option, json_option,
                     learn_option, network_argument, opened_device, print_json, print_table,
                     progress_reporter)

#: Runs longer than this are not drawn (the pictures would need the whole run in memory).
PLOT_MAX_STEPS = 1_000_000


def _plots_wanted(ctx, param, value):
    """``--plots``/``--no-plots`` as given (``--plots`` needs matplotlib); not given: draw the
    pictures when matplotlib is installed, else say how to get them."""
    import importlib.util

    from spikeforge._extras import install_hint, require

    if value is None:
        value = importlib.util.find_spec("matplotlib") is not None
        if not value:
            click.echo(f"note: no pictures: {install_hint('plot')}", err=True)
    elif value:
        require("matplotlib", "plot")
    return value


def _every(ctx, param, value):
    """``--every`` within RUN's ``every`` field (a board with a short RUN checks its own, smaller
    limit when it is opened)."""
    if not 1 <= value <= MAX_EVERY:
        raise click.BadParameter(f"{value} is out of range: RUN's every is "
                                 f"{RUN_ARGS['every'].width} bits, 1 to {MAX_EVERY} steps; use "
                                 f"--every from 1 to {MAX_EVERY}")
    return value


@click.command("run")
@network_argument
@device_option
@click.option("--steps", "-k", type=click.IntRange(0, MAX_RUN_STEPS), default=None,
              metavar="K", help=f"Time steps to run, 0..{MAX_RUN_STEPS} (default: [run] steps "
                                f"of the network file).")
@learn_option
@click.option("--out", "-o", "out_dir", metavar="DIR", type=click.Path(file_okay=False,
              path_type=Path), default=None,
              help="Folder for the results (default: runs/<network name>).")
@click.option("--plots/--no-plots", default=None, callback=_plots_wanted,
              help="Draw raster, trace and weight pictures (PNG). Default: draw them when "
                   "matplotlib (the plot extra) is installed.")
@click.option("--record", "record", default="all", metavar="WHICH", show_default=True,
              help="Whose spikes the device sends back: all, none, or neuron indices and "
                   "ranges such as 0-31,40 (the others read as silent in the results).")
@click.option("--every", type=int, callback=_every, default=1, metavar="K", show_default=True,
              help=f"Send the probes (and counts) of every K-th step only: 1 to {MAX_EVERY} "
                   f"({SHORT_RUN_MAX_EVERY} on the iCEBreaker and iCESugar).")
@click.option("--counts", is_flag=True, default=False,
              help=f"Send the recorded neurons' spike counts over windows of --every steps "
                   f"(at most {MAX_COUNT_WINDOW}) instead of their spikes: counts.npz.")
@json_option
@device_command
def run_command(network, device_url, steps, learn, out_dir, plots, record, every, counts,
                as_json):
    """Run NETWORK on a device and save what it did.

    DIR receives spikes.npz (input and output spikes), probes.npz (v and i of the probed
    neurons), weights.npz (weights before and after), state.npz (final state), summary.json
    and the pictures raster.png, traces.png and weights.png; for a network in physical units
    also quantization.txt and quantization.json (what the core does to every value). DIR is
    checked before the run; results are written as they arrive, and the finished folder replaces
    DIR as a whole. A run stopped by Ctrl-C or a device failure keeps the steps received so far
    in DIR, marked "complete": false in summary.json.

    \b
    Examples:
      spikeforge run examples/synfire.toml --device model:// --out /tmp/synfire
      spikeforge run examples/recurrent_stdp.toml --steps 2000 --learn --out runs/stdp
      spikeforge run examples/synfire.toml --device model:// --json --no-plots
      spikeforge run examples/synfire.toml --record 0-31 --every 10 --counts
    """
    spec = load_network_file(network)
    select, recorded = parse_record(record, spec.config.neurons)
    if counts and every > MAX_COUNT_WINDOW:
        raise click.BadParameter(f"--every {every} with --counts: at most {MAX_COUNT_WINDOW} "
                                 f"steps per window ({MAX_COUNT_WINDOW.bit_length()}-bit "
                                 f"counts); use --every {MAX_COUNT_WINDOW} or less",
                                 param_hint="--every")
    recording = Recording(select, recorded, every, counts)
    planned = check_steps(spec.steps if steps is None else steps, "--steps")
    out_dir = out_dir if out_dir is not None else Path("runs") / network.stem
    writer = RunWriter(out_dir, spec.config, spec.probes, recording)
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
    report = spec.compiled.report if spec.compiled is not None else None
    if report is not None:
        (out_dir / "quantization.txt").write_text(str(report) + "\n")
        (out_dir / "quantization.json").write_text(json.dumps(report.to_dict(), indent=2)
                                                   + "\n")
        files += [out_dir / "quantization.txt", out_dir / "quantization.json"]
        # spikes (or counts over windows of every steps) per neuron per step, over dt
        rate_hz = None if summary["rate"] is None else summary["rate"] / report.dt
        summary = summary | {"dt_s": report.dt, "rate_hz": rate_hz,
                             "quantization": {"max_error": report.max_error(),
                                              "warnings": list(report.warnings)}}
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if as_json:
        print_json(summary | {"out": str(out_dir), "files": [str(f) for f in files]})
        return
    if summary["rate"] is None:
        rate = "not recorded"
    else:
        rate = f"{summary['rate']:.4f} spikes/neuron/step"
        if report is not None:
            rate = f"{summary['rate_hz']:.2f} Hz ({rate} at dt = {report.dt * 1e3:g} ms)"
        if counts:
            rate += f", from counts over {every}-step windows"
    rows = [
        ("network", network), ("device", device_url), ("steps", summary["steps"]),
        ("learn", summary["learn"]), ("spikes", summary["spikes"]),
        ("input spikes", summary["input_spikes"]),
        ("rate", rate),
        ("recorded", f"{select}: {len(recording.indices(spec.config.neurons))} neurons"
                     + (f", probes every {every} steps" if every > 1 else "")
                     + (", counts" if counts else "")),
        ("active neurons", f"{summary['active_neurons']} of {spec.config.neurons}"),
        ("weights changed", summary["weights_changed"]),
        ("wall time", f"{summary['wall_time_s']:.3f} s"),
    ]
    if report is not None:
        rows.append(("quantisation", f"largest error {100 * report.max_error():.3g} %, "
                                     f"{len(report.warnings)} warning(s): quantization.txt"))
    print_table(rows + [("output", out_dir)], title="run")
