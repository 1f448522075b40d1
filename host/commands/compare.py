"""``spikeforge compare``: run one network on several backends and report the first
difference."""

import click

from spikeforge.config import ConfigError

from ..formats.netfile import load_network_file
from ..runs.results import compare_backends
from .common import (EXIT_DIFFERENT, backend_url, device_command, json_option, learn_option,
                     network_argument, opened_device, print_json, progress_reporter,
                     steps_option)


@click.command("compare")
@network_argument
@click.option("--backends", "-b", default="model,sim", show_default=True, metavar="LIST",
              help="Comma-separated backends: names (model, sim) or device URLs.")
@steps_option
@learn_option
@json_option
@device_command
def compare_command(network, backends, steps, learn, as_json):
    """Run NETWORK on every backend and compare spikes, v, i, final state and weights.

    Every neuron is probed, so the first difference is found at the step it happens. Exits
    with 0 if all backends agree bit for bit, with 1 and the first difference (step, neuron,
    variable) otherwise.

    \b
    Examples:
      spikeforge compare examples/synfire.toml --backends model,sim --steps 200
      spikeforge compare examples/recurrent_stdp.toml -b model,/dev/ttyUSB1 --learn --json
    """
    urls = [backend_url(name) for name in backends.split(",")]
    if len(urls) < 2:
        raise ConfigError(f"--backends {backends!r} names {len(urls)} backend; give at least "
                          f"two, e.g. --backends model,sim")
    spec = load_network_file(network)
    devices = []
    try:
        for url in urls:
            context = opened_device(url, spec.config)
            devices.append((url, context.__enter__(), context))
        with progress_reporter("comparing", enabled=not as_json) as progress:
            difference, records = compare_backends(
                spec, [(url, device) for url, device, _ in devices], steps=steps, learn=learn,
                progress=progress)
    finally:
        for _, _, context in reversed(devices):
            context.__exit__(None, None, None)
    steps_run = records[0].steps
    if as_json:
        print_json({"network": str(network), "backends": urls, "steps": steps_run,
                    "identical": difference is None,
                    "difference": difference.to_dict() if difference else None,
                    "spikes": {r.device: int(r.spikes.sum()) for r in records}})
    elif difference is None:
        click.echo(f"identical: {', '.join(urls)} agree on {steps_run} steps "
                   f"({int(records[0].spikes.sum())} spikes, v, i, final state and weights)")
    else:
        click.echo(f"different: {difference.describe()}")
    if difference is not None:
        click.get_current_context().exit(EXIT_DIFFERENT)
