"""Tests of the numpy twin against docs/model.md: hand-computed steps, edge cases and a scalar
reference implementation written as plain loops directly from the specification."""

import numpy as np
import pytest

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.model.params import (GlobalParams, Network, NeuronParams, poisson_states,
                                    random_inputs, random_network)
from spikeforge.host.model.twin import Twin, dec


# -- building blocks ------------------------------------------------------------------------------

def make_network(config, W=None, mask=None, neuron=None, glob=None):
    """A network with explicit parameters; unspecified fields are neutral (no decay effects
    are assumed: tests give every field they rely on)."""
    n = config.neurons
    base = dict(thr=100, v_reset=0, reset_sub=0, refrac=0, alpha_v=0, alpha_i=0, bias=0,
                theta_inc=0, alpha_th=0)
    base.update(neuron or {})
    gbase = dict(w_shift=0, w_min=config.weight_range[0], w_max=config.weight_range[1],
                 a_plus=0, a_minus=0, stdp_shift=0, x_inc=0, y_inc=0, alpha_x=0, alpha_y=0)
    gbase.update(glob or {})
    if W is None:
        W = np.zeros((config.rows, n), dtype=np.int64)
    return Network(config, NeuronParams.full(config, **base), GlobalParams(**gbase),
                   np.asarray(W, dtype=np.int64), mask).validate()


def small(**kw):
    base = dict(neurons=2, inputs=1, lanes=1, weight_bits=8, v_bits=16, i_bits=16,
                decay_bits=8, refrac_bits=4, trace_bits=8, theta_bits=8, rate_bits=8)
    base.update(kw)
    return CoreConfig(**base)


# -- dec -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, a, F, expected", [
    (100, 128, 8, 50),
    (-100, 128, 8, -50),
    (7, 128, 8, 3),          # 3.5 -> 3
    (-7, 128, 8, -3),        # -3.5 -> -3 (toward zero, not -4)
    (-1, 255, 8, 0),         # -0.996 -> 0
    (1, 255, 8, 0),
    (-255, 255, 8, -254),    # -254.0039 -> -254
    (-256, 255, 8, -255),
    (1000, 0, 8, 0),
    (-1000, 0, 8, 0),
    (-3, 200, 8, -2),        # -600/256 = -2.34 -> -2
    (3, 200, 8, 2),
    (-(1 << 31), (1 << 16) - 1, 16, -(1 << 31) + (1 << 15)),
    (0, 255, 8, 0),
])
def test_dec_rounds_toward_zero(x, a, F, expected):
    assert dec(x, a, F) == expected
    assert dec(np.array([x], dtype=np.int64), np.array([a]), F)[0] == expected


def test_dec_vectorised_matches_definition_exhaustively():
    F = 6
    x = np.arange(-600, 601, dtype=np.int64)
    for a in range(0, 1 << F):
        got = dec(x, np.full(x.shape, a), F)
        want = [(p >> F) if p >= 0 else -((-p) >> F) for p in (int(v) * a for v in x)]
        assert got.tolist() == want
        assert np.all(np.abs(got) <= np.abs(x))


def test_dec_decays_every_value_to_zero():
    F = 8
    for a in (0, 1, 128, 254, 255):
        for x0 in (-5000, -1, 1, 5000):
            x = x0
            for _ in range(20000):
                x = dec(x, a, F)
                if x == 0:
                    break
            assert x == 0


# -- a hand-computed 2-neuron network ------------------------------------------------------------

def test_hand_computed_two_neuron_network():
    """N=2, M=1, F=8 (factor a/256). Neuron 0 is driven by input 0 (weight 50, w_shift 1,
    i.e. current +100 per input spike); neuron 1 receives neuron 0's spikes (weight 40 ->
    current +80). Numbers below are worked out by hand from docs/model.md."""
    config = small(stdp=False, adaptive_threshold=False)
    W = np.zeros((3, 2), dtype=np.int64)
    W[2, 0] = 50          # input 0 -> neuron 0
    W[0, 1] = 40          # neuron 0 -> neuron 1
    net = make_network(config, W, neuron=dict(
        thr=[150, 100], v_reset=[-10, 0], reset_sub=[0, 0], refrac=[1, 0],
        alpha_v=[128, 192], alpha_i=[64, 0], bias=[0, 0]), glob=dict(w_shift=1))
    twin = Twin(net)

    # step 0: input 0 spikes. acc0 = 50 -> i0 = 0 + 100 + 0 = 100; v0 = dec(0)+100 = 100 < 150
    spikes = twin.step([0])
    assert spikes.tolist() == [False, False]
    assert twin.i.tolist() == [100, 0] and twin.v.tolist() == [100, 0]

    # step 1: input 0 spikes. i0 = dec(100, 64) + 100 = 25 + 100 = 125;
    # v0 = dec(100, 128) + 125 = 50 + 125 = 175 >= 150 -> spike, v0 = v_reset = -10, r0 = 1
    spikes = twin.step([0])
    assert spikes.tolist() == [True, False]
    assert twin.i.tolist() == [125, 0]
    assert twin.v.tolist() == [-10, 0]
    assert twin.r.tolist() == [1, 0] and twin.s.tolist() == [True, False]

    # step 2: no input; neuron 0's spike arrives at neuron 1: acc1 = 40 -> i1 = 80,
    # v1 = dec(0, 192) + 80 = 80 < 100. Neuron 0 is refractory: i0 = dec(125, 64) = 31
    # (31.25), v0 held at -10, r0 = 0.
    spikes = twin.step([])
    assert spikes.tolist() == [False, False]
    assert twin.i.tolist() == [31, 80]
    assert twin.v.tolist() == [-10, 80]
    assert twin.r.tolist() == [0, 0]

    # step 3: input spikes. i0 = dec(31, 64) + 100 = 7 + 100 = 107 (7.75 -> 7);
    # v0 = dec(-10, 128) + 107 = -5 + 107 = 102 < 150.
    # neuron 1: i1 = dec(80, 0) + 0 = 0; v1 = dec(80, 192) + 0 = 60.
    spikes = twin.step(np.array([True]))
    assert spikes.tolist() == [False, False]
    assert twin.i.tolist() == [107, 0]
    assert twin.v.tolist() == [102, 60]

    # step 4: input spikes. i0 = dec(107, 64) + 100 = 26 + 100 = 126 (26.75 -> 26);
    # v0 = dec(102, 128) + 126 = 51 + 126 = 177 -> spike, v0 = -10, r0 = 1.
    # neuron 1: v1 = dec(60, 192) = 45.
    spikes = twin.step([0])
    assert spikes.tolist() == [True, False]
    assert twin.i.tolist() == [126, 0]
    assert twin.v.tolist() == [-10, 45]

    # step 5: arrival at neuron 1: i1 = 80, v1 = dec(45, 192) + 80 = 33 + 80 = 113 >= 100
    # (33.75 -> 33) -> spike, v1 = 0, r1 = refrac = 0. Neuron 0: i0 = dec(126, 64) = 31 (31.5)
    spikes = twin.step([])
    assert spikes.tolist() == [False, True]
    assert twin.i.tolist() == [31, 80]
    assert twin.v.tolist() == [-10, 0]
    assert twin.r.tolist() == [0, 0]
    assert twin.synaptic_ops == 6 * 2  # arriving rows: 1, 1, 1, 1, 1, 1


