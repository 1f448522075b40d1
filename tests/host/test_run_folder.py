"""Run folders written as the run goes: checked before the run, streamed in chunks, finalised
by a rename, kept (marked incomplete) when the run is interrupted."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.cli import main
from spikeforge.host.device import DeviceError, ModelDevice
from spikeforge.host.device import base as device_module
from spikeforge.host.formats.netfile import NetworkSpec, load_network_file, save_network_file
from spikeforge.host.model.params import random_network
from spikeforge.host.runs import results
from spikeforge.host.runs.results import load_run, run_spec, run_to_folder

CONFIG = CoreConfig(neurons=10, inputs=4, lanes=2)


def make_spec(steps=300):
    network = random_network(CONFIG, np.random.default_rng(5), regime="active")
    return NetworkSpec(network, steps=steps, learn=True, probes=(1, 7), input_rate=0.2,
                       input_seed=9, input_spikes=np.array([[3, 0], [150, 2], [299, 3]]),
                       name="stream")


@pytest.fixture
def network_file(tmp_path):
    path, _ = save_network_file(make_spec(), tmp_path / "stream.toml")
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


class FailingDevice(ModelDevice):
    """Fails in its third chunk of steps, with a link fault or a Ctrl-C."""

    backend = "failing"
    error = DeviceError("the link to failing:// failed while receiving")

    def __init__(self, config):
        super().__init__(config)
        self.calls = 0

    def _run(self, steps, inputs, learn, probes):
        self.calls += 1
        if self.calls == 3:
            raise self.error
        return super()._run(steps, inputs, learn, probes)


class InterruptedDevice(FailingDevice):
    error = KeyboardInterrupt()


@pytest.fixture
def opened(monkeypatch):
    """Extra schemes, and the list of URLs opened so far."""
    urls = []
    schemes = dict(device_module._SCHEMES)

    def opener(cls):
        def open_(url, config, **options):
            urls.append(url)
            return cls(config)
        return open_

    schemes.update({"failing": opener(FailingDevice), "interrupted": opener(InterruptedDevice),
                    "counted": opener(ModelDevice)})
    monkeypatch.setattr(device_module, "_SCHEMES", schemes)
    return urls


def test_streamed_folder_equals_the_in_memory_run(tmp_path, monkeypatch):
    spec = make_spec()
    monkeypatch.setattr(results, "CHUNK_VALUES", 7 * (10 + 4 + 32 + 8))   # 7-step chunks
    with ModelDevice(CONFIG) as device:
        summary, files = run_to_folder(device, spec, tmp_path / "run")
        expected = run_spec(device, spec)
    data = load_run(tmp_path / "run")
    np.testing.assert_array_equal(data["spikes"], expected.spikes)
    np.testing.assert_array_equal(data["inputs"], expected.inputs)
    np.testing.assert_array_equal(data["inputs"], spec.input_raster(300))
    np.testing.assert_array_equal(data["v"], expected.probes["v"])
    np.testing.assert_array_equal(data["i"], expected.probes["i"])
    np.testing.assert_array_equal(data["W_after"], expected.W_after)
    assert summary["complete"] is True and summary["steps"] == 300
    assert summary["spikes"] == int(expected.spikes.sum()) > 0
    assert data["summary"] == summary
    assert sorted(path.name for path in files) == sorted(results.RUN_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]       # nothing left beside


def test_unwritable_out_is_refused_before_the_device_is_opened(network_file, tmp_path, opened):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for out, words in ((blocker / "run", "cannot write the results to"),
                       (blocker, "is a file")):
        result = invoke("run", network_file, "--device", "counted://", "--out", out)
        assert result.exit_code == 2
        assert "rror: " in result.stderr and words in result.stderr
        assert "Traceback" not in result.stderr
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff")
    result = invoke("run", network_file, "--device", "counted://", "--out", foreign)
    assert result.exit_code == 2 and "holds files that are not a spikeforge run" in result.stderr
    assert (foreign / "cat.jpg").exists()
    assert opened == []


def test_a_new_run_replaces_the_old_folder_as_a_whole(network_file, tmp_path):
    out = tmp_path / "run"
    assert invoke("run", network_file, "-d", "model://", "-o", out, "--no-plots").exit_code == 0
    (out / "stale.txt").write_text("from the first run")
    result = invoke("run", network_file, "-d", "model://", "-o", out, "--steps", 20,
                    "--no-plots")
    assert result.exit_code == 0, result.output
    assert not (out / "stale.txt").exists()
    assert load_run(out)["spikes"].shape == (20, 10)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("scheme, code, reason", [
    ("failing", 3, "device failure: the link to failing:// failed"),
    ("interrupted", 130, "interrupted (Ctrl-C)"),
])
def test_an_interrupted_run_keeps_what_was_received(network_file, tmp_path, opened,
                                                    monkeypatch, scheme, code, reason):
    monkeypatch.setattr(results, "CHUNK_VALUES", 50 * (10 + 4 + 32 + 8))  # 50-step chunks
    out = tmp_path / "run"
    result = invoke("run", network_file, "-d", f"{scheme}://", "-o", out, "--no-plots")
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.stderr
    assert f"saved in {out} (marked incomplete)" in result.stderr
    assert "stopped after 100 of 300 steps" in result.stderr
    data = load_run(out)
    assert data["summary"]["complete"] is False
    assert data["summary"]["incomplete_reason"].startswith(reason)
    assert data["summary"]["steps"] == 100 and data["summary"]["steps_planned"] == 300
    assert data["spikes"].shape == (100, 10) and data["v"].shape == (100, 2)
    with ModelDevice(CONFIG) as device:
        expected = run_spec(device, load_network_file(network_file), steps=100)
    np.testing.assert_array_equal(data["spikes"], expected.spikes)


def test_steps_beyond_the_protocol_limit_are_refused(tmp_path):
    spec = make_spec()
    with ModelDevice(CONFIG) as device:
        with pytest.raises(ConfigError, match="0 to 4294967295"):
            run_to_folder(device, spec, tmp_path / "run", steps=2**32)
    path = tmp_path / "big.toml"
    path.write_text("[config]\nneurons = 2\ninputs = 1\n[run]\nsteps = 4294967296\n")
    result = invoke("run", path, "-d", "model://", "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert "[run] steps=4294967296 is out of range 0..4294967295" in result.stderr


_MEASURE = """
import resource, sys
import numpy as np
from spikeforge.config import CoreConfig
from spikeforge.host.device import ModelDevice
from spikeforge.host.formats.netfile import NetworkSpec
from spikeforge.host.model.params import random_network
from spikeforge.host.runs.results import run_to_folder
config = CoreConfig(neurons=10, inputs=4, lanes=2)
network = random_network(config, np.random.default_rng(5), regime="active")
spec = NetworkSpec(network, steps=int(sys.argv[1]), probes=(1, 7), input_rate=0.2)
with ModelDevice(config) as device:
    run_to_folder(device, spec, sys.argv[2], steps=1000)       # warm up (compilation)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary, _ = run_to_folder(device, spec, sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(summary["steps"], (after - before) * 1024)
"""


def test_memory_does_not_grow_with_the_number_of_steps(tmp_path):
    """2*10^6 steps with 2 probes hold 108 MB of spikes, inputs and probes in memory; streamed,
    the peak memory of the run stays within 40 MB of that of a 10^5-step run."""
    growth = {}
    for steps in (100_000, 2_000_000):
        out = subprocess.run([sys.executable, "-c", _MEASURE, str(steps), str(tmp_path / "r")],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        done, grown = (int(word) for word in out.stdout.split())
        assert done == steps
        growth[steps] = grown
    in_memory = 2_000_000 * (10 + 4 + 2 * 2 * 8)
    assert growth[2_000_000] - growth[100_000] < 40e6 < in_memory, growth
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["steps"] == 2_000_000 and summary["complete"] is True
