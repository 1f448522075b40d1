"""spikeforge: an open FPGA emulator for spiking neural networks, with its host toolchain.

``import spikeforge as sf`` gives the flat API: networks in physical units (:class:`Population`,
:class:`SpikeSourceArray`, :class:`SpikeSourcePoisson`, :class:`Projection` with its connectors,
:class:`Network`, :class:`Stdp`), :func:`open` to run one on a device URL (``model://``,
``sim://``, a serial port), :func:`quantize` (physical units to the core's integers, with a
report) and the configuration. Heavy modules are imported on first use.
"""

from .config import CoreConfig, ConfigError

__all__ = ["CoreConfig", "ConfigError", "__version__", "quantize", "QuantizationReport",
           "QuantizationError", "Stdp", "Population", "SpikeSourceArray", "SpikeSourcePoisson",
           "Projection", "Network", "AllToAll", "OneToOne", "FixedProbability", "FromList",
           "FromArray", "Uniform", "Normal", "Session", "Results", "plot_weight_change",
           "open_device"]
# ``sf.open`` is left out of __all__: a star import would shadow the built-in open()
__version__ = "0.1.0"

# name -> module that defines it, imported on first access (keeps ``import spikeforge`` light)
_LAZY = {
    "quantize": "spikeforge.host.model.quantize",
    "QuantizationReport": "spikeforge.host.model.quantize",
    "QuantizationError": "spikeforge.host.model.quantize",
    "Stdp": "spikeforge.host.model.quantize",
    **{name: "spikeforge.host.model.network" for name in (
        "Population", "SpikeSourceArray", "SpikeSourcePoisson", "Projection", "Network",
        "AllToAll", "OneToOne", "FixedProbability", "FromList", "FromArray", "Uniform",
        "Normal")},
    "open": "spikeforge.host.runs.session",
    "Session": "spikeforge.host.runs.session",
    "Results": "spikeforge.host.runs.session",
    "plot_weight_change": "spikeforge.host.runs.session",
    "open_device": "spikeforge.host.device",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spikeforge' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
