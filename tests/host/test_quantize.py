"""The quantiser: physical values -> the core's integers, its report, its warnings and errors."""

import math

import numpy as np
import pytest

from spikeforge import CoreConfig
from spikeforge.host.model.quantize import (QuantizationError, Stdp, decay_factor, factor_tau,
                                            quantize)


def _random_case(rng):
    n, m = int(rng.integers(1, 20)), int(rng.integers(0, 20))
    dt = float(rng.choice([1e-4, 5e-4, 1e-3]))
    v_rest = rng.uniform(-0.075, -0.055, n)
    kwargs = dict(
        dt=dt,
        tau_m=rng.uniform(5e-3, 50e-3, n),
        tau_syn=rng.uniform(2 * dt, 10e-3, n),
        v_rest=v_rest,
        v_reset=v_rest + rng.uniform(-0.01, 0.0, n),
        v_thresh=v_rest + rng.uniform(0.005, 0.02, n),
        t_ref=rng.uniform(0, 5e-3, n),
        bias=rng.uniform(-0.01, 0.02, n),
        theta_inc=rng.uniform(0, 2e-3, n),
        tau_th=rng.uniform(0.02, 0.5, n),
    )
    weights = rng.uniform(-1e-3, 3e-3, (n + m, n))
    stdp = Stdp(tau_plus=rng.uniform(5e-3, 40e-3), tau_minus=rng.uniform(5e-3, 40e-3),
                A_plus=rng.uniform(5e-5, 2e-4), A_minus=rng.uniform(5e-5, 2e-4), w_min=-1e-3,
                w_max=3e-3)
    return weights, kwargs, stdp


@pytest.mark.parametrize("seed", range(25))
def test_round_trip_within_reported_error(seed):
    rng = np.random.default_rng(seed)
    weights, kw, stdp = _random_case(rng)
    network, report = quantize(weights, stdp=stdp, **kw)
    c, p, g = network.config, network.neuron_params, network.global_params
    F, dt = c.decay_bits, kw["dt"]
    s = report.scales["v_scale"]

    # back to physical values, computed here from the integers alone
    a_m = p.alpha_v / 2 ** F
    a_syn = p.alpha_i / 2 ** F
    back = {
        "tau_m": -dt / np.log(a_m),
        "tau_syn": -dt / np.log(a_syn),
        "tau_th": -dt / np.log(p.alpha_th / 2 ** F),
        "v_thresh": kw["v_rest"] + p.thr / s,
        "v_reset": kw["v_rest"] + p.v_reset / s,
        "t_ref": p.refrac * dt,
        "bias": p.bias / (s * (1 - a_m) * (1 - a_syn)),
        "theta_inc": p.theta_inc / s,
        "tau_plus": -dt / math.log(g.alpha_x / 2 ** F),
        "tau_minus": -dt / math.log(g.alpha_y / 2 ** F),
    }
    for name, value in back.items():
        asked = kw[name] if name in kw else getattr(stdp, name)
        asked = np.atleast_1d(asked)
        entry = report[name]
        np.testing.assert_allclose(entry.used, value, rtol=1e-12, atol=1e-15, err_msg=name)
        scale = np.where(asked != 0, np.abs(asked), 1.0)
        assert np.all(np.abs(value - asked) / scale <= entry.rel_error + 1e-12), name
    # a time constant more than 1 % off is always announced
    for name in ("tau_m", "tau_syn", "tau_plus", "tau_minus"):
        if report[name].rel_error > 0.01:
            assert any(w.startswith(f"{name}=") and "poor decay-factor resolution" in w
                       for w in report.warnings), (name, report.warnings)
    for name in ("v_thresh", "v_reset"):
        assert report[name].rel_error < 1e-4, name
    assert report["t_ref"].rel_error <= 0.5 * dt / np.min(kw["t_ref"][kw["t_ref"] > 0]) + 1e-12

    # weights: those neither zeroed nor clipped come back within the reported error
    # the share of a current jump that reaches v within its step, from the decay factors
    tau_m, tau_s = back["tau_m"], back["tau_syn"]
    K = tau_s * (a_syn - a_m) / (tau_s - tau_m)
    w_back = network.W * 2 ** g.w_shift / (s * K)[None, :]
    kept = (weights != 0) & (network.W != 0) & (np.abs(network.W) < 2 ** (c.weight_bits - 1) - 1)
    if kept.any():
        err = np.abs(w_back[kept] - weights[kept]) / np.abs(weights[kept])
        assert err.max() <= report.weights["rel_error"] + 1e-12
    # every weight is within half a weight unit of what was asked (or clipped / zeroed)
    unit = 2 ** g.w_shift / (s * K)[None, :]
    inside = (network.W > c.weight_range[0]) & (network.W < c.weight_range[1])
    half = 0.5 * np.broadcast_to(unit, weights.shape)
    assert np.all(np.abs(w_back - weights)[inside] <= half[inside] * (1 + 1e-9))
    assert report.weights["clipped"] == 0


