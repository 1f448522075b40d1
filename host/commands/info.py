"""``spikeforge info``: identify a device and print its core configuration."""

import click

from spikeforge.config import CoreConfig

from ..formats.netfile import load_network_file
from .common import (config_network_option, device_command, device_option, json_option,
                     opened_device, print_json, print_table)


@click.command("info")
@device_option
@config_network_option
@json_option
@device_command
def info_command(device_url, network_path, as_json):
    """Identify a device and print its core configuration.

    \b
    Examples:
      spikeforge info --device model://
      spikeforge info --device sim:// --network examples/synfire.toml
      spikeforge info --device /dev/ttyUSB1 --json
    """
    config = load_network_file(network_path).config if network_path else CoreConfig()
    with opened_device(device_url, config) as device:
        identity = device.identify()
        status = device.status()
    data = identity.to_dict()
    data["url"] = device_url
    data["status"] = status
    if as_json:
        print_json(data)
        return
    rows = [("device", device_url), ("backend", identity.backend),
            ("board", identity.board or "-"), ("protocol", identity.protocol),
            ("clock", f"{identity.clk_hz / 1e6:g} MHz" if identity.clk_hz else "-"),
            ("build id", identity.build_id or "-"),
            ("config hash", data["config_hash"]), ("core", identity.config.describe())]
    print_table(rows, title="device")
    print_table(list(identity.config.to_dict().items()), title="configuration")
    if status:
        print_table(list(status.items()), title="status")