def test_negative_decay_rounds_toward_zero_in_state():
    config = small(neurons=1, inputs=1, stdp=False, adaptive_threshold=False)
    W = np.array([[0], [-1]])
    net = make_network(config, W, neuron=dict(thr=1000, alpha_v=200, alpha_i=200))
    twin = Twin(net)
    twin.step([0])  # i = -1, v = -1
    assert (twin.i[0], twin.v[0]) == (-1, -1)
    twin.step([])   # i = dec(-1) = 0, v = dec(-1) + 0 = 0   (floor would give -1)
    assert (twin.i[0], twin.v[0]) == (0, 0)
    twin.i[0], twin.v[0] = -7, -7
    twin.step([])   # i = dec(-7, 200) = -5 (-5.47), v = dec(-7, 200) + -5 = -10
    assert (twin.i[0], twin.v[0]) == (-5, -10)


# -- saturation ----------------------------------------------------------------------------------

def test_saturation_of_current_and_membrane_at_both_ends():
    config = small(neurons=2, inputs=2, v_bits=12, i_bits=10, weight_bits=8,
                   stdp=False, adaptive_threshold=False)
    W = np.zeros((4, 2), dtype=np.int64)
    W[2] = [127, -128]
    W[3] = [127, -128]
    net = make_network(config, W, neuron=dict(thr=1000, reset_sub=1, alpha_v=255,
                                              alpha_i=255), glob=dict(w_shift=2))
    twin = Twin(net)
    twin.v[:] = [1900, -1900]
    twin.step([0, 1])
    # acc = +254 / -256, times 2^2: +1016 / -1024 -> i saturates at 10 bits: 511 / -512
    assert twin.i.tolist() == [511, -512]
    # v1 = dec(1900, 255) + 511 = 1892 + 511 = 2403 -> 2047 (12 bits) >= 1000: spike,
    # subtract: 1047 (1403 without saturation); v1 = -1892 - 512 = -2404 -> -2048
    assert twin.s.tolist() == [True, False]
    assert twin.v.tolist() == [1047, -2048]
    twin.step([0, 1])
    # i = dec(511, 255) + 1016 = 509 + 1016 -> 511; dec(-512, 255) - 1024 -> -512
    assert twin.i.tolist() == [511, -512]
    assert twin.v[1] == -2048


def test_current_saturates_and_saturated_membrane_meets_maximal_threshold():
    config = small(neurons=1, inputs=1, v_bits=10, i_bits=10, stdp=False,
                   adaptive_threshold=False)
    net = make_network(config, [[0], [0]], neuron=dict(thr=511, alpha_v=255, alpha_i=255,
                                                       bias=300))
    twin = Twin(net)
    twin.step([])
    assert (twin.i[0], twin.v[0]) == (300, 300)
    assert not twin.s[0]
    # i = dec(300, 255) + 300 = 298 + 300 = 598 -> 511; v1 = 298 + 511 = 809 -> 511 = thr
    twin.step([])
    assert twin.i[0] == 511
    assert twin.s[0] and twin.v[0] == 0


def test_subtractive_reset_saturates_and_threshold_saturates():
    config = small(neurons=1, inputs=0, v_bits=8, i_bits=8, theta_bits=7, decay_bits=4,
                   stdp=False, adaptive_threshold=True)
    # thr = -128, theta 100 -> effective threshold sat(-28) = -28; thr + theta computed wide
    net = make_network(config, np.zeros((1, 1)), neuron=dict(
        thr=-128, reset_sub=1, alpha_v=0, alpha_i=0, bias=-128, theta_inc=0, alpha_th=15))
    twin = Twin(net)
    # v1 = 0 + i' = -128 >= -128 -> spike, v' = sat(-128 - (-128)) = 0
    assert twin.step([])[0]
    assert twin.v[0] == 0
    # now with theta: effective threshold -128 + 100 = -28; v1 = -128 < -28 no spike
    twin.theta[0] = 100
    assert not twin.step([])[0]
    assert twin.v[0] == -128
    assert twin.theta[0] == 93  # dec(100, 15) with F=4 = 93.75 -> 93

    # positive side: thr 127 + theta 100 saturates at 127
    config = small(neurons=1, inputs=0, v_bits=8, i_bits=8, theta_bits=7, decay_bits=4,
                   stdp=False, adaptive_threshold=True)
    net = make_network(config, np.zeros((1, 1)), neuron=dict(
        thr=127, reset_sub=1, alpha_v=0, alpha_i=0, bias=127, alpha_th=15))
    twin = Twin(net)
    twin.theta[0] = 100
    assert twin.step([])[0]          # v1 = 127 >= sat(227) = 127
    assert twin.v[0] == 0            # 127 - 127


def test_subtractive_reset_below_bound():
    config = small(neurons=1, inputs=0, v_bits=8, i_bits=8, theta_bits=7, stdp=False,
                   adaptive_threshold=False)
    net = make_network(config, np.zeros((1, 1)), neuron=dict(thr=-100, reset_sub=1,
                                                             bias=-128))
    twin = Twin(net)
    # i' = -128, v1 = -128 < -100: no spike
    assert not twin.step([])[0]
    assert twin.v[0] == -128
    net = make_network(config, np.zeros((1, 1)), neuron=dict(thr=-100, reset_sub=1, bias=-90))
    twin = Twin(net)
    assert twin.step([])[0]       # v1 = -90 >= -100, v' = sat(-90 + 100) = 10
    assert twin.v[0] == 10
    net = make_network(config, np.zeros((1, 1)), neuron=dict(thr=-128, reset_sub=1,
                                                             bias=127))
    twin = Twin(net)
    assert twin.step([])[0]       # v1 = 127, v' = sat(127 + 128) = 127
    assert twin.v[0] == 127


