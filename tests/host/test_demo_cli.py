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
    assert summary["train_samples"] == 2 * 1203 and summary["test_samples"] == 594
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
