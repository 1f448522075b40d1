"""Song, Miller & Abbott (2000) on the twin: additive STDP with slightly dominant depression
drives uniformly distributed input weights to a bimodal distribution."""

import numpy as np

from spikeforge.host.demos.song2000 import bimodality, run_song2000, song2000_network, stdp_windows


def test_windows_depression_slightly_stronger():
    network = song2000_network(np.random.default_rng(0))
    ltp, ltd = stdp_windows(network)
    assert ltp[0] > 0 and ltd[0] > 0
    assert np.all(np.diff(ltp) <= 0) and np.all(np.diff(ltd) <= 0)   # decaying windows
    assert 1.0 < ltd.sum() / ltp.sum() < 1.3


def test_bimodality_measures():
    rng = np.random.default_rng(0)
    uniform = bimodality(rng.integers(0, 128, 10_000), 0, 127)
    assert 0.35 < uniform["frac_ends"] < 0.45
    assert abs(uniform["sarle_b"] - 5 / 9) < 0.03
    split = bimodality(np.r_[np.zeros(80), np.full(20, 127)], 0, 127)
    assert split["frac_ends"] == 1.0 and split["frac_low"] == 0.8
    assert split["histogram"][0] == 80 and split["histogram"][-1] == 20


def test_short_run_is_deterministic():
    a = run_song2000(steps=3000, seed=5)
    b = run_song2000(steps=3000, seed=5)
    assert np.array_equal(a["final"], b["final"])
    assert not np.array_equal(a["final"], a["initial"])


def test_song2000_weights_become_bimodal():
    result = run_song2000(steps=150_000, seed=0)
    before = result["initial_bimodality"]
    # the start is uniform: about 40 % of the weights in the outer fifths of the range
    assert before["frac_ends"] < 0.5
    # after learning: > 80 % in the lowest or highest 20 % of [w_min, w_max], both ends used
    assert result["frac_ends"] > 0.8, result["histogram"]
    assert result["frac_low"] > 0.05 and result["frac_high"] > 0.05, result["histogram"]
    assert result["sarle_b"] > 0.8 > before["sarle_b"]
    # the output keeps firing at a moderate, stable rate
    assert 0.005 < result["post_rate_end"] < 0.2
    assert result["wall_s"] < 30
