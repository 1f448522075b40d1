"""Network files in physical units: populations, sources and projections with units."""

from pathlib import Path

import numpy as np
import pytest

from spikeforge import ConfigError
from spikeforge.host.device import open_device
from spikeforge.host.formats.netfile import load_network_file
from spikeforge.host.formats.physical import parse_quantity
from spikeforge.host.runs.results import run_spec

REPO = Path(__file__).resolve().parents[2]

SMALL = '''
format = 1
name = "small"
dt = "0.5 ms"
matrices = "small.npz"

[neuron]
tau_syn = "4 ms"

[populations.a]
size = 3
tau_m = ["10 ms", "20 ms", "30 ms"]

[populations.b]
size = 2
v_thresh = "-52 mV"

[sources.cue]
kind = "array"
size = 2
times = [["1 ms", "2 ms"], ["3 ms"]]

[sources.noise]
kind = "poisson"
size = 2
rate = "100 Hz"

[stdp]
tau_plus = "15 ms"
A_plus = "0.3 mV"
A_minus = "0.3 mV"
w_max = "10 mV"

[[projections]]
pre = "cue"
post = "a"
connector = "all_to_all"
weight = "60 mV"

[[projections]]
pre = "noise"
post = "b"
connector = { kind = "from_list", connections = [[0, 0, "5 mV"], [1, 1, "6 mV"]] }
stdp = true

[[projections]]
pre = "a"
post = "b"
connector = { kind = "from_array", array = "ab" }

[[projections]]
pre = "b"
post = "b"
connector = { kind = "fixed_probability", p = 1.0, seed = 3, allow_self = false }
weight = { normal = ["-4 mV", "1 mV"], seed = 2 }

[run]
duration = "20 ms"
record = ["b", ["a", 2]]
seed = 5
'''


def _write(tmp_path, text=SMALL, name="small.toml"):
    path = tmp_path / name
    path.write_text(text)
    ab = np.zeros((3, 2))
    ab[2, 1] = 7e-3
    np.savez(tmp_path / "small.npz", ab=ab)
    return path


@pytest.mark.parametrize("text, kind, value", [
    ("20 ms", "time", 0.02), ("20ms", "time", 0.02), ("1.5e-3 s", "time", 1.5e-3),
    (0.01, "time", 0.01), ("-65 mV", "voltage", -0.065), ("40 Hz", "rate", 40.0),
    ("2 kHz", "rate", 2000.0), ("250 us", "time", 250e-6), (3, "voltage", 3.0),
])
def test_quantities_parse_to_si(text, kind, value):
    assert parse_quantity(text, kind, "x") == pytest.approx(value)


@pytest.mark.parametrize("text, kind, message", [
    ("20 mV", "time", "x='20 mV' is a voltage, not a time: use s, ms, us"),
    ("twenty ms", "time", "x='twenty ms' is not a number with a unit"),
    ("20 furlong", "time", "x='20 furlong' has unknown unit 'furlong'"),
    (True, "time", "x=True must be a time"),
])
def test_bad_quantities_say_what_is_allowed(text, kind, message):
    with pytest.raises(ConfigError) as info:
        parse_quantity(text, kind, "x")
    assert message in str(info.value)


def test_physical_file_compiles(tmp_path):
    spec = load_network_file(_write(tmp_path))
    c = spec.config
    assert (c.neurons, c.inputs, c.stdp, c.poisson) == (5, 4, True, True)
    assert spec.steps == 40 and spec.learn is True                 # 20 ms at 0.5 ms
    assert spec.probes == (3, 4, 2)
    assert sorted(map(tuple, spec.input_spikes)) == [(2, 0), (4, 0), (6, 1)]
    assert spec.poisson_seed == 5
    report = spec.compiled.report
    np.testing.assert_allclose(report["tau_m"].asked, [0.01, 0.02, 0.03, 0.02, 0.02])
    assert report["tau_syn"].asked[0] == pytest.approx(4e-3)     # from [neuron]
    net = spec.network
    assert net.mask[5 + 2:5 + 4, 3:5].sum() == 2 and net.mask.sum() == 2
    assert net.W[2, 4] > 0 and net.W[2, 3] == 0                  # from_array: one synapse
    assert net.W[3, 4] < 0 and net.W[3, 3] == 0                  # no self connection
    assert net.poisson_rate[2] == round(65536 * 100 * 0.5e-3)
    with open_device("model://", c) as device:
        record = run_spec(device, spec)
    assert record.spikes[:, :3].sum() > 0


