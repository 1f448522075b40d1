"""The compiled twin kernel against the numpy twin, and the batched twin against networks run
one by one: every state word after every step, on random networks across full parameter
ranges (``random_network``), narrow and wide widths, N not a multiple of the lanes, M = 0,
learning and Poisson inputs switched on and off."""

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.host.device import DeviceError, open_device
from spikeforge.host.model import kernel
from spikeforge.host.model.fast import BatchTwin, CompiledTwin, kernel_name, make_twin
from spikeforge.host.model.params import poisson_states, random_inputs, random_network
from spikeforge.host.model.twin import Twin
from spikeforge.sim.differential import randomize_state

pytest.importorskip("numba", reason="the compiled kernel needs numba (the `fast` extra)")

CONFIGS = [
    CoreConfig(neurons=7, inputs=5, lanes=4),
    CoreConfig(neurons=13, inputs=9, lanes=8, adaptive_threshold=False),
    CoreConfig(neurons=10, inputs=3, lanes=2, stdp=False, adaptive_threshold=True),
    CoreConfig(neurons=5, inputs=0, lanes=1, stdp=False, adaptive_threshold=False),
    CoreConfig(neurons=11, inputs=0, lanes=4),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2),
    CoreConfig(neurons=6, inputs=4, lanes=32, weight_bits=16, v_bits=32, i_bits=32,
               decay_bits=16, refrac_bits=16, trace_bits=16, theta_bits=31, rate_bits=16),
    CoreConfig(neurons=1, inputs=2, lanes=1, weight_bits=2, v_bits=8, i_bits=8,
               decay_bits=4, refrac_bits=1, trace_bits=2, theta_bits=1, rate_bits=1),
    CoreConfig(neurons=37, inputs=20, lanes=8, weight_bits=12, poisson=False),
    # stochastic rounding of the STDP updates and the membrane floor
    CoreConfig(neurons=7, inputs=5, lanes=4, stochastic_rounding=True, v_floor=True),
    CoreConfig(neurons=40, inputs=12, lanes=8, stochastic_rounding=True),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2,
               stochastic_rounding=True, v_floor=True),
    # the weight-dependent term of potentiation, with and without stochastic rounding; N=40
    # takes both the sparse (few spikes) and the dense walk of potentiation
    CoreConfig(neurons=7, inputs=5, lanes=4, weight_decay=True),
    CoreConfig(neurons=40, inputs=12, lanes=8, weight_decay=True),
    CoreConfig(neurons=40, inputs=12, lanes=8, weight_decay=True, stochastic_rounding=True),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2,
               stochastic_rounding=True, v_floor=True, weight_decay=True),
    CoreConfig(neurons=6, inputs=4, lanes=32, weight_bits=16, v_bits=32, i_bits=32,
               decay_bits=16, refrac_bits=16, trace_bits=16, theta_bits=31, rate_bits=16,
               weight_decay=True, stochastic_rounding=True),
    # winner-take-all (random networks draw wta = 1 mostly)
    CoreConfig(neurons=13, inputs=6, lanes=4, winner_take_all=True),
    CoreConfig(neurons=10, inputs=5, lanes=8, adaptive_threshold=False, v_floor=True,
               winner_take_all=True),
    CoreConfig(neurons=6, inputs=3, lanes=4, stdp=False, winner_take_all=True),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2,
               stochastic_rounding=True, winner_take_all=True),
]
WTA_CONFIGS = [config for config in CONFIGS if config.winner_take_all]

STATE = ("v", "i", "r", "s", "theta", "x", "y", "xin", "pstate", "W", "mask")


def assert_same_state(expected, got, where):
    assert ("sr_seed" in expected) == ("sr_seed" in got)
    for name in STATE + (("sr_seed",) if "sr_seed" in expected else ()):
        assert np.array_equal(np.asarray(expected[name], dtype=np.int64),
                              np.asarray(got[name], dtype=np.int64)), f"{name} differs {where}"


