"""``spikeforge selftest``: prove that a device computes exactly what the twin computes."""

import click

from spikeforge.config import ConfigError, CoreConfig

from ..device.selftest import selftest
from ..formats.netfile import load_network_file
from .common import (EXIT_DIFFERENT, config_network_option, device_command, device_option,
                     json_option, opened_device, print_json, print_table)


def selftest_config(board_name, network_path):
    """The core configuration to expect: a board's default, a network file's, or the default."""
    if board_name and network_path:
        raise ConfigError("give --board or --network, not both: the board's default "
                          "configuration and the network file's may differ")
    if board_name:
        from spikeforge.boards.registry import get_board

        return get_board(board_name).default_config()
    if network_path:
        return load_network_file(network_path).config
    return CoreConfig()


@click.command("selftest")
@device_option
@click.option("--board", "-b", "board_name", metavar="BOARD", default=None,
              help="Expect the default configuration of this board's bitstream (as `spikeforge "
                   "build --board BOARD` builds it).")
@config_network_option
@click.option("--networks", type=click.IntRange(min=1), default=3, show_default=True,
              help="Random networks compared with the twin.")
@click.option("--steps", "-k", type=click.IntRange(min=1), default=32, show_default=True,
              help="Steps of each random network.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random networks and region words.")
@json_option
@device_command
def selftest_command(device_url, board_name, network_path, networks, steps, seed, as_json):
    """Check a device against the twin: identity, link, every region, random networks with
    learning, a paced run. Exit code 0 when every check passes, 1 when one fails.

    \b
    Examples:
      spikeforge selftest --device sim://
      spikeforge selftest --device /dev/ttyUSB1 --board icebreaker
      spikeforge selftest --device sim:// --board ulx3s --json
    """
    config = selftest_config(board_name, network_path)

    def progress(name):
        if not as_json:
            click.echo(f"checking {name} ...", err=True)

    with opened_device(device_url, config) as device:
        report = selftest(device, url=device_url, networks=networks, steps=steps,
                          paced_steps=max(1, steps // 2), seed=seed, progress=progress)
    if as_json:
        print_json(report.to_dict())
    else:
        rows = [(check.name, ("pass: " if check.passed else "FAIL: ") + check.message)
                for check in report.checks]
        print_table(rows, title=f"self-test of {device_url}")
        figures = report.figures
        shown = [("steps/s", figures.get("steps_per_s")),
                 ("link bytes/s", figures.get("link_bytes_per_s")),
                 ("link requests/s", figures.get("link_requests_per_s")),
                 ("mismatches", figures.get("mismatches")),
                 ("late steps", figures.get("late_steps")),
                 ("seconds", f"{report.seconds:.1f}")]
        print_table([(name, value) for name, value in shown if value is not None],
                    title="figures")
        click.echo(report.verdict)
    if not report.passed:
        if as_json:
            click.echo(report.verdict, err=True)
        click.get_current_context().exit(EXIT_DIFFERENT)
