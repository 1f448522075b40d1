"""NIR import and export: graphs built with the nir package's own constructors, quantisation,
the reasons a graph cannot map, file round trips, and the import-nir / export-nir commands."""

import sys

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.device import base as device_module
from spikeforge.host.cli import main
from spikeforge.host.device import open_device
from spikeforge.host.formats.netfile import NetworkSpec, load_network_file, save_network_file
from spikeforge.host.formats.nir_io import export_nir, import_nir, read_nir, require_nir
from spikeforge.host.model.params import NEURON_FIELDS, random_network

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install nir)")


def _schemes():
    from spikeforge.host.device import backends  # noqa: F401  (registers sim:// when it exists)
    return device_module._SCHEMES


DEVICES = [pytest.param("model://", id="model"),
           pytest.param("sim://", id="sim", marks=pytest.mark.skipif(
               "sim" not in _schemes(), reason="the simulated board (sim://) is not built yet"))]


def float_graph(n=5, m=3, seed=0, dt=1e-3, bias=0.0, metadata=True):
    rng = np.random.default_rng(seed)
    tau_mem = np.full(n, 0.02)
    nodes = {
        "input": nir.Input(np.array([m])),
        "w_in": nir.Affine(weight=rng.uniform(0.1, 0.5, size=(n, m)), bias=np.full(n, bias)),
        "lif": nir.CubaLIF(tau_syn=np.full(n, 0.005), tau_mem=tau_mem, r=tau_mem / dt,
                           v_leak=np.zeros(n), v_threshold=np.full(n, 1.0),
                           v_reset=np.zeros(n)),
        "w_rec": nir.Linear(weight=rng.normal(0, 0.2, size=(n, n))),
        "output": nir.Output(np.array([n])),
    }
    edges = [("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
             ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt} if metadata else {})


def test_import_maps_rows_columns_and_runs(tmp_path):
    graph = float_graph()
    result = import_nir(graph)
    network = result.spec.network
    config = network.config
    assert (config.neurons, config.inputs) == (5, 3)
    assert result.populations == {"lif": (0, 5)} and result.inputs == {"input": (0, 3)}
    # core W[row=pre, col=post]; NIR weight[post, pre]
    w_in = graph.nodes["w_in"].weight
    w_rec = graph.nodes["w_rec"].weight
    k = result.v_scale * (1 - np.exp(-1e-3 / 0.02)) * (0.02 / 1e-3)
    scale = 1 << result.w_shift
    np.testing.assert_allclose(network.W[5:] * scale, k * w_in.T, atol=scale / 2 + 1e-9)
    np.testing.assert_allclose(network.W[:5] * scale, k * w_rec.T, atol=scale / 2 + 1e-9)
    assert network.neuron_params.alpha_v[0] == round(4096 * np.exp(-1e-3 / 0.02))
    assert network.neuron_params.alpha_i[0] == round(4096 * np.exp(-1e-3 / 0.005))
    errors = {e.parameter.split()[0]: e for e in result.errors}
    assert errors["v_threshold"].max_abs == 0
    assert errors["alpha_v"].max_abs <= 0.5 / 4096 and errors["alpha_i"].max_abs <= 0.5 / 4096
    assert errors["weight"].max_abs <= (scale / 2) / k + 1e-12


@pytest.mark.parametrize("url", DEVICES)
def test_imported_graph_follows_the_float_model(url):
    """One neuron, one input: the core's membrane divided by v_scale tracks the float model."""
    dt = 1e-3
    nodes = {"input": nir.Input(np.array([1])),
             "w": nir.Linear(weight=np.array([[0.4]])),
             "lif": nir.CubaLIF(tau_syn=np.array([0.004]), tau_mem=np.array([0.01]),
                                r=np.array([10.0]), v_leak=np.array([0.0]),
                                v_threshold=np.array([1.0]), v_reset=np.array([0.0])),
             "output": nir.Output(np.array([1]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "lif"), ("lif", "output")],
                         metadata={"dt": dt})
    result = import_nir(graph, config_fields={"lanes": 1, "weight_bits": 12})
    spec = result.spec
    steps = 60
    raster = np.zeros((steps, 1), dtype=bool)
    raster[[2, 4, 6, 30], 0] = True
    with open_device(url, spec.config) as device:
        device.load_network(spec.network)
        run = device.run(steps, raster, probes=[0])
    a_syn, a_mem = np.exp(-dt / 0.004), np.exp(-dt / 0.01)
    current = v = 0.0
    expected_v, expected_spikes = [], []
    for t in range(steps):
        current = a_syn * current + 0.4 * raster[t, 0]
        v = a_mem * v + (1 - a_mem) * 10.0 * current
        spike = v >= 1.0
        if spike:
            v = 0.0
        expected_v.append(v)
        expected_spikes.append(spike)
    np.testing.assert_array_equal(run.spikes[:, 0], expected_spikes)
    assert any(expected_spikes)
    np.testing.assert_allclose(run.probes["v"][:, 0] / result.v_scale, expected_v, atol=2e-3)


