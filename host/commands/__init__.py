"""The subcommands of ``spikeforge``: one module per command.

``spikeforge.host.cli`` calls :func:`register` with its click group.
"""

from spikeforge.boards.cli import build_command, flash_command

from .agree import agree_command
from .bench import bench_group
from .compare import compare_command
from .demo import demo_group
from .export_neo import export_neo_command
from .export_nir import export_nir_command
from .import_nir import import_nir_command
from .info import info_command
from .load import load_command
from .plot import plot_command
from .read import read_command
from .run import run_command
from .selftest import selftest_command
from .sweep import sweep_command

__all__ = ["COMMANDS", "register"]

COMMANDS = (info_command, load_command, run_command, read_command, compare_command,
            import_nir_command, export_nir_command, export_neo_command, plot_command,
            bench_group, build_command, flash_command, demo_group, agree_command, sweep_command,
            selftest_command)


def register(group):
    """Add every command of this package to the click ``group``."""
    for command in COMMANDS:
        group.add_command(command)