def random_case(config, seed, regime=None):
    """A random network, a random legal start state (applied by ``start``), an input raster
    and a learning schedule."""
    rng = np.random.default_rng(seed)
    network = random_network(config, rng, regime=regime)
    probe = Twin(network)
    randomize_state(probe, rng)
    if config.has_poisson and rng.random() < 0.3:
        probe.pstate[:] = poisson_states(config, seed)
    start = probe.state_dict()
    steps = 60
    raster = random_inputs(config, rng, steps, float(rng.choice([0.02, 0.2, 0.7])))
    if config.inputs:
        raster[1] = True
        raster[2] = False
    learn = rng.random(steps) < rng.choice([0.0, 0.6, 1.0])
    return network, start, raster, learn


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.describe())
@pytest.mark.parametrize("seed", range(8))
def test_compiled_twin_equals_numpy_twin_every_step(config, seed):
    regime = ["active", "active", "active", "active", "extreme", "extreme", "bounds",
              None][seed]
    network, start, raster, learn = random_case(config, 7919 * seed + config.neurons, regime)
    reference, compiled = Twin(network), CompiledTwin(network)
    for twin in (reference, compiled):
        twin.load_state(start)
    for t in range(raster.shape[0]):
        want = reference.step(raster[t], learn=bool(learn[t]))
        got = compiled.step(raster[t], learn=bool(learn[t]))
        assert np.array_equal(want, got), f"spikes differ at step {t}"
        assert_same_state(reference.state_dict(), compiled.state_dict(), f"at step {t}")
        assert np.array_equal(reference.last_inputs, compiled.last_inputs)
    assert compiled.synaptic_ops == reference.synaptic_ops


@pytest.mark.parametrize("config", CONFIGS[:3] + CONFIGS[5:7], ids=lambda c: c.describe())
def test_compiled_run_with_probes_equals_numpy_run(config):
    network, start, raster, _ = random_case(config, 5, "active")
    probes = [config.neurons - 1, 0]
    outputs = []
    for twin in (Twin(network), CompiledTwin(network)):
        twin.load_state(start)
        first = twin.run(raster[:40], learn=True, probes=probes)
        second = twin.run(raster[40:], learn=False, probes=probes)
        outputs.append((first, second, twin.state_dict()))
    (a1, a2, sa), (b1, b2, sb) = outputs
    for name in ("spikes", "v", "i"):
        assert np.array_equal(a1[name], b1[name]) and np.array_equal(a2[name], b2[name]), name
    assert_same_state(sa, sb, "after two runs")


WEIGHT_DECAY_CONFIGS = [config for config in CONFIGS if config.weight_decay]


