"""The physical form of a network file: populations, sources and projections, values with units.

Beside the raw form (integers, see :mod:`.netfile`) a network file may describe the network as
a user thinks of it; :func:`spikeforge.host.formats.netfile.load_network_file` reads both (a
file with a ``[populations]`` table is in the physical form)::

    format = 1
    name = "ei"
    dt = "1 ms"
    matrices = "ei.npz"           # optional: float arrays for from_array connectors

    [config]                      # optional CoreConfig fields (sizes come from the network)
    weight_bits = 12

    [neuron]                      # parameters shared by every population (optional)
    tau_syn = "5 ms"

    [populations.exc]             # any Population parameter; one value or a list per neuron
    size = 32
    tau_m = "20 ms"
    v_thresh = "-50 mV"

    [sources.noise]               # kind = "poisson" or "array"
    kind = "poisson"
    size = 16
    rate = "40 Hz"
    on_chip = true                # the core's generators; false: drawn on the host from seed

    [sources.cue]
    kind = "array"
    size = 4
    times = ["10 ms", "50 ms"]    # the same times for every line, or one list per line

    [stdp]                        # the one learning rule of the core
    tau_plus = "20 ms"
    A_plus = "0.5 mV"
    w_max = "10 mV"

    [[projections]]
    pre = "noise"
    post = "exc"
    connector = { kind = "fixed_probability", p = 0.4, seed = 1 }
    weight = "4 mV"               # or { uniform = ["2 mV", "6 mV"], seed = 3 }, { normal = ... }
    stdp = true

    [run]
    duration = "1 s"
    learn = true                  # default: when a projection learns
    record = ["exc"]              # populations (or [name, index]) whose v and i are recorded
    seed = 1                      # of the core's Poisson generators

Units: ``s, ms, us`` for times, ``V, mV, uV`` for voltages (weights, bias and STDP amplitudes
too: a current as ``R I``), ``Hz, kHz`` for rates; a bare number is in the SI unit. Connectors:
``"all_to_all"``, ``"one_to_one"``, or a table with ``kind`` ``all_to_all``, ``one_to_one``,
``fixed_probability`` (``p``, ``seed``, ``allow_self``), ``from_list`` (``connections``: ``[pre,
post]`` or ``[pre, post, weight]``), ``from_array`` (``array``: the name of an array in
``matrices``, ``(n_pre, n_post)`` volts).
"""

import re

import numpy as np

from spikeforge.config import ConfigError

__all__ = ["load_physical", "parse_quantity", "is_physical"]

_UNITS = {
    "time": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9},
    "voltage": {"V": 1.0, "mV": 1e-3, "uV": 1e-6, "µV": 1e-6},
    "rate": {"Hz": 1.0, "kHz": 1e3},
}
_SI = {"time": "s", "voltage": "V", "rate": "Hz"}
_KIND = {"tau_m": "time", "tau_syn": "time", "t_ref": "time", "tau_th": "time",
         "v_rest": "voltage", "v_reset": "voltage", "v_thresh": "voltage", "bias": "voltage",
         "theta_inc": "voltage", "tau_plus": "time", "tau_minus": "time", "A_plus": "voltage",
         "A_minus": "voltage", "w_min": "voltage", "w_max": "voltage", "weight": "voltage",
         "rate": "rate", "times": "time", "dt": "time", "duration": "time"}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ]*)\s*$")
_TOP = ("format", "name", "description", "dt", "matrices", "config", "neuron", "populations",
        "sources",
        "stdp", "projections", "run", "scales")


def is_physical(data):
    """A parsed TOML document is in the physical form."""
    return "populations" in data