@pytest.mark.parametrize("change, message", [
    (('size = 3\ntau_m', 'size = 3\ntau = "1 ms"\ntau_m'), "unknown key(s) 'tau' in "
                                                          "[populations.a]"),
    (('tau_syn = "4 ms"', 'tau_syn = "4 mV"'), "[neuron] tau_syn='4 mV' is a voltage, not a time"),
    (('tau_syn = "4 ms"', 'tau_syn = 4'), "tau_syn=4 s is implausibly long: times are in "
                                          "seconds; did you mean 4 ms = 0.004?"),
    (('pre = "cue"', 'pre = "kue"'), "pre='kue' is not a population or source of the file"),
    (('kind = "poisson"', 'kind = "gauss"'), "[sources.noise] kind='gauss'"),
    (('connector = "all_to_all"', 'connector = "everything"'), "connector='everything'"),
    (('array = "ab"', 'array = "ba"'), "from_array array='ba' is not in the matrices file"),
    (('duration = "20 ms"', 'duration = "20 ms"\nsteps = 3'), "unknown key(s) 'steps' in [run]"),
    (('record = ["b", ["a", 2]]', 'record = [["a", 7]]'), "index 7 is outside 0..2"),
    (('[neuron]', '[config]\nneuronz = 5\n\n[neuron]'),
     "unknown core configuration field(s) neuronz"),
    (('[neuron]', '[config]\nneurons = 4\n\n[neuron]'),
     "config neurons=4, but the network has 5: leave neurons out"),
    (('weight = "60 mV"', 'weight = "60 nA"'),
     "has unknown unit 'nA' (currents are given as the voltage R I they drive)"),
    (('normal = ["-4 mV", "1 mV"]', 'normal = ["-4 mV"]'), "weight normal needs two values"),
    (('rate = "100 Hz"', 'rate = "100 Hz"\non_chip = "no"'), "on_chip='no' must be true"),
    (('normal = ["-4 mV", "1 mV"]', 'gamma = ["-4 mV", "1 mV"]'),
     "weight table must hold uniform = [low, high] or normal = [mean, sd]"),
    (('p = 1.0, seed = 3', 'q = 1.0, seed = 3'),
     "connector fixed_probability: unknown option(s) 'q'; it takes p, seed, allow_self"),
])
def test_physical_file_errors_name_file_field_and_fix(tmp_path, change, message):
    path = _write(tmp_path, SMALL.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_network_file(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_examples_are_in_physical_units():
    for name in ("synfire", "recurrent_stdp"):
        spec = load_network_file(REPO / "examples" / f"{name}.toml")
        assert spec.compiled is not None and not (REPO / "examples" / f"{name}.npz").exists()
        assert spec.compiled.report.warnings == []


def test_run_command_reports_quantisation_and_hz(tmp_path):
    import json

    from click.testing import CliRunner

    from spikeforge.host.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(REPO / "examples" / "synfire.toml"),
                                       "--device", "model://", "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "Hz (0.0250 spikes/neuron/step at dt = 1 ms)" in result.output
    assert "quantization.txt" in result.output
    text = (out / "quantization.txt").read_text()
    assert text.startswith("quantisation at dt = 1 ms") and "tau_m" in text
    data = json.loads((out / "quantization.json").read_text())
    assert data["parameters"]["tau_m"]["asked"][0] == pytest.approx(0.01)


def test_raw_form_keeps_the_poisson_generators(tmp_path):
    from spikeforge.host.formats.netfile import save_network_file

    spec = load_network_file(REPO / "examples" / "recurrent_stdp.toml")
    assert spec.network.poisson_rate.any() and spec.poisson_seed == 1
    path, _ = save_network_file(spec, tmp_path / "raw.toml")
    assert "poisson_rate = 2621" in path.read_text()        # 40 Hz at 1 ms
    back = load_network_file(path)
    assert back.compiled is None and back.poisson_seed == 1
    np.testing.assert_array_equal(back.network.poisson_rate, spec.network.poisson_rate)
    np.testing.assert_array_equal(back.network.W, spec.network.W)
    runs = []
    for s in (spec, back):
        with open_device("model://", s.config) as device:
            runs.append(run_spec(device, s, steps=200))
    assert runs[0].spikes.sum() > 0
    np.testing.assert_array_equal(runs[0].spikes, runs[1].spikes)
    np.testing.assert_array_equal(runs[0].W_after, runs[1].W_after)


def test_raw_poisson_rate_errors(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[config]\nneurons = 2\ninputs = 2\n[inputs]\npoisson_rate = [1, 2, 3]\n")
    with pytest.raises(ConfigError, match=r"\[inputs\] poisson_rate must be one integer or 2 "
                                          r"integers in 0..65535"):
        load_network_file(path)


def test_poisson_source_drawn_on_the_host_from_a_file(tmp_path):
    path = _write(tmp_path, SMALL.replace('rate = "100 Hz"',
                                          'rate = "100 Hz"\non_chip = false\nseed = 4'))
    spec = load_network_file(path)
    assert not spec.network.poisson_rate.any()
    noise_spikes = spec.input_spikes[spec.input_spikes[:, 1] >= 2]
    assert len(noise_spikes) > 0                     # in the file's input spikes


def test_agreement_with_on_chip_poisson_names_the_fix_of_the_physical_form():
    from spikeforge.host.runs.agreement import agreement_report

    spec = load_network_file(REPO / "examples" / "recurrent_stdp.toml")
    with pytest.raises(ConfigError, match=r"set on_chip = false in its \[sources.NAME\] table"):
        agreement_report(spec, ["brian2", "model"])


def test_nir_export_says_the_poisson_generators_stay_behind():
    pytest.importorskip("nir")
    from spikeforge.host.formats.nir_io import export_nir

    spec = load_network_file(REPO / "examples" / "recurrent_stdp.toml")
    _, notes = export_nir(spec)
    assert any("Poisson generators have no NIR field and are not exported" in n for n in notes)
