"""``spikeforge read``: read weights, parameters and state from a device into a file."""

from pathlib import Path

import click
import numpy as np

from spikeforge.config import ConfigError, CoreConfig

from ..formats.netfile import NetworkSpec, load_network_file, save_network_file
from ..model.params import GLOBAL_FIELDS, NEURON_FIELDS
from .common import (config_network_option, device_command, device_option, json_option,
                     opened_device, print_json)


@click.command("read")
@device_option
@config_network_option
@click.option("--out", "-o", "out_path", metavar="FILE", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.npz: weights, mask, parameters and state as arrays; FILE.toml: a "
                   "network file (with its .npz) holding the device's network.")
@json_option
@device_command
def read_command(device_url, network_path, out_path, as_json):
    """Read weights, parameters and state from a device.

    \b
    Examples:
      spikeforge read --device /dev/ttyUSB1 --network examples/synfire.toml --out board.npz
      spikeforge read --device model:// --out weights.npz
      spikeforge read --device sim:// --out learned.toml
    """
    if out_path.suffix not in (".npz", ".toml"):
        raise ConfigError(f"--out {out_path} must end in .npz (arrays) or .toml (a network "
                          f"file)")
    config = load_network_file(network_path).config if network_path else CoreConfig()
    with opened_device(device_url, config) as device:
        network = device.read_network()
        state = device.read_state()
    if out_path.suffix == ".toml":
        written = list(save_network_file(NetworkSpec(network, name=out_path.stem), out_path))
    else:
        arrays = {"W": network.W, "mask": network.mask}
        arrays |= {name: getattr(network.neuron_params, name) for name in NEURON_FIELDS}
        arrays |= {name: np.int64(getattr(network.global_params, name))
                   for name in GLOBAL_FIELDS}
        arrays |= {f"state_{name}": value for name, value in state.items()}
        out_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out_path, **arrays)
        written = [out_path]
    if as_json:
        print_json({"device": device_url, "files": [str(p) for p in written],
                    "nonzero_weights": int(np.count_nonzero(network.W))})
        return
    click.echo(f"read {config.describe()} from {device_url} into "
               f"{', '.join(str(p) for p in written)}")