def parse_quantity(value, kind, where):
    """``"20 ms"`` -> 0.02 for ``kind="time"``; numbers pass as SI values. Lists parse
    element-wise. Errors name ``where``, the value and the units allowed."""
    if isinstance(value, list):
        return [parse_quantity(v, kind, f"{where}[{k}]") for k, v in enumerate(value)]
    units = _UNITS[kind]
    if isinstance(value, bool):
        raise ConfigError(f"{where}={value!r} must be a {kind}, e.g. \"20 {_example(kind)}\"")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}={value!r} must be a {kind} such as \"20 {_example(kind)}\"")
    match = _NUMBER.match(value)
    if not match:
        raise ConfigError(f"{where}={value!r} is not a number with a unit (e.g. "
                          f"\"20 {_example(kind)}\")")
    number, unit = float(match.group(1)), match.group(2) or _SI[kind]
    if unit not in units:
        found = next((k for k, table in _UNITS.items() if unit in table), None)
        what = f" is a {found}, not a {kind}" if found else f" has unknown unit {unit!r}"
        if kind == "voltage" and unit.endswith("A"):
            what += " (currents are given as the voltage R I they drive)"
        raise ConfigError(f"{where}={value!r}{what}: use {', '.join(units)}")
    return number * units[unit]


def _example(kind):
    return {"time": "ms", "voltage": "mV", "rate": "Hz"}[kind]


def _table(path, where, value, allowed):
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                          f"allowed keys are {', '.join(allowed)}")
    return value


def _size(path, where, table):
    size = table.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{path}: {where} size={size!r} must be a whole number >= 1")
    return size


