"""`spikeforge demo` on the twin: the full digits demo reaches its accuracy target, and the
Song-2000 demo makes the weights bimodal."""

import json

import pytest
from click.testing import CliRunner

from spikeforge.host.cli import main


@pytest.mark.slow
def test_demo_digits_on_the_twin_reaches_85_percent(tmp_path):
    result = CliRunner().invoke(main, ["demo", "digits", "--device", "model://", "--json",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["accuracy"] >= 0.85
    assert summary["recipe"]["gate"] == "class"         # the default recipe is hinge
    assert summary["train_samples"] == 6 * 1203 and summary["test_samples"] == 594
    assert json.loads((tmp_path / "results.json").read_text())["accuracy"] == \
        summary["accuracy"]


def test_demo_song2000_makes_weights_bimodal(tmp_path):
    result = CliRunner().invoke(main, ["demo", "song2000", "--steps", "60000", "--json",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["at_ends"] > 0.8 and summary["low"] > 0.05 and summary["high"] > 0.05
    assert summary["bimodality_coefficient"] > summary["initial_bimodality_coefficient"]
    assert (tmp_path / "histogram.png").stat().st_size > 0


def test_demo_digits_with_a_bad_device_is_a_clear_error():
    result = CliRunner().invoke(main, ["demo", "digits", "--device", "warp://"])
    assert result.exit_code == 2
    assert "unknown device URL scheme" in result.output
    assert "Traceback" not in result.output


def test_demo_digits_unsupervised_reports_curves_and_draws(tmp_path):
    result = CliRunner().invoke(main, [
        "demo", "digits-unsupervised", "--device", "model://", "--epochs", "2",
        "--train-samples", "20", "--test-samples", "10", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["train_samples"] == 40 and summary["test_samples"] == 10
    assert [record["epoch"] for record in summary["epochs"]] == [1, 2]
    recipe = summary["recipe"]
    bins = recipe["w_max"] - recipe["w_min"] + 1
    for record in summary["epochs"]:
        assert 0.0 <= record["accuracy"] <= 1.0
        assert len(record["weight_histogram"]) == bins
        assert sum(record["weight_histogram"]) == 128 * recipe["neurons"]
    assert summary["accuracy"] == summary["epochs"][-1]["accuracy"]
    assert len(summary["theta"]) == len(summary["neuron_label"]) == recipe["neurons"]
    assert sum(map(sum, summary["confusion"])) == 10
    for name in ("results.json", "weights.npz", "receptive_fields.png", "learning_curve.png",
                 "weight_histograms.png", "thresholds.png", "confusion.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_demo_seeds_print_mean_and_range():
    result = CliRunner().invoke(main, [
        "demo", "digits", "--recipe", "lines", "--device", "model://", "--epochs", "1",
        "--train-samples", "20", "--test-samples", "10", "--seeds", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["seeds"] == [1, 2]
    accuracies = [run["accuracy"] for run in summary["runs"]]
    assert summary["accuracies"] == accuracies
    assert summary["min"] == min(accuracies) and summary["max"] == max(accuracies)
    assert summary["mean"] == pytest.approx(sum(accuracies) / 2)
    result = CliRunner().invoke(main, [
        "demo", "digits-unsupervised", "--device", "model://", "--train-samples", "10",
        "--test-samples", "5", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "2 seeds: mean" in result.output and "range" in result.output


def test_demo_unsupervised_drive_readout_option():
    args = ["demo", "digits-unsupervised", "--device", "model://", "--epochs", "1",
            "--train-samples", "15", "--test-samples", "6", "--json"]
    runs = [json.loads(CliRunner().invoke(main, args + extra).output)
            for extra in ([], ["--readout", "drive"])]
    assert [run["recipe"]["readout"] for run in runs] == ["spikes", "drive"]
    # the readout changes the evaluation only: the same weights are learned
    assert runs[0]["epochs"][0]["weight_histogram"] == runs[1]["epochs"][0]["weight_histogram"]
    assert runs[0]["sr_seed"] == runs[1]["sr_seed"]
    result = CliRunner().invoke(main, args + ["--readout", "membrane"])
    assert result.exit_code != 0 and "membrane" in result.output


def test_demo_unsupervised_inhibitory_pool_option():
    args = ["demo", "digits-unsupervised", "--device", "model://", "--epochs", "1",
            "--train-samples", "12", "--test-samples", "6", "--json"]
    result = CliRunner().invoke(main, args + ["--inhibitory", "20"])
    assert result.exit_code != 0
    assert "--recipe negative-image" in result.output and "Traceback" not in result.output
    args += ["--recipe", "negative-image"]
    result = CliRunner().invoke(main, args + ["--inhibitory", "20"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["recipe"]["inhibitory"] == 20 and not run["recipe"]["wta"]
    assert len(run["neuron_label"]) == 80 and len(run["theta"]) == 80
    assert len(run["winners_per_image"]) == 1
    result = CliRunner().invoke(main, args + ["--inhibitory", "100"])
    assert result.exit_code != 0
    assert "inhibitory must be" in result.output and "Traceback" not in result.output
