"""`spikeforge bench`: the benchmarks run end to end and their cycle counts hold the targets.

Cycle counts are deterministic (the core counts its own clock cycles on seeded workloads), so
these are checks of the design, not of the machine's speed.
"""

import json

import pytest
from click.testing import CliRunner

from spikeforge.host.cli import main
from spikeforge.rtl.engine import OVERLAP_START_CYCLES


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
    # whole steps on sim://: span covers the core's cycles, the engine adds its own
    whole = {f["neurons"]: f for f in document["end_to_end"]}
    assert set(whole) == {100, 256}
    for f in whole.values():
        assert f["spikes_equal_twin"] and f["span_at_least_core_cycles"]
        # sim:// sends OUTPUT while the next step runs: a step starts at the earliest
        # OVERLAP_START_CYCLES after the previous one's end
        assert f["engine_cycles_min"] >= OVERLAP_START_CYCLES
    # the engine's own part (the mean also holds the steps that waited for the host's inputs,
    # which depend on the machine's load)
    assert whole[100]["engine_cycles_median"] <= 0.10 * whole[100]["core_cycles_per_step"]


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


@pytest.mark.slow
def test_bench_twin_brian2_fires_the_twins_spikes(tmp_path):
    """The rate-matched Brian2 network (the core's integer model in float64, with its STDP)
    fires exactly the twin's spikes, with learning on and off."""
    pytest.importorskip("brian2")
    out = tmp_path / "twin.json"
    result = CliRunner().invoke(main, ["bench", "twin", "--neurons", "30", "--steps", "300",
                                       "--repeats", "1", "--target", "numpy", "--json",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    cases = document["results"]["cases"]
    assert [case["learning"] for case in cases] == [True, False]
    for case in cases:
        rates = case["spike_rate"]
        assert rates["brian2 numpy"] == rates["twin numpy"] > 0
        assert case["rates_matched"] and case["rate_mismatch"] == 0
        assert set(case["steps_per_cpu_s"]) >= {"twin numpy", "brian2 numpy"}
        assert case["speedup"]["brian2 numpy"] > 0
    assert document["results"]["load_average"]["max"] >= 0


def test_bench_twin_batch_checks_members_and_reports_speedups(tmp_path):
    out = tmp_path / "batch.json"
    result = CliRunner().invoke(main, ["bench", "twin", "--batch", "1", "--batch", "3",
                                       "--steps", "100", "--repeats", "1", "--json",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    results = document["results"]["results"]
    assert [entry["batch"] for entry in results] == [1, 3]
    for entry in results:
        speeds = entry["network_steps_per_cpu_s"]
        assert speeds["batch"] > 0 and speeds["sequential numpy"] > 0
        assert entry["speedup_vs_sequential_numpy"] > 0
        assert 0 < entry["spike_rate"] < 1
