"""Bad input, generated: broken network files, NIR graphs, device URLs and argument
combinations given to the command line. Every one must end with a clean message and an exit
code from the documented table (docs/cli.md), never a traceback.

The number of examples per test is fixed for CI (``SPIKEFORGE_FUZZ_EXAMPLES``, default 60:
the whole file takes well under 30 s); set it higher for a longer campaign, e.g.
``SPIKEFORGE_FUZZ_EXAMPLES=2000 pytest tests/test_bad_input.py``.
"""

import math
import os
import string

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.host.cli import main

EXAMPLES = int(os.environ.get("SPIKEFORGE_FUZZ_EXAMPLES", "60"))
#: The documented exit codes: 0 done, 1 a difference, 2 user error, 3 device failure,
#: 130 interrupted.
EXIT_CODES = {0, 1, 2, 3}

fuzz = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get(
    "SPIKEFORGE_FUZZ_EXAMPLES"), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                        HealthCheck.too_slow])


def check(result):
    """The result of one command: a documented exit code, no traceback, and on failure one
    ``error: ...`` line (or click's own usage message) on stderr."""
    exception = result.exception
    if exception is not None and not isinstance(exception, SystemExit):
        raise AssertionError(f"{type(exception).__name__}: {exception}") from exception
    assert result.exit_code in EXIT_CODES, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.exit_code in (2, 3):
        lines = result.stderr.strip().splitlines()
        assert lines, "an error without a message"
        assert lines[-1].startswith(("error: ", "Error: ")), result.stderr
        if lines[-1].startswith("error: "):
            assert len(lines) == 1, result.stderr


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


# -- values of every kind ---------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-2**40, 2**40), st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=8), st.sampled_from(["nan", "inf", "1e400", "", "sim://", "../x"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(string.ascii_lowercase, max_size=6),
                                                 inner, max_size=3)), max_leaves=8)