# -- refractory and reset modes ------------------------------------------------------------------

def test_refractory_holds_v_and_counts_down_while_current_evolves():
    config = small(neurons=1, inputs=1, stdp=False, adaptive_threshold=False)
    net = make_network(config, [[0], [100]], neuron=dict(thr=50, v_reset=-7, refrac=3,
                                                         alpha_v=128, alpha_i=128))
    twin = Twin(net)
    assert twin.step([0])[0]          # i = 100, v1 = 100 -> spike, v = -7, r = 3
    assert (twin.v[0], twin.r[0], twin.i[0]) == (-7, 3, 100)
    history = []
    for _ in range(3):
        spikes = twin.step([0])       # input keeps arriving: i grows, v held
        history.append((bool(spikes[0]), int(twin.v[0]), int(twin.r[0]), int(twin.i[0])))
    assert history == [(False, -7, 2, 150), (False, -7, 1, 175), (False, -7, 0, 187)]
    # r = 0 now: v = dec(-7, 128) + i' = -3 + 193 -> spike
    assert twin.step([0])[0]
    assert twin.i[0] == 193 and twin.v[0] == -7 and twin.r[0] == 3


def test_refrac_zero_allows_spiking_every_step_and_subtract_mode():
    config = small(neurons=2, inputs=0, stdp=False, adaptive_threshold=False)
    net = make_network(config, np.zeros((2, 2)), neuron=dict(
        thr=[30, 30], reset_sub=[1, 0], v_reset=[5, 5], refrac=0, alpha_v=255, bias=[20, 20]))
    twin = Twin(net)
    out = [twin.step([]).tolist() for _ in range(4)]
    # neuron 0: v = 20, 39 (19+20)->spike, v = 9, then 8+20 = 28, then 27+20 = 47 -> 17
    # neuron 1: v = 20, 39 -> spike, v = 5, then 4 + 20 = 24, then 23+20 = 43 -> 5
    assert out == [[False, False], [True, True], [False, False], [True, True]]
    assert twin.v.tolist() == [17, 5]


def test_refrac_max_value():
    config = small(neurons=1, inputs=0, refrac_bits=3, stdp=False, adaptive_threshold=False)
    net = make_network(config, np.zeros((1, 1)), neuron=dict(thr=10, refrac=7, bias=100))
    twin = Twin(net)
    spikes = [bool(twin.step([])[0]) for _ in range(17)]
    assert spikes == [True] + [False] * 7 + [True] + [False] * 7 + [True]


# -- adaptive threshold --------------------------------------------------------------------------

def test_adaptive_threshold_increment_and_decay():
    config = small(neurons=1, inputs=0, decay_bits=8, theta_bits=6, stdp=False,
                   adaptive_threshold=True)
    net = make_network(config, np.zeros((1, 1)), neuron=dict(
        thr=10, bias=12, alpha_v=0, alpha_i=0, theta_inc=40, alpha_th=128, refrac=0))
    twin = Twin(net)
    # step 0: v = 12 >= 10 + 0 -> spike; theta = dec(0) + 40 = 40
    assert twin.step([])[0] and twin.theta[0] == 40
    # step 1: th = 50, v = 12 no spike; theta = 20
    assert not twin.step([])[0] and twin.theta[0] == 20
    # step 2: th = 30, no spike, theta = 10
    assert not twin.step([])[0] and twin.theta[0] == 10
    # step 3: th = 20: no; theta = 5; step 4: th = 15: no; theta 2; step 5: th = 12 -> spike
    assert not twin.step([])[0] and twin.theta[0] == 5
    assert not twin.step([])[0] and twin.theta[0] == 2
    assert twin.step([])[0] and twin.theta[0] == 1 + 40
    # saturation at 2^6 - 1 = 63
    net2 = make_network(config, np.zeros((1, 1)), neuron=dict(
        thr=-100, bias=0, theta_inc=40, alpha_th=255))
    t2 = Twin(net2)
    t2.theta[0] = 60
    assert t2.step([])[0]                  # v = 0 >= -100 + 60
    assert t2.theta[0] == 63               # sat(59 + 40)


def test_theta_stays_zero_without_adaptive_threshold():
    config = small(neurons=1, inputs=0, stdp=False, adaptive_threshold=False)
    net = make_network(config, np.zeros((1, 1)), neuron=dict(
        thr=10, bias=12, theta_inc=40, alpha_th=128))
    twin = Twin(net)
    assert all(twin.step([])[0] for _ in range(5))
    assert twin.theta[0] == 0


# -- STDP ----------------------------------------------------------------------------------------

def stdp_config(**kw):
    return small(neurons=2, inputs=2, stdp=True, adaptive_threshold=False, **kw)


def test_depression_on_arrival_uses_post_trace_from_before_the_step():
    config = stdp_config()
    W = np.zeros((4, 2), dtype=np.int64)
    W[2] = [10, 10]
    net = make_network(config, W, neuron=dict(thr=1000),
                       glob=dict(a_minus=3, stdp_shift=2, alpha_y=255, y_inc=100,
                                 alpha_x=0, x_inc=50))
    twin = Twin(net)
    twin.y[:] = [40, 0]
    twin.step([0], learn=True)
    # depression of row 2: (3 * 40) >> 2 = 30 -> 10 - 30 = -20; (3*0)>>2 = 0 -> 10
    assert twin.W[2].tolist() == [-20, 10]
    assert twin.W[3].tolist() == [0, 0]      # row 3 did not arrive
    assert twin.y.tolist() == [39, 0]        # dec(40, 255) = 39.84 -> 39
    assert twin.xin.tolist() == [50, 0]
    # the delivered current used the weights from the start of the step
    assert twin.i.tolist() == [10, 10]


