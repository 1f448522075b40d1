"""Network files: a readable TOML file plus an ``.npz`` beside it for the matrices.

A network file holds everything needed to run a network: the core configuration, the per-neuron
and global parameters, the input spikes and the run settings. The two matrices (weights ``W`` and
plasticity ``mask``, both ``(N+M, N)``) live in a NumPy ``.npz`` file named by ``matrices``.
Every key is optional except where stated; a missing parameter takes the default of
:meth:`NeuronParams.default` / :meth:`GlobalParams.default`::

    format = 1
    name = "tiny"
    description = "two neurons driven by one input"
    matrices = "tiny.npz"          # W (int, (N+M, N)) and mask (bool, optional); default: zeros

    [config]                       # any CoreConfig field; the rest keep their defaults
    neurons = 2
    inputs = 1

    [neurons]                      # a scalar for every neuron, or a list of N values
    thr = 1000
    refrac = [2, 3]

    [globals]                      # global and STDP parameters
    w_shift = 4

    [inputs]
    spikes = [[0, 0], [5, 0]]      # [step, input] pairs
    rate = 0.05                    # or a list of M values: probability of a spike per step
    seed = 1                       # seed of the rate-driven spikes
    poisson_rate = 3277            # the core's own Poisson generators (needs [globals]
                                   # poisson_on = 1): rate/65536 per step, one or M values
    poisson_seed = 1               # seed of the generators' states

    [run]
    steps = 100
    learn = false
    probes = [0, 1]                # neurons whose v and i are recorded

A file may instead give the network in physical units (populations, sources and projections,
values such as ``tau_m = "20 ms"``): see :mod:`.physical`.

:func:`load_network_file` returns a :class:`NetworkSpec`; :func:`save_network_file` writes one
back (the round trip is exact). Every error names the file, the field, the value and the allowed
range.
"""

import json
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from spikeforge.config import ConfigError, CoreConfig

from .physical import is_physical, load_physical
from ..device.base import MAX_RUN_STEPS
from ..model.params import (GLOBAL_FIELDS, NEURON_FIELDS, GlobalParams, Network, NeuronParams,
                     global_ranges, neuron_ranges)

__all__ = ["NetworkSpec", "load_network_file", "save_network_file", "FORMAT_VERSION",
           "DEFAULT_STEPS", "to_toml"]

FORMAT_VERSION = 1
DEFAULT_STEPS = 100

_TOP_KEYS = ("format", "name", "description", "matrices", "config", "neurons", "globals",
             "inputs", "run")
_INPUT_KEYS = ("spikes", "rate", "seed", "poisson_rate", "poisson_seed")
_RUN_KEYS = ("steps", "learn", "probes")


