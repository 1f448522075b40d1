"""``spikeforge selftest`` on the simulated board: it passes at every board's default
configuration (the same builds as tests/sim/test_sizes.py), and a board that corrupts a weight
or loses a byte on the link fails it with a message naming what failed."""

import numpy as np
import pytest

from spikeforge.boards.registry import get_board
from spikeforge.config import CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.device.selftest import selftest
from spikeforge.rtl.regions import Region

pytestmark = pytest.mark.sim

#: The configuration of tests/sim/test_simboard.py: its simulated board is built once for both.
SMALL = CoreConfig(neurons=20, inputs=8, lanes=4)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s", "ecpix5", "tang_nano_9k"])
def test_selftest_passes_at_every_boards_default_configuration(board):
    config = get_board(board).default_config()
    with open_device("sim://", config) as device:
        report = selftest(device, url="sim://", networks=1, steps=4, paced_steps=2, seed=1)
    assert report.passed, report.verdict
    names = [check.name for check in report.checks]
    assert names == ["identity", "link", "regions", "networks", "paced", "link errors"]
    figures = report.figures
    assert figures["mismatches"] == 0 and figures["late_steps"] == 0
    assert figures["link_errors"] == 0
    assert figures["steps_per_s"] > 0 and figures["link_bytes_per_s"] > 0
    # every word of every region went over the link (written and read back)
    assert figures["region_bytes"] >= 2 * config.weight_depth * config.lanes


def test_the_icesugar_runs_the_icebreakers_configuration():
    """The iCESugar has no self-test build of its own: its default configuration is the
    iCEBreaker's (the same iCE40 UP5K), which the test above checks."""
    assert get_board("icesugar").default_config() == get_board("icebreaker").default_config()


class FlipsAWeight:
    """A board whose first weight word has its lowest bit flipped after every upload (through
    the host port, behind the check of the upload)."""

    def __init__(self, device):
        self.device = device

    def __getattr__(self, name):
        return getattr(self.device, name)

    def load_network(self, network, **options):
        self.device.load_network(network, **options)
        word = self.device.read_region(Region.WEIGHT, 0, 1)[0]
        self.device.write_region(Region.WEIGHT, [word ^ 1], 0)


def test_a_flipped_weight_fails_the_networks_check():
    with open_device("sim://", SMALL) as device:
        report = selftest(FlipsAWeight(device), url="sim://", networks=2, steps=8,
                          paced_steps=4)
    assert not report.passed
    failed = {check.name: check.message for check in report.failures}
    assert set(failed) == {"networks", "paced"}
    assert "final weights differ" in failed["networks"]
    assert report.figures["mismatches"] >= 2
    assert report.verdict.startswith("FAIL: networks: the device and the twin disagree")


class DropsAByte:
    """A serial port that loses one byte of what the host writes (byte number ``at``)."""

    def __init__(self, port, at):
        self.port = port
        self.at = at
        self.written = 0

    def __getattr__(self, name):
        return getattr(self.port, name)

    def write(self, data):
        data = bytes(data)
        start = self.written
        self.written += len(data)
        if start <= self.at < self.written:
            k = self.at - start
            data = data[:k] + data[k + 1:]
        return self.port.write(data)


def test_a_dropped_uart_byte_fails_the_link_checks():
    with open_device("sim://", SMALL) as device:
        device.timeout = 0.5                 # the lost request is retried after this
        device.port = DropsAByte(device.port, at=100)
        report = selftest(device, url="sim://", networks=1, steps=4, paced_steps=2)
    assert not report.passed
    failed = {check.name: check.message for check in report.failures}
    # the retried requests make every result right; the counters tell of the lost byte
    assert set(failed) == {"link", "link errors"}, failed
    assert "crc errors" in failed["link"] or "frame errors" in failed["link"]
    assert "check the cable and the baud rate" in failed["link errors"]
    assert report.figures["link_errors"] >= 1