def test_the_one_decay_conversion():
    assert decay_factor(20e-3, 1e-3, 12) == round(math.exp(-1 / 20) * 4096)
    assert decay_factor(0.0, 1e-3, 12) == 0
    assert decay_factor(1e9, 1e-3, 12) == 4095          # clipped below 1
    assert factor_tau(3896, 1e-3, 12) == pytest.approx(-1e-3 / math.log(3896 / 4096))
    np.testing.assert_array_equal(decay_factor([10e-3, 20e-3], 1e-3, 8),
                                  [round(math.exp(-0.1) * 256), round(math.exp(-0.05) * 256)])


def test_report_reads_well_and_counts_weights():
    weights = np.zeros((3, 2))
    weights[0, 1] = 2e-3
    weights[2, 0] = 1e-9                                   # far below one weight unit
    network, report = quantize(weights)
    assert report.weights == pytest.approx({"nonzero": 2, "zeroed": 1, "clipped": 0,
                                            "rel_error": report.weights["rel_error"],
                                            "unit_V": report.weights["unit_V"]})
    text = str(report)
    assert "tau_m" in text and "round to zero" in text
    assert repr(report).startswith("<QuantizationReport dt=0.001 s")
    html = report._repr_html_()
    assert "<td>tau_m</td><td>0.02</td>" in html and "round to zero" in html
    assert network.W[2, 0] == 0 and network.W[0, 1] > 0


def _warnings(**kw):
    weights = kw.pop("weights", np.full((4, 2), 1e-3))
    return quantize(weights, **kw)[1].warnings


def _one(warnings, text):
    hits = [w for w in warnings if text in w]
    assert hits, f"no warning with {text!r} in {warnings}"
    return hits[0]


def test_warns_tau_below_two_steps():
    w = _one(_warnings(tau_syn=1.5e-3), "tau_syn=0.0015 s is shorter than 2 dt")
    assert "use a smaller dt" in w


def test_warns_poor_decay_resolution():
    config = CoreConfig(neurons=2, inputs=2, decay_bits=6)
    w = _one(_warnings(tau_m=0.2, config=config), "poor decay-factor resolution")
    assert w.startswith("tau_m=0.2 s becomes") and "use more decay_bits" in w


def test_warns_weights_round_to_zero_and_clip():
    weights = np.full((4, 2), 1e-3)
    weights[0, 0] = 1e-8
    _one(_warnings(weights=weights), "1 of 8 non-zero weights round to zero")
    _one(_warnings(weights=np.full((4, 2), 1e-3), w_shift=0, v_scale=5e6),
         "8 weights clip to the signed 8-bit range at w_shift=0")


def test_warns_current_and_membrane_saturation():
    config = CoreConfig(neurons=2, inputs=200, i_bits=12, v_bits=12, theta_bits=8)
    _one(_warnings(weights=np.full((202, 2), 0.05), config=config),
         "the synaptic current of neuron 0 saturates when all its excitatory sources spike")
    w = _one(_warnings(weights=np.full((202, 2), 1e-3), config=config,
                       stdp=Stdp(A_plus=1e-3, A_minus=1e-3, w_max=0.05)),
             "the synaptic current of neuron 0 saturates")
    assert "(plastic weights at w_max)" in w
    assert not _warnings(weights=np.full((202, 2), 1e-3), config=config)
    _one(_warnings(weights=np.zeros((4, 2)), bias=0.3, v_thresh=-0.055, v_reset=-0.065),
         "the bias of neuron 0 alone drives v past the membrane range")


def test_warns_refractory_period_below_half_a_step():
    _one(_warnings(t_ref=0.4e-3), "t_ref below dt/2 rounds to no refractory period at dt = 0.001")


def test_warns_learning_rate_clip():
    # a fixed shift of 31 leaves no room: the rate saturates at 255
    w = _one(_warnings(stdp=Stdp(A_plus=1e-3, A_minus=1e-4, w_max=2e-3), stdp_shift=31),
             "A_plus=0.001 V needs a learning rate above 255 at stdp_shift=31; it clips to 0 V")
    assert w.endswith("use a smaller stdp_shift (or leave it to the quantiser)")


def test_warns_coarse_stdp_amplitude():
    # one weight unit is about 37.5 uV here: 1.5 units cannot be represented within 10 %
    w = _one(_warnings(weights=np.full((4, 2), 4e-3), stdp=Stdp(A_plus=5.6e-5, A_minus=4e-4,
                                                               w_max=4e-3)),
             "A_plus=5.6e-05 V becomes")
    assert "learning steps are whole weight units" in w and "use more weight_bits" in w


