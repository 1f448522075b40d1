"""NIR import checks every number of the graph and reports, per edge, how many weights
quantisation lost."""

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import ConfigError
from spikeforge.host.cli import main
from spikeforge.host.formats.nir_io import import_nir, write_nir

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install nir)")


def graph(n=4, m=3, *, w_in=None, v_threshold=1.0, dt=1e-3, tau_mem=0.02, tau_syn=0.005,
          v_reset=0.0):
    if w_in is None:
        w_in = np.full((n, m), 0.4)
    nodes = {
        "input": nir.Input(np.array([m])),
        "w_in": nir.Affine(weight=np.asarray(w_in), bias=np.zeros(n)),
        "lif": nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem),
                           r=np.full(n, 20.0), v_leak=np.zeros(n),
                           v_threshold=np.broadcast_to(np.asarray(v_threshold, dtype=object)
                                                       if isinstance(v_threshold, str)
                                                       else v_threshold, (n,)).copy(),
                           v_reset=np.full(n, v_reset)),
        "output": nir.Output(np.array([n])),
    }
    edges = [("input", "w_in"), ("w_in", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


@pytest.mark.parametrize("bad, words", [(np.nan, "node 'w_in': weight\\[1, 2\\] is nan"),
                                        (np.inf, "node 'w_in': weight\\[1, 2\\] is inf")])
def test_non_finite_weights_are_refused(bad, words):
    w = np.full((4, 3), 0.4)
    w[1, 2] = bad
    with pytest.raises(ConfigError, match=words):
        import_nir(graph(w_in=w))


@pytest.mark.parametrize("thr, words", [(np.nan, "v_threshold\\[0\\] is nan"),
                                        (-np.inf, "v_threshold\\[0\\] is -inf")])
def test_non_finite_thresholds_are_refused(thr, words):
    with pytest.raises(ConfigError, match=words):
        import_nir(graph(v_threshold=thr))


def test_an_infinite_time_constant_is_allowed():
    result = import_nir(graph(tau_syn=np.inf))
    top = (1 << result.spec.config.decay_bits) - 1
    assert (result.spec.network.neuron_params.alpha_i[:4] == top).all()
    assert any("tau_syn" in note and "clipped" in note for note in result.notes)


@pytest.mark.parametrize("dt, words", [("abc", "dt='abc' is not a number"),
                                       ([1, 2], "is not a number"),
                                       (0, "dt=0.0 is not allowed"),
                                       (-1e-3, "dt=-0.001 is not allowed"),
                                       (float("nan"), "dt=nan is not allowed")])
def test_dt_must_be_a_positive_number(dt, words):
    with pytest.raises(ConfigError, match=words):
        import_nir(graph(), dt=dt)


def test_zero_thresholds_do_not_silently_zero_the_weights():
    with pytest.raises(ConfigError, match="every v_threshold, v_reset and v_leak of the graph "
                                          "is 0"):
        import_nir(graph(v_threshold=0.0))
    # with a voltage scale given, weights that all round to 0 are refused as well
    with pytest.raises(ConfigError, match="every one of the 12 non-zero weights rounds to 0"):
        import_nir(graph(v_threshold=0.0, w_in=np.full((4, 3), 1e-9)), v_scale=1.0)


def test_edge_report_counts_weights_that_round_to_zero():
    w = np.full((4, 3), 0.4)
    w[0, 0] = 1e-6          # far below one weight step: rounds to 0
    w[2, 1] = -1e-6
    w[3, 2] = 0.0           # absent synapse: not counted
    result = import_nir(graph(w_in=w))
    (edge,) = result.edges
    assert (edge.edge, edge.pre, edge.post) == ("w_in", "input", "lif")
    assert edge.weights == 11 and edge.zeroed == 2 and edge.clipped == 0
    assert "2 synapse(s) lost: raise --weight-bits (now 8)" in edge.hint
    assert result.to_dict()["edges"][0]["rounded_to_zero"] == 2
    clean = import_nir(graph())
    assert clean.edges[0].zeroed == 0 and clean.edges[0].hint == ""
    assert clean.edges[0].max_rel < 0.01


def test_import_command_prints_the_edge_report(tmp_path):
    w = np.full((4, 3), 0.4)
    w[0, 0] = 1e-6
    path = write_nir(graph(w_in=w), tmp_path / "g.nir")
    result = CliRunner().invoke(main, ["import-nir", str(path), "--out",
                                       str(tmp_path / "g.toml")])
    assert result.exit_code == 0, result.output
    assert "w_in (input -> lif): 12 weights, 1 round to 0, 0 clipped" in result.output
    nan = np.full((4, 3), 0.4)
    nan[0, 1] = np.nan
    path = write_nir(graph(w_in=nan), tmp_path / "nan.nir")
    result = CliRunner().invoke(main, ["import-nir", str(path), "--out",
                                       str(tmp_path / "nan.toml")])
    assert result.exit_code == 2
    assert result.stderr == ("error: node 'w_in': weight[0, 1] is nan (1 such values): NIR "
                             "parameters must be finite numbers\n")
