"""What the commands share: options defined once, device opening, exit codes, output helpers.

Exit codes of every command: 0 success, 1 a comparison or verification found a difference,
2 a user error (bad file, option or device URL), 3 a device or link failure, 130 interrupted
(Ctrl-C) after saving what was received. docs/cli.md describes them and the fault behaviour.
"""

import contextlib
import functools
import json
import os
import sys
from pathlib import Path

import click

from spikeforge.config import ConfigError

from ..device import DeviceError, open_device
from ..device.base import MAX_RUN_STEPS

__all__ = ["DEFAULT_DEVICE", "EXIT_OK", "EXIT_DIFFERENT", "EXIT_USER_ERROR", "EXIT_DEVICE", "EXIT_INTERRUPTED",
           "device_option", "json_option", "steps_option", "learn_option", "network_argument",
           "config_network_option", "opened_device", "device_command", "progress_reporter",
           "print_table", "print_json", "backend_url"]

#: The device used when ``--device`` is not given: the simulated board.
DEFAULT_DEVICE = "sim://"

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_USER_ERROR = 2
EXIT_DEVICE = 3
EXIT_INTERRUPTED = 130

DEVICE_HELP = ("Device URL: model:// (the bit-exact twin), sim:// (the simulated board), a "
               "serial port such as /dev/ttyUSB1, or socket://HOST:PORT.")

device_option = click.option("--device", "-d", "device_url", metavar="URL",
                             default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout (no progress bars).")
steps_option = click.option("--steps", "-k", type=click.IntRange(0, MAX_RUN_STEPS), default=None,
                            metavar="K",
                            help="Time steps to run (default: [run] steps of the network file).")
learn_option = click.option("--learn/--no-learn", default=None,
                            help="Switch STDP learning on or off (default: [run] learn of the "
                                 "network file).")
network_argument = click.argument("network", metavar="NETWORK",
                                  type=click.Path(dir_okay=False, path_type=Path))
config_network_option = click.option(
    "--network", "-n", "network_path", metavar="NETWORK",
    type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Open the device with this network file's core configuration (default: the default "
         "configuration, see `spikeforge config`).")


def backend_url(name):
    """``model`` -> ``model://``; a name holding ``://`` or a path is used as it is."""
    name = name.strip()
    if not name:
        raise ConfigError("an empty backend name was given: list backends as model,sim or "
                          "full URLs such as model://,socket://localhost:5000")
    if "://" in name or "/" in name or name.upper().startswith("COM"):
        return name
    return f"{name}://"


@contextlib.contextmanager
def opened_device(url, config):
    """Open ``url`` for a core of ``config`` and close it afterwards. A device that cannot be
    opened (unknown scheme, missing port, another configuration) is a user error, reported with
    exit code 2; one that opens but never answers is a device failure (exit code 3)."""
    from ..device.link import DeviceSilent

    try:
        device = open_device(url, config)
    except DeviceSilent:
        raise
    except DeviceError as error:
        raise ConfigError(f"cannot open device {url!r}: {error}") from None
    try:
        yield device
    finally:
        device.close()


def device_command(function):
    """Turn a :class:`DeviceError` raised while talking to an open device into
    ``error: ...`` and exit code 3 (``SPIKEFORGE_DEBUG=1`` shows the traceback)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (DeviceError, TimeoutError) as error:
            if os.environ.get("SPIKEFORGE_DEBUG"):
                raise
            click.echo(f"error: device failure: {error}", err=True)
            click.get_current_context().exit(EXIT_DEVICE)
    return wrapper


@contextlib.contextmanager
def progress_reporter(description, enabled=True):
    """A rich progress bar on stderr, yielded as a ``progress(done, total)`` callback; None when
    disabled or when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done, total):
            bar.update(task, completed=done, total=total)

        yield update


def print_table(rows, title=None):
    """Two-column table of ``(name, value)`` rows on stdout."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        if isinstance(value, bool):
            value = str(value).lower()
        # text, not rich markup: a path or a message may hold [brackets]
        table.add_row(escape(str(name)), escape(str(value)))
    Console(file=sys.stdout, highlight=False, width=100).print(table)


def print_json(data):
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value):
    import numpy as np
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
