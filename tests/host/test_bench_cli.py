"""`spikeforge bench`: the benchmarks run end to end and their cycle counts hold the targets.

Cycle counts are deterministic (the core counts its own clock cycles on seeded workloads), so
these are checks of the design, not of the machine's speed.
"""

import json

import pytest
from click.testing import CliRunner

from spikeforge.host.cli import main


@pytest.mark.sim
@pytest.mark.slow
def test_bench_core_figures_meet_the_targets(tmp_path):
    out = tmp_path / "core.json"
    result = CliRunner().invoke(main, ["bench", "core", "--steps-scale", "0.15", "--json",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert json.loads(result.stdout) == document
    figures = {(f["workload"], f["neurons"], f["stdp"]): f for f in document["results"]}
    assert all(f["formula_exact"] for f in figures.values())
    dense = figures[("dense", 100, False)]
    assert dense["neuron_spikes_per_step"] == 100 and dense["input_spikes_per_step"] == 64
    assert dense["sop_per_cycle"] >= 0.9 * dense["lanes"]
    assert figures[("dense", 256, False)]["sop_per_cycle"] >= 0.9 * 8
    digits_off = figures[("digits", 100, False)]
    digits_on = figures[("digits", 100, True)]
    assert digits_off["cycles_per_step"] <= 1000
    assert digits_on["cycles_per_step"] <= 2 * digits_off["cycles_per_step"]


def test_bench_twin_without_brian2_is_a_clear_error(monkeypatch):
    import spikeforge.host.model.bench_twin as bench_twin

    def missing(**kwargs):
        raise RuntimeError("Brian2 is not installed: pip install brian2 (scripts/setup "
                           "installs it)")

    monkeypatch.setattr(bench_twin, "bench_twin_vs_brian2", missing)
    result = CliRunner().invoke(main, ["bench", "twin", "--steps", "100"])
    assert result.exit_code == 2
    assert "pip install brian2" in result.output
    assert "Traceback" not in result.output
