"""``spikeforge load``: upload a network to a device and verify it by reading it back."""

import click

from ..formats.netfile import load_network_file
from ..runs.results import upload_network
from .common import (EXIT_DIFFERENT, device_command, device_option, json_option,
                     network_argument, opened_device, print_json, progress_reporter)


@click.command("load")
@network_argument
@device_option
@json_option
@device_command
def load_command(network, device_url, as_json):
    """Upload NETWORK to a device and verify it.

    Every region's CRC is checked after the upload, then weights, mask and parameters are read
    back and compared with the file. Exits with 1 if a value reads back differently.

    \b
    Examples:
      spikeforge load examples/synfire.toml --device model://
      spikeforge load examples/recurrent_stdp.toml --device /dev/ttyUSB1
    """
    spec = load_network_file(network)
    with opened_device(device_url, spec.config) as device:
        with progress_reporter("uploading", enabled=not as_json) as progress:
            if progress:
                progress(0, 1)
            difference = upload_network(device, spec.network)
            if progress:
                progress(1, 1)
    c = spec.config
    synapses = int((spec.network.W != 0).sum())
    if as_json:
        print_json({"network": str(network), "device": device_url, "verified": difference is None,
                    "difference": difference, "neurons": c.neurons, "inputs": c.inputs,
                    "synapses": synapses})
    if difference is not None:
        if not as_json:
            click.echo(f"verification failed: {difference}", err=True)
        click.get_current_context().exit(EXIT_DIFFERENT)
    if not as_json:
        click.echo(f"loaded {network} onto {device_url}: {c.neurons} neurons, {c.inputs} "
                   f"inputs, {synapses} non-zero weights; verified")
