"""Network files: exact round trip, and every validation error naming file, field, value and
range (through the library and through `spikeforge run`)."""

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.cli import main
from spikeforge.host.formats.netfile import NetworkSpec, load_network_file, save_network_file
from spikeforge.host.model.params import NEURON_FIELDS, random_network


def small_spec(**run):
    config = CoreConfig(neurons=6, inputs=3, lanes=2)
    network = random_network(config, np.random.default_rng(5), regime="active")
    values = dict(steps=20, probes=(0, 2), input_rate=0.2, input_seed=3,
                  input_spikes=np.array([[0, 1], [4, 2]]), name="small")
    values.update(run)
    return NetworkSpec(network, **values)


def assert_same(a, b):
    assert a.config == b.config
    for name in NEURON_FIELDS:
        np.testing.assert_array_equal(getattr(a.network.neuron_params, name),
                                      getattr(b.network.neuron_params, name))
    assert a.network.global_params.to_dict() == b.network.global_params.to_dict()
    np.testing.assert_array_equal(a.network.W, b.network.W)
    np.testing.assert_array_equal(a.network.mask, b.network.mask)
    assert (a.steps, a.learn, a.probes, a.input_seed, a.name, a.description) == \
        (b.steps, b.learn, b.probes, b.input_seed, b.name, b.description)
    np.testing.assert_array_equal(a.input_spikes, b.input_spikes)
    np.testing.assert_array_equal(np.asarray(a.input_rate), np.asarray(b.input_rate))
    np.testing.assert_array_equal(a.input_raster(), b.input_raster())


def test_netfile_round_trip_is_exact(tmp_path):
    spec = small_spec(learn=True, description='quotes " and \\ and unicode µ')
    toml, npz = save_network_file(spec, tmp_path / "net.toml")
    assert npz == tmp_path / "net.npz"
    assert_same(spec, load_network_file(toml))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 32 - 1), neurons=st.integers(1, 40), inputs=st.integers(0, 20),
       weight_bits=st.integers(2, 16), rates=st.booleans())
def test_netfile_round_trip_random_networks(tmp_path, seed, neurons, inputs, weight_bits, rates):
    rng = np.random.default_rng(seed)
    config = CoreConfig(neurons=neurons, inputs=inputs, lanes=4, weight_bits=weight_bits,
                        i_bits=max(18, weight_bits))
    network = random_network(config, rng)
    rate = rng.random(inputs) if rates and inputs else float(rng.random())
    spikes = np.stack([rng.integers(0, 50, 5), rng.integers(0, inputs, 5)], axis=1) \
        if inputs else np.zeros((0, 2), dtype=np.int64)
    spec = NetworkSpec(network, steps=int(rng.integers(0, 100)), input_rate=rate,
                       input_spikes=spikes, input_seed=seed,
                       probes=tuple(sorted(set(rng.integers(0, neurons, 3).tolist()))))
    toml, _ = save_network_file(spec, tmp_path / f"r{seed}.toml")
    assert_same(spec, load_network_file(toml))


def test_input_raster_is_explicit_spikes_or_rate_and_a_prefix(tmp_path):
    spec = small_spec(input_rate=0.0)
    raster = spec.input_raster(10)
    assert raster.shape == (10, 3)
    assert sorted(zip(*np.nonzero(raster))) == [(0, 1), (4, 2)]
    spec = small_spec(input_rate=0.3)
    np.testing.assert_array_equal(spec.input_raster(50)[:20], spec.input_raster(20))


def write(tmp_path, text, W=None, mask=None, name="net"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    if W is not None:
        arrays = {"W": W} if mask is None else {"W": W, "mask": mask}
        np.savez(tmp_path / f"{name}.npz", **arrays)
    return path


BASE = """
matrices = "net.npz"
[config]
neurons = 4
inputs = 2
lanes = 2
"""


def load_error(path, **limits):
    with pytest.raises(ConfigError) as info:
        load_network_file(path, **limits)
    return str(info.value)


def test_minimal_file_takes_defaults(tmp_path):
    path = write(tmp_path, "[config]\nneurons = 3\ninputs = 1\n")
    spec = load_network_file(path)
    assert spec.config == CoreConfig(neurons=3, inputs=1)
    assert spec.network.W.shape == (4, 3) and not spec.network.W.any()
    assert spec.steps == 100 and spec.probes == () and not spec.learn


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "nope.toml") == \
        f"network file {str(tmp_path / 'nope.toml')!r} does not exist"


def test_malformed_toml(tmp_path):
    path = write(tmp_path, "[config\nneurons = 3\n")
    assert load_error(path).startswith(f"{path}: malformed TOML: ")


def test_unknown_keys_are_named(tmp_path):
    message = load_error(write(tmp_path, "[config]\nneurons = 3\nneuronz = 4\n"))
    assert "unknown key(s) 'neuronz' in [config]" in message
    message = load_error(write(tmp_path, "[neurons]\nthreshold = 3\n"))
    assert "unknown key(s) 'threshold' in [neurons]; allowed keys are thr, v_reset" in message
    assert "unknown key(s) 'weights' in the top level" in load_error(
        write(tmp_path, "weights = 3\n"))