def test_potentiation_on_post_spike_uses_pre_trace_after_phase_b():
    config = stdp_config()
    W = np.zeros((4, 2), dtype=np.int64)
    net = make_network(config, W, neuron=dict(thr=[5, 1000], bias=[10, 0], alpha_v=0),
                       glob=dict(a_plus=4, a_minus=0, stdp_shift=3, alpha_x=128, x_inc=60,
                                 alpha_y=0, y_inc=9))
    twin = Twin(net)
    twin.xin[:] = [100, 0]
    twin.x[:] = [0, 20]
    spikes = twin.step([1], learn=True)     # input 1 arrives in the same step
    assert spikes.tolist() == [True, False]
    # traces after phase B: x = [dec(0), dec(20)] = [0, 10] (neuron 0 spikes now; its
    # x increments only when its spike arrives, next step); xin = [50, 0 + 60]
    assert twin.x.tolist() == [0, 10]
    assert twin.xin.tolist() == [50, 60]
    assert twin.y.tolist() == [9, 0]
    # potentiation of column 0: (4 * X) >> 3 = [0, 5, 25, 30]
    assert twin.W[:, 0].tolist() == [0, 5, 25, 30]
    assert twin.W[:, 1].tolist() == [0, 0, 0, 0]


def test_weight_decay_potentiation_uses_the_weight_after_depression():
    """With weight_decay the change is (a_plus * X - a_decay * W) >> stdp_shift, floored
    when negative, with W the weight after phase A."""
    config = stdp_config(weight_decay=True)
    W = np.zeros((4, 2), dtype=np.int64)
    W[:, 0] = [0, 40, -20, 100]
    net = make_network(config, W, neuron=dict(thr=[5, 1000], bias=[10, 0], alpha_v=0),
                       glob=dict(a_plus=4, a_minus=2, stdp_shift=3, alpha_x=128, x_inc=60,
                                 alpha_y=0, y_inc=9, a_decay=3))
    twin = Twin(net)
    twin.xin[:] = [100, 0]
    twin.x[:] = [0, 20]
    twin.y[:] = [12, 0]
    spikes = twin.step([1], learn=True)     # input 1 arrives: row 3 is depressed first
    assert spikes.tolist() == [True, False]
    assert twin.x.tolist() == [0, 10] and twin.xin.tolist() == [50, 60]
    # row 3 after phase A: 100 - (2 * 12) >> 3 = 97. Phase C, P = 4 * X - 3 * W:
    # row 0: 0 - 0 = 0 -> 0;  row 1: 40 - 120 = -80 -> -10 -> 30
    # row 2: 200 + 60 = 260 -> 32 -> 12;  row 3: 240 - 291 = -51 -> floor(-6.375) = -7 -> 90
    assert twin.W[:, 0].tolist() == [0, 30, 12, 90]
    assert twin.W[:, 1].tolist() == [0, 0, 0, 0]
    # the same network without the weight-dependent term: (4 * X) >> 3 added
    net.global_params.a_decay = 0
    twin = Twin(net)
    twin.xin[:] = [100, 0]
    twin.x[:] = [0, 20]
    twin.y[:] = [12, 0]
    twin.step([1], learn=True)
    assert twin.W[:, 0].tolist() == [0, 45, 5, 127]


def test_weight_decay_with_stochastic_rounding_floors_negative_products():
    """Signed stochastic rounding: S = (P * 2^16) >> shift floored, plus 1 when the 16 bits
    of the fraction exceed the synapse's uniform value."""
    from spikeforge.host.model.twin import sr_uniform, stdp_magnitude, xorshift32

    for product in (-51, -80, -1, 0, 7, 260):
        for u in (0, 0x7FFF, 0xFFFF):
            exact = product / 8
            got = stdp_magnitude(product, 3, u)
            assert got in (int(np.floor(exact)), int(np.floor(exact)) + 1)
            frac = int((exact - np.floor(exact)) * 65536)
            assert got == int(np.floor(exact)) + (frac > u)
    config = stdp_config(weight_decay=True, stochastic_rounding=True)
    W = np.zeros((4, 2), dtype=np.int64)
    W[:, 0] = [0, 40, -20, 100]
    net = make_network(config, W, neuron=dict(thr=[5, 1000], bias=[10, 0], alpha_v=0),
                       glob=dict(a_plus=4, stdp_shift=3, alpha_x=128, x_inc=60, a_decay=3))
    net.global_params.sr_seed = 12345
    twin = Twin(net)
    twin.xin[:] = [100, 0]
    twin.x[:] = [0, 20]
    twin.step([1], learn=True)
    seed_c = xorshift32(xorshift32(12345))
    X = [0, 10, 50, 60]
    want = []
    for r in range(4):
        product = 4 * X[r] - 3 * int(W[r, 0])
        scaled = (product * 65536) >> 3
        mag = (scaled >> 16) + ((scaled % 65536) > int(sr_uniform(seed_c, r, 0)))
        want.append(min(max(int(W[r, 0]) + mag, -128), 127))
    assert twin.W[:, 0].tolist() == want


def test_weight_decay_needs_the_flag_and_stdp():
    with pytest.raises(ConfigError, match=r"a_decay=1 is out of range 0\.\.0 .*"
                                          r"build with weight_decay=True"):
        GlobalParams.default(small(stdp=True), a_decay=1)
    with pytest.raises(ConfigError, match="weight_decay needs stdp=True"):
        small(stdp=False, weight_decay=True)
    config = small(stdp=True, weight_decay=True, rate_bits=4)
    assert GlobalParams.default(config, a_decay=15).a_decay == 15
    with pytest.raises(ConfigError, match=r"a_decay=16 is out of range 0\.\.15"):
        GlobalParams.default(config, a_decay=16)


