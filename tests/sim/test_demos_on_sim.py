"""The learning demos on the simulated board: the RTL learns exactly what the twin learns."""

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.host.cli import main
from spikeforge.host.device import open_device
from spikeforge.host.demos.digits import DeviceBackend, DigitsRecipe, TwinBackend, run_recipe
from spikeforge.host.demos.prefix import learn_prefix
from spikeforge.host.demos.song2000 import run_song2000, song2000_network

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def test_digits_prefix_learns_bit_identical_weights_on_sim_and_model():
    recipe = DigitsRecipe(epochs=1)
    results = {}
    for url in ("model://", "sim://"):
        with open_device(url, recipe.config()) as device:
            results[url] = run_recipe(recipe, DeviceBackend(device), train_samples=25,
                                      test_samples=12)
    twin = run_recipe(recipe, TwinBackend(), train_samples=25, test_samples=12)
    model, sim = results["model://"], results["sim://"]
    assert not np.array_equal(model["train"]["weights"], model["train"]["initial_weights"])
    assert np.array_equal(sim["train"]["weights"], model["train"]["weights"])
    assert np.array_equal(twin["train"]["weights"], model["train"]["weights"])
    assert np.array_equal(sim["test"]["predictions"], model["test"]["predictions"])
    assert sim["test"]["spikes_per_sample"] == model["test"]["spikes_per_sample"]


def test_song2000_on_sim_reproduces_the_twin_bit_for_bit():
    steps = 1500
    twin = run_song2000(steps=steps, seed=3, chunk=500)
    network = song2000_network(np.random.default_rng(3))
    with open_device("sim://", network.config) as device:
        sim = run_song2000(steps=steps, seed=3, chunk=500, device=device)
    assert not np.array_equal(twin["final"], twin["initial"])
    assert np.array_equal(sim["final"], twin["final"])


def test_demo_digits_command_reports_and_draws(tmp_path):
    result = CliRunner().invoke(main, ["demo", "digits", "--recipe", "relays",
                                       "--device", "sim://", "--epochs", "1",
                                       "--train-samples", "20", "--test-samples", "10",
                                       "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    import json
    summary = json.loads(result.output)
    assert summary["backend"] == "sim" and summary["device"] == "sim://"
    assert summary["train_samples"] == 20 and summary["test_samples"] == 10
    assert summary["steps_per_sample"] == {"train": 56, "test": 48}
    assert summary["split"]["test"] == 594 and "random_state=42" in summary["split"]["call"]
    assert sum(map(sum, summary["confusion"])) == 10
    for name in ("results.json", "weights.npz", "receptive_fields.png", "confusion.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_unsupervised_and_lines_prefixes_learn_identical_weights_on_sim_and_model():
    samples = 6
    model, sim = (learn_prefix(url, "unsupervised", samples) for url in ("model://", "sim://"))
    assert not np.array_equal(model["weights"], model["initial_weights"])
    assert np.array_equal(sim["weights"], model["weights"])
    assert np.array_equal(sim["theta"], model["theta"]) and model["theta"].any()
    assert sim["sr_seed"] == model["sr_seed"]
    model, sim = (learn_prefix(url, "lines", samples) for url in ("model://", "sim://"))
    assert not np.array_equal(model["weights"], model["initial_weights"])
    assert np.array_equal(sim["weights"], model["weights"])


def test_hinge_prefix_learns_identical_weights_on_sim_and_model():
    # three passes over 20 samples: the margin gate skips samples in the third, the learning
    # rate halves for it (a GLOBAL write), and the mask is rewritten between the phases
    model, sim = (learn_prefix(url, "hinge", 20, epochs=3) for url in ("model://", "sim://"))
    assert [record["learned_samples"] for record in model["epochs"]] == [20, 20, 18]
    assert not np.array_equal(model["weights"], model["initial_weights"])
    assert np.array_equal(sim["weights"], model["weights"])
    assert sim["spikes_per_sample"] == model["spikes_per_sample"]


def test_unsupervised_epochs_and_readout_are_identical_on_sim_and_model():
    # two epochs over a few samples: the learning-rate change and the state reset between
    # epochs, the evaluation with winner-take-all and the restored training state after it
    import dataclasses

    from spikeforge.host.demos import digits_unsupervised as U

    recipe = dataclasses.replace(U.UnsupervisedRecipe(), epochs=2, eval_steps=32)
    assert recipe.shift_of_epoch(0) != recipe.shift_of_epoch(2)
    recipe = dataclasses.replace(recipe, stdp_shifts=(9, 11))
    results = {}
    for url in ("model://", "sim://"):
        with open_device(url, recipe.config()) as device:
            results[url] = U.run_recipe(recipe, DeviceBackend(device), train_samples=12,
                                        test_samples=8)
    model, sim = results["model://"], results["sim://"]
    assert not np.array_equal(model["train"]["weights"], model["train"]["initial_weights"])
    assert len(model["train"]["epochs"]) == 2
    assert np.array_equal(sim["train"]["weights"], model["train"]["weights"])
    assert sim["train"]["sr_seed"] == model["train"]["sr_seed"]
    assert np.array_equal(sim["test"]["theta"], model["test"]["theta"])
    assert np.array_equal(sim["test"]["neuron_label"], model["test"]["neuron_label"])
    assert np.array_equal(sim["test"]["predictions"], model["test"]["predictions"])
    for a, b in zip(sim["train"]["epochs"], model["train"]["epochs"]):
        assert a["accuracy"] == b["accuracy"] and a["winners_per_image"] == b["winners_per_image"]
