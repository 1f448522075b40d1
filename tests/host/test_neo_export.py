"""Runs as Neo blocks: spike trains per neuron and input, probes as analog signals."""

import sys

import numpy as np
import pytest

from spikeforge._extras import MissingExtra
from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.formats.neo_io import run_to_neo
from spikeforge.host.formats.netfile import NetworkSpec
from spikeforge.host.model.params import random_network
from spikeforge.host.runs.results import run_spec

neo = pytest.importorskip("neo", reason="neo is not installed (pip install 'spikeforge[neo]')")
pq = pytest.importorskip("quantities")

CONFIG = CoreConfig(neurons=12, inputs=5, lanes=4)


@pytest.fixture(scope="module")
def record():
    network = random_network(CONFIG, np.random.default_rng(7), regime="active")
    spec = NetworkSpec(network, steps=80, learn=False, probes=(1, 4, 9), input_rate=0.3,
                       input_seed=2, name="small")
    with open_device("model://", CONFIG) as device:
        record = run_spec(device, spec)
    record.device = "model://"
    record.name = "small"
    assert record.spikes.sum() > 0 and record.inputs.sum() > 0
    return record


def _times(raster, column, dt_ms):
    return np.flatnonzero(raster[:, column]) * dt_ms


def test_record_to_neo_holds_every_spike_at_its_step(record):
    block = record.to_neo(dt_ms=0.5)
    assert isinstance(block, neo.Block)
    assert block.annotations["device"] == "model://"
    assert block.annotations["config_hash"] == f"0x{CONFIG.hash:08x}"
    (segment,) = block.segments
    trains = segment.spiketrains
    neurons = [st for st in trains if st.annotations["source"] == "neuron"]
    inputs = [st for st in trains if st.annotations["source"] == "input"]
    assert [st.annotations["channel"] for st in neurons] == list(range(CONFIG.neurons))
    assert [st.annotations["channel"] for st in inputs] == list(range(CONFIG.inputs))
    for i, st in enumerate(neurons):
        assert st.units == pq.ms
        assert st.t_start == 0 * pq.ms and st.t_stop == 80 * 0.5 * pq.ms
        np.testing.assert_array_equal(st.magnitude, _times(record.spikes, i, 0.5))
    for j, st in enumerate(inputs):
        np.testing.assert_array_equal(st.magnitude, _times(record.inputs, j, 0.5))
    assert sum(len(st) for st in neurons) == record.spikes.sum()
    # the rate Elephant would compute is the run's own
    rates = [len(st) / (st.t_stop - st.t_start).rescale(pq.s) for st in neurons]
    np.testing.assert_allclose([float(r) for r in rates],
                               record.spikes.sum(axis=0) / (80 * 0.5e-3))


def test_probes_become_analog_signals(record):
    block = record.to_neo(units={"v": 0.01 * pq.mV})
    signals = {sig.name: sig for sig in block.segments[0].analogsignals}
    assert set(signals) == {"v", "i"}
    for name, sig in signals.items():
        assert sig.shape == (80, 3)
        assert sig.sampling_period == 1.0 * pq.ms and sig.t_start == 0 * pq.ms
        np.testing.assert_array_equal(sig.array_annotations["channel_ids"], [1, 4, 9])
    np.testing.assert_allclose(signals["v"].rescale(pq.mV).magnitude, record.probes["v"] * 0.01)
    assert signals["i"].units == pq.dimensionless
    np.testing.assert_array_equal(signals["i"].magnitude, record.probes["i"])


def test_device_run_result_to_neo():
    network = random_network(CONFIG, np.random.default_rng(1), regime="active")
    raster = np.random.default_rng(5).random((40, CONFIG.inputs)) < 0.3
    with open_device("model://", CONFIG) as device:
        device.load_network(network)
        result = device.run(steps=40, inputs=raster, probes=[0, 2])
    block = result.to_neo()
    trains = block.segments[0].spiketrains
    assert len(trains) == CONFIG.neurons
    for i, st in enumerate(trains):
        np.testing.assert_array_equal(st.magnitude, _times(result.spikes, i, 1.0))
    (v,) = [sig for sig in block.segments[0].analogsignals if sig.name == "v"]
    np.testing.assert_array_equal(v.magnitude, result.probes["v"])


