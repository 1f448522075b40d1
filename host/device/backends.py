"""Imports the device backends beyond the twin so that they register their URL schemes with
:func:`spikeforge.host.device.open_device` (a backend whose module is absent is skipped)."""

import importlib

for _module in ("spikeforge.host.device.link", "spikeforge.sim.simboard"):
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as error:
        if error.name != _module:
            raise