def test_simultaneous_pre_and_post_is_pre_before_post():
    """An input arriving in the step its target spikes: phase A depresses with the old post
    trace, phase C potentiates with the incremented pre trace."""
    config = stdp_config()
    W = np.zeros((4, 2), dtype=np.int64)
    W[2, 0] = 20
    net = make_network(config, W, neuron=dict(thr=[15, 1000], alpha_v=0, alpha_i=0),
                       glob=dict(a_plus=2, a_minus=2, stdp_shift=1, alpha_x=0, x_inc=7,
                                 alpha_y=0, y_inc=11))
    twin = Twin(net)
    twin.y[:] = [5, 0]
    spikes = twin.step([0], learn=True)
    assert spikes.tolist() == [True, False]        # v = 20 >= 15
    # A: W[2,0] = 20 - (2*5 >> 1) = 15; C: xin0 = 0 + 7 -> +(2*7 >> 1) = +7 -> 22
    assert twin.W[2, 0] == 22
    assert twin.W[2, 1] == 0                       # depressed by (2*0)>>1 = 0
    assert twin.y.tolist() == [11, 0]
    # next step: neuron 0's recurrent spike arrives (row 0); it spikes again? no input:
    # i = 0 -> v = 0 < 15. Row 0 depression with y = 11: W[0] = 0 - 11 = -11 each,
    # for y1 = 0 nothing.
    twin.step([], learn=True)
    assert twin.W[0].tolist() == [-11, 0]
    assert twin.x.tolist() == [7, 0]               # x of neuron 0 incremented at arrival


def test_recurrent_pre_trace_increments_at_arrival_step():
    config = stdp_config()
    W = np.zeros((4, 2), dtype=np.int64)
    W[0, 1] = 50
    net = make_network(config, W, neuron=dict(thr=[5, 40], bias=[10, 0], alpha_v=0,
                                              alpha_i=0, refrac=[5, 0]),
                       glob=dict(a_plus=1, stdp_shift=0, alpha_x=0, x_inc=30))
    twin = Twin(net)
    assert twin.step([], learn=True).tolist() == [True, False]
    assert twin.x.tolist() == [0, 0]
    # arrival of neuron 0 at neuron 1: v1 = 50 -> spike; x0 = 30 visible to phase C
    assert twin.step([], learn=True).tolist() == [False, True]
    assert twin.x.tolist() == [30, 0]
    assert twin.W[0, 1] == 80
    assert twin.W[1, 1] == 0 and twin.W[0, 0] == 0


def test_clamp_at_both_bounds_and_out_of_range_weights_brought_inside():
    config = stdp_config()
    W = np.zeros((4, 2), dtype=np.int64)
    W[2] = [-100, 100]
    W[3] = [50, -50]
    net = make_network(config, W, neuron=dict(thr=1000),
                       glob=dict(w_min=-20, w_max=30, a_minus=1, a_plus=1, stdp_shift=0,
                                 alpha_y=255, alpha_x=255))
    twin = Twin(net)
    twin.y[:] = [0, 0]       # zero depression still applies the clamp
    twin.step([0], learn=True)
    assert twin.W[2].tolist() == [-20, 30]
    assert twin.W[3].tolist() == [50, -50]   # not touched
    # depression down to w_min
    twin.y[:] = [200, 200]
    twin.step([1], learn=True)
    assert twin.W[3].tolist() == [-20, -20]
    # potentiation up to w_max
    net = make_network(config, W, neuron=dict(thr=[0, 1000], bias=[5, 0]),
                       glob=dict(w_min=-20, w_max=30, a_plus=10, stdp_shift=0,
                                 alpha_x=255))
    twin = Twin(net)
    twin.x[:] = [200, 0]
    twin.xin[:] = [201, 0]
    twin.step([], learn=True)
    # column 0: row 0: 0 + 10*199 -> 30; row 1: 0 + 0 -> 0; row 2: -100 + 2000 -> 30;
    # row 3: 50 + 0 -> 30 (clamped though the increment is 0)
    assert twin.W[:, 0].tolist() == [30, 0, 30, 30]
    assert twin.W[:, 1].tolist() == [0, 0, 100, -50]


def test_masked_synapses_do_not_learn():
    config = stdp_config()
    W = np.full((4, 2), 5, dtype=np.int64)
    mask = np.ones((4, 2), dtype=bool)
    mask[2, 0] = False
    mask[1, 0] = False
    net = make_network(config, W, mask=mask, neuron=dict(thr=[0, 1000]),
                       glob=dict(a_plus=1, a_minus=1, stdp_shift=0, w_min=-3, w_max=3,
                                 alpha_x=255, alpha_y=255))
    twin = Twin(net)
    twin.x[:] = [10, 10]
    twin.xin[:] = [10, 10]
    twin.y[:] = [2, 2]
    twin.step([0], learn=True)
    # row 2 arrives: W[2,1] = clamp(5 - 2) = 3; W[2,0] masked -> 5.
    # neuron 0 spikes: column 0 rows 0 and 3 potentiated and clamped to 3; rows 1, 2 masked
    assert twin.W[:, 0].tolist() == [3, 5, 5, 3]
    assert twin.W[:, 1].tolist() == [5, 5, 3, 5]


def test_learn_false_keeps_weights_but_traces_evolve():
    config = stdp_config()
    rng = np.random.default_rng(3)
    net = random_network(config, rng, regime="active")
    twin = Twin(net)
    W0 = twin.W.copy()
    raster = random_inputs(config, rng, 200, 0.5)
    twin.run(raster, learn=False)
    assert np.array_equal(twin.W, W0)
    if net.global_params.x_inc and net.global_params.alpha_x:
        assert twin.xin.any()


def test_no_stdp_means_no_traces_and_no_learning():
    config = small(neurons=2, inputs=2, stdp=False, adaptive_threshold=False)
    W = np.full((4, 2), 30, dtype=np.int64)
    net = make_network(config, W, neuron=dict(thr=10),
                       glob=dict(a_plus=50, a_minus=50, x_inc=100, y_inc=100, alpha_x=200,
                                 alpha_y=200))
    twin = Twin(net)
    for _ in range(5):
        twin.step([0, 1], learn=True)
    assert np.array_equal(twin.W, W)
    assert not twin.x.any() and not twin.y.any() and not twin.xin.any()


# -- sizes and inputs ----------------------------------------------------------------------------

def test_single_neuron_no_inputs():
    config = CoreConfig(neurons=1, inputs=0, lanes=1)
    net = Network(config, NeuronParams.default(config, bias=300), GlobalParams.default(config),
                  np.array([[5]]))
    twin = Twin(net)
    out = twin.run(np.zeros((50, 0), dtype=bool), learn=True, probes=[0])
    assert out["spikes"].shape == (50, 1)
    assert out["spikes"].any()
    assert out["v"].shape == (50, 1) and out["i"].shape == (50, 1)
    assert twin.xin.shape == (0,)


