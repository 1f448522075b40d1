"""``spikeforge export-nir``: write a network file as a NIR graph."""

from pathlib import Path

import click

from spikeforge.config import ConfigError

from ..formats.netfile import load_network_file
from ..formats.nir_io import DEFAULT_DT, export_nir, write_nir


@click.command("export-nir")
@click.argument("network", metavar="NETWORK", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", "out_path", metavar="FILE.nir", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="NIR file to write.")
@click.option("--dt", type=float, default=DEFAULT_DT, show_default=True, metavar="SECONDS",
              help="Length of one time step, used to turn decay factors into time constants.")
def export_nir_command(network, out_path, dt):
    """Write NETWORK as a NIR graph (CubaLIF population, Affine and Linear edges).

    Parameters NIR has no field for (refractory period, subtractive reset, adaptive
    threshold, STDP) are kept in the graph's metadata, so that import-nir gives back the same
    network.

    \b
    Examples:
      spikeforge export-nir examples/synfire.toml --out /tmp/synfire.nir
      spikeforge export-nir examples/recurrent_stdp.toml --out stdp.nir --dt 0.0005
    """
    if out_path.suffix != ".nir":
        raise ConfigError(f"--out {out_path} must end in .nir")
    spec = load_network_file(network)
    graph, notes = export_nir(spec, dt=dt)
    write_nir(graph, out_path)
    click.echo(f"wrote {out_path}: {len(graph.nodes)} nodes, {spec.config.neurons} neurons, "
               f"{spec.config.inputs} inputs, dt={dt:g} s")
    for note in notes:
        click.echo(f"note: {note}")
