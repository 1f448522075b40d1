"""spikeforge: an open FPGA emulator for spiking neural networks, with its host toolchain."""

from .config import CoreConfig, ConfigError

__all__ = ["CoreConfig", "ConfigError", "__version__"]
__version__ = "0.1.0"
