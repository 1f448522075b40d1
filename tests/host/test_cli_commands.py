"""The device commands on model://: info, load, run, read, plot and compare, with every exit
code (0 ok, 1 difference, 2 user error, 3 device failure)."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import CoreConfig
from spikeforge.host.device import base as device_module
from spikeforge.host.cli import main
from spikeforge.host.commands.common import DEFAULT_DEVICE
from spikeforge.host.device import DeviceError, ModelDevice
from spikeforge.host.formats.netfile import NetworkSpec, load_network_file, save_network_file
from spikeforge.host.model.params import random_network

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.toml"))


@pytest.fixture
def network_file(tmp_path):
    config = CoreConfig(neurons=10, inputs=4, lanes=2)
    network = random_network(config, np.random.default_rng(11), regime="active")
    spec = NetworkSpec(network, steps=30, learn=True, probes=(0, 3), input_rate=0.3,
                       input_seed=4, name="small")
    path, _ = save_network_file(spec, tmp_path / "small.toml")
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


class FlippingDevice(ModelDevice):
    """A backend that flips neuron 2's spike in step 7: a stand-in for a broken board."""

    backend = "flip"

    def _run(self, steps, inputs, learn, probes):
        result = super()._run(steps, inputs, learn, probes)
        if steps > 7:
            result.spikes[7, 2] = ~result.spikes[7, 2]
        return result


class DeadDevice(ModelDevice):
    """A backend whose link dies on the first run."""

    backend = "dead"

    def _run(self, steps, inputs, learn, probes):
        raise DeviceError("no answer from the board within 1.0 s")


class CorruptingDevice(ModelDevice):
    """A backend that reads weight W[1, 0] back one higher than written."""

    backend = "corrupt"

    def read_network(self):
        network = super().read_network()
        network.W[1, 0] += 1
        return network


@pytest.fixture
def extra_schemes(monkeypatch):
    schemes = dict(device_module._SCHEMES)
    schemes.update({"flip": lambda url, config, **o: FlippingDevice(config),
                    "dead": lambda url, config, **o: DeadDevice(config),
                    "corrupt": lambda url, config, **o: CorruptingDevice(config)})
    monkeypatch.setattr(device_module, "_SCHEMES", schemes)


def test_default_device_is_the_simulated_board():
    assert DEFAULT_DEVICE == "sim://"


# -- info --------------------------------------------------------------------------------------

def test_info_text():
    result = invoke("info", "--device", "model://")
    assert result.exit_code == 0, result.output
    assert "backend" in result.output and "model" in result.output
    assert f"0x{CoreConfig().hash:08x}" in result.output
    assert "neurons" in result.output


def test_info_json_with_network_config(network_file):
    result = invoke("info", "--device", "model://", "--network", network_file, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["backend"] == "model" and data["url"] == "model://"
    assert data["config"]["neurons"] == 10
    assert data["config_hash"] == f"0x{CoreConfig(neurons=10, inputs=4, lanes=2).hash:08x}"


def test_unknown_device_scheme_is_a_user_error():
    result = invoke("info", "--device", "nope://x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot open device 'nope://x': unknown device URL "
                                    "scheme in 'nope://x': use one of ")
    assert "model://" in result.stderr
    assert "Traceback" not in result.output


# -- load --------------------------------------------------------------------------------------

def test_load_verifies(network_file):
    result = invoke("load", network_file, "--device", "model://")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"loaded {network_file} onto model://: 10 neurons, 4 inputs")
    assert result.output.endswith("; verified\n")


def test_load_reports_a_read_back_difference(network_file, extra_schemes):
    result = invoke("load", network_file, "--device", "corrupt://")
    assert result.exit_code == 1
    W = load_network_file(network_file).network.W
    assert result.stderr == (f"verification failed: W[1, 0] reads back as {W[1, 0] + 1}, "
                             f"written {W[1, 0]}\n")


