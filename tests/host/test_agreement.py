"""Spike-train agreement: the measures on hand-made rasters, the float Brian2 reference against
the twin, and `spikeforge agree`."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.runs.agreement import (agreement_report, coincidence_count, spike_agreement,
                                            weight_agreement, weight_summary)
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


def test_brian2_reference_refuses_winner_take_all():
    from spikeforge.host.model.brian2_ref import brian2_network_run

    network = Network.default(CoreConfig(neurons=4, inputs=2, lanes=2, winner_take_all=True))
    network.global_params.wta = 1
    with pytest.raises(ConfigError, match="wta = 0"):
        brian2_network_run(network, np.zeros((10, 2), bool))


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


# -- learning: the weight measures, the Brian2 STDP, `agree --learn` ---------------------------

def test_identical_weights_agree_perfectly():
    rng = np.random.default_rng(4)
    initial = rng.integers(0, 128, size=300).astype(float)
    final = np.clip(initial + rng.integers(-20, 21, size=300), 0, 127)
    result = weight_agreement(final, final.copy(), initial, 0, 127, bins=16)
    assert result["synapses"] == 300 and result["identical"] is True
    assert result["correlation"] == 1.0
    assert result["wasserstein"] == 0.0 and result["histogram_l1"] == 0.0
    assert result["mean_abs_difference"] == 0.0 and result["identical_fraction"] == 1.0
    assert result["drift_reference"] == result["drift_other"] == pytest.approx(
        np.mean(final - initial))
    assert result["drift_difference"] == 0.0
    assert sum(result["reference"]["histogram"]) == 300


def test_a_known_shift_gives_a_known_distance():
    # one weight in the middle of each of the first eight of 16 one-unit bins
    initial = np.arange(8) + 0.5
    result = weight_agreement(initial, initial + 8, initial, 0, 16, bins=16)
    assert result["wasserstein"] == pytest.approx(8.0)
    assert result["wasserstein_relative"] == pytest.approx(0.5)
    assert result["histogram_l1"] == pytest.approx(2.0)       # disjoint histograms
    assert result["correlation"] == pytest.approx(1.0)        # a shift keeps the order
    assert result["mean_abs_difference"] == pytest.approx(8.0)
    assert result["drift_reference"] == 0.0 and result["drift_other"] == pytest.approx(8.0)
    assert result["identical_fraction"] == 0.0 and result["identical"] is False
    half = weight_agreement(initial, initial + 4, initial, 0, 16, bins=16)
    assert half["wasserstein"] == pytest.approx(4.0)
    assert half["histogram_l1"] == pytest.approx(1.0)         # half of the mass moved


def test_weight_distance_ignores_which_synapse_holds_a_weight():
    initial = np.linspace(0, 100, 50)
    reversed_ = weight_agreement(initial, initial[::-1], initial, 0, 100, bins=10)
    assert reversed_["wasserstein"] == 0.0 and reversed_["histogram_l1"] == 0.0
    assert reversed_["correlation"] == pytest.approx(-1.0)
    constant = weight_agreement(initial, np.full(50, 7.0), initial, 0, 100)
    assert constant["correlation"] is None


def test_weight_summary_counts_the_ends_of_the_range():
    final = np.array([0, 1, 2, 50, 99, 100, 100, 100, 100, 100], dtype=float)
    summary = weight_summary(final, np.full(10, 50.0), 0, 100, bins=4)
    assert summary["low"] == pytest.approx(0.3) and summary["high"] == pytest.approx(0.6)
    assert summary["histogram"] == [3, 0, 1, 6]
    assert summary["drift"] == pytest.approx(final.mean() - 50)
    with pytest.raises(ValueError, match="w_min"):
        weight_summary(final, final, 5, 5)
    with pytest.raises(ValueError, match="one length"):
        weight_agreement(final, final[:3], final, 0, 100)


def learning_network(seed, n=8, m=4, **config):
    """small_network with plastic input synapses and learning rates that move them."""
    network = small_network(seed, n, m)
    cfg = CoreConfig(neurons=n, inputs=m, lanes=2, weight_bits=8, **config)
    mask = np.zeros((n + m, n), dtype=bool)
    mask[n:] = True
    mask[:n] = network.W[:n] != 0
    glob = GlobalParams.default(cfg, w_shift=2, w_min=-100, w_max=120, a_plus=5, a_minus=6,
                                stdp_shift=7, alpha_x=3700, alpha_y=3700)
    return Network(cfg, network.neuron_params, glob, network.W, mask).validate()


@pytest.mark.parametrize("config", [{}, {"v_floor": True}, {"weight_decay": True}])
def test_brian2_learning_toward_zero_equals_the_twin_bit_for_bit(config):
    """Rounded as the hardware rounds, the float STDP of the reference learns exactly the
    twin's weights: the same step order of depression, trace updates and potentiation."""
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_ref import brian2_network_run

    cfg = CoreConfig(neurons=8, inputs=4, lanes=2, **config)
    changed = 0
    for seed, regime in [(0, "active"), (1, "active"), (2, "extreme"), (4, "active")]:
        rng = np.random.default_rng(seed)
        network = random_network(cfg, rng, regime=regime, plastic=0.8)
        network.global_params.poisson_on = 0
        raster = random_inputs(cfg, rng, 80, 0.3)
        twin = Twin(network)
        spikes = twin.run(raster, learn=True)["spikes"]
        brian, W = brian2_network_run(network, raster, rounding="toward_zero", learn=True)
        assert np.array_equal(brian, spikes), (seed, regime)
        assert np.array_equal(W, twin.W), (seed, regime, np.argwhere(W != twin.W)[:3])
        changed += int(np.count_nonzero(twin.W != network.W))
    assert changed > 50