def test_a_recorded_set_and_sampled_probes_to_neo():
    network = random_network(CONFIG, np.random.default_rng(1), regime="active")
    raster = np.random.default_rng(5).random((40, CONFIG.inputs)) < 0.3
    with open_device("model://", CONFIG) as device:
        device.load_network(network)
        result = device.run(steps=40, inputs=raster, probes=[0, 2], record=[1, 3], every=4)
    block = result.to_neo(dt_ms=0.5)
    trains = block.segments[0].spiketrains
    assert [st.annotations["channel"] for st in trains] == [1, 3]
    for st in trains:
        np.testing.assert_array_equal(st.magnitude,
                                      _times(result.spikes, st.annotations["channel"], 0.5))
    (v,) = [sig for sig in block.segments[0].analogsignals if sig.name == "v"]
    assert v.shape == (10, 2)
    assert v.sampling_period == 2.0 * pq.ms and v.t_start == 1.5 * pq.ms
    np.testing.assert_array_equal(v.magnitude, result.probes["v"])


def test_a_run_of_no_steps_is_an_empty_block():
    block = run_to_neo(np.zeros((0, 3), bool))
    assert [len(st) for st in block.segments[0].spiketrains] == [0, 0, 0]
    assert block.segments[0].spiketrains[0].t_stop == 0 * pq.ms


@pytest.mark.parametrize("kwargs, message", [
    ({"spikes": np.zeros(5, bool)}, "spikes has shape (5,); expected (steps, neurons)"),
    ({"dt_ms": 0}, "dt_ms=0.0 is not allowed: a step lasts a positive time"),
    ({"inputs": np.zeros((4, 2), bool)}, "inputs has shape (4, 2); expected (10, inputs)"),
    ({"probe_ids": (0,), "probes": {"v": np.zeros((10, 2))}},
     "probe 'v' has shape (10, 2); expected (10, 1): a row per step, a column per probed "
     "neuron"),
])
def test_bad_arguments_name_the_problem(kwargs, message):
    arguments = {"spikes": np.zeros((10, 3), bool)} | kwargs
    spikes = arguments.pop("spikes")
    with pytest.raises(ConfigError) as info:
        run_to_neo(spikes, **arguments)
    assert str(info.value) == message


def test_without_neo_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(MissingExtra, match=r"pip install 'spikeforge\[neo\]'"):
        run_to_neo(np.zeros((3, 2), bool))


def _window_counts(spikes, recorded, every):
    windows = spikes.shape[0] // every
    return (spikes[:windows * every][:, recorded]
            .reshape(windows, every, len(recorded)).sum(axis=1))


def test_recorded_counts_become_an_analog_signal_of_windows():
    network = random_network(CONFIG, np.random.default_rng(3), regime="active")
    raster = np.random.default_rng(4).random((43, CONFIG.inputs)) < 0.3
    recorded = [0, 2, 5, 11]
    with open_device("model://", CONFIG) as device:
        device.load_network(network)
        every_spike = device.run(steps=43, inputs=raster)
        device.reset("state")
        result = device.run(steps=43, inputs=raster, record=recorded, every=5, counts=True)
    want = _window_counts(every_spike.spikes, recorded, 5)
    assert want.sum() > 0
    block = result.to_neo(dt_ms=0.5)
    (segment,) = block.segments
    # the neurons' spikes were not sent: their counts stand for them
    assert len(segment.spiketrains) == 0
    (counts,) = [sig for sig in segment.analogsignals if sig.name == "counts"]
    assert counts.shape == (8, 4)                       # 43 steps: 8 whole windows of 5
    assert counts.units == pq.dimensionless
    assert counts.sampling_period == 2.5 * pq.ms and counts.t_start == 0 * pq.ms
    assert counts.annotations["every"] == 5
    np.testing.assert_array_equal(counts.array_annotations["channel_ids"], recorded)
    np.testing.assert_array_equal(counts.annotations["neuron_ids"], recorded)
    np.testing.assert_array_equal(counts.magnitude, want)
    # the window starting at t holds the spikes of the trains in [t, t + every * dt)
    full = every_spike.to_neo(dt_ms=0.5).segments[0].spiketrains
    for column, neuron in enumerate(recorded):
        times = full[neuron].magnitude
        for window, start in enumerate(counts.times.magnitude):
            inside = np.count_nonzero((times >= start) & (times < start + 2.5))
            assert counts.magnitude[window, column] == inside
    rates = (counts / counts.sampling_period).rescale(pq.Hz)
    np.testing.assert_allclose(rates.magnitude, want / 2.5e-3)


