"""Shared pytest setup: the --hardware and --all-boards switches.

Tests marked ``hardware`` need a board attached; they run only with ``--hardware`` or
``SPIKEFORGE_HARDWARE=1``. Every suite run builds the bitstreams of the iCEBreaker, the ULX3S
and the Tang Nano 9K; tests marked ``all_boards`` build the other boards' default bitstreams
(the ECPIX-5, the iCESugar: long builds, or a device another board already covers) and run only
with ``--all-boards`` or ``SPIKEFORGE_ALL_BOARDS=1``. The other markers are declared in
pyproject.toml.
"""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--hardware", action="store_true", default=False,
                     help="run tests marked 'hardware' (needs a board attached); "
                          "same as SPIKEFORGE_HARDWARE=1")
    parser.addoption("--all-boards", action="store_true", default=False,
                     help="also build the bitstreams of tests marked 'all_boards' (the ECPIX-5 "
                          "and the iCESugar: 5-25 minutes each); same as "
                          "SPIKEFORGE_ALL_BOARDS=1")


def hardware_enabled(config):
    return bool(config.getoption("--hardware")) or os.environ.get("SPIKEFORGE_HARDWARE") == "1"


def all_boards_enabled(config):
    return bool(config.getoption("--all-boards")) or os.environ.get("SPIKEFORGE_ALL_BOARDS") == "1"


def pytest_collection_modifyitems(config, items):
    switches = [("hardware", hardware_enabled(config),
                 "needs a board: pass --hardware or set SPIKEFORGE_HARDWARE=1"),
                ("all_boards", all_boards_enabled(config),
                 "a long bitstream build: pass --all-boards or set SPIKEFORGE_ALL_BOARDS=1")]
    for marker, enabled, reason in switches:
        if enabled:
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


pytest_plugins = ["pytester"]