def test_lif_population_and_two_populations():
    n1, n2 = 3, 2
    nodes = {"input": nir.Input(np.array([2])),
             "a_in": nir.Linear(weight=np.full((n1, 2), 0.5)),
             "pop_a": nir.LIF(tau=np.full(n1, 0.01), r=np.full(n1, 10.0), v_leak=np.zeros(n1),
                              v_threshold=np.ones(n1), v_reset=np.zeros(n1)),
             "a_to_b": nir.Affine(weight=np.full((n2, n1), 0.25), bias=np.full(n2, 0.01)),
             "pop_b": nir.CubaLIF(tau_syn=np.full(n2, 0.005), tau_mem=np.full(n2, 0.02),
                                  r=np.full(n2, 20.0), v_leak=np.zeros(n2),
                                  v_threshold=np.ones(n2), v_reset=np.zeros(n2)),
             "output": nir.Output(np.array([n2]))}
    edges = [("input", "a_in"), ("a_in", "pop_a"), ("pop_a", "a_to_b"), ("a_to_b", "pop_b"),
             ("pop_b", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})
    result = import_nir(graph, neurons=8)
    W = result.spec.network.W
    params = result.spec.network.neuron_params
    assert result.populations == {"pop_a": (0, 3), "pop_b": (3, 5)}
    assert W.shape == (8 + 2, 8)
    assert (W[8:, 0:3] > 0).all() and not W[8:, 3:].any()      # inputs -> pop_a only
    assert (W[0:3, 3:5] > 0).all() and not W[3:8].any()         # pop_a -> pop_b only
    assert (params.alpha_i[:3] == 0).all()                      # LIF: no synaptic state
    assert (params.bias[3:5] > 0).all() and (params.bias[:3] == 0).all()
    assert (params.thr[5:] == CoreConfig().v_range[1]).all()    # unused neurons never fire


def test_export_import_round_trip_is_exact_through_a_file(tmp_path):
    config = CoreConfig(neurons=12, inputs=5, lanes=4)
    for seed in range(4):
        network = random_network(config, np.random.default_rng(seed))
        spec = NetworkSpec(network, steps=40, learn=True, input_rate=0.25, input_seed=9)
        graph, _ = export_nir(spec, dt=1e-3)
        path = tmp_path / f"n{seed}.nir"
        nir.write(path, graph)
        back = import_nir(nir.read(path)).spec
        assert back.config == config
        for name in NEURON_FIELDS:
            np.testing.assert_array_equal(getattr(back.network.neuron_params, name),
                                          getattr(network.neuron_params, name), err_msg=name)
        assert back.network.global_params.to_dict() == network.global_params.to_dict()
        np.testing.assert_array_equal(back.network.W, network.W)
        np.testing.assert_array_equal(back.network.mask, network.mask)
        assert (back.steps, back.learn, back.input_seed) == (40, True, 9)


def test_export_is_plain_nir():
    config = CoreConfig(neurons=4, inputs=2, lanes=2)
    network = random_network(config, np.random.default_rng(1), regime="active")
    graph, _ = export_nir(network)
    assert isinstance(graph.nodes["lif"], nir.CubaLIF)
    assert isinstance(graph.nodes["w_in"], nir.Affine)
    assert graph.nodes["w_in"].weight.shape == (4, 2)
    np.testing.assert_array_equal(graph.nodes["w_in"].weight,
                                  network.W[4:].T * 2 ** network.global_params.w_shift)
    np.testing.assert_array_equal(graph.nodes["lif"].v_threshold, network.neuron_params.thr)


# -- graphs that cannot map ----------------------------------------------------------------------

def import_error(graph, **options):
    with pytest.raises(ConfigError) as info:
        import_nir(graph, **options)
    return str(info.value)


def test_unsupported_node():
    graph = float_graph()
    graph.nodes["scale"] = nir.Scale(scale=np.ones(5))
    assert import_error(graph) == (
        "node 'scale' is a Scale, which spikeforge cannot map: a graph may hold CubaLIF and LIF "
        "populations joined by Affine or Linear edges, with Input and Output nodes")


def test_too_many_neurons():
    assert import_error(float_graph(n=20), neurons=16) == (
        "the graph has 20 neurons (lif: 20) but the core holds 16: raise --neurons to at least "
        "20 (at most 1024)")