def test_a_run_folder_with_counts_exports_and_reads_back(tmp_path):
    from click.testing import CliRunner

    from spikeforge.host.cli import main
    from spikeforge.host.formats.netfile import save_network_file

    network = random_network(CONFIG, np.random.default_rng(8), regime="active")
    spec = NetworkSpec(network, steps=60, learn=False, probes=(1, 3), input_rate=0.3,
                       input_seed=4, name="counted")
    path = tmp_path / "net.toml"
    save_network_file(spec, path)
    runner = CliRunner()
    for out, extra in (("all", []), ("counts", ["--record", "1-4,9", "--every", "6",
                                                "--counts"])):
        done = runner.invoke(main, ["run", str(path), "-d", "model://", "--out",
                                    str(tmp_path / out), "--no-plots", "--json", *extra])
        assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["export-neo", str(tmp_path / "counts"), "--out",
                                str(tmp_path / "counts.pkl"), "--dt", "0.25"])
    assert done.exit_code == 0, done.output
    assert "counts 10x5" in done.output
    block = neo.io.PickleIO(str(tmp_path / "counts.pkl")).read_block()
    (segment,) = block.segments
    assert block.annotations["record_select"] == "set" and block.annotations["every"] == 6
    # the inputs stay spike trains; the recorded neurons are counts
    assert {st.annotations["source"] for st in segment.spiketrains} == {"input"}
    signals = {sig.name: sig for sig in segment.analogsignals}
    assert set(signals) == {"v", "i", "counts"}
    counts = signals["counts"]
    assert counts.sampling_period == 1.5 * pq.ms
    np.testing.assert_array_equal(counts.array_annotations["channel_ids"], [1, 2, 3, 4, 9])
    with np.load(tmp_path / "counts" / "counts.npz") as saved:
        np.testing.assert_array_equal(counts.magnitude, saved["counts"])
    with np.load(tmp_path / "all" / "spikes.npz") as saved:
        want = _window_counts(saved["spikes"], [1, 2, 3, 4, 9], 6)
    assert want.sum() > 0
    np.testing.assert_array_equal(counts.magnitude, want)
    # probes sampled in the same steps: the end of each window
    assert signals["v"].shape == (10, 2) and signals["v"].t_start == 1.25 * pq.ms


def test_export_neo_refuses_what_it_cannot_write(tmp_path):
    from click.testing import CliRunner

    from spikeforge.host.cli import main

    runner = CliRunner()
    done = runner.invoke(main, ["export-neo", str(tmp_path / "missing"), "--out",
                                str(tmp_path / "x.pkl")])
    assert done.exit_code == 2 and "does not exist" in done.output
    (tmp_path / "run").mkdir()
    done = runner.invoke(main, ["export-neo", str(tmp_path / "run"), "--out",
                                str(tmp_path / "x.txt")])
    assert done.exit_code == 2
    assert "must end in .pkl, .mat, .nix" in done.output


def test_counts_of_the_wrong_shape_name_the_problem():
    with pytest.raises(ConfigError) as info:
        run_to_neo(np.zeros((10, 3), bool), recorded=[0, 2], every=5,
                   counts=np.zeros((3, 2)))
    assert str(info.value) == ("counts has shape (3, 2); expected (2, 2): a row per window of "
                               "5 steps, a column per recorded neuron")


def test_a_physical_run_exports_at_its_own_dt(tmp_path):
    """A network in physical units keeps its dt in the run folder; export-neo uses it."""
    from pathlib import Path

    from click.testing import CliRunner

    from spikeforge.host.cli import main

    pytest.importorskip("scipy", reason="Neo writes .mat files with scipy")
    example = Path(__file__).resolve().parents[2] / "examples" / "synfire.toml"
    text = example.read_text()
    assert 'dt = "1 ms"' in text
    (tmp_path / "net.toml").write_text(text.replace('dt = "1 ms"', 'dt = "0.5 ms"'))
    runner = CliRunner()
    done = runner.invoke(main, ["run", str(tmp_path / "net.toml"), "-d", "model://", "--steps",
                                "40", "--record", "0-3", "--every", "4", "--counts",
                                "--no-plots", "--out", str(tmp_path / "run")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["export-neo", str(tmp_path / "run"), "--out",
                                str(tmp_path / "run.mat")])
    assert done.exit_code == 0, done.output
    block = neo.io.NeoMatlabIO(str(tmp_path / "run.mat")).read_block()
    (counts,) = [sig for sig in block.segments[0].analogsignals if sig.name == "counts"]
    assert counts.sampling_period.rescale(pq.ms) == 2.0 * pq.ms and counts.shape == (10, 4)
    np.testing.assert_array_equal(counts.annotations["neuron_ids"], [0, 1, 2, 3])
    with np.load(tmp_path / "run" / "counts.npz") as saved:
        np.testing.assert_array_equal(counts.magnitude, saved["counts"])