def test_warns_stdp_amplitude_rounds_to_zero_and_mixed_tau_m():
    warnings = _warnings(stdp=Stdp(A_plus=1e-9, A_minus=1e-4, w_max=2e-3))
    _one(warnings, "A_plus=1e-09 V is")
    _one(warnings, "every change rounds to zero")
    _one(_warnings(tau_m=[10e-3, 30e-3], stdp=Stdp(A_plus=1e-4, A_minus=1e-4, w_max=2e-3)),
         "plastic neurons differ in tau_m")


@pytest.mark.parametrize("kwargs, message", [
    (dict(tau_m=-0.02), "tau_m=-0.02 is negative: a time constant is a duration in seconds"),
    (dict(tau_m=20), "tau_m=20 s is implausibly long: times are in seconds; did you mean "
                     "20 ms = 0.02?"),
    (dict(tau_syn=[5e-3, 5]), "tau_syn[1]=5 s is implausibly long"),
    (dict(v_thresh=-50), "v_thresh=-50 V is implausibly large: voltages are in volts; did you "
                         "mean -50 mV = -0.05?"),
    (dict(v_thresh=-0.07, v_reset=-0.065), "v_thresh=-0.07 V is not above v_reset=-0.065 V"),
    (dict(v_thresh=-0.065, v_reset=-0.065), "the threshold must lie above the reset"),
    (dict(dt=1), "dt=1 s is implausibly long: times are in seconds; did you mean 1 ms = 0.001?"),
    (dict(dt=0), "dt=0 is not allowed"),
    (dict(t_ref=0.5), "t_ref=0.5 s is 500 steps; the core counts at most 255"),
    (dict(reset="zero"), "reset='zero' is unknown"),
    (dict(weights=np.full((4, 2), 2.0)), "weight 2 V is implausibly large"),
    (dict(weights=np.zeros((1, 2))), "weights has shape (1, 2); expected (N+M, N)"),
    (dict(tau_m=[0.02, 0.02, 0.02]), "tau_m has (3,) values; give one number or one per neuron"),
    (dict(stdp=Stdp(tau_plus=-0.01)), "tau_plus=-0.01 is negative"),
    (dict(stdp=Stdp(A_plus=-1e-4)), "A_plus=-0.0001 is negative"),
    (dict(stdp=Stdp(w_min=3e-3, w_max=1e-3)), "w_min=0.003 is not below w_max=0.001"),
    (dict(theta_inc=1e-3, config=CoreConfig(neurons=2, inputs=2, adaptive_threshold=False)),
     "theta_inc is set but the core has no adaptive threshold"),
    (dict(v_scale=1e9), "v_thresh=-0.05 V lies outside the membrane range"),
])
def test_errors_name_parameter_value_and_fix(kwargs, message):
    weights = kwargs.pop("weights", np.full((4, 2), 1e-3))
    with pytest.raises(QuantizationError) as info:
        quantize(weights, **kwargs)
    assert message in str(info.value)


def test_overrides_are_used():
    network, report = quantize(np.full((4, 2), 1e-3), v_scale=1e5, w_shift=3,
                               stdp=Stdp(A_plus=1e-4, A_minus=1e-4, w_max=2e-3), stdp_shift=9,
                               trace_inc=100)
    g = network.global_params
    assert (g.w_shift, g.stdp_shift, g.x_inc, g.y_inc) == (3, 9, 100, 100)
    assert report.scales["v_scale"] == 1e5
    assert network.neuron_params.thr[0] == round(1e5 * 0.015)


def test_quantised_network_runs_on_the_twin():
    from spikeforge.host.device import open_device

    weights = np.zeros((3, 2))
    weights[2, :] = 0.08                       # the input drives both neurons over threshold
    network, _ = quantize(weights, v_thresh=-0.055, tau_syn=2e-3)
    inputs = np.zeros((30, 1), dtype=bool)
    inputs[::2] = True
    with open_device("model://?kernel=numpy", network.config) as device:
        device.load_network(network)
        spikes = device.run(inputs=inputs).spikes
    assert spikes.sum() > 0


def test_one_conversion_from_tau_to_decay_factor():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    call = re.compile(r"\b(np|numpy|math)\.(exp|log)\(")
    hits = [f"{path.relative_to(root)}:{number}"
            for path in sorted((root / "host").rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if call.search(line)]
    # decay_fraction and its inverse factor_tau, nothing else
    assert [h.split(":")[0] for h in hits] == ["host/model/quantize.py"] * 2, hits
