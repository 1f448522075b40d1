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



def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def test_cli_run_with_the_simulator_killed_exits_3_and_keeps_the_partial_run(tmp_path):
    network = tmp_path / "net.toml"
    network.write_text('format = 1\nname = "faulty"\n[config]\nneurons = 20\ninputs = 8\n'
                       'lanes = 4\n[run]\nsteps = 2000000\n')
    out = tmp_path / "out"
    command = [sys.executable, "-m", "spikeforge.host.cli", "run", str(network), "--device",
               "sim://", "--out", str(out), "--no-plots"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and process.poll() is None:
        simulators = _children(process.pid)
        if simulators:
            time.sleep(3.0)                     # let the run start
            for pid in simulators:
                os.kill(pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.1)
    stdout, stderr = process.communicate(timeout=120)
    assert killed, stderr
    assert process.returncode == 3, stderr
    assert "Traceback" not in stderr
    assert "sim://" in stderr and "socket://" not in stderr
    assert str(out) in stderr                   # the command says where the partial run is
    from spikeforge.host.runs.results import load_run
    run = load_run(out)
    assert run["summary"]["complete"] is False
    assert "sim://" in run["summary"]["incomplete_reason"]
    assert 0 < run["spikes"].shape[0] < 2_000_000


def test_a_complete_sim_run_records_the_board_counters(tmp_path):
    from spikeforge.host.formats.netfile import NetworkSpec
    from spikeforge.host.model.params import random_network
    from spikeforge.host.runs.results import run_to_folder

    import numpy as np
    network = random_network(CONFIG, np.random.default_rng(1), regime="active")
    spec = NetworkSpec(network, steps=40, input_rate=0.2, probes=(0,))
    with open_device("sim://", CONFIG) as device:
        summary, _ = run_to_folder(device, spec, tmp_path / "run")
    assert summary["complete"] is True and summary["device"] == "sim://"
    assert summary["status"]["steps_done"] == 40
    assert summary["status"]["crc_errors"] == 0 and summary["status"]["running"] is False
    from spikeforge.host.runs.results import load_run
    data = load_run(tmp_path / "run")
    assert data["cycles"].shape == (40,) and (data["cycles"] > 0).all()
    assert summary["cycles"] == int(data["cycles"].sum())
    # span: 0 at the first step of the device's run, then more than the core's cycles of the
    # step before (the engine's work lies between the two starts)
    span = data["span"]
    assert span.shape == (40,) and span[0] == 0
    assert (span[1:] > data["cycles"][:-1]).all()
    assert summary["span_per_step"] == span[1:].mean()