SECTIONS = {
    "config": ["neurons", "inputs", "lanes", "weight_bits", "stdp", "adaptive_threshold",
               "poisson", "v_bits", "i_bits"],
    "neurons": ["thr", "v_reset", "reset_sub", "refrac", "alpha_v", "alpha_i", "bias"],
    "globals": ["w_shift", "w_min", "w_max", "a_plus", "poisson_on", "alpha_x"],
    "inputs": ["spikes", "rate", "seed"],
    "run": ["steps", "learn", "probes"],
}


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k or 'k'} = {toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def network_files(draw):
    """TOML text of a small network file with some fields broken (or raw junk)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    lines = []
    if draw(st.booleans()):
        lines.append(f"format = {toml_value(draw(st.one_of(st.just(1), values)))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"matrices = {toml_value(draw(st.sampled_from(['m.npz', 'junk.npz', 'no.npz', 7])))}")
    good = {"config": {"neurons": 6, "inputs": 3, "lanes": 2}, "run": {"steps": 20}}
    for section, keys in SECTIONS.items():
        if not draw(st.booleans()) and section not in good:
            continue
        lines.append(f"[{section}]")
        table = dict(good.get(section, {}))
        for key in draw(st.lists(st.sampled_from(keys + ["bogus"]), max_size=3, unique=True)):
            table[key] = draw(st.one_of(values, st.integers(-5, 70)))
        for key, value in table.items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


@fuzz
@given(text=network_files(), command=st.sampled_from(["run", "load", "info"]),
       device=st.sampled_from(["model://", "model://?kernel=numpy", "model://?kernel=x"]))
def test_broken_network_files(tmp_path_factory, text, command, device):
    folder = tmp_path_factory.mktemp("net")
    (folder / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    np.savez(folder / "m.npz", W=np.ones((3, 2)), mask=np.zeros(4))
    path = folder / "net.toml"
    path.write_text(text)
    if command == "run":
        result = invoke("run", path, "-d", device, "-o", folder / "out", "--no-plots",
                        "--steps", "5")
    elif command == "load":
        result = invoke("load", path, "-d", device)
    else:
        result = invoke("info", "-d", device, "-n", path)
    check(result)


# -- device URLs ------------------------------------------------------------------------------

url_parts = st.one_of(
    st.sampled_from(["", "127.0.0.1", "127.0.0.1:1", "127.0.0.1:99999", "127.0.0.1:0",
                     ":5000", "[::1]:x", "/dev/nonexistent", "host:port", "?baud=abc",
                     "/dev/null?baud=-1", "?uart=x", "?kernel=numpy", "?uart=bytes&x=1", "%%",
                     "?baud=9600&baud=abc"]),
    st.text(string.printable, max_size=12))


def _reaches_something(url):
    """URLs that open a working device or a real file, or ask a name server: not bad input,
    and slow (a silent port is waited for)."""
    if url in ("sim://", "sim://?uart=bytes", "sim://?uart=pins") or url.startswith("loop"):
        return True
    if url.startswith(("socket://", "rfc2217://")):
        host = url.split("://", 1)[1].split(":", 1)[0].strip("[]")
        return host not in ("", "127.0.0.1", "::1")
    target = url.split("://", 1)[-1].split("?", 1)[0]
    return os.path.exists(target) and "baud=" not in url


@fuzz
@given(scheme=st.sampled_from(["model", "sim", "serial", "socket", "rfc2217", "ftp", "",
                               "MODEL", "sim:"]), rest=url_parts)
def test_device_urls(scheme, rest):
    url = f"{scheme}://{rest}" if scheme else rest
    if _reaches_something(url):
        url = "socket://127.0.0.1:1"     # refused at once
    check(invoke("info", "-d", url))


# -- argument combinations ----------------------------------------------------------------------

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
EXAMPLE = os.path.join(REPO, "examples", "synfire.toml")
NIR_EXAMPLE = os.path.join(REPO, "examples", "nir_lif.nir")

option_values = st.sampled_from(["-1", "0", "1", "5", "4294967296", "1e3", "0.5", "nan", "inf",
                                 "abc", "", "model://", "ftp://x", "model,model",
                                 "model,ftp://x", ","])
# outputs only ever go into the test's own folder (never over the examples)
paths = st.sampled_from(["DIR/out", "DIR/out.toml", "DIR/out.nir", "DIR/out.npz", "DIR",
                         "DIR/file/out", "DIR/file", "DIR/run", "/nonexistent/x"])
inputs = st.sampled_from([EXAMPLE, NIR_EXAMPLE, "DIR/file", "DIR/none.toml"])

#: Per command: its positional arguments (one of) and its options (flag or with a value).
COMMANDS = {
    "run": ([EXAMPLE, NIR_EXAMPLE, "DIR/file"],
            {"--steps": option_values, "--learn": None, "--no-learn": None, "--out": paths,
             "--json": None, "--no-plots": None, "--device": option_values}),
    "load": ([EXAMPLE, "DIR/file"], {"--device": option_values, "--json": None}),
    "read": ([], {"--out": paths, "--network": inputs, "--device": option_values,
                  "--json": None}),
    "compare": ([EXAMPLE], {"--backends": option_values, "--steps": option_values,
                            "--learn": None, "--json": None}),
    "import-nir": ([NIR_EXAMPLE, EXAMPLE, "DIR/file"],
                   {"--out": paths, "--neurons": option_values, "--inputs": option_values,
                    "--lanes": option_values, "--weight-bits": option_values,
                    "--dt": option_values, "--v-scale": option_values,
                    "--w-shift": option_values, "--steps": option_values,
                    "--input-rate": option_values, "--json": None}),
    "export-nir": ([EXAMPLE, "DIR/file"], {"--out": paths, "--dt": option_values}),
    "plot": (["DIR", "DIR/file", "DIR/run"], {"--out": paths}),
    "export-neo": (["DIR", "DIR/file", "DIR/run"],
                   {"--out": st.one_of(paths, st.sampled_from(["DIR/out.pkl", "DIR/out.mat",
                                                               "DIR/out.nix"])),
                    "--dt": option_values}),
}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    positional, options = COMMANDS[command]
    args = [command]
    if positional and draw(st.integers(0, 5)):
        args.append(draw(st.sampled_from(positional)))
    for option in draw(st.lists(st.sampled_from(sorted(options)), max_size=5, unique=True)):
        args.append(option)
        if options[option] is not None:
            args.append(draw(options[option]))
    if command in ("run", "load", "read") and "--device" not in args:
        args += ["--device", "model://"]           # not the slower simulated board
    if command == "compare" and "--backends" not in args:
        args += ["--backends", "model,model"]
    if command in ("run", "compare") and "--steps" not in args:
        args += ["--steps", "5"]
    return args


@fuzz
@given(args=command_lines())
def test_argument_combinations(tmp_path_factory, args):
    folder = tmp_path_factory.mktemp("args")
    (folder / "file").write_text("not what it should be")
    run = folder / "run"
    run.mkdir()
    (run / "summary.json").write_text("{")
    (run / "spikes.npz").write_bytes(b"PK\x03\x04")
    args = [a.replace("DIR", str(folder)) if a.startswith("DIR") else a for a in args]
    check(invoke(*args))


# -- NIR graphs ---------------------------------------------------------------------------------

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.sampled_from([0.0, -0.0, 1e-12, 1e12, -1.0]))


@fuzz
@given(data=st.data(), n=st.integers(1, 5), m=st.integers(1, 4))
def test_broken_nir_graphs(tmp_path_factory, data, n, m):
    nir = pytest.importorskip("nir")
    from spikeforge.host.formats.nir_io import write_nir

    def vector(size, typical):
        if data.draw(st.booleans()):
            return np.full(size, typical)
        return np.array(data.draw(st.lists(numbers, min_size=size, max_size=size)))

    weights = np.array(data.draw(st.lists(numbers, min_size=n * m, max_size=n * m))).reshape(n, m)
    if data.draw(st.booleans()):
        weights = np.full((n, m), 0.3)
    nodes = {
        "input": nir.Input(np.array([m])),
        "w_in": nir.Affine(weight=weights, bias=vector(n, 0.0)),
        "lif": nir.CubaLIF(tau_syn=vector(n, 0.005), tau_mem=vector(n, 0.02),
                           r=vector(n, 20.0), v_leak=vector(n, 0.0),
                           v_threshold=vector(n, 1.0), v_reset=vector(n, 0.0),
                           w_in=vector(n, 1.0)),
        "output": nir.Output(np.array([n])),
    }
    dt = data.draw(st.one_of(st.just(1e-3), numbers, st.text(string.printable, max_size=4)))
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "w_in"), ("w_in", "lif"),
                                             ("lif", "output")], metadata={"dt": dt})
    folder = tmp_path_factory.mktemp("nir")
    path = write_nir(graph, folder / "g.nir")
    check(invoke("import-nir", path, "--out", folder / "g.toml"))