def load_physical(path, data, *, max_neurons=None, max_inputs=None):
    """A :class:`~.netfile.NetworkSpec` of a physical-form file (already parsed ``data``); the
    spec's ``compiled`` holds the network in physical units and its quantisation report."""
    from ..model import network as nw
    from ..model.quantize import Stdp
    from .netfile import NetworkSpec

    _table(path, "the top level", data, _TOP)
    try:
        return _load(path, data, nw, Stdp, tuple(nw.NEURON_DEFAULTS), NetworkSpec, max_neurons,
                     max_inputs)
    except ConfigError as error:
        text = str(error)
        raise ConfigError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def _load(path, data, nw, Stdp, neuron_fields, NetworkSpec, max_neurons, max_inputs):
    dt = parse_quantity(data.get("dt", 1e-3), "time", "dt")
    from .netfile import read_matrices_file
    _, matrices = read_matrices_file(path, data)

    objects = {}
    if not isinstance(data["populations"], dict) or not data["populations"]:
        raise ConfigError("[populations] must hold at least one [populations.NAME] table")
    shared = _table(path, "[neuron]", data.get("neuron", {}), ("reset",) + neuron_fields)
    shared_params = {key: parse_quantity(value, _KIND[key], f"[neuron] {key}")
                     for key, value in shared.items() if key in neuron_fields}
    for name, table in data["populations"].items():
        where = f"[populations.{name}]"
        _table(path, where, table, ("size", "reset") + neuron_fields)
        size = _size(path, where, table)
        params = dict(shared_params)
        params.update({key: parse_quantity(value, _KIND[key], f"{where} {key}")
                       for key, value in table.items() if key in neuron_fields})
        objects[name] = nw.Population(size, label=name,
                                      reset=table.get("reset", shared.get("reset", "value")),
                                      **params)
    for name, table in data.get("sources", {}).items():
        where = f"[sources.{name}]"
        kind = table.get("kind") if isinstance(table, dict) else None
        if name in objects:
            raise ConfigError(f"{where}: the name {name!r} is also a population; names must "
                              f"differ")
        if kind == "poisson":
            _table(path, where, table, ("kind", "size", "rate", "on_chip", "seed"))
            on_chip, seed = table.get("on_chip", True), table.get("seed", 0)
            if not isinstance(on_chip, bool):
                raise ConfigError(f"{where} on_chip={on_chip!r} must be true (the core's "
                                  f"generators) or false (drawn on the host)")
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ConfigError(f"{where} seed={seed!r} must be an integer >= 0")
            objects[name] = nw.SpikeSourcePoisson(
                _size(path, where, table),
                parse_quantity(table.get("rate", 0.0), "rate", f"{where} rate"), label=name,
                on_chip=on_chip, seed=seed)
        elif kind == "array":
            _table(path, where, table, ("kind", "size", "times"))
            size = _size(path, where, table)
            times = parse_quantity(table.get("times", []), "time", f"{where} times")
            if times and not isinstance(times[0], list):
                times = [times] * size
            if len(times) != size:
                raise ConfigError(f"{where} times has {len(times)} lists; give one list for "
                                  f"every line or one list for all {size}")
            objects[name] = nw.SpikeSourceArray(times, label=name)
        else:
            raise ConfigError(f"{where} kind={kind!r}: use kind = \"poisson\" or \"array\"")

    stdp = None
    if "stdp" in data:
        table = _table(path, "[stdp]", data["stdp"],
                       ("tau_plus", "tau_minus", "A_plus", "A_minus", "w_min", "w_max"))
        stdp = Stdp(**{key: parse_quantity(value, _KIND[key], f"[stdp] {key}")
                       for key, value in table.items()})

    projections = data.get("projections", [])
    if not isinstance(projections, list):
        raise ConfigError("projections must be an array of tables: [[projections]]")
    built = []
    for k, table in enumerate(projections):
        where = f"[[projections]] #{k + 1}"
        _table(path, where, table, ("pre", "post", "connector", "weight", "stdp", "label"))
        pre, post = (objects.get(table.get(end)) for end in ("pre", "post"))
        for end, obj in (("pre", pre), ("post", post)):
            if obj is None:
                raise ConfigError(f"{where} {end}={table.get(end)!r} is not a population or "
                                  f"source of the file: known are {', '.join(objects)}")
        connector = _connector(table.get("connector", "all_to_all"), where, matrices, nw)
        weight = _weight(table["weight"], where, nw) if "weight" in table else None
        learns = table.get("stdp", False)
        if learns not in (True, False):
            raise ConfigError(f"{where} stdp={learns!r} must be true (learn with the [stdp] "
                              f"rule) or false")
        if learns and stdp is None:
            raise ConfigError(f"{where} stdp = true needs an [stdp] table with the rule")
        built.append(nw.Projection(pre, post, connector, weight, stdp=stdp if learns else None,
                                   label=table.get("label")))

    scales = data.get("scales", {})
    _table(path, "[scales]", scales, ("v_scale", "w_shift", "stdp_shift", "trace_inc"))
    run = _table(path, "[run]", data.get("run", {}), ("duration", "learn", "record", "seed"))
    seed = run.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"[run] seed={seed!r} must be an integer >= 0")
    net = nw.Network(*built, *[o for o in objects.values()], dt=dt,
                     config=data.get("config"), seed=seed, **scales)
    config = net.core_config()
    if max_neurons is not None and config.neurons > max_neurons:
        raise ConfigError(f"the network has {config.neurons} neurons; the board holds at most "
                          f"{max_neurons}")
    if max_inputs is not None and config.inputs > max_inputs:
        raise ConfigError(f"the network has {config.inputs} inputs; the board holds at most "
                          f"{max_inputs}")
    compiled = net.compile()
    steps = compiled.steps(parse_quantity(run.get("duration", 0.1), "time", "[run] duration"))
    learn = run.get("learn", compiled.plastic)
    if not isinstance(learn, bool):
        raise ConfigError(f"[run] learn={learn!r} must be true or false")
    probes = []
    record = run.get("record", [])
    for item in record if isinstance(record, list) else [record]:
        name, index = (item[0], item[1:]) if isinstance(item, list) else (item, None)
        pop = objects.get(name)
        if not isinstance(pop, nw.Population):
            raise ConfigError(f"[run] record {item!r}: {name!r} is not a population")
        span = compiled.neuron_slice[pop]
        for j in (range(pop.n) if not index else index):
            if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < pop.n:
                raise ConfigError(f"[run] record {item!r}: index {j!r} is outside 0..{pop.n - 1}")
            probes.append(span.start + j)
    raster = compiled.input_raster(0, steps)
    spec = NetworkSpec(compiled.network, steps=steps, learn=learn, probes=tuple(probes),
                       input_spikes=np.argwhere(raster), name=data.get("name", ""),
                       description=data.get("description", ""))
    spec.compiled = compiled
    spec.poisson_seed = seed
    return spec


