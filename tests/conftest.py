"""Shared pytest setup: the --hardware switch.

Tests marked ``hardware`` need a board attached; they run only with ``--hardware`` or
``SPIKEFORGE_HARDWARE=1``. The other markers are declared in pyproject.toml.
"""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--hardware", action="store_true", default=False,
                     help="run tests marked 'hardware' (needs a board attached); "
                          "same as SPIKEFORGE_HARDWARE=1")


def hardware_enabled(config):
    return bool(config.getoption("--hardware")) or os.environ.get("SPIKEFORGE_HARDWARE") == "1"


def pytest_collection_modifyitems(config, items):
    if hardware_enabled(config):
        return
    skip = pytest.mark.skip(reason="needs a board: pass --hardware or set SPIKEFORGE_HARDWARE=1")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


pytest_plugins = ["pytester"]