def test_every_input_spiking_in_one_step():
    config = small(neurons=3, inputs=5, stdp=True, adaptive_threshold=False)
    W = np.zeros((8, 3), dtype=np.int64)
    W[3:] = [[1, -2, 3]] * 5
    net = make_network(config, W, neuron=dict(thr=1000))
    twin = Twin(net)
    twin.step(np.ones(5, dtype=bool))
    assert twin.i.tolist() == [5, -10, 15]
    assert twin.synaptic_ops == 5 * 3
    twin.reset_state()
    twin.step(list(range(5)))
    assert twin.i.tolist() == [5, -10, 15]


def test_input_index_errors():
    config = small(neurons=2, inputs=3)
    twin = Twin(make_network(config))
    with pytest.raises(ValueError):
        twin.step([3])
    with pytest.raises(ValueError):
        twin.step([1, 1])
    with pytest.raises(ValueError):
        twin.step(np.zeros(2, dtype=bool))


def test_reset_state_keeps_weights():
    config = stdp_config()
    rng = np.random.default_rng(1)
    twin = Twin(random_network(config, rng, regime="active"))
    twin.run(random_inputs(config, rng, 50, 0.5), learn=True)
    W = twin.W.copy()
    twin.reset_state()
    state = twin.state_dict()
    for name in ("v", "i", "r", "s", "theta", "x", "y", "xin"):
        assert not state[name].any(), name
    assert np.array_equal(state["W"], W)


def test_run_probes_record_values_after_each_step():
    config = small(neurons=3, inputs=2)
    rng = np.random.default_rng(5)
    net = random_network(config, rng, regime="active")
    raster = random_inputs(config, rng, 30, 0.4)
    a, b = Twin(net), Twin(net)
    out = a.run(raster, probes=[2, 0])
    for t in range(30):
        spikes = b.step(raster[t])
        assert np.array_equal(out["spikes"][t], spikes)
        assert out["v"][t].tolist() == [b.v[2], b.v[0]]
        assert out["i"][t].tolist() == [b.i[2], b.i[0]]


# -- winner-take-all ----------------------------------------------------------------------------

def wta_network(wta):
    """N=4 driven by their biases alone (no weights, alpha_i = 0, F=8): neurons 0..2 reach
    their thresholds in step 0 with the margins 10, 10, 10; neuron 3 never does."""
    config = small(neurons=4, winner_take_all=True)
    return make_network(config, neuron=dict(
        thr=[40, 50, 50, 1000], v_reset=[-100, 40, 0, 7], reset_sub=[1, 0, 0, 0],
        refrac=[2, 3, 3, 3], alpha_v=128, bias=[50, 60, 60, 20], theta_inc=5),
        glob=dict(y_inc=10, wta=wta))


def test_winner_take_all_one_winner_then_global_reset():
    twin = Twin(wta_network(1))
    # step 0: three candidates with the margin 10: the lowest index wins; every candidate
    # is reset (neuron 0 subtractively: 50 - 40), only the winner counts as a spike
    assert twin.step().tolist() == [True, False, False, False]
    assert twin.v.tolist() == [10, 40, 0, 20]
    assert twin.r.tolist() == [2, 0, 0, 0]
    assert twin.theta.tolist() == [5, 0, 0, 0]
    assert twin.y.tolist() == [10, 0, 0, 0]
    # step 1: neuron 0 spiked, so every v starts from v_reset: the refractory neuron 0 holds
    # -100 (not 10), neuron 1 integrates dec(40) + 60 = 80 (margin 30), neuron 2 0 + 60
    # (margin 10), neuron 3 dec(7) + 20 = 23 (not dec(20) + 20 = 30)
    assert twin.step().tolist() == [False, True, False, False]
    assert twin.v.tolist() == [-100, 40, 0, 23]
    assert twin.r.tolist() == [1, 3, 0, 0]
    assert twin.s.tolist() == [False, True, False, False]


def test_winner_take_all_off_is_the_plain_rule():
    on, off = Twin(wta_network(1)), Twin(wta_network(0))
    assert off.step().tolist() == [True, True, True, False]
    assert off.v.tolist() == [10, 40, 0, 20]
    assert off.r.tolist() == [2, 3, 3, 0]
    # all three are refractory now; no global reset: 20 decays to 10
    assert off.step().tolist() == [False, False, False, False]
    assert off.v.tolist() == [10, 40, 0, 30]
    on.step()
    assert on.step().tolist() != off.s.tolist()


def test_winner_take_all_needs_the_option_built():
    config = small(neurons=4)
    with pytest.raises(ConfigError, match=r"wta=1 is out of range 0\.\.0 .*"
                                          r"winner_take_all=True"):
        make_network(config, glob=dict(wta=1))
    with pytest.raises(ConfigError, match=r"wta=2 is out of range 0\.\.1"):
        make_network(small(neurons=4, winner_take_all=True), glob=dict(wta=2))


# -- a scalar reference written from the specification ------------------------------------------

