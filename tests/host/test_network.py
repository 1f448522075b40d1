"""Populations, spike sources and projections: compiling to one core, running, reading back."""

import subprocess
import sys

import numpy as np
import pytest

import spikeforge as sf
from spikeforge import ConfigError

URL = "model://?kernel=numpy"


def _ei(weight_bits=8):
    exc = sf.Population(8, tau_m=20e-3, label="exc")
    inh = sf.Population(4, tau_m=10e-3, label="inh")
    cue = sf.SpikeSourceArray([[0.010, 0.0204], [0.010], [], [0.030]], label="cue")
    noise = sf.SpikeSourcePoisson(3, rate_hz=[50, 100, 0], label="noise")
    stdp = sf.Stdp(tau_plus=20e-3, tau_minus=20e-3, A_plus=2e-3, A_minus=2e-3, w_max=0.08)
    learn = sf.Projection(noise, exc, sf.AllToAll(), weight=0.04, stdp=stdp)
    net = sf.Network(
        learn,
        sf.Projection(cue, exc, sf.AllToAll(), weight=0.05),
        sf.Projection(exc, inh, sf.FixedProbability(0.5, seed=2), weight=0.03),
        sf.Projection(inh, exc, sf.FixedProbability(0.5, seed=3), weight=-0.03),
        dt=1e-3, config={"weight_bits": weight_bits})
    return net, exc, inh, cue, noise, learn


def test_connectors_make_the_synapses_they_say():
    a, b = sf.Population(5), sf.Population(5)
    assert sf.Projection(a, b, sf.AllToAll(), weight=1e-3).connected.sum() == 25
    assert sf.Projection(a, a, sf.AllToAll(allow_self=False), weight=1e-3).connected.sum() == 20
    np.testing.assert_array_equal(sf.Projection(a, b, sf.OneToOne(), 1e-3).connected,
                                  np.eye(5, dtype=bool))
    p1 = sf.Projection(a, b, sf.FixedProbability(0.4, seed=7), 1e-3).connected
    p2 = sf.Projection(a, b, sf.FixedProbability(0.4, seed=7), 1e-3).connected
    p3 = sf.Projection(a, b, sf.FixedProbability(0.4, seed=8), 1e-3).connected
    assert np.array_equal(p1, p2) and not np.array_equal(p1, p3)
    many = sf.Projection(sf.Population(200), sf.Population(200),
                         sf.FixedProbability(0.1, seed=1), 1e-3).connected
    assert 0.09 < many.mean() < 0.11
    listed = sf.Projection(a, b, sf.FromList([(0, 1, 2e-3), (4, 4, -1e-3)]))
    assert listed.connected.sum() == 2 and listed.weight[0, 1] == 2e-3
    assert listed.weight[4, 4] == -1e-3
    array = np.zeros((5, 5))
    array[2, 3] = 5e-3
    assert sf.Projection(a, b, sf.FromArray(array)).connected.sum() == 1