def test_read_out_without_neurons():
    graph = float_graph()
    graph.nodes["readout"] = nir.Affine(weight=np.ones((2, 5)), bias=np.zeros(2))
    graph.nodes["out2"] = nir.Output(np.array([2]))
    graph.edges += [("lif", "readout"), ("readout", "out2")]
    assert import_error(graph) == (
        "edge node 'readout' (Affine) feeds the Output 'out2': a weighted read-out without "
        "neurons cannot be mapped; end the graph with a CubaLIF/LIF population")


def test_missing_dt():
    assert import_error(float_graph(metadata=False)) == (
        "the NIR graph does not say how long a time step is (no 'dt' in its metadata): pass "
        "--dt SECONDS, e.g. --dt 0.001")


def test_bias_that_is_not_representable():
    message = import_error(float_graph(bias=1e6))
    assert message.startswith("bias of neuron 0 becomes ")
    assert message.endswith("outside -131072..131071; it is not representable: lower --v-scale "
                            "or raise i_bits")


def test_missing_nir_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ConfigError) as info:
        require_nir()
    assert str(info.value) == ("NIR files: the Python package `nir` is not installed; "
                               "pip install 'spikeforge[nir]' (in a checkout: scripts/setup)")


# -- the commands --------------------------------------------------------------------------------

def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_import_nir_command_writes_a_runnable_file(tmp_path):
    nir.write(tmp_path / "g.nir", float_graph(n=6, m=4, bias=0.01))
    out = tmp_path / "g.toml"
    result = invoke("import-nir", tmp_path / "g.nir", "--out", out, "--neurons", 8)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out} and {tmp_path / 'g.npz'}: N=8 M=4")
    assert "quantisation error (max abs / max rel):" in result.output
    assert "alpha_v (membrane decay per step)" in result.output
    spec = load_network_file(out)
    assert spec.config.neurons == 8
    run = invoke("run", out, "--device", "model://", "--out", tmp_path / "run", "--no-plots")
    assert run.exit_code == 0, run.output


def test_import_nir_command_unsupported_node(tmp_path):
    graph = float_graph()
    graph.nodes["thr"] = nir.Threshold(threshold=np.ones(5))
    nir.write(tmp_path / "bad.nir", graph)
    result = invoke("import-nir", tmp_path / "bad.nir", "--out", tmp_path / "bad.toml")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: node 'thr' is a Threshold, which spikeforge cannot "
                                    "map")
    assert not (tmp_path / "bad.toml").exists()


def test_import_nir_command_missing_and_broken_files(tmp_path):
    result = invoke("import-nir", tmp_path / "none.nir", "--out", tmp_path / "x.toml")
    assert result.exit_code == 2
    assert result.stderr == f"error: NIR file {str(tmp_path / 'none.nir')!r} does not exist\n"
    (tmp_path / "junk.nir").write_text("not hdf5")
    result = invoke("import-nir", tmp_path / "junk.nir", "--out", tmp_path / "x.toml")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'junk.nir'}: cannot read it as a NIR "
                                    f"graph")


def test_import_nir_command_bad_options(tmp_path):
    nir.write(tmp_path / "g.nir", float_graph())
    result = invoke("import-nir", tmp_path / "g.nir", "--out", tmp_path / "g.toml",
                    "--lanes", 3)
    assert result.exit_code == 2
    assert "lanes=3 is not allowed: choose one of 1, 2, 4, 8, 16, 32" in result.stderr
    result = invoke("import-nir", tmp_path / "g.nir", "--out", tmp_path / "g.csv")
    assert result.exit_code == 2
    assert result.stderr == f"error: --out {tmp_path / 'g.csv'} must be a .toml network file\n"


def test_export_then_import_commands_round_trip(tmp_path):
    config = CoreConfig(neurons=7, inputs=3, lanes=1)
    network = random_network(config, np.random.default_rng(2), regime="active")
    path, _ = save_network_file(NetworkSpec(network, steps=15, name="rt"), tmp_path / "rt.toml")
    result = invoke("export-nir", path, "--out", tmp_path / "rt.nir")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {tmp_path / 'rt.nir'}: ")
    assert isinstance(read_nir(tmp_path / "rt.nir").nodes["lif"], nir.CubaLIF)
    result = invoke("import-nir", tmp_path / "rt.nir", "--out", tmp_path / "back.toml")
    assert result.exit_code == 0, result.output
    back = load_network_file(tmp_path / "back.toml").network
    np.testing.assert_array_equal(back.W, network.W)
    for name in NEURON_FIELDS:
        np.testing.assert_array_equal(getattr(back.neuron_params, name),
                                      getattr(network.neuron_params, name))


def test_export_nir_bad_suffix(tmp_path):
    result = invoke("export-nir", "examples/synfire.toml", "--out", tmp_path / "x.h5")
    assert result.exit_code == 2
    assert result.stderr == f"error: --out {tmp_path / 'x.h5'} must end in .nir\n"