@pytest.mark.parametrize("config", WEIGHT_DECAY_CONFIGS, ids=lambda c: c.describe())
@pytest.mark.parametrize("seed", range(6))
def test_compiled_twin_equals_numpy_twin_with_weight_decay(config, seed):
    """a_decay drawn non-zero over its whole range, weights of both signs, learning in every
    step: the signed potentiation of the compiled twin equals the reference's."""
    rng = np.random.default_rng(31 * seed + config.neurons)
    network, start, raster, _ = random_case(config, 4241 * seed + config.neurons, "active")
    rate_top = (1 << config.rate_bits) - 1
    g = network.global_params
    g.a_decay = int(rng.integers(1, rate_top + 1)) if seed % 2 else \
        int(rng.integers(1, max(2, (1 << g.stdp_shift) // 2)))
    g.a_decay = min(g.a_decay, rate_top)
    network.mask = start["mask"] = rng.random(network.mask.shape) < 0.6
    w_low, w_high = config.weight_range
    weights = rng.integers(w_low, w_high, size=network.W.shape, endpoint=True)
    network.W = start["W"] = np.where(rng.random(weights.shape) < 0.6, weights, 0)
    assert (network.W < 0).any() and (network.W > 0).any()
    reference, compiled = Twin(network), CompiledTwin(network)
    for twin in (reference, compiled):
        twin.load_state(start)
    changed = 0
    for t in range(raster.shape[0]):
        before = reference.W.copy()
        want = reference.step(raster[t], learn=True)
        got = compiled.step(raster[t], learn=True)
        assert np.array_equal(want, got), f"spikes differ at step {t}"
        assert_same_state(reference.state_dict(), compiled.state_dict(), f"at step {t}")
        changed += int((reference.W != before).sum())
    assert changed > 0


def test_weight_decay_moves_weights_towards_the_trace_ratio():
    """One neuron spiking every step with constant pre traces: each weight converges to
    about a_plus * X / a_decay, from above and from below."""
    config = CoreConfig(neurons=1, inputs=4, lanes=1, weight_decay=True)
    network = random_network(config, 0, regime="active")
    network.neuron_params.thr[:] = config.v_range[0]      # spikes every step
    network.neuron_params.refrac[:] = 0
    g = network.global_params
    g.w_min, g.w_max = config.weight_range
    g.a_plus, g.a_minus, g.a_decay, g.stdp_shift = 8, 0, 16, 6
    g.x_inc, g.alpha_x = 100, 0            # X = 100 for a source spiking every step
    g.poisson_on = 0
    network.mask[:] = True
    network.W[:, 0] = [0, -100, 100, 0, 20]
    raster = np.zeros((300, 4), dtype=bool)
    raster[:, :2] = True
    for twin in (Twin(network), CompiledTwin(network)):
        twin.run(raster, learn=True)
        W = twin.state_dict()["W"][:, 0]
        # the neuron's own row and inputs 0 and 1 (rows 0, 1, 2) towards
        # 8 * 100 / 16 = 50 (rounded down, the steps stop at 47 from below, at 50 from
        # above); inputs 2 and 3 (X = 0) decay towards 0
        assert W[0] == 47 and W[1] == 47 and W[2] == 50, W
        assert W[3] in (-1, 0) and W[4] in (-1, 0), W
@pytest.mark.parametrize("config", WTA_CONFIGS, ids=lambda c: c.describe())
@pytest.mark.parametrize("seed", range(4))
def test_compiled_twin_equals_numpy_twin_with_ties_in_the_margin(config, seed):
    """Winner-take-all with equal margins: the even neurons take the parameters, weight
    column and start state of the neuron that spikes most without winner-take-all, the odd
    ones those of the next. Alike neurons stay alike until one of them wins, and then all of
    them had the same margin: the first of each group to win must be its lowest index."""
    network, start, raster, learn = random_case(config, 31 * seed + config.neurons, "active")
    trial = Twin(network)
    trial.load_state(start)
    counts = trial.run(raster)["spikes"].sum(axis=0)
    leaders = np.argsort(-counts, kind="stable")[:2]
    network.global_params.wta = 1
    if not counts.any():
        network.neuron_params.thr[leaders] = config.v_range[0]    # a silent network
    if config.stochastic_rounding:
        learn[:] = False      # a rounding keyed by the column would tell the group apart
    p = network.neuron_params
    groups = [np.arange(0, config.neurons, 2), np.arange(1, config.neurons, 2)]
    original = {name: np.array(value) for name, value in start.items()}
    params = {name: getattr(p, name).copy() for name in (
        "thr", "v_reset", "reset_sub", "refrac", "alpha_v", "alpha_i", "bias", "theta_inc",
        "alpha_th")}
    for group, leader in zip(groups, leaders):
        for name, value in params.items():
            getattr(p, name)[group] = value[leader]
        for name in ("v", "i", "r", "theta", "x", "y", "W", "mask"):
            start[name][..., group] = original[name][..., leader, None]
    reference, compiled = Twin(network), CompiledTwin(network)
    for twin in (reference, compiled):
        twin.load_state(start)
    first = {}
    for t in range(raster.shape[0]):
        want = reference.step(raster[t], learn=bool(learn[t]))
        got = compiled.step(raster[t], learn=bool(learn[t]))
        assert np.array_equal(want, got), f"spikes differ at step {t}"
        assert want.sum() <= 1
        assert_same_state(reference.state_dict(), compiled.state_dict(), f"at step {t}")
        for g, group in enumerate(groups):
            if g not in first and want[group].any():
                first[g] = int(np.flatnonzero(want)[0])
    assert first, "no neuron spiked"
    for g, winner in first.items():
        assert winner == groups[g][0]


def test_long_learning_run_with_saturating_weights():
    """Many learning steps drive weights to the bounds; rows start with weights outside
    [w_min, w_max], which the first learning update touching them must bring inside."""
    config = CoreConfig(neurons=20, inputs=8, lanes=8)
    rng = np.random.default_rng(3)
    network = random_network(config, rng, regime="active", plastic=0.8)
    network.global_params.w_min, network.global_params.w_max = -20, 30
    network.global_params.a_plus = network.global_params.a_minus = 200
    network.global_params.stdp_shift = 8
    raster = random_inputs(config, rng, 400, 0.2)
    a, b = Twin(network), CompiledTwin(network)
    out_a = a.run(raster, learn=True)
    out_b = b.run(raster, learn=True)
    assert np.array_equal(out_a["spikes"], out_b["spikes"])
    assert_same_state(a.state_dict(), b.state_dict(), "after 400 learning steps")
    plastic = network.mask
    assert (a.W[plastic] == 30).any() and (a.W[plastic] == -20).any()


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[3], CONFIGS[5], CONFIGS[8],
                                    WEIGHT_DECAY_CONFIGS[2], WTA_CONFIGS[0]],
                         ids=lambda c: c.describe())
@pytest.mark.parametrize("kind", ["compiled", "numpy"])
def test_batch_members_equal_networks_run_one_by_one(config, kind):
    members = 5
    cases = [random_case(config, 100 + b) for b in range(members)]
    networks = [case[0] for case in cases]
    batch = BatchTwin(networks, kind=kind)
    alone = [Twin(network) for network in networks]
    for b, (_, start, _, _) in enumerate(cases):
        batch.load_member_state(b, start)
        alone[b].load_state(start)
    rasters = np.stack([case[2] for case in cases])
    learn = cases[0][3]
    for t in range(rasters.shape[1]):
        spikes = batch.step(rasters[:, t], learn=bool(learn[t]))
        for b, twin in enumerate(alone):
            assert np.array_equal(spikes[b], twin.step(rasters[b, t], learn=bool(learn[t])))
            assert_same_state(twin.state_dict(), batch.member_state(b),
                              f"for member {b} at step {t}")
    assert batch.synaptic_ops.tolist() == [twin.synaptic_ops for twin in alone]


def test_batch_run_with_learning_schedule_and_probes():
    config = CoreConfig(neurons=16, inputs=10, lanes=4)
    networks = [random_network(config, seed, regime="active") for seed in range(4)]
    rng = np.random.default_rng(9)
    rasters = rng.random((4, 80, config.inputs)) < 0.2
    schedule = rng.random(80) < 0.5
    probes = [3, 15]
    outputs = {kind: BatchTwin(networks, kind=kind).run(rasters, learn=schedule,
                                                         probes=probes)
               for kind in ("compiled", "numpy")}
    for name in ("spikes", "v", "i"):
        assert np.array_equal(outputs["compiled"][name], outputs["numpy"][name]), name
    for b, network in enumerate(networks):
        twin = Twin(network)
        for t in range(80):
            assert np.array_equal(outputs["compiled"]["spikes"][b, t],
                                  twin.step(rasters[b, t], learn=bool(schedule[t])))
    assert outputs["compiled"]["spikes"].any()


def test_batch_refuses_mixed_configurations_and_bad_rasters():
    a = random_network(CoreConfig(neurons=4, inputs=2, lanes=4), 0)
    b = random_network(CoreConfig(neurons=5, inputs=2, lanes=4), 0)
    with pytest.raises(ValueError, match="member 1 is for N=5 .*one configuration"):
        BatchTwin([a, b])
    batch = BatchTwin([a, a])
    with pytest.raises(ValueError, match=r"shape \(2, T, 2\) or \(T, 2\)"):
        batch.run(np.zeros((3, 5, 2), dtype=bool))
    with pytest.raises(ValueError, match="one per step"):
        batch.run(np.zeros((2, 5, 2), dtype=bool), learn=[True, False])


def test_compiled_weights_are_read_only_and_load_state_writes_them():
    config = CoreConfig(neurons=4, inputs=2, lanes=4)
    network = random_network(config, 1)
    twin = CompiledTwin(network)
    with pytest.raises(ValueError, match="read-only"):
        twin.W[0, 0] = 1
    W = np.full(network.W.shape, 3)
    twin.load_state({"W": W})
    assert (twin.W == 3).all() and twin.state_dict()["W"].dtype == np.int64


def test_model_device_uses_the_compiled_kernel_and_picks_numpy_from_the_url():
    config = CoreConfig(neurons=12, inputs=6, lanes=4)
    network = random_network(config, 2, regime="active")
    raster = random_inputs(config, 3, 50, 0.3)
    results = {}
    for url in ("model://", "model://?kernel=numpy", "model://?kernel=compiled"):
        with open_device(url, config) as device:
            device.load_network(network)
            results[url] = device.run(inputs=raster, learn=True, probes=[0, 5])
            results[url].W = device.read_network().W
            kind = type(device.twin).__name__
            assert kind == ("Twin" if "numpy" in url else "CompiledTwin")
    first = results["model://"]
    for result in results.values():
        assert np.array_equal(result.spikes, first.spikes)
        assert np.array_equal(result.probes["v"], first.probes["v"])
        assert np.array_equal(result.W, first.W)
    with pytest.raises(DeviceError, match="kernel=fast is unknown: use kernel=auto"):
        open_device("model://?kernel=fast", config)


def test_without_numba_the_numpy_twin_runs(monkeypatch):
    monkeypatch.setattr(kernel, "_KERNEL", None)
    monkeypatch.setattr(kernel, "_REASON", "numba is not installed")
    network = random_network(CoreConfig(neurons=4, inputs=2, lanes=4), 0)
    assert kernel_name() == "numpy"
    assert type(make_twin(network)) is Twin
    assert BatchTwin([network, network]).kind == "numpy"
    with pytest.raises(RuntimeError, match="unavailable: numba is not installed"):
        make_twin(network, "compiled")
    with pytest.raises(DeviceError, match="unavailable: numba is not installed"):
        open_device("model://?kernel=compiled", network.config)


@pytest.mark.parametrize("kind", ["compiled", "numpy"])
def test_replicated_batch_shares_weights_until_a_step_learns(kind):
    config = CoreConfig(neurons=12, inputs=7, lanes=4)
    network = random_network(config, 22, regime="active", plastic=1.0)
    rng = np.random.default_rng(22)
    rasters = rng.random((6, 40, config.inputs)) < 0.3
    batch = BatchTwin.replicate(network, 6, kind=kind)
    out = batch.run(rasters[:, :20], learn=False)["spikes"]
    out = np.concatenate([out, batch.run(rasters[:, 20:], learn=True)["spikes"]], axis=1)
    for b in range(6):
        twin = Twin(network)
        alone = np.concatenate([twin.run(rasters[b, :20])["spikes"],
                                twin.run(rasters[b, 20:], learn=True)["spikes"]])
        assert np.array_equal(out[b], alone), f"member {b}"
        assert_same_state(twin.state_dict(), batch.member_state(b), f"for member {b}")
    # different inputs, so the members learned different weights
    assert not np.array_equal(batch.member_state(0)["W"], batch.member_state(1)["W"])
