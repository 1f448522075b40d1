"""Link faults on the simulated board: a device that dies or freezes mid-run is a LinkError
that names ``sim://`` (exit code 3 in the CLI), reported within seconds."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from spikeforge.config import CoreConfig
from spikeforge.host.device import DeviceError, open_device
from spikeforge.host.device.link import HEARTBEAT, LinkError

pytestmark = [pytest.mark.sim, pytest.mark.slow]

CONFIG = CoreConfig(neurons=20, inputs=8, lanes=4)


def _signal_later(pid, signum, delay):
    timer = threading.Timer(delay, os.kill, (pid, signum))
    timer.start()
    return timer


def test_simulator_killed_mid_run_is_a_link_error_naming_sim():
    with open_device("sim://", CONFIG) as device:
        _signal_later(device.process.pid, signal.SIGKILL, 1.0)
        started = time.monotonic()
        with pytest.raises(LinkError) as caught:
            device.run(steps=10**6)
        elapsed = time.monotonic() - started
    message = str(caught.value)
    assert isinstance(caught.value, DeviceError)
    assert "sim://" in message and "socket://" not in message
    assert "killed by signal 9" in message
    assert elapsed < 10


def test_frozen_simulator_is_reported_within_seconds():
    with open_device("sim://", CONFIG) as device:
        pid = device.process.pid
        _signal_later(pid, signal.SIGSTOP, 1.0)
        started = time.monotonic()
        try:
            with pytest.raises(LinkError) as caught:
                device.run(steps=10**6)
            elapsed = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
    message = str(caught.value)
    assert "sim://" in message and "stopped answering" in message
    # one heartbeat without output, one unanswered STATUS, and the second before the freeze
    assert elapsed < 1.0 + 3 * HEARTBEAT + 2, elapsed