def test_brian2_float_learning_follows_the_twin_closer_with_stochastic_rounding():
    """Stochastic rounding makes the core's mean change the float quotient, where rounding
    down loses a part of every change: the float reference and the twin learn closer weights
    with it."""
    pytest.importorskip("brian2")
    from spikeforge.host.model.brian2_ref import brian2_network_run

    raster = np.random.default_rng(7).random((600, 4)) < 0.03
    results = {}
    for rounding in (False, True):
        network = learning_network(0, stochastic_rounding=rounding)
        twin = Twin(network)
        twin.run(raster, learn=True)
        _, W = brian2_network_run(network, raster, learn=True)
        plastic = network.mask
        assert np.count_nonzero(twin.W[plastic] != network.W[plastic]) > 30
        results[rounding] = weight_agreement(W[plastic], twin.W[plastic], network.W[plastic],
                                             network.global_params.w_min,
                                             network.global_params.w_max)
    floor, stochastic = results[False], results[True]
    # measured: correlation 0.976 -> 0.994, Wasserstein 4.8 -> 2.3 weight units, mean drift
    # 2.0 -> 5.3 units against 4.7 in Brian2
    assert stochastic["correlation"] > floor["correlation"] > 0.9
    assert stochastic["wasserstein"] < floor["wasserstein"]
    assert abs(stochastic["drift_difference"]) < abs(floor["drift_difference"])


@pytest.fixture
def learning_file(tmp_path):
    spec = NetworkSpec(learning_network(0), steps=300, learn=True, input_rate=0.03,
                       input_seed=7, name="learning")
    path, _ = save_network_file(spec, tmp_path / "learning.toml")
    return path


