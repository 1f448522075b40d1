"""The tutorial (examples/tutorial.py, walked through in docs/tutorial.md) runs."""

import importlib.util
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "examples" / "tutorial.py"


def _tutorial():
    spec = importlib.util.spec_from_file_location("tutorial", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tutorial_on_the_twin(tmp_path, capsys):
    _tutorial().main(["--out", str(tmp_path), "--duration", "0.3", "--no-sim", "--no-brian2"])
    out = capsys.readouterr().out
    assert "quantisation at dt = 1 ms" in out and "A_plus" in out
    assert "rates: exc" in out and "noise->exc weights: mean 10.000 mV ->" in out
    for name in ("raster.png", "traces.png", "weights.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.sim
@pytest.mark.slow
def test_tutorial_whole_sim_bit_identical_and_brian2_agreement(tmp_path, capsys):
    _tutorial().main(["--out", str(tmp_path), "--duration", "1.0"])
    out = capsys.readouterr().out
    assert "sim:// and model://: bit-identical spikes, traces and learned weights" in out
    for start, least in (("Brian2 (as written) vs model:", 0.85),
                         ("Brian2 (learned integers, float) vs model:", 0.5)):
        line = next(text for text in out.splitlines() if text.startswith(start))
        gamma = float(line.split("coincidence factor ")[1].split(",")[0])
        assert least < gamma <= 1.0, line
