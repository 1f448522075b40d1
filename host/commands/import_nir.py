"""``spikeforge import-nir``: turn a NIR graph into a network file, with a quantisation
report."""

from pathlib import Path

import click

from spikeforge.config import ConfigError

from ..formats.netfile import DEFAULT_STEPS, save_network_file
from ..formats.nir_io import import_nir, read_nir
from .common import json_option, print_json


@click.command("import-nir")
@click.argument("nir_file", metavar="FILE.nir", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", "out_path", metavar="NETWORK.toml", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Network file to write (its matrices go to NETWORK.npz).")
@click.option("--neurons", type=click.IntRange(1, 1024), default=None, metavar="N",
              help="Neurons of the core (default: the graph's neuron count).")
@click.option("--inputs", type=click.IntRange(0, 1024), default=None, metavar="M",
              help="Inputs of the core (default: the size of the graph's Input nodes).")
@click.option("--lanes", type=int, default=None, metavar="L",
              help="Synapses per clock cycle (1, 2, 4, 8, 16 or 32).")
@click.option("--weight-bits", type=int, default=None, metavar="B",
              help="Width of a signed weight (2..16).")
@click.option("--dt", type=float, default=None, metavar="SECONDS",
              help="Length of one time step (default: the graph's metadata 'dt').")
@click.option("--v-scale", type=float, default=None, metavar="X",
              help="State units per NIR voltage unit (default: the largest threshold becomes a "
                   "quarter of the membrane range).")
@click.option("--w-shift", type=int, default=None, metavar="S",
              help="Weight shift (default: the smallest that fits the largest weight).")
@click.option("--steps", type=click.IntRange(min=0), default=DEFAULT_STEPS, show_default=True,
              metavar="K", help="[run] steps written to the network file.")
@click.option("--input-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              metavar="P", help="Spike probability per input and step written to the file.")
@json_option
def import_nir_command(nir_file, out_path, neurons, inputs, lanes, weight_bits, dt, v_scale,
                       w_shift, steps, input_rate, as_json):
    """Map a NIR graph onto a core and write it as a network file.

    The graph may hold CubaLIF and LIF populations joined by Affine or Linear edges, with
    Input and Output nodes. Float parameters are quantised to the core's fixed point; the
    largest absolute and relative error of each parameter is printed.

    \b
    Examples:
      spikeforge import-nir examples/nir_lif.nir --out /tmp/nir_lif.toml
      spikeforge import-nir model.nir --out model.toml --neurons 256 --dt 0.001
      spikeforge import-nir model.nir --out model.toml --weight-bits 12 --json
    """
    if out_path.suffix != ".toml":
        raise ConfigError(f"--out {out_path} must be a .toml network file")
    graph = read_nir(nir_file)
    fields = {name: value for name, value in (("lanes", lanes), ("weight_bits", weight_bits))
              if value is not None}
    result = import_nir(graph, neurons=neurons, inputs=inputs, config_fields=fields, dt=dt,
                        v_scale=v_scale, w_shift=w_shift, steps=steps, input_rate=input_rate,
                        name=out_path.stem)
    written = save_network_file(result.spec, out_path)
    if as_json:
        print_json(result.to_dict() | {"files": [str(p) for p in written],
                                       "config": result.spec.config.to_dict()})
        return
    c = result.spec.config
    click.echo(f"wrote {written[0]} and {written[1]}: {c.describe()}")
    for name, (a, b) in result.populations.items():
        click.echo(f"  population {name}: neurons {a}..{b - 1}")
    for name, (a, b) in result.inputs.items():
        click.echo(f"  input {name}: inputs {a}..{b - 1}")
    click.echo(f"  dt={result.dt:g} s, v_scale={result.v_scale:.6g} state units per volt, "
               f"w_shift={result.w_shift}")
    click.echo("quantisation error (max abs / max rel):")
    width = max(len(e.parameter) for e in result.errors)
    for error in result.errors:
        click.echo(f"  {error.parameter:<{width}}  {error.max_abs:.3g} {error.unit} / "
                   f"{100 * error.max_rel:.3g} %")
    if result.edges:
        click.echo("weights per edge:")
        for edge in result.edges:
            click.echo(f"  {edge.describe()}")
    for note in result.notes:
        click.echo(f"note: {note}")