def _weight(value, where, nw):
    """A weight: a quantity, or a table ``{ uniform = [low, high], seed = 1 }`` or ``{ normal =
    [mean, sd], seed = 1 }``."""
    if not isinstance(value, dict):
        return parse_quantity(value, "voltage", f"{where} weight")
    kinds = [k for k in ("uniform", "normal") if k in value]
    unknown = sorted(set(value) - {"uniform", "normal", "seed"})
    if len(kinds) != 1 or unknown:
        raise ConfigError(f"{where} weight table must hold uniform = [low, high] or normal = "
                          f"[mean, sd], and optionally seed")
    pair = value[kinds[0]]
    if not isinstance(pair, list) or len(pair) != 2:
        raise ConfigError(f"{where} weight {kinds[0]} needs two values, e.g. "
                          f"[\"1 mV\", \"3 mV\"]")
    a, b = parse_quantity(pair, "voltage", f"{where} weight {kinds[0]}")
    seed = value.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where} weight seed={seed!r} must be an integer")
    return nw.Uniform(a, b, seed) if kinds[0] == "uniform" else nw.Normal(a, b, seed)


def _connector(value, where, matrices, nw):
    simple = {"all_to_all": nw.AllToAll, "one_to_one": nw.OneToOne}
    if isinstance(value, str):
        if value not in simple:
            raise ConfigError(f"{where} connector={value!r}: use \"all_to_all\", "
                              f"\"one_to_one\" or a table with kind = \"fixed_probability\", "
                              f"\"from_list\" or \"from_array\"")
        return simple[value]()
    if not isinstance(value, dict):
        raise ConfigError(f"{where} connector must be a name or a table")
    kind = value.get("kind")
    options = {k: v for k, v in value.items() if k != "kind"}
    allowed = {"all_to_all": ("allow_self",), "one_to_one": (),
               "fixed_probability": ("p", "seed", "allow_self"),
               "from_list": ("connections",), "from_array": ("array",)}.get(kind)
    if allowed is not None and set(options) - set(allowed):
        unknown = sorted(set(options) - set(allowed))
        raise ConfigError(f"{where} connector {kind}: unknown option(s) "
                          f"{', '.join(map(repr, unknown))}; it takes "
                          f"{', '.join(allowed) or 'no options'}")
    try:
        if kind == "all_to_all":
            return nw.AllToAll(**options)
        if kind == "one_to_one":
            return nw.OneToOne(**options)
        if kind == "fixed_probability":
            return nw.FixedProbability(**options)
        if kind == "from_list":
            rows = []
            for c in options.pop("connections", []):
                row = list(c)
                if len(row) == 3:
                    row[2] = parse_quantity(row[2], "voltage", f"{where} connection weight")
                rows.append(tuple(row))
            if options:
                raise TypeError(f"unexpected option(s) {', '.join(options)}")
            return nw.FromList(rows)
        if kind == "from_array":
            name = options.pop("array", None)
            if name not in matrices:
                raise ConfigError(f"{where} from_array array={name!r} is not in the matrices "
                                  f"file (it holds {', '.join(matrices) or 'nothing'})")
            if options:
                raise TypeError(f"unexpected option(s) {', '.join(options)}")
            return nw.FromArray(matrices[name])
    except TypeError as error:
        raise ConfigError(f"{where} connector {kind}: {error}") from None
    raise ConfigError(f"{where} connector kind={kind!r}: use all_to_all, one_to_one, "
                      f"fixed_probability, from_list or from_array")