class Reference:
    """docs/model.md as plain Python loops over neurons and synapses, Python ints."""

    def __init__(self, net):
        c = net.config
        self.c = c
        self.N, self.M = c.neurons, c.inputs
        p, g = net.neuron_params, net.global_params
        self.p = {name: [int(v) for v in getattr(p, name)] for name in (
            "thr", "v_reset", "reset_sub", "refrac", "alpha_v", "alpha_i", "bias",
            "theta_inc", "alpha_th")}
        self.g = g.to_dict()
        self.W = [[int(v) for v in row] for row in net.W]
        self.mask = [[bool(v) for v in row] for row in net.mask]
        n, m = self.N, self.M
        self.v, self.i, self.r = [0] * n, [0] * n, [0] * n
        self.s, self.theta, self.x, self.y = [False] * n, [0] * n, [0] * n, [0] * n
        self.xin = [0] * m
        self.rate = [int(v) for v in net.poisson_rate]
        self.pstate = [0] * m

    def xorshift32(self, x):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        return x

    def dec(self, x, a):
        p = x * a
        F = self.c.decay_bits
        return p // (1 << F) if p >= 0 else -((-p) // (1 << F))

    @staticmethod
    def sat_s(x, bits):
        return min(max(x, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)

    @staticmethod
    def sat_u(x, bits):
        return min(max(x, 0), (1 << bits) - 1)

    def clampw(self, x):
        return min(max(x, self.g["w_min"]), self.g["w_max"])

    def step(self, inputs, learn):
        c, g, p = self.c, self.g, self.p
        n, m = self.N, self.M
        learn = learn and c.stdp
        inputs = [bool(v) for v in inputs]
        if g["poisson_on"] and c.has_poisson:          # phase 0
            for k in range(m):
                self.pstate[k] = self.xorshift32(self.pstate[k])
                inputs[k] = inputs[k] or (self.pstate[k] & 0xFFFF) < self.rate[k]
        arriving = [r for r in range(n) if self.s[r]] + [n + k for k in range(m) if inputs[k]]
        # phase A
        acc = [0] * n
        for j in range(n):
            for r in arriving:
                acc[j] += self.W[r][j]
        if learn:
            for r in arriving:
                for j in range(n):
                    if self.mask[r][j]:
                        self.W[r][j] = self.clampw(
                            self.W[r][j] - ((g["a_minus"] * self.y[j]) >> g["stdp_shift"]))
        # phase B
        VB, IB = c.v_bits, c.i_bits
        wta = c.winner_take_all and g["wta"] == 1
        v_start = list(self.v)
        if wta and any(self.s):
            v_start = list(p["v_reset"])           # the global reset
        nv, ni, nr, ns, nth, nx, ny = ([0] * n for _ in range(7))
        candidate, margin = [False] * n, [0] * n
        for j in range(n):
            i_new = self.sat_s(self.dec(self.i[j], p["alpha_i"][j])
                               + acc[j] * 2 ** g["w_shift"] + p["bias"][j], IB)
            th = None
            if self.r[j] > 0:
                v1, r_new, spike = v_start[j], self.r[j] - 1, False
            else:
                theta = self.theta[j] if c.adaptive_threshold else 0
                v1 = max(self.sat_s(self.dec(v_start[j], p["alpha_v"][j]) + i_new, VB),
                         g["v_min"])
                th = self.sat_s(p["thr"][j] + theta, VB)
                spike = v1 >= th
                r_new = p["refrac"][j] if spike else 0
                candidate[j], margin[j] = spike, v1 - th
            if spike:
                v_new = self.sat_s(v1 - th, VB) if p["reset_sub"][j] else p["v_reset"][j]
            else:
                v_new = v1
            nv[j], ni[j], nr[j] = v_new, i_new, r_new
        if wta and any(candidate):
            best = max(margin[j] for j in range(n) if candidate[j])
            winner = min(j for j in range(n) if candidate[j] and margin[j] == best)
            for j in range(n):
                if candidate[j] and j != winner:
                    nr[j] = 0
            fired = [j == winner for j in range(n)]
        else:
            fired = candidate
        for j in range(n):
            spike = fired[j]
            theta = self.theta[j] if c.adaptive_threshold else 0
            if c.adaptive_threshold:
                nth[j] = self.sat_u(self.dec(theta, p["alpha_th"][j])
                                    + (p["theta_inc"][j] if spike else 0), c.theta_bits)
            if c.stdp:
                ny[j] = self.sat_u(self.dec(self.y[j], g["alpha_y"])
                                   + (g["y_inc"] if spike else 0), c.trace_bits)
                nx[j] = self.sat_u(self.dec(self.x[j], g["alpha_x"])
                                   + (g["x_inc"] if self.s[j] else 0), c.trace_bits)
            ns[j] = spike
        nxin = [0] * m
        if c.stdp:
            for k in range(m):
                nxin[k] = self.sat_u(self.dec(self.xin[k], g["alpha_x"])
                                     + (g["x_inc"] if inputs[k] else 0), c.trace_bits)
        self.v, self.i, self.r, self.s = nv, ni, nr, ns
        self.theta, self.x, self.y, self.xin = nth, nx, ny, nxin
        # phase C
        if learn:
            for j in range(n):
                if not ns[j]:
                    continue
                for r in range(n + m):
                    if self.mask[r][j]:
                        X = self.x[r] if r < n else self.xin[r - n]
                        # a signed product with weight_decay; >> floors
                        product = g["a_plus"] * X - g["a_decay"] * self.W[r][j]
                        self.W[r][j] = self.clampw(
                            self.W[r][j] + (product >> g["stdp_shift"]))
        return list(ns)

    def state(self):
        return {"v": self.v, "i": self.i, "r": self.r, "s": self.s, "theta": self.theta,
                "x": self.x, "y": self.y, "xin": self.xin, "W": self.W, "pstate": self.pstate}


REFERENCE_CONFIGS = [
    CoreConfig(neurons=7, inputs=5, lanes=4),
    CoreConfig(neurons=13, inputs=9, lanes=8, stdp=True, adaptive_threshold=False),
    CoreConfig(neurons=10, inputs=3, lanes=2, stdp=False, adaptive_threshold=True),
    CoreConfig(neurons=5, inputs=0, lanes=1, stdp=False, adaptive_threshold=False),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2),
    CoreConfig(neurons=6, inputs=4, lanes=32, weight_bits=16, v_bits=32, i_bits=32,
               decay_bits=16, refrac_bits=16, trace_bits=16, theta_bits=31, rate_bits=16),
    CoreConfig(neurons=1, inputs=2, lanes=1, weight_bits=2, v_bits=8, i_bits=8,
               decay_bits=4, refrac_bits=1, trace_bits=2, theta_bits=1, rate_bits=1),
    CoreConfig(neurons=8, inputs=6, lanes=4, weight_decay=True),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2,
               weight_decay=True),
    CoreConfig(neurons=6, inputs=4, lanes=32, weight_bits=16, v_bits=32, i_bits=32,
               decay_bits=16, refrac_bits=16, trace_bits=16, theta_bits=31, rate_bits=16,
               weight_decay=True),
    # winner-take-all (with the floor, with and without the adaptive threshold and STDP)
    CoreConfig(neurons=11, inputs=6, lanes=4, winner_take_all=True, v_floor=True),
    CoreConfig(neurons=8, inputs=5, lanes=2, stdp=False, adaptive_threshold=False,
               winner_take_all=True),
    CoreConfig(neurons=9, inputs=11, lanes=4, weight_bits=4, v_bits=10, i_bits=9,
               decay_bits=4, refrac_bits=2, trace_bits=3, theta_bits=5, rate_bits=2,
               winner_take_all=True),
]


