"""``spikeforge agree``: spike-train agreement between the float Brian2 reference, the twin and
a device."""

import click

from ..runs.agreement import agreement_report
from ..formats.netfile import load_network_file
from .common import device_command, json_option, network_argument, print_json, print_table


def _number(value, digits=4):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pair_rows(pair):
    relative = pair["rate_error_relative"]
    relative = "" if relative is None else f" ({100 * relative:.2f} % of the reference rate)"
    gamma = pair["gamma"]
    if gamma is None:
        gamma_text = "n/a (no neuron spikes)" if not pair["gamma_undefined"] else \
            f"n/a ({pair['gamma_undefined']} neurons fire too densely for the window)"
    else:
        gamma_text = (f"{gamma:.3f} (mean over {pair['gamma_neurons']} neurons; "
                      f"min {pair['gamma_min']:.3f})")
        if pair["gamma_undefined"]:
            gamma_text += f"; undefined for {pair['gamma_undefined']} dense neurons"
    return [
        ("spikes", f"{pair['spikes_reference']} / {pair['spikes_other']}"),
        ("mean rate (spikes/step)",
         f"{_number(pair['rate_reference'])} / {_number(pair['rate_other'])}"),
        ("rate error, mean over neurons", f"{_number(pair['rate_error'])}{relative}"),
        ("rate error, largest", _number(pair["rate_error_max"])),
        (f"coincidence factor (±{pair['window']} steps)", gamma_text),
        ("identical spikes", f"{100 * pair['identical_fraction']:.1f} %"),
        ("identical rasters", pair["identical"]),
    ]


@click.command("agree")
@network_argument
@click.option("--backends", "-b", default="brian2,model,sim", show_default=True,
              metavar="LIST",
              help="Comma-separated backends: brian2 (the float Brian2 reference), device names "
                   "(model, sim) or device URLs.")
@click.option("--steps", "-k", type=click.IntRange(min=0), default=None, metavar="K",
              help="Time steps to run (default: [run] steps of the network file).")
@click.option("--window", "-w", type=click.IntRange(min=0), default=2, show_default=True,
              metavar="W", help="Coincidence window: spikes at most W steps apart coincide.")
@click.option("--rounding", type=click.Choice(["float", "toward_zero"]), default="float",
              show_default=True,
              help="Decays of the Brian2 model: real products (float) or rounded toward zero "
                   "as in the hardware (then Brian2 must equal the twin exactly).")
@json_option
@device_command
def agree_command(network, backends, steps, window, rounding, as_json):
    """Run NETWORK with learning off on every backend and report how well the spike trains
    agree, for every pair of backends (the first of a pair is the reference).

    Per pair: spike counts, mean rates, the per-neuron rate error (spikes per step, and
    relative to the reference), Kistler's coincidence factor (1 = the same spike times
    within the window, 0 = no more coincidences than chance) and the share of identical
    spikes. The twin (model) and a device must agree exactly; the float Brian2 reference
    differs where the hardware's rounding toward zero matters (see --rounding). Always exits
    with 0 once the report is printed.

    \b
    Examples:
      spikeforge agree examples/synfire.toml
      spikeforge agree examples/synfire.toml --backends brian2,model --steps 100
      spikeforge agree examples/nir_lif.toml -b brian2,model --rounding toward_zero --json
    """
    spec = load_network_file(network)
    report = agreement_report(spec, backends.split(","), steps=steps, window=window,
                              rounding=rounding)
    report["network_file"] = str(network)
    report["rounding"] = rounding
    report["learn"] = False
    if as_json:
        print_json(report)
        return
    click.echo(f"{spec.name or network}: {report['steps']} steps, learning off, inputs from "
               f"the network file; Brian2 decays: {rounding}")
    for pair in report["pairs"]:
        print_table(_pair_rows(pair), title=f"{pair['reference']} vs {pair['other']}")