@pytest.mark.parametrize("make, message", [
    (lambda a, b, c: sf.Projection(a, c, sf.OneToOne(), 1e-3), "OneToOne joins populations of "
                                                               "equal size, not 5 onto 3"),
    (lambda a, b, c: sf.Projection(a, b, sf.FromList([(5, 0)]), 1e-3),
     "FromList connection (5, 0) is outside 5 x 5"),
    (lambda a, b, c: sf.Projection(a, b, sf.FromArray(np.zeros((2, 2)))),
     "FromArray has shape (2, 2); the projection needs (5, 5)"),
    (lambda a, b, c: sf.Projection(a, b, sf.AllToAll()), "needs a weight (volts)"),
    (lambda a, b, c: sf.Projection(a, b, sf.FixedProbability(1.5), 1e-3), "not a probability"),
    (lambda a, b, c: sf.Population(3, tau=0.02), "unknown neuron parameter(s) tau"),
    (lambda a, b, c: sf.Population(3, tau_m=[0.02, 0.01]), "tau_m has shape (2,); give one "
                                                            "number or 3 values"),
    (lambda a, b, c: sf.SpikeSourceArray([[-0.1]]), "times are seconds >= 0"),
    (lambda a, b, c: sf.Network(sf.Projection(a, b, sf.AllToAll(), 1e-3),
                                sf.Projection(a, b, sf.OneToOne(), 1e-3)).compile(),
     "connects a synapse another projection already holds"),
    (lambda a, b, c: sf.Network(
        sf.Projection(a, b, sf.AllToAll(), 1e-3, stdp=sf.Stdp(A_plus=1e-4)),
        sf.Projection(b, a, sf.AllToAll(), 1e-3, stdp=sf.Stdp(A_plus=2e-4))).compile(),
     "the core has one learning rule"),
    (lambda a, b, c: sf.Population(3, tau_m=20) and sf.Network(
        sf.Projection(sf.Population(3, tau_m=20), a, sf.AllToAll(), 1e-3)).compile(),
     "did you mean 20 ms = 0.02?"),
])
def test_bad_networks_are_one_line_errors(make, message):
    a, b, c = sf.Population(5), sf.Population(5), sf.Population(3)
    with pytest.raises(ConfigError) as info:
        make(a, b, c)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_compiles_to_one_core():
    net, exc, inh, cue, noise, learn = _ei()
    compiled = net.compile()
    core = compiled.network
    c = core.config
    assert (c.neurons, c.inputs, c.stdp, c.poisson) == (12, 7, True, True)
    assert compiled.neuron_slice[inh] == slice(8, 12)
    assert compiled.input_slice[noise] == slice(0, 3)     # sources in the order met
    assert compiled.input_slice[cue] == slice(3, 7)
    # only the plastic projection's synapses learn
    mask = np.zeros(core.mask.shape, dtype=bool)
    mask[12:12 + 3, 0:8] = True
    np.testing.assert_array_equal(core.mask, mask)
    # Poisson rates on the core's generators, the cue lines host-driven
    np.testing.assert_array_equal(core.poisson_rate,
                                  [round(65536 * 0.05), round(65536 * 0.1), 0, 0, 0, 0, 0])
    raster = compiled.input_raster(0, 40)
    assert sorted(zip(*np.nonzero(raster))) == [(10, 3), (10, 4), (20, 3), (30, 6)]
    assert compiled.input_raster(15, 10).sum() == 1        # the spike at step 20 only
    # inhibitory weights stay negative, the weights come back within the report's error
    back = compiled.weights(learn)
    err = np.nanmax(np.abs(back - 0.04) / 0.04)
    assert err <= compiled.report.weights["rel_error"] + 1e-12
    assert np.all(core.W[8:12, 0:8][compiled.source.projections[3].connected] < 0)


def test_runs_in_physical_units_and_learns():
    net, exc, inh, cue, noise, learn = _ei()
    with sf.open(URL, net) as session:
        before = session.weights(learn)
        result = session.run(0.2, record=[(exc, [0, 1])])
        after = session.weights(learn)
        second = session.run(0.05)
    assert result.steps == 200 and second.t[0] == pytest.approx(0.2)
    assert session.time == pytest.approx(0.25)
    times = result.spike_times(exc)
    assert len(times) == 8
    for k, t in enumerate(times):
        np.testing.assert_allclose(t, np.flatnonzero(result.spikes[:, k]) * 1e-3)
    assert result.spikes.sum() > 0
    np.testing.assert_allclose(result.rates_hz(exc), result.spikes[:, :8].sum(axis=0) / 0.2)
    v = result.v(exc)
    assert v.shape == (200, 2)
    assert np.all(v < 0.0) and np.all(v > -0.1)           # volts around v_rest = -65 mV
    assert abs(result.v(exc)[0, 0] - (-0.065)) < 0.005
    assert result.i(exc).shape == (200, 2)
    assert not np.allclose(np.nan_to_num(before), np.nan_to_num(after))
    assert np.all(np.isnan(after) == np.isnan(before))
    assert np.nanmax(after) <= 0.08 + 1e-9
    assert "spikes" in repr(result) and "exc" in repr(net)
    assert repr(net.compile()).startswith("<Compiled N=12 M=7")
    assert repr(net.compile().network) == (
        f"<Network N=12 M=7 L=8 B=8 w8 v18 i18 [stdp, poisson]: "
        f"{int((net.compile().network.W != 0).sum())} non-zero weights, 24 of them plastic, "
        f"w_shift={net.compile().network.global_params.w_shift}>")