def test_load_json(network_file):
    result = invoke("load", network_file, "--device", "model://", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["verified"] is True


# -- run -----------------------------------------------------------------------------------------

def test_run_writes_results_and_pictures(network_file, tmp_path):
    out = tmp_path / "run"
    result = invoke("run", network_file, "--device", "model://", "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("spikes.npz", "probes.npz", "weights.npz", "state.npz", "summary.json",
                 "raster.png", "traces.png", "weights.png"):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    with np.load(out / "spikes.npz") as spikes, np.load(out / "probes.npz") as probes:
        assert spikes["spikes"].shape == (30, 10)
        assert spikes["inputs"].shape == (30, 4)
        assert summary["spikes"] == int(spikes["spikes"].sum())
        assert list(probes["probe_ids"]) == [0, 3] and probes["v"].shape == (30, 2)
    assert summary["steps"] == 30 and summary["learn"] is True
    for word in ("steps", "spikes", "rate", "wall time", "30"):
        assert word in result.output


def test_run_matches_the_twin_through_the_device_api(network_file, tmp_path):
    spec = load_network_file(network_file)
    result = invoke("run", network_file, "--device", "model://", "--out", tmp_path / "r",
                    "--steps", 25, "--no-learn", "--json", "--no-plots")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["steps"] == 25 and data["learn"] is False
    assert not (tmp_path / "r" / "raster.png").exists()
    with ModelDevice(spec.config) as device:
        device.load_network(spec.network)
        expected = device.run(25, spec.input_raster(25), learn=False)
    with np.load(tmp_path / "r" / "spikes.npz") as spikes:
        np.testing.assert_array_equal(spikes["spikes"], expected.spikes)


def test_run_records_a_set_and_every_other_step(network_file, tmp_path):
    spec = load_network_file(network_file)
    result = invoke("run", network_file, "--device", "model://", "--out", tmp_path / "r",
                    "--record", "0-3", "--every", 2, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["record"] == {"select": "set", "neurons": 4, "every": 2, "counts": False}
    assert (tmp_path / "r" / "traces.png").is_file()
    with ModelDevice(spec.config) as device:
        device.load_network(spec.network)
        full = device.run(30, spec.input_raster(30), learn=True, probes=spec.probes)
    assert full.spikes[:, :4].any() and full.spikes[:, 4:].any()
    with np.load(tmp_path / "r" / "spikes.npz") as spikes, \
            np.load(tmp_path / "r" / "probes.npz") as probes:
        assert spikes["recorded"].tolist() == [0, 1, 2, 3]
        np.testing.assert_array_equal(spikes["spikes"][:, :4], full.spikes[:, :4])
        assert not spikes["spikes"][:, 4:].any()
        assert probes["probe_steps"].tolist() == list(range(1, 30, 2))
        np.testing.assert_array_equal(probes["v"], full.probes["v"][1::2])
        np.testing.assert_array_equal(probes["i"], full.probes["i"][1::2])
    assert data["rate"] == full.spikes[:, :4].sum() / (4 * 30)


def test_run_records_counts_over_windows(network_file, tmp_path):
    spec = load_network_file(network_file)
    result = invoke("run", network_file, "--device", "model://", "--out", tmp_path / "r",
                    "--record", "1,5-6", "--every", 7, "--counts", "--json", "--no-plots")
    assert result.exit_code == 0, result.output
    with ModelDevice(spec.config) as device:
        device.load_network(spec.network)
        full = device.run(30, spec.input_raster(30), learn=True)
    with np.load(tmp_path / "r" / "counts.npz") as counts:
        assert counts["recorded"].tolist() == [1, 5, 6] and int(counts["every"]) == 7
        expected = full.spikes[:28, [1, 5, 6]].reshape(4, 7, 3).sum(axis=1)
        np.testing.assert_array_equal(counts["counts"], expected)
    assert json.loads(result.output)["counted_spikes"] == int(expected.sum())


@pytest.mark.parametrize("args,message", [
    (("--record", "3-1"), "neuron indices and ranges"),
    (("--record", "12"), "neuron 12 is out of range 0..9"),
    (("--every", "0"), "0 is out of range: RUN's every is 16 bits, 1 to 65535 steps"),
    (("--counts", "--every", "256"), "at most 255"),
])
def test_run_bad_recording_options(network_file, tmp_path, args, message):
    result = invoke("run", network_file, "--device", "model://", "--out", tmp_path / "o", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("steps,message", [
    ("-3", "Invalid value for '--steps' / '-k': -3 is not in the range 0<=x<=4294967295."),
    ("4294967296", "Invalid value for '--steps' / '-k': 4294967296 is not in the range "
                   "0<=x<=4294967295."),
    ("many", "Invalid value for '--steps' / '-k': 'many' is not a valid integer range."),
])
def test_run_bad_steps(network_file, steps, message):
    result = invoke("run", network_file, "--device", "model://", "--steps", steps)
    assert result.exit_code == 2
    assert message in result.stderr


def test_run_unknown_scheme(network_file, tmp_path):
    result = invoke("run", network_file, "--device", "ftp://board", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "error: cannot open device 'ftp://board': unknown device URL scheme" in result.stderr


def test_run_device_failure_exits_3(network_file, extra_schemes, tmp_path):
    result = invoke("run", network_file, "--device", "dead://", "--out", tmp_path / "o")
    assert result.exit_code == 3
    assert result.stderr == (f"error: device failure: no answer from the board within 1.0 s; "
                             f"the run stopped after 0 of 30 steps; what was received is saved "
                             f"in {tmp_path / 'o'} (marked incomplete)\n")


def test_learning_on_a_core_without_stdp(tmp_path):
    path = tmp_path / "n.toml"
    path.write_text("[config]\nneurons = 2\ninputs = 1\nstdp = false\n")
    result = invoke("run", path, "--device", "model://", "--learn", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.stderr == ("error: learning was requested but the network's core is built "
                             "without STDP: set [config] stdp = true or run with --no-learn\n")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_run_and_draw(example, tmp_path):
    result = invoke("run", example, "--device", "model://", "--out", tmp_path / example.stem)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / example.stem / "summary.json").read_text())
    assert summary["spikes"] > 0
    assert (tmp_path / example.stem / "raster.png").is_file()
    assert (tmp_path / example.stem / "weights.png").is_file()


def test_three_examples_are_there():
    assert {"recurrent_stdp", "synfire", "nir_lif"} <= {p.stem for p in EXAMPLES}


# -- read --------------------------------------------------------------------------------------

def test_read_npz(tmp_path):
    out = tmp_path / "board.npz"
    result = invoke("read", "--device", "model://", "--out", out)
    assert result.exit_code == 0, result.output
    with np.load(out) as data:
        assert data["W"].shape == (CoreConfig().rows, CoreConfig().neurons)
        assert {"mask", "thr", "w_shift", "state_v", "state_xin"} <= set(data.files)


def test_read_network_file(network_file, tmp_path):
    out = tmp_path / "back.toml"
    result = invoke("read", "--device", "model://", "--network", network_file, "--out", out)
    assert result.exit_code == 0, result.output
    assert load_network_file(out).config == load_network_file(network_file).config


def test_read_bad_suffix(tmp_path):
    result = invoke("read", "--device", "model://", "--out", tmp_path / "x.csv")
    assert result.exit_code == 2
    assert result.stderr == (f"error: --out {tmp_path / 'x.csv'} must end in .npz (arrays) or "
                             f".toml (a network file)\n")


def test_read_needs_out():
    result = invoke("read", "--device", "model://")
    assert result.exit_code == 2
    assert "Missing option '--out'" in result.stderr


# -- plot ----------------------------------------------------------------------------------------

def test_plot_redraws_a_run(network_file, tmp_path):
    assert invoke("run", network_file, "--device", "model://", "--out", tmp_path / "r",
                  "--no-plots").exit_code == 0
    result = invoke("plot", tmp_path / "r", "--out", tmp_path / "pictures")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"wrote {tmp_path / 'pictures' / name}" for name in
                                          ("raster.png", "traces.png", "weights.png")]


def test_plot_missing_run_folder(tmp_path):
    result = invoke("plot", tmp_path / "none")
    assert result.exit_code == 2
    assert result.stderr == (f"error: run folder {str(tmp_path / 'none')!r} does not exist; "
                             f"create one with `spikeforge run NETWORK --out {tmp_path / 'none'}`"
                             f"\n")


# -- compare -------------------------------------------------------------------------------------

def test_compare_identical_backends(network_file):
    result = invoke("compare", network_file, "--backends", "model,model://", "--steps", 20)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("identical: model://, model:// agree on 20 steps")


def test_compare_reports_the_first_difference(network_file, extra_schemes):
    result = invoke("compare", network_file, "--backends", "model,flip", "--steps", 20)
    assert result.exit_code == 1
    assert result.output.startswith("different: model:// and flip:// differ at step 7, "
                                    "neuron 2, variable spike: ")


def test_compare_json(network_file, extra_schemes):
    result = invoke("compare", network_file, "-b", "model,flip", "--steps", 12, "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["identical"] is False
    assert (data["difference"]["step"], data["difference"]["neuron"],
            data["difference"]["variable"]) == (7, 2, "spike")


def test_compare_needs_two_backends(network_file):
    result = invoke("compare", network_file, "--backends", "model")
    assert result.exit_code == 2
    assert result.stderr == ("error: --backends 'model' names 1 backend; give at least two, "
                             "e.g. --backends model,sim\n")


def test_compare_unknown_backend(network_file):
    result = invoke("compare", network_file, "--backends", "model,warp")
    assert result.exit_code == 2
    assert "error: cannot open device 'warp://': unknown device URL scheme" in result.stderr