def test_agree_learn_reports_spikes_and_weights(learning_file):
    pytest.importorskip("brian2")
    result = invoke("agree", learning_file, "-b", "brian2,model,model://", "--steps", "200",
                    "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["learn"] is True and report["steps"] == 200   # learn from the file
    assert report["w_min"] == -100 and report["w_max"] == 120
    assert set(report["weights"]) == {"brian2", "model", "model://"}
    first, _, twins = report["pairs"]
    for key in ("correlation", "wasserstein", "wasserstein_relative", "histogram_l1",
                "drift_reference", "drift_other", "mean_abs_difference", "synapses"):
        assert key in first["weights"]
    assert first["weights"]["synapses"] == int(learning_network(0).mask.sum())
    # the same network learned twice on the twin: identical spikes and weights
    assert twins["identical"] is True and twins["gamma"] == pytest.approx(1.0)
    assert twins["weights"]["identical"] is True
    assert twins["weights"]["correlation"] == 1.0 and twins["weights"]["wasserstein"] == 0.0
    assert twins["weights"]["histogram_l1"] == 0.0
    assert report["weights"]["model"]["drift"] != 0.0          # the weights did learn
    assert report["rate_quarters"]["model"] == report["rate_quarters"]["model://"]
    assert len(report["rate_quarters"]["brian2"]) == 4

    # rounded as the hardware rounds, Brian2 learns the twin's weights exactly
    result = invoke("agree", learning_file, "-b", "brian2,model", "--steps", "200",
                    "--rounding", "toward_zero", "--json")
    assert result.exit_code == 0, result.output
    (pair,) = json.loads(result.stdout)["pairs"]
    assert pair["identical"] is True and pair["weights"]["identical"] is True

    result = invoke("agree", learning_file, "-b", "model,model://", "--steps", "100")
    assert result.exit_code == 0, result.output
    assert "learning on" in result.output and "Wasserstein distance" in result.output
    assert "rate by quarter" in result.output
    result = invoke("agree", learning_file, "-b", "model,model://", "--steps", "50",
                    "--no-learn", "--json")
    report = json.loads(result.stdout)
    assert report["learn"] is False and "weights" not in report["pairs"][0]


def test_agree_learn_refuses_what_cannot_learn(tmp_path):
    network = small_network(0)
    network.mask = np.zeros(network.W.shape, dtype=bool)
    path, _ = save_network_file(NetworkSpec(network, steps=20, name="fixed"),
                                tmp_path / "no_mask.toml")
    result = invoke("agree", path, "-b", "model,model://", "--learn")
    assert result.exit_code == 2
    assert "no synapse is plastic" in result.output and "Traceback" not in result.output
    config = CoreConfig(neurons=4, inputs=2, lanes=2, stdp=False)
    spec = NetworkSpec(Network.default(config), steps=20, name="fixed")
    path, _ = save_network_file(spec, tmp_path / "fixed.toml")
    result = invoke("agree", path, "-b", "model,model://", "--learn")
    assert result.exit_code == 2 and "stdp = true" in result.output


def test_agree_compares_the_physical_network_as_written():
    pytest.importorskip("brian2")
    example = Path(__file__).resolve().parents[2] / "examples" / "recurrent_stdp_host.toml"
    result = invoke("agree", example, "-b", "brian2-physical,model", "--steps", "120",
                    "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (pair,) = report["pairs"]
    assert report["learn"] is True                       # [run] learn = true in the file
    assert pair["reference"] == "brian2-physical" and pair["spikes_reference"] > 0
    assert pair["weights"]["synapses"] == report["weights"]["model"]["synapses"] > 100
    # the learned weights are in the core's weight units on both sides
    assert report["w_min"] <= report["weights"]["brian2-physical"]["mean"] <= report["w_max"]
    assert pair["weights"]["correlation"] > 0.5
    result = invoke("agree", learning_network_file_for_physical_check(), "-b",
                    "brian2-physical,model")
    assert result.exit_code == 2 and "physical units" in result.output


def learning_network_file_for_physical_check():
    return Path(__file__).resolve().parents[2] / "examples" / "song2000.toml"


def test_a_physical_file_run_longer_than_its_duration_keeps_its_inputs():
    from spikeforge.host.formats.netfile import load_network_file

    example = Path(__file__).resolve().parents[2] / "examples" / "recurrent_stdp_host.toml"
    spec = load_network_file(example)
    short = agreement_report(spec, ("model", "model://"), steps=spec.steps, learn=False)
    longer = agreement_report(spec, ("model", "model://"), steps=2 * spec.steps, learn=False)
    assert longer["pairs"][0]["identical"]
    # the host-drawn Poisson inputs go on after the file's duration, and so do the spikes
    # (without inputs the network falls silent within a few steps)
    assert longer["spikes"]["model"] > 1.5 * short["spikes"]["model"]