def test_plots_return_figures():
    from matplotlib.figure import Figure

    net, exc, *_ = _ei()
    with sf.open(URL, net) as session:
        result = session.run(0.1, record=[exc])
    assert isinstance(result.plot_raster(), Figure)
    assert isinstance(result.plot_traces(exc), Figure)
    before = np.array([[1e-3, np.nan], [2e-3, 3e-3]])
    fig = sf.plot_weight_change(before, before + 1e-4)
    assert isinstance(fig, Figure) and fig.axes[0].get_xlabel() == "weight (mV)"
    with pytest.raises(ConfigError, match="differ in shape"):
        sf.plot_weight_change(before, before[0])


def test_run_errors():
    net, exc, *_ = _ei()
    with sf.open(URL, net) as session:
        with pytest.raises(ConfigError, match="not a population of this network"):
            session.run(0.01, record=[sf.Population(2)])
        with pytest.raises(ConfigError, match="no trace of exc was recorded"):
            session.run(0.01).v(exc)
        with pytest.raises(ConfigError, match="run needs a duration in seconds"):
            session.run()


def test_import_spikeforge_is_light():
    code = ("import sys, spikeforge as sf; sf.Population; sf.quantize; "
            "print(sorted(m for m in ('numba', 'brian2', 'amaranth', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_run_pictures_return_figures_and_write_only_when_given_a_path(tmp_path):
    from matplotlib.figure import Figure

    from spikeforge.host.runs import plots

    rng = np.random.default_rng(0)
    spikes = rng.random((40, 6)) < 0.1
    W = rng.integers(-5, 5, (9, 6))
    figures = [plots.plot_raster(spikes, inputs=rng.random((40, 3)) < 0.1),
               plots.plot_traces([0, 2], rng.random((40, 2)), rng.random((40, 2))),
               plots.plot_weights(W, W_after=W + 1, neurons=6),
               plots.plot_confusion(np.eye(3, dtype=int)),
               plots.plot_weight_histogram(rng.random(20), rng.random(20))]
    assert all(isinstance(fig, Figure) for fig in figures)
    assert list(tmp_path.iterdir()) == []
    path = plots.plot_raster(spikes, tmp_path / "r.png")
    assert path == tmp_path / "r.png" and path.stat().st_size > 0


def test_the_readme_example_runs(capsys):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text()
    start = text.index("```python\nimport numpy as np\nimport spikeforge as sf")
    code = text[start + len("```python\n"):text.index("```", start + 10)]
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "quantisation at dt = 1 ms" in out and "Hz;" in out and "mV mean weight change" in out


def test_open_device_takes_the_configuration_from_a_network():
    from spikeforge.host.device import open_device

    net, *_ = _ei()
    core = net.compile().network
    with open_device(URL, core) as device:
        assert device.config == core.config
    with open_device(URL, net) as device:
        assert device.config == core.config
    with pytest.raises(ConfigError, match="open_device needs a CoreConfig or a network, not "
                                          "str"):
        open_device(URL, "100 neurons")


def test_open_runs_an_integer_network_by_steps():
    net, exc, *_ = _ei()
    core = net.compile().network
    with sf.open(URL, core) as session:
        assert session.report is None
        result = session.run(steps=50)
        with pytest.raises(ConfigError, match="an integer network has no time step: pass "
                                              "steps="):
            session.run(0.1)
    assert result.spikes.shape == (50, 12) and result.t[1] == 1.0      # steps, no dt
    with pytest.raises(ConfigError, match="sf.open needs an sf.Network"):
        sf.open(URL, "net.toml")


def test_pictures_without_matplotlib_are_a_one_line_error(monkeypatch):
    import sys

    net, exc, *_ = _ei()
    with sf.open(URL, net) as session:
        result = session.run(0.02)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"pictures need matplotlib: pip install "
                                          r"'spikeforge\[plot\]'"):
        result.plot_raster()


