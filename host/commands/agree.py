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


def _weight_rows(pair):
    weights = pair["weights"]
    ref, other = weights["reference"], weights["other"]
    correlation = weights["correlation"]
    return [
        ("plastic synapses", f"{weights['synapses']}"),
        ("final weights: correlation", "n/a (one side is constant)" if correlation is None
         else f"{correlation:.4f}"),
        ("final weights: Wasserstein distance",
         f"{weights['wasserstein']:.3f} weight units "
         f"({100 * weights['wasserstein_relative']:.2f} % of the range)"),
        (f"final weights: histogram L1 ({weights['bins']} bins, 0..2)",
         f"{weights['histogram_l1']:.4f}"),
        ("final weights: mean |difference|", f"{weights['mean_abs_difference']:.3f}"),
        ("identical weights", f"{100 * weights['identical_fraction']:.1f} %"),
        ("mean weight drift", f"{_number(ref['drift'], 3)} / {_number(other['drift'], 3)}"),
        ("lowest / highest fifth of the range",
         f"{100 * ref['low']:.1f} % / {100 * ref['high']:.1f} %  vs  "
         f"{100 * other['low']:.1f} % / {100 * other['high']:.1f} %"),
    ]


@click.command("agree")
@network_argument
@click.option("--backends", "-b", default="brian2,model,sim", show_default=True,
              metavar="LIST",
              help="Comma-separated backends: brian2 (the float Brian2 reference of the core's "
                   "integers), brian2-physical (a network file in physical units as written, "
                   "in Brian2), device names "
                   "(model, sim) or device URLs.")
@click.option("--steps", "-k", type=click.IntRange(min=0), default=None, metavar="K",
              help="Time steps to run (default: [run] steps of the network file).")
@click.option("--window", "-w", type=click.IntRange(min=0), default=2, show_default=True,
              metavar="W", help="Coincidence window: spikes at most W steps apart coincide.")
@click.option("--rounding", type=click.Choice(["float", "toward_zero"]), default="float",
              show_default=True,
              help="Decays and STDP changes of the Brian2 model: real numbers (float) or "
                   "rounded as in the hardware (then Brian2 must equal the twin exactly; with "
                   "learning, for a core without stochastic rounding).")
@click.option("--learn/--no-learn", default=None,
              help="Learn by STDP during the run on every backend (Brian2: float pair STDP in "
                   "the core's step order) and compare the learned weights too. Default: "
                   "[run] learn of the network file.")
@click.option("--bins", type=click.IntRange(min=1), default=16, show_default=True,
              metavar="B", help="Histogram bins over [w_min, w_max] for the weight comparison.")
@json_option
@device_command
def agree_command(network, backends, steps, window, rounding, learn, bins, as_json):
    """Run NETWORK on every backend and report how well the spike trains agree, for every
    pair of backends (the first of a pair is the reference).

    Per pair: spike counts, mean rates, the per-neuron rate error (spikes per step, and
    relative to the reference), Kistler's coincidence factor (1 = the same spike times
    within the window, 0 = no more coincidences than chance) and the share of identical
    spikes. The twin (model) and a device must agree exactly; the float Brian2 reference
    differs where the hardware's rounding toward zero matters (see --rounding). Always exits
    with 0 once the report is printed.

    With learning on (--learn, or [run] learn = true in the file) the spikes are compared
    while the weights learn, and per pair the final weights of the plastic synapses:
    correlation, Wasserstein distance and L1 distance of the normalised histograms, the
    mean drift of each side and the shares near the bounds.

    \b
    Examples:
      spikeforge agree examples/synfire.toml
      spikeforge agree examples/synfire.toml --backends brian2,model --steps 100
      spikeforge agree examples/nir_lif.toml -b brian2,model --rounding toward_zero --json
      spikeforge agree examples/song2000.toml -b brian2,model --learn
    """
    spec = load_network_file(network)
    learn = spec.learn if learn is None else learn
    report = agreement_report(spec, backends.split(","), steps=steps, window=window,
                              rounding=rounding, learn=learn, bins=bins)
    report["network_file"] = str(network)
    report["rounding"] = rounding
    if as_json:
        print_json(report)
        return
    click.echo(f"{spec.name or network}: {report['steps']} steps, learning "
               f"{'on' if learn else 'off'}, inputs from the network file; Brian2 decays"
               f"{' and STDP changes' if learn else ''}: {rounding}")
    for pair in report["pairs"]:
        rows = _pair_rows(pair) + (_weight_rows(pair) if learn else [])
        print_table(rows, title=f"{pair['reference']} vs {pair['other']}")
    if learn:
        print_table([(f"{name} (spikes/step)", " ".join(f"{rate:.4f}" for rate in rates))
                     for name, rates in report["rate_quarters"].items()],
                    title="rate by quarter")
