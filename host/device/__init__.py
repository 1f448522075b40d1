"""One API for every backend: the twin (``model://``), the simulated board (``sim://``) and
boards over a serial link.

:mod:`.base` holds :class:`Device` and :func:`open_device`; :mod:`.codec` the sans-I/O link
codec; :mod:`.link` the serial link (:class:`~.link.SerialDevice`). The simulated board lives in
:mod:`spikeforge.sim.simboard` and registers its scheme when a ``sim://`` URL is opened.
"""

from .base import (STATE_NAMES, Device, DeviceError, Identity, ModelDevice, RunResult,
                   network_regions, open_device, register_scheme)

__all__ = ["Device", "DeviceError", "Identity", "RunResult", "ModelDevice", "open_device",
           "register_scheme", "network_regions", "STATE_NAMES"]