def test_reset_repeats_a_run_exactly():
    net, exc, inh, cue, noise, learn = _ei()
    with sf.open(URL, net) as session:
        before = session.weights(learn)
        first = session.run(0.1)
        learned = session.weights(learn)
        session.reset()
        assert session.time == 0.0
        again = session.run(0.1, learn=False)
        session.reset(weights=True)
        np.testing.assert_array_equal(session.weights(learn), before)
        third = session.run(0.1)
    np.testing.assert_array_equal(third.spikes, first.spikes)
    assert not np.array_equal(np.nan_to_num(learned), np.nan_to_num(before))
    assert again.spikes.sum() > 0


def test_populations_keep_their_own_reset():
    a = sf.Population(2, reset="subtract")
    b = sf.Population(3)
    net = sf.Network(sf.Projection(a, b, sf.AllToAll(), 1e-3), dt=1e-3)
    np.testing.assert_array_equal(net.compile().network.neuron_params.reset_sub,
                                  [1, 1, 0, 0, 0])


def test_weight_distributions_are_seeded_and_keep_their_sign():
    a, b = sf.Population(20), sf.Population(30)
    u1 = sf.Projection(a, b, sf.AllToAll(), weight=sf.Uniform(1e-3, 3e-3, seed=4)).weight
    u2 = sf.Projection(a, b, sf.AllToAll(), weight=sf.Uniform(1e-3, 3e-3, seed=4)).weight
    assert np.array_equal(u1, u2) and u1.min() >= 1e-3 and u1.max() <= 3e-3
    assert np.ptp(u1) > 1e-3
    inhibit = sf.Projection(a, b, sf.FixedProbability(0.5, seed=1),
                            weight=sf.Normal(-2e-3, 2e-3, seed=5))
    w = inhibit.weight[inhibit.connected]
    assert np.all(w <= 0) and abs(w.mean() + 2e-3) < 1e-3
    assert np.all(inhibit.weight[~inhibit.connected] == 0)
    assert "Normal(-2 mV, sd 2 mV, seed=5)" == repr(sf.Normal(-2e-3, 2e-3, seed=5))


def test_poisson_drawn_on_the_host_when_asked_or_without_generators():
    out = sf.Population(4)
    host = sf.SpikeSourcePoisson(3, rate_hz=200, on_chip=False, seed=7)
    net = sf.Network(sf.Projection(host, out, sf.AllToAll(), weight=0.03), dt=1e-3)
    compiled = net.compile()
    assert compiled.network.config.poisson is False and not compiled.network.poisson_rate.any()
    whole = compiled.input_raster(0, 2000)
    assert 0.15 < whole.mean() < 0.25                          # 200 Hz at 1 ms
    np.testing.assert_array_equal(compiled.input_raster(500, 100), whole[500:600])
    with sf.open(URL, net) as session:
        first = session.run(0.5).spikes
        session.reset()
        np.testing.assert_array_equal(session.run(0.5).spikes, first)
    assert first.sum() > 0
    # an on-chip source on a core built without generators falls back to the host
    chip = sf.SpikeSourcePoisson(3, rate_hz=200)
    fallback = sf.Network(sf.Projection(chip, out, sf.AllToAll(), weight=0.03), dt=1e-3,
                          config={"poisson": False}).compile()
    assert fallback.host_drawn(chip) and fallback.input_raster(0, 1000).any()