@dataclass(eq=False)
class NetworkSpec:
    """A network and how to run it.

    Arguments
    ---------
    network : Network
        Configuration, parameters, weights and mask.
    steps : int, >= 0
        Time steps of a run.
    learn : bool
        Apply STDP during the run (needs a core built with ``stdp``).
    probes : tuple of int, each 0..N-1
        Neurons whose ``v`` and ``i`` are recorded after every step.
    input_spikes : int array ``(K, 2)``
        Explicit input spikes as ``(step, input)`` rows.
    input_rate : float or array of M floats, each 0..1
        Probability that an input spikes in a step (Poisson-like, drawn with ``input_seed``).
    input_seed : int
        Seed of the rate-driven spikes.
    name, description : str
    """

    network: Network
    steps: int = DEFAULT_STEPS
    learn: bool = False
    probes: tuple = ()
    input_spikes: np.ndarray = None
    input_rate: object = 0.0
    input_seed: int = 0
    name: str = ""
    description: str = ""
    #: seed of the core's Poisson generators (used when the network sets Poisson rates)
    poisson_seed: int = 0
    #: the network in physical units (:class:`~spikeforge.host.model.network.Compiled`) when
    #: the file was in the physical form, with its quantisation report
    compiled: object = None

    def __post_init__(self):
        if self.input_spikes is None:
            self.input_spikes = np.zeros((0, 2), dtype=np.int64)
        self.input_spikes = np.asarray(self.input_spikes, dtype=np.int64).reshape(-1, 2)
        self.probes = tuple(int(p) for p in self.probes)
        if not np.isscalar(self.input_rate):
            self.input_rate = np.asarray(self.input_rate, dtype=float)

    @property
    def config(self):
        return self.network.config

    def validate(self, where="network"):
        """Check the run settings against the configuration; raise :class:`ConfigError`."""
        config = self.config
        n, m = config.neurons, config.inputs
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) \
                or self.steps < 0:
            raise ConfigError(f"{where}: [run] steps={self.steps!r} is not allowed: use an "
                              f"integer >= 0")
        if self.learn and not config.stdp:
            raise ConfigError(f"{where}: [run] learn=true needs a core built with STDP: set "
                              f"[config] stdp = true or learn = false")
        for p in self.probes:
            if not 0 <= p < n:
                raise ConfigError(f"{where}: [run] probes holds neuron {p}, out of range "
                                  f"0..{n - 1}")
        spikes = self.input_spikes
        if spikes.size:
            bad = np.flatnonzero(spikes[:, 0] < 0)
            if bad.size:
                raise ConfigError(f"{where}: [inputs] spikes holds step {spikes[bad[0], 0]}; "
                                  f"steps must be >= 0")
            bad = np.flatnonzero((spikes[:, 1] < 0) | (spikes[:, 1] >= m))
            if bad.size:
                raise ConfigError(f"{where}: [inputs] spikes holds input {spikes[bad[0], 1]}, "
                                  f"out of range 0..{m - 1}")
        rate = np.asarray(self.input_rate, dtype=float)
        if rate.ndim == 1 and rate.shape != (m,):
            raise ConfigError(f"{where}: [inputs] rate has {rate.shape[0]} values; expected one "
                              f"value or {m} (one per input)")
        if rate.ndim > 1:
            raise ConfigError(f"{where}: [inputs] rate must be a number or a list of {m} numbers")
        if rate.size and (not np.all(np.isfinite(rate)) or rate.min() < 0 or rate.max() > 1):
            bad = rate.reshape(-1)[(~np.isfinite(rate.reshape(-1))) | (rate.reshape(-1) < 0)
                                   | (rate.reshape(-1) > 1)][0]
            raise ConfigError(f"{where}: [inputs] rate={bad} is out of range 0..1 (a "
                              f"probability per step)")
        return self

    def input_raster(self, steps=None):
        """The ``(steps, M)`` bool raster of input spikes: the explicit spikes (those before
        ``steps``) together with the rate-driven ones. A shorter run sees a prefix of a longer
        one's raster."""
        steps = self.steps if steps is None else int(steps)
        m = self.config.inputs
        rate = np.asarray(self.input_rate, dtype=float)
        if np.any(rate > 0) and m:
            rng = np.random.default_rng(self.input_seed)
            raster = rng.random((steps, m)) < rate
        else:
            raster = np.zeros((steps, m), dtype=bool)
        spikes = self.input_spikes
        keep = spikes[:, 0] < steps
        raster[spikes[keep, 0], spikes[keep, 1]] = True
        return raster

    def copy(self):
        return NetworkSpec(self.network.copy(), self.steps, self.learn, self.probes,
                           self.input_spikes.copy(), np.copy(self.input_rate)
                           if not np.isscalar(self.input_rate) else self.input_rate,
                           self.input_seed, self.name, self.description, self.poisson_seed,
                           self.compiled)


# -- reading -----------------------------------------------------------------------------------

def _fail(path, message):
    raise ConfigError(f"{path}: {message}")


def _check_keys(path, section, table, allowed):
    if not isinstance(table, dict):
        _fail(path, f"[{section}] must be a table, not {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        _fail(path, f"unknown key(s) {', '.join(map(repr, unknown))} in "
                    f"{'the top level' if section == '' else f'[{section}]'}; allowed keys are "
                    f"{', '.join(allowed)}")


def _section(path, data, name, allowed):
    table = data.get(name, {})
    _check_keys(path, name, table, allowed)
    return table


