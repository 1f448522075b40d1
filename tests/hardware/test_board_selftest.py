"""A real board: ``spikeforge selftest`` against the twin.

Runs only with ``--hardware`` (or ``SPIKEFORGE_HARDWARE=1``) and a board named by the
environment: ``SPIKEFORGE_DEVICE`` is its URL (``/dev/ttyUSB1``, ``serial:///dev/ttyUSB1?baud=N``,
``socket://host:port``), ``SPIKEFORGE_BOARD`` the board whose default bitstream it runs
(``icebreaker``, ``ulx3s``, ``ecpix5``, ...; the default core configuration when unset).
"""

import json
import os

import pytest
from click.testing import CliRunner

from spikeforge.host.cli import main

pytestmark = pytest.mark.hardware


def test_the_board_computes_what_the_twin_computes():
    url = os.environ.get("SPIKEFORGE_DEVICE")
    if not url:
        pytest.skip("set SPIKEFORGE_DEVICE to the board's URL (e.g. /dev/ttyUSB1) and "
                    "SPIKEFORGE_BOARD to its board name")
    args = ["selftest", "--device", url, "--json"]
    if os.environ.get("SPIKEFORGE_BOARD"):
        args += ["--board", os.environ["SPIKEFORGE_BOARD"]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"], report["verdict"]
    assert report["figures"]["mismatches"] == 0
    assert report["figures"]["late_steps"] == 0
