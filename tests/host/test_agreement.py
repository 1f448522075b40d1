"""Spike-train agreement: the measures on hand-made rasters, the float Brian2 reference against
the twin, and `spikeforge agree`."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.runs.agreement import agreement_report, coincidence_count, spike_agreement
from spikeforge.host.cli import main
from spikeforge.host.formats.netfile import NetworkSpec, save_network_file
from spikeforge.host.model.params import (GlobalParams, Network, NeuronParams, random_inputs,
                                    random_network)
from spikeforge.host.model.twin import Twin

# Brian2 2.9 calls pyparsing functions that newer pyparsing releases deprecate
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def sparse_raster(seed, steps=2000, neurons=10, gap=8):
    """Spike trains with at least ``gap`` steps between spikes, away from both ends."""
    rng = np.random.default_rng(seed)
    raster = np.zeros((steps, neurons), dtype=bool)
    for j in range(neurons):
        t = int(rng.integers(5, 20))
        while t < steps - 5:
            raster[t, j] = True
            t += gap + int(rng.integers(0, 30))
    return raster


# -- the measures ----------------------------------------------------------------------------

def test_identical_rasters_agree_perfectly():
    raster = sparse_raster(1)
    result = spike_agreement(raster, raster.copy(), window=2)
    assert result["gamma"] == pytest.approx(1.0)
    assert result["gamma_min"] == pytest.approx(1.0)
    assert result["gamma_neurons"] == 10
    assert result["rate_error"] == 0.0 and result["rate_error_max"] == 0.0
    assert result["rate_error_relative"] == 0.0
    assert result["identical_fraction"] == 1.0 and result["identical"] is True
    assert result["spikes_reference"] == result["spikes_other"] == int(raster.sum())


def test_a_shift_within_the_window_still_coincides():
    raster = sparse_raster(2)
    shifted = np.roll(raster, 1, axis=0)
    result = spike_agreement(raster, shifted, window=2)
    assert result["gamma"] == pytest.approx(1.0)
    assert result["rate_error"] == 0.0
    assert result["identical_fraction"] == 0.0 and result["identical"] is False
    # outside the window nothing coincides: below chance
    strict = spike_agreement(raster, shifted, window=0)
    assert strict["gamma"] < 0.0


def test_independent_trains_score_about_zero():
    rng = np.random.default_rng(3)
    a = rng.random((5000, 20)) < 0.03
    b = rng.random((5000, 20)) < 0.03
    result = spike_agreement(a, b, window=2)
    assert abs(result["gamma"]) < 0.05
    assert result["rate_error_relative"] < 0.1   # same rate, different spike times
    assert result["identical_fraction"] < 0.05


def test_rate_errors_and_silent_neurons():
    steps = 100
    a = np.zeros((steps, 3), dtype=bool)
    b = np.zeros((steps, 3), dtype=bool)
    a[::10, 0] = True            # 10 spikes in neuron 0, none in the other raster
    b[::10, 0] = False
    a[::20, 1] = b[::20, 1] = True   # neuron 1 identical; neuron 2 silent in both
    result = spike_agreement(a, b, window=1)
    assert result["rate_error_max"] == pytest.approx(0.1)
    assert result["rate_error"] == pytest.approx(0.1 / 3)
    assert result["rate_error_relative"] == pytest.approx((0.1 / 3) / (15 / 300))
    assert result["gamma_neurons"] == 2              # the silent neuron is left out
    assert result["gamma"] == pytest.approx(0.5)     # 0 for neuron 0, 1 for neuron 1
    silent = spike_agreement(np.zeros((50, 4), bool), np.zeros((50, 4), bool))
    assert silent["gamma"] is None and silent["rate_error_relative"] is None
    assert silent["identical_fraction"] == 1.0


def test_dense_trains_make_gamma_undefined():
    dense = np.ones((40, 2), dtype=bool)
    result = spike_agreement(dense, dense, window=1)
    assert result["gamma"] is None and result["gamma_undefined"] == 2


def test_coincidences_are_matched_one_to_one():
    assert coincidence_count([0, 1, 2], [1], window=2) == 1
    assert coincidence_count([1], [0, 1, 2], window=2) == 1
    assert coincidence_count([0, 10, 20], [2, 13, 20], window=2) == 2
    assert coincidence_count([5, 6], [4, 7], window=1) == 2


def test_rasters_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        spike_agreement(np.zeros((10, 3), bool), np.zeros((10, 4), bool))
    with pytest.raises(ValueError, match="window"):
        spike_agreement(np.zeros((10, 3), bool), np.zeros((10, 3), bool), window=-1)


# -- the Brian2 reference ----------------------------------------------------------------------

def small_network(seed, n=8, m=4):
    """Input-driven LIF neurons (thr 1000) with sparse recurrent weights of both signs, both
    reset modes, refractory periods 0..3 and adaptive thresholds on half of them."""
    config = CoreConfig(neurons=n, inputs=m, lanes=2, weight_bits=8)
    rng = np.random.default_rng(seed)
    W = np.zeros((n + m, n), dtype=np.int64)
    W[:n] = rng.integers(-60, 60, size=(n, n)) * (rng.random((n, n)) < 0.3)
    np.fill_diagonal(W[:n], 0)
    W[n:] = rng.integers(40, 127, size=(m, n))
    neuron = NeuronParams.full(config, thr=1000, v_reset=0, reset_sub=[0, 1] * (n // 2),
                               refrac=[0, 1, 2, 3] * (n // 4), alpha_v=3686, alpha_i=3277,
                               bias=0, theta_inc=[0, 0, 40, 80] * (n // 4), alpha_th=4000)
    return Network(config, neuron, GlobalParams.default(config, w_shift=2), W).validate()


@pytest.mark.parametrize("seed", [0, 3])
def test_brian2_float_model_agrees_with_the_twin(seed):
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_ref import brian2_network_run

    network = small_network(seed)
    raster = np.random.default_rng(seed + 100).random((400, 4)) < 0.02
    twin = Twin(network).run(raster)["spikes"]
    brian = brian2_network_run(network, raster)
    assert brian.shape == twin.shape and twin.sum() > 100
    result = spike_agreement(twin, brian, window=2)
    # measured: gamma 0.95 / 0.98, identical spikes 68 % / 66 %, rate error 1.8 % / 2.4 %
    assert result["gamma"] >= 0.8
    assert result["identical_fraction"] >= 0.5      # a one-step offset would give about 0
    assert result["rate_error_relative"] <= 0.05


def test_brian2_rounding_toward_zero_equals_the_twin_bit_for_bit():
    """With the hardware's rounding the float model holds integers exactly, so any difference
    would be a difference of structure (step order, delays, reset, refractory, saturation)."""
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_ref import brian2_network_run

    config = CoreConfig(neurons=8, inputs=4, lanes=2)
    checked = 0
    for seed, regime in [(0, "active"), (1, "active"), (2, "extreme"), (3, "bounds"),
                         (4, "active"), (5, "extreme")]:
        rng = np.random.default_rng(seed)
        network = random_network(config, rng, regime=regime)
        network.global_params.poisson_on = 0
        raster = random_inputs(config, rng, 80, 0.3)
        twin = Twin(network).run(raster)["spikes"]
        brian = brian2_network_run(network, raster, rounding="toward_zero")
        assert np.array_equal(brian, twin), (seed, regime, np.argwhere(brian != twin)[:3])
        checked += int(twin.sum())
    assert checked > 100


def test_brian2_reference_refuses_on_chip_poisson_inputs():
    from spikeforge.host.model.brian2_ref import brian2_network_run

    config = CoreConfig(neurons=4, inputs=2, lanes=2)
    network = Network.default(config)
    network.global_params.poisson_on = 1
    network.poisson_rate = np.array([1000, 0])
    with pytest.raises(ConfigError, match="poisson_on = 0"):
        brian2_network_run(network, np.zeros((10, 2), bool))
    with pytest.raises(ConfigError, match="rounding"):
        brian2_network_run(Network.default(config), np.zeros((10, 2), bool), rounding="up")


def test_missing_brian2_names_the_fix(monkeypatch):
    import spikeforge.host.model.bench_twin as bench_twin
    from spikeforge.host.model.brian2_ref import Brian2Unavailable, brian2_network_run

    def missing():
        raise RuntimeError("Brian2 is not installed; the comparison needs it: pip install "
                           "brian2 (scripts/setup installs it)")

    monkeypatch.setattr(bench_twin, "_import_brian2", missing)
    config = CoreConfig(neurons=4, inputs=2, lanes=2)
    with pytest.raises(Brian2Unavailable, match="pip install brian2"):
        brian2_network_run(Network.default(config), np.zeros((10, 2), bool))


# -- the report and the command ------------------------------------------------------------------

@pytest.fixture
def network_file(tmp_path):
    network = small_network(0)
    spec = NetworkSpec(network, steps=300, learn=False, input_rate=0.02, input_seed=100,
                       name="small")
    path, _ = save_network_file(spec, tmp_path / "small.toml")
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_agreement_report_runs_every_pair(network_file):
    pytest.importorskip("brian2")
    from spikeforge.host.formats.netfile import load_network_file

    spec = load_network_file(network_file)
    report = agreement_report(spec, ("brian2", "model", "model://"), steps=200)
    assert report["steps"] == 200 and report["backends"] == ["brian2", "model", "model://"]
    assert [(p["reference"], p["other"]) for p in report["pairs"]] == [
        ("brian2", "model"), ("brian2", "model://"), ("model", "model://")]
    twin_pair = report["pairs"][2]
    assert twin_pair["identical"] and twin_pair["gamma"] == pytest.approx(1.0)
    assert twin_pair["rate_error"] == 0.0
    assert report["spikes"]["model"] > 0
    with pytest.raises(ConfigError, match="at least two"):
        agreement_report(spec, ("model",))
    with pytest.raises(ConfigError, match="listed twice"):
        agreement_report(spec, ("model", "model"))


def test_agree_command_prints_a_table_per_pair(network_file):
    pytest.importorskip("brian2")
    result = invoke("agree", network_file, "--backends", "brian2,model", "--steps", "200")
    assert result.exit_code == 0, result.output
    assert "brian2 vs model" in result.output
    assert "coincidence factor (±2 steps)" in result.output
    assert "rate error, mean over neurons" in result.output

    result = invoke("agree", network_file, "-b", "brian2,model", "--window", "1",
                    "--rounding", "toward_zero", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (pair,) = report["pairs"]
    assert report["steps"] == 300 and report["window"] == 1 and report["learn"] is False
    assert pair["identical"] is True and pair["gamma"] == pytest.approx(1.0)


def test_agree_command_rejects_a_bad_backend(network_file):
    result = invoke("agree", network_file, "--backends", "brian2,bogus")
    assert result.exit_code == 2
    assert "bogus" in result.output and "model://" in result.output
    assert "Traceback" not in result.output
    result = invoke("agree", network_file, "--backends", "model")
    assert result.exit_code == 2 and "at least two" in result.output


def test_agree_help_has_examples():
    result = invoke("agree", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "spikeforge agree" in result.output