def test_weight_out_of_range(tmp_path):
    W = np.zeros((6, 4), dtype=np.int64)
    W[5, 1] = 300
    path = write(tmp_path, BASE, W)
    assert load_error(path) == (
        f"{tmp_path / 'net.npz'}: W[5, 1]=300 is out of the signed 8-bit weight range "
        f"-128..127; scale the weights down or raise [config] weight_bits")


def test_wrong_matrix_shape(tmp_path):
    path = write(tmp_path, BASE, np.zeros((4, 4), dtype=np.int64))
    assert load_error(path) == (f"{tmp_path / 'net.npz'}: W has shape (4, 4); expected (6, 4) "
                                f"(N+M, N) = (4+2, 4)")
    path = write(tmp_path, BASE, np.zeros((6, 4), dtype=np.int64),
                 mask=np.ones((6, 3), dtype=bool))
    assert "mask has shape (6, 3); expected (6, 4)" in load_error(path)


def test_missing_matrices_file(tmp_path):
    message = load_error(write(tmp_path, BASE))
    assert "matrices file" in message and "does not exist" in message


def test_parameter_that_does_not_fit_its_width(tmp_path):
    path = write(tmp_path, BASE + "[neurons]\nalpha_v = 5000\n", np.zeros((6, 4), int))
    assert load_error(path) == (f"{path}: [neurons] alpha_v=5000 does not fit: allowed "
                                f"0..4095 (unsigned 12-bit)")
    path = write(tmp_path, BASE + "[neurons]\nthr = [1, 2, 3, 200000]\n", np.zeros((6, 4), int))
    assert load_error(path) == (f"{path}: [neurons] thr[3]=200000 does not fit: allowed "
                                f"-131072..131071 (signed 18-bit)")
    path = write(tmp_path, BASE + "[neurons]\nthr = [1, 2]\n", np.zeros((6, 4), int))
    assert load_error(path) == (f"{path}: [neurons] thr has 2 values; expected one value or 4 "
                                f"(one per neuron)")
    path = write(tmp_path, BASE + "[globals]\nw_shift = 11\n", np.zeros((6, 4), int))
    assert load_error(path) == (f"{path}: [globals] w_shift=11 does not fit: allowed 0..10 "
                                f"(i_bits - weight_bits)")
    path = write(tmp_path, BASE + "[neurons]\nthr = 1.5\n", np.zeros((6, 4), int))
    assert "[neurons] thr=1.5 must be an integer in -131072..131071" in load_error(path)


def test_bad_config_value(tmp_path):
    path = write(tmp_path, "[config]\nlanes = 3\n")
    assert load_error(path).startswith(f"{path}: [config] lanes=3 is not allowed")


def test_board_limit(tmp_path):
    path = write(tmp_path, "[config]\nneurons = 300\n")
    assert load_error(path, max_neurons=256) == (
        f"{path}: [config] neurons=300 is larger than the board allows (256); use a network of "
        f"at most 256 neurons")


def test_run_settings_are_checked(tmp_path):
    W = np.zeros((6, 4), int)
    assert "[run] probes=7 is out of range 0..3" in load_error(
        write(tmp_path, BASE + "[run]\nprobes = [7]\n", W))
    assert "[inputs] spikes holds input 5, out of range 0..1" in load_error(
        write(tmp_path, BASE + "[inputs]\nspikes = [[0, 5]]\n", W))
    assert "[inputs] rate=1.5 is out of range 0..1" in load_error(
        write(tmp_path, BASE + "[inputs]\nrate = 1.5\n", W))
    assert "[run] steps=-1 is out of range 0.." in load_error(
        write(tmp_path, BASE + "[run]\nsteps = -1\n", W))
    path = write(tmp_path, "[config]\nstdp = false\n[run]\nlearn = true\n")
    assert "learn=true needs a core built with STDP" in load_error(path)


@pytest.mark.parametrize("text,npz,expected", [
    ("[config\n", False, "malformed TOML"),
    (BASE, "weight", "W[0, 0]=-129 is out of the signed 8-bit weight range -128..127"),
    (BASE, "shape", "W has shape (5, 4); expected (6, 4)"),
    ("[config]\nfoo = 1\n", False, "unknown key(s) 'foo' in [config]"),
])
def test_run_command_reports_file_errors(tmp_path, text, npz, expected):
    W = None
    if npz == "weight":
        W = np.zeros((6, 4), int)
        W[0, 0] = -129
    elif npz == "shape":
        W = np.zeros((5, 4), int)
    path = write(tmp_path, text, W)
    result = CliRunner().invoke(main, ["run", str(path), "--device", "model://", "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_run_command_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "x.toml"), "--device", "model://"])
    assert result.exit_code == 2
    assert result.stderr == f"error: network file {str(tmp_path / 'x.toml')!r} does not exist\n"