@pytest.mark.parametrize("config", REFERENCE_CONFIGS, ids=lambda c: c.describe())
@pytest.mark.parametrize("seed", range(6))
def test_twin_matches_scalar_reference(config, seed):
    rng = np.random.default_rng(1000 * seed + config.neurons)
    regime = ["active", "active", "active", "extreme", "bounds", "active"][seed]
    net = random_network(config, rng, regime=regime)
    twin, ref = Twin(net), Reference(net)
    if config.has_poisson:
        twin.pstate[:] = poisson_states(config, seed)
        ref.pstate = [int(v) for v in twin.pstate]
    steps = 120
    raster = random_inputs(config, rng, steps, float(rng.choice([0.05, 0.3, 0.9])))
    learn_schedule = rng.random(steps) < 0.7
    spikes_seen = 0
    for t in range(steps):
        if seed == 2 and t % 17 == 0:
            inputs = np.nonzero(raster[t])[0].tolist()   # index-list form
        else:
            inputs = raster[t]
        learn = bool(learn_schedule[t])
        got = twin.step(inputs, learn=learn)
        want = ref.step(raster[t].tolist(), learn)
        assert got.tolist() == want, f"spikes differ at step {t}"
        state = twin.state_dict()
        for name, value in ref.state().items():
            assert state[name].tolist() == value, f"{name} differs at step {t}"
        spikes_seen += sum(want)
    if regime == "active" and config.neurons > 1:
        assert spikes_seen > 0


def test_random_networks_cover_ranges_and_spike():
    config = CoreConfig()
    rng = np.random.default_rng(11)
    active = 0
    seen = {"reset_sub": set(), "refrac_ends": set(), "alpha_ends": set()}
    for k in range(30):
        net = random_network(config, rng)
        p = net.neuron_params
        seen["reset_sub"] |= set(p.reset_sub.tolist())
        seen["refrac_ends"] |= {v for v in p.refrac.tolist() if v in (0, 255)}
        seen["alpha_ends"] |= {v for v in p.alpha_v.tolist() if v in (0, 4095)}
        twin = Twin(net)
        out = twin.run(random_inputs(config, rng, 100, 0.1), learn=True)
        rate = out["spikes"].mean()
        active += 0.0 < rate < 0.9
    assert seen["reset_sub"] == {0, 1}
    assert seen["refrac_ends"] == {0, 255}
    assert seen["alpha_ends"] == {0, 4095}
    assert active >= 10


# -- parameter validation ------------------------------------------------------------------------

def test_neuron_parameter_message_names_field_index_value_and_range():
    config = CoreConfig()
    thr = np.zeros(config.neurons, dtype=np.int64)
    thr[3] = 200000
    with pytest.raises(ConfigError, match=r"thr\[3\]=200000 is out of range "
                                          r"-131072\.\.131071 \(signed 18-bit\)"):
        NeuronParams.default(config, thr=thr)
    with pytest.raises(ConfigError, match=r"alpha_v\[0\]=4096 .*0\.\.4095"):
        NeuronParams.default(config, alpha_v=4096)
    with pytest.raises(ConfigError, match=r"reset_sub\[0\]=2 .*0\.\.1"):
        NeuronParams.default(config, reset_sub=2)
    with pytest.raises(ConfigError, match=r"refrac\[0\]=-1 .*0\.\.255"):
        NeuronParams.default(config, refrac=-1)
    with pytest.raises(ConfigError, match=r"bias"):
        NeuronParams.default(config, bias=1 << 17)
    with pytest.raises(ConfigError, match=r"theta_inc\[0\]=65536 .*0\.\.65535"):
        NeuronParams.default(config, theta_inc=65536)
    with pytest.raises(ConfigError, match=r"thr has shape \(3,\); expected \(100,\)"):
        NeuronParams.default(config, thr=[1, 2, 3])


def test_global_parameter_messages():
    config = CoreConfig()
    with pytest.raises(ConfigError, match=r"w_shift=11 is out of range 0\.\.10"):
        GlobalParams.default(config, w_shift=11)
    with pytest.raises(ConfigError, match=r"w_min=5 and w_max=4"):
        GlobalParams.default(config, w_min=5, w_max=4)
    with pytest.raises(ConfigError, match=r"w_max=128 is out of range -128\.\.127"):
        GlobalParams.default(config, w_max=128)
    with pytest.raises(ConfigError, match=r"a_plus=256 is out of range 0\.\.255"):
        GlobalParams.default(config, a_plus=256)
    with pytest.raises(ConfigError, match=r"stdp_shift=32 is out of range 0\.\.31"):
        GlobalParams.default(config, stdp_shift=32)
    with pytest.raises(ConfigError, match=r"y_inc=-1"):
        GlobalParams.default(config, y_inc=-1)
    with pytest.raises(ConfigError, match=r"alpha_x=4096"):
        GlobalParams.default(config, alpha_x=4096)


def test_network_weight_messages():
    config = CoreConfig(neurons=4, inputs=2, lanes=4)
    W = np.zeros((6, 4), dtype=np.int64)
    W[5, 2] = -129
    with pytest.raises(ConfigError, match=r"W\[5, 2\]=-129 is out of range -128\.\.127"):
        Network.default(config, W=W)
    with pytest.raises(ConfigError, match=r"shape \(4, 4\); expected \(6, 4\)"):
        Network.default(config, W=np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ConfigError, match=r"mask has shape"):
        Network.default(config, mask=np.ones((6, 3), dtype=bool))


def test_defaults_are_valid_for_extreme_configs():
    for config in REFERENCE_CONFIGS:
        net = Network.default(config)
        Twin(net).run(np.zeros((3, config.inputs), dtype=bool))


@pytest.mark.parametrize("mask_kind", ["full", "random", "empty"])
def test_run_with_learning_equals_single_steps(mask_kind):
    config = CoreConfig(neurons=11, inputs=6, lanes=4)
    rng = np.random.default_rng({"full": 1, "random": 2, "empty": 3}[mask_kind])
    net = random_network(config, rng, regime="active")
    net.mask[...] = {"full": True, "empty": False}.get(mask_kind, net.mask)
    raster = random_inputs(config, rng, 150, 0.3)
    a, b = Twin(net), Twin(net)
    out = a.run(raster, learn=True)
    for t in range(150):
        assert np.array_equal(out["spikes"][t], b.step(raster[t], learn=True))
    for name, value in b.state_dict().items():
        assert np.array_equal(a.state_dict()[name], value), name