def _integer(path, where, value, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"{where}={value!r} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(path, f"{where}={value} is out of range {low}..{'' if high is None else high}")
    return value


def _parameter_values(path, section, table, ranges, n=None):
    """Check every value of a parameter table (scalar or list of ``n``) against ``ranges``,
    so that the error names the file, the section, the value and its fixed-point range."""
    values = {}
    for name, raw in table.items():
        low, high, what = ranges[name]
        if n is not None and isinstance(raw, list):
            if len(raw) != n:
                _fail(path, f"[{section}] {name} has {len(raw)} values; expected one value or "
                            f"{n} (one per neuron)")
            items = raw
        elif isinstance(raw, list):
            _fail(path, f"[{section}] {name} must be a single integer, not a list")
        else:
            items = [raw]
        for k, item in enumerate(items):
            label = f"{name}[{k}]" if isinstance(raw, list) else name
            if isinstance(item, bool):
                item = int(item)
            if not isinstance(item, int):
                _fail(path, f"[{section}] {label}={item!r} must be an integer in {low}..{high} "
                            f"({what})")
            if not low <= item <= high:
                _fail(path, f"[{section}] {label}={item} does not fit: allowed {low}..{high} "
                            f"({what})")
        values[name] = np.asarray([int(v) for v in items], dtype=np.int64) \
            if isinstance(raw, list) else int(raw)
    return values


def read_toml(path, kind):
    """The table of the TOML file ``path`` (a ``kind``, e.g. "network file"); a
    :class:`ConfigError` naming the file when it is missing, not text or not TOML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{kind} {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        _fail(path, f"malformed TOML: {error}")
    except UnicodeDecodeError:
        _fail(path, f"is not a text file; a {kind} is TOML")


def read_matrices_file(path, data):
    """``(npz_path, {name: array})`` of the matrices file a network file ``path`` names in its
    ``matrices`` key (``(None, {})`` without one); a :class:`ConfigError` naming the file when it
    is missing or not a numpy archive."""
    if "matrices" not in data:
        return None, {}
    name = data["matrices"]
    if not isinstance(name, str) or not name:
        _fail(path, f"matrices={name!r} must be the name of an .npz file")
    npz_path = (Path(path).parent / name)
    if not npz_path.is_file():
        _fail(path, f"matrices file {str(npz_path)!r} does not exist; save W (and mask) there "
                    f"with numpy.savez, or remove the matrices key for zero weights")
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            return npz_path, {key: archive[key] for key in archive.files}
    except Exception:
        _fail(npz_path, "cannot read the matrices: it is not a numpy .npz archive (or it is "
                        "truncated); write the arrays with numpy.savez")


def _read_matrices(path, data, config):
    shape = (config.rows, config.neurons)
    if "matrices" not in data:
        return np.zeros(shape, dtype=np.int64), np.ones(shape, dtype=bool)
    npz_path, arrays = read_matrices_file(path, data)
    unknown = sorted(set(arrays) - {"W", "mask"})
    if unknown:
        _fail(npz_path, f"unknown array(s) {', '.join(unknown)}; allowed arrays are W, mask")
    if "W" not in arrays:
        _fail(npz_path, "has no array W (the (N+M, N) weight matrix)")
    what = f"(N+M, N) = ({config.neurons}+{config.inputs}, {config.neurons})"
    W = arrays["W"]
    if W.shape != shape:
        _fail(npz_path, f"W has shape {W.shape}; expected {shape} {what}")
    if W.dtype.kind not in "iub":
        _fail(npz_path, f"W must hold integers, not {W.dtype} data")
    W = W.astype(np.int64)
    low, high = config.weight_range
    bad = np.argwhere((W < low) | (W > high))
    if bad.size:
        r, c = bad[0]
        _fail(npz_path, f"W[{r}, {c}]={W[r, c]} is out of the signed {config.weight_bits}-bit "
                        f"weight range {low}..{high}; scale the weights down or raise "
                        f"[config] weight_bits")
    mask = arrays.get("mask")
    if mask is None:
        mask = np.ones(shape, dtype=bool)
    else:
        if mask.shape != shape:
            _fail(npz_path, f"mask has shape {mask.shape}; expected {shape} {what}")
        if mask.dtype != bool:
            if mask.dtype.kind not in "iu" or mask.size and (mask.min() < 0 or mask.max() > 1):
                _fail(npz_path, "mask must hold booleans or 0/1")
            mask = mask.astype(bool)
    return W, mask


def load_network_file(path, *, max_neurons=None, max_inputs=None):
    """Read a network file (and its matrices) into a :class:`NetworkSpec`.

    ``max_neurons`` / ``max_inputs`` are the limits of a board, if known: a network larger than
    the board is refused.
    """
    path = Path(path)
    data = read_toml(path, "network file")
    if is_physical(data):
        version = data.get("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            _fail(path, f"format={version!r} is not supported: this spikeforge reads format "
                        f"{FORMAT_VERSION}")
        return load_physical(path, data, max_neurons=max_neurons,
                             max_inputs=max_inputs).validate(str(path))
    _check_keys(path, "", data, _TOP_KEYS)
    version = data.get("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        _fail(path, f"format={version!r} is not supported: this spikeforge reads format "
                    f"{FORMAT_VERSION}")
    for key in ("name", "description"):
        if not isinstance(data.get(key, ""), str):
            _fail(path, f"{key} must be a string")

    known = [f.name for f in fields(CoreConfig)]
    config_table = _section(path, data, "config", known)
    try:
        config = CoreConfig(**config_table)
    except ConfigError as error:
        _fail(path, f"[config] {error}")
    if max_neurons is not None and config.neurons > max_neurons:
        _fail(path, f"[config] neurons={config.neurons} is larger than the board allows "
                    f"({max_neurons}); use a network of at most {max_neurons} neurons")
    if max_inputs is not None and config.inputs > max_inputs:
        _fail(path, f"[config] inputs={config.inputs} is larger than the board allows "
                    f"({max_inputs}); use at most {max_inputs} inputs")

    neurons = _parameter_values(path, "neurons",
                                _section(path, data, "neurons", NEURON_FIELDS),
                                neuron_ranges(config), config.neurons)
    globals_ = _parameter_values(path, "globals",
                                 _section(path, data, "globals", GLOBAL_FIELDS),
                                 global_ranges(config))
    W, mask = _read_matrices(path, data, config)
    inputs = _section(path, data, "inputs", _INPUT_KEYS)
    rates = inputs.get("poisson_rate")
    if rates is not None:
        rate_top = (1 << config.poisson_rate_bits) - 1
        items = rates if isinstance(rates, list) else [rates] * config.inputs
        if len(items) != config.inputs or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= rate_top
                for v in items):
            _fail(path, f"[inputs] poisson_rate must be one integer or {config.inputs} "
                        f"integers in 0..{rate_top} (spike probability rate/65536 per step)")
        rates = np.asarray(items, dtype=np.int64)
    poisson_seed = _integer(path, "[inputs] poisson_seed", inputs.get("poisson_seed", 0), 0)
    try:
        network = Network(config, NeuronParams.default(config, **neurons),
                          GlobalParams.default(config, **globals_), W, mask,
                          rates).validate()
    except ConfigError as error:
        _fail(path, str(error))

    run = _section(path, data, "run", _RUN_KEYS)
    spikes = inputs.get("spikes", [])
    if not isinstance(spikes, list) or not all(
            isinstance(pair, list) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
            for pair in spikes):
        _fail(path, "[inputs] spikes must be a list of [step, input] integer pairs, e.g. "
                    "[[0, 3], [5, 1]]")
    rate = inputs.get("rate", 0.0)
    if isinstance(rate, list):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rate):
            _fail(path, "[inputs] rate must be a number or a list of numbers")
    elif isinstance(rate, bool) or not isinstance(rate, (int, float)):
        _fail(path, f"[inputs] rate={rate!r} must be a number in 0..1")
    seed = _integer(path, "[inputs] seed", inputs.get("seed", 0), 0)
    steps = _integer(path, "[run] steps", run.get("steps", DEFAULT_STEPS), 0, MAX_RUN_STEPS)
    learn = run.get("learn", False)
    if not isinstance(learn, bool):
        _fail(path, f"[run] learn={learn!r} must be true or false")
    probes = run.get("probes", [])
    if not isinstance(probes, list):
        probes = [probes]
    for p in probes:
        _integer(path, "[run] probes", p, 0, config.neurons - 1)
    spec = NetworkSpec(network, steps=steps, learn=learn, probes=tuple(probes),
                       input_spikes=np.asarray(spikes, dtype=np.int64).reshape(-1, 2),
                       input_rate=float(rate) if not isinstance(rate, list) else rate,
                       input_seed=seed, poisson_seed=poisson_seed, name=data.get("name", ""),
                       description=data.get("description", ""))
    return spec.validate(str(path))


# -- writing -----------------------------------------------------------------------------------

def _toml_value(value):
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return _toml_list(list(value))
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_list(items, per_line=16):
    parts = [_toml_value(item) for item in items]
    if len(parts) <= per_line:
        return "[" + ", ".join(parts) + "]"
    lines = [", ".join(parts[k:k + per_line]) for k in range(0, len(parts), per_line)]
    return "[\n    " + ",\n    ".join(lines) + ",\n]"


def to_toml(tables, comments=None):
    """A small TOML writer: ``tables`` maps a table name (``""`` for the top level) to a dict
    of scalars and lists; ``comments`` maps a table name to a comment line written above it."""
    comments = comments or {}
    out = []
    for name, table in tables.items():
        if name and not table:
            continue
        if name:
            out.append("")
            if name in comments:
                out.append(f"# {comments[name]}")
            out.append(f"[{name}]")
        elif name in comments:
            out.append(f"# {comments[name]}")
        for key, value in table.items():
            out.append(f"{key} = {_toml_value(value)}")
    return "\n".join(out) + "\n"


def _compact(array):
    """A scalar if every neuron has the same value, else the list."""
    array = np.asarray(array)
    if array.size and np.all(array == array.flat[0]):
        return int(array.flat[0])
    return [int(v) for v in array]


def _config_table(config):
    """The sizes, and every other field that differs from the default configuration (so that
    a file keeps working when fields are added to :class:`CoreConfig`)."""
    default = CoreConfig().to_dict()
    always = ("neurons", "inputs", "lanes", "weight_bits")
    return {name: value for name, value in config.to_dict().items()
            if name in always or value != default.get(name)}


def save_network_file(spec, path, *, matrices=None):
    """Write ``spec`` to the TOML file ``path`` and its matrices to ``matrices`` (default: the
    same name with ``.npz``). Returns the two paths."""
    path = Path(path)
    network = spec.network.validate()
    config = network.config
    spec.validate(str(path))
    npz_path = Path(matrices) if matrices is not None else path.with_suffix(".npz")
    if npz_path.resolve() == path.resolve():
        raise ConfigError(f"the matrices file must differ from the network file {str(path)!r}")
    if npz_path.parent.resolve() == path.parent.resolve():
        reference = npz_path.name
    else:
        reference = str(npz_path.resolve())
    dtype = np.int16 if config.weight_bits <= 16 else np.int64
    path.parent.mkdir(parents=True, exist_ok=True)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(npz_path, W=network.W.astype(dtype), mask=network.mask.astype(bool))

    top = {"format": FORMAT_VERSION}
    if spec.name:
        top["name"] = spec.name
    if spec.description:
        top["description"] = spec.description
    top["matrices"] = reference
    inputs = {}
    if len(spec.input_spikes):
        inputs["spikes"] = [[int(s), int(k)] for s, k in spec.input_spikes]
    rate = spec.input_rate
    inputs["rate"] = float(rate) if np.isscalar(rate) else [float(v) for v in rate]
    inputs["seed"] = int(spec.input_seed)
    if network.poisson_rate.any():
        inputs["poisson_rate"] = _compact(network.poisson_rate)
        inputs["poisson_seed"] = int(spec.poisson_seed)
    tables = {
        "": top,
        "config": _config_table(config),
        "neurons": {name: _compact(getattr(network.neuron_params, name))
                    for name in NEURON_FIELDS},
        "globals": network.global_params.to_dict(),
        "inputs": inputs,
        "run": {"steps": int(spec.steps), "learn": bool(spec.learn),
                "probes": list(spec.probes)},
    }
    comments = {
        "": f"spikeforge network file (format {FORMAT_VERSION}); W and mask are in "
            f"{reference}",
        "config": "core configuration (spikeforge.config.CoreConfig; missing fields take "
                  "their defaults)",
        "neurons": "per-neuron parameters: one value for all, or a list of N values "
                   "(docs/model.md)",
        "globals": "global and STDP parameters",
        "inputs": "input spikes: [step, input] pairs and/or a spike probability per step",
        "run": "run settings",
    }
    path.write_text(to_toml(tables, comments))
    return path, npz_path
