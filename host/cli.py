"""The ``spikeforge`` command line.

``main`` is a plain click group; other modules add their commands with ``main.add_command``.
A :class:`~spikeforge.config.ConfigError` or :class:`~spikeforge.sim.toolchain.ToolchainError`
raised by any command is printed as ``error: <message>`` and the program exits with code 2,
without a traceback (set ``SPIKEFORGE_DEBUG=1`` to see the traceback).
"""

import json
import os

import click

from spikeforge import __version__
from spikeforge.config import ConfigError, CoreConfig
from spikeforge.sim.toolchain import ToolchainError

__all__ = ["main", "USER_ERRORS", "EXIT_USER_ERROR"]

#: Exceptions that mean "the user asked for something impossible or a tool is missing".
USER_ERRORS = (ConfigError, ToolchainError)
#: Exit code for those errors (the same code click uses for bad usage).
EXIT_USER_ERROR = 2


class SpikeforgeGroup(click.Group):
    """A click group that turns :data:`USER_ERRORS` of its commands into a one-line message."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as error:
            if os.environ.get("SPIKEFORGE_DEBUG"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=SpikeforgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="spikeforge")
def main():
    """spikeforge: an FPGA emulator for spiking neural networks.

    \b
    Examples:
      spikeforge --version
      spikeforge config --neurons 256 --lanes 8
      spikeforge config --help
    """


def _derived(config):
    return {
        "rows": config.rows,
        "words_per_row": config.words_per_row,
        "weight_depth": config.weight_depth,
        "acc_bits": config.acc_bits,
        "hash": f"0x{config.hash:08x}",
    }


@main.command("config")
@click.option("--neurons", "-n", type=int, default=CoreConfig.neurons, show_default=True,
              help="N, number of neurons (1..1024).")
@click.option("--inputs", "-m", type=int, default=CoreConfig.inputs, show_default=True,
              help="M, number of external inputs (0..1024).")
@click.option("--lanes", "-l", type=int, default=CoreConfig.lanes, show_default=True,
              help="L, synapses per clock cycle (1, 2, 4, 8, 16 or 32).")
@click.option("--weight-bits", "-w", type=int, default=CoreConfig.weight_bits, show_default=True,
              help="Width of a signed weight (2..16).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the configuration and derived sizes as JSON.")
def config_command(neurons, inputs, lanes, weight_bits, as_json):
    """Print a core configuration and the sizes derived from it.

    Fields not given as options keep their default values. The hash is the value a bitstream
    built for this configuration reports to the host.

    \b
    Examples:
      spikeforge config
      spikeforge config --neurons 256 --inputs 64 --lanes 16
      spikeforge config -n 512 -w 6 --json
    """
    config = CoreConfig(neurons=neurons, inputs=inputs, lanes=lanes, weight_bits=weight_bits)
    derived = _derived(config)
    if as_json:
        click.echo(json.dumps({"config": config.to_dict(), "derived": derived}, indent=2))
        return
    click.echo(config.describe())
    items = list(config.to_dict().items()) + list(derived.items())
    width = max(len(name) for name, _ in items)
    click.echo("configuration:")
    for name, value in config.to_dict().items():
        click.echo(f"  {name:<{width}}  {str(value).lower() if isinstance(value, bool) else value}")
    click.echo("derived:")
    for name, value in derived.items():
        click.echo(f"  {name:<{width}}  {value}")


from .commands import register  # noqa: E402  (the subcommands, one module each)
register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
