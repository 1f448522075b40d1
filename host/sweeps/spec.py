"""Sweep spec files: which network, which parameters, which seeds, which device.

A sweep spec is a small TOML file::

    name = "threshold"
    kind = "network"                 # "network" (default) or "digits"
    network = "../synfire.toml"      # the base network file, relative to this file
    device = "model://"              # or a list: points go round-robin over the devices
    steps = 200                      # optional: overrides [run] steps of the network
    learn = false                    # optional: overrides [run] learn
    seeds = [1, 2, 3]                # every point runs once per seed (default: [0])
    seed_path = "inputs.seed"        # where the seed goes (digits: recipe.seed)
    metrics = ["rate", "spikes"]     # optional: the columns kept (default: all)
    batch = 16                       # optional: model:// points per task, run together in
                                     # the batched twin (default 1: a task per point)

    [grid]                           # every combination of these values
    "neurons.thr" = [800, 1000, 1200]
    stdp.a_plus = [1, 2, 4]          # an unquoted dotted key is the same path

    [random]                         # `samples` draws, crossed with the grid
    samples = 8
    seed = 0                         # seed of the draws
    "globals.w_shift" = {low = 0, high = 4}            # integers if both bounds are
    "inputs.rate" = {low = 0.01, high = 0.2, log = true}
    "neurons.refrac" = {choices = [0, 1, 2]}

    [options]                        # per kind; digits: train_samples, test_samples

The points are the product of the grid, the random draws and the seeds, in that order (the seed
varies fastest). :func:`load_sweep_spec` reads a file into a :class:`SweepSpec`;
:meth:`SweepSpec.points` lists the :class:`Point` objects.
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge.config import ConfigError

from .params import check_path

__all__ = ["SweepSpec", "Point", "load_sweep_spec", "KINDS", "NETWORK_METRICS",
           "DIGITS_METRICS"]

KINDS = ("network", "digits")
NETWORK_METRICS = ("spikes", "input_spikes", "rate", "active_neurons", "rate_min", "rate_max",
                   "weights_changed", "w_mean", "w_std", "w_min", "w_max", "w_plastic_mean",
                   "cycles", "wall_s")
DIGITS_METRICS = ("accuracy", "train_samples", "test_samples", "train_spikes_per_sample",
                  "test_spikes_per_sample", "test_synaptic_ops_per_sample", "wall_s")
_TOP_KEYS = ("format", "name", "description", "kind", "network", "device", "steps", "learn",
             "seeds", "seed_path", "metrics", "batch", "grid", "random", "options")
_OPTIONS = {"network": (), "digits": ("train_samples", "test_samples")}
_DEFAULT_SEED_PATH = {"network": "inputs.seed", "digits": "recipe.seed"}


@dataclass(frozen=True)
class Point:
    """One task of a sweep: the parameter values, the seed and the device it runs on."""
    index: int
    params: dict
    seed: int
    device: str


@dataclass
class SweepSpec:
    """A parsed sweep spec (see the module docstring for the file format)."""
    name: str = "sweep"
    kind: str = "network"
    network: Path = None
    devices: tuple = ("model://",)
    steps: int = None
    learn: bool = None
    seeds: tuple = (0,)
    seed_path: str = None
    metrics: tuple = None
    batch: int = 1
    grid: dict = field(default_factory=dict)
    random: dict = field(default_factory=dict)
    samples: int = 0
    random_seed: int = 0
    options: dict = field(default_factory=dict)
    source: Path = None

    def __post_init__(self):
        if self.seed_path is None:
            self.seed_path = _DEFAULT_SEED_PATH.get(self.kind, "inputs.seed")
        if isinstance(self.devices, str):
            self.devices = (self.devices,)
        self.devices = tuple(self.devices)

    def validate(self, where="sweep"):
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind={self.kind!r} is unknown: use one of "
                              f"{', '.join(KINDS)}")
        if self.kind == "network":
            if self.network is None:
                raise ConfigError(f"{where}: no base network: set network = \"path.toml\"")
            if not Path(self.network).is_file():
                raise ConfigError(f"{where}: the base network file {str(self.network)!r} "
                                  f"does not exist; give its path relative to the spec file")
        if not self.devices or not all(isinstance(d, str) and d for d in self.devices):
            raise ConfigError(f"{where}: device must be a URL such as model:// or a list of "
                              f"URLs")
        _check_schemes(self.devices, where)
        for path in list(self.grid) + list(self.random) + [self.seed_path]:
            try:
                check_path(path, self.kind)
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from None
        known = NETWORK_METRICS if self.kind == "network" else DIGITS_METRICS
        unknown = [m for m in self.metrics or () if m not in known]
        if unknown:
            raise ConfigError(f"{where}: unknown metric(s) {', '.join(unknown)}; "
                              f"{self.kind} points give {', '.join(known)}")
        bad = sorted(set(self.options) - set(_OPTIONS[self.kind]))
        if bad:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(bad)} in [options]; "
                              f"{self.kind} points take "
                              f"{', '.join(_OPTIONS[self.kind]) or 'none'}")
        return self

    @property
    def parameters(self):
        """The swept parameter paths, grid first."""
        return list(self.grid) + [p for p in self.random if p not in self.grid]

    def random_draws(self):
        """The ``samples`` random parameter sets, as a list of dicts."""
        rng = np.random.default_rng(self.random_seed)
        draws = []
        for _ in range(self.samples):
            draw = {}
            for path, dist in self.random.items():
                draw[path] = _draw(rng, dist)
            draws.append(draw)
        return draws or [{}]

    def points(self):
        """Every point of the sweep, in order."""
        names = list(self.grid)
        combos = itertools.product(*(self.grid[n] for n in names)) if names else [()]
        draws = self.random_draws()
        points = []
        for combo in combos:
            for draw in draws:
                for seed in self.seeds:
                    params = dict(zip(names, combo)) | draw
                    index = len(points)
                    points.append(Point(index, params, int(seed),
                                        self.devices[index % len(self.devices)]))
        return points


def _check_schemes(urls, where):
    """Refuse a device URL whose scheme no backend opens, before any point runs."""
    from urllib.parse import urlsplit

    from ..device import backends  # noqa: F401  (registers sim:// and serial://)
    from ..device.base import _SCHEMES

    for url in urls:
        scheme = urlsplit(url).scheme if "://" in url else "serial"
        if scheme not in _SCHEMES:
            known = ", ".join(f"{name}://" for name in sorted(_SCHEMES))
            raise ConfigError(f"{where}: device {url!r} has an unknown scheme: use one of "
                              f"{known}, or a serial port path")


def _draw(rng, dist):
    if "choices" in dist:
        choices = dist["choices"]
        return choices[int(rng.integers(len(choices)))]
    low, high = dist["low"], dist["high"]
    integer = isinstance(low, int) and isinstance(high, int)
    if dist.get("log"):
        value = low * (high / low) ** rng.uniform(0.0, 1.0)     # log-uniform
        return int(round(value)) if integer else float(value)
    if integer:
        return int(rng.integers(low, high + 1))
    return float(rng.uniform(low, high))


def _flatten(table, leaf, prefix=""):
    """``{"neurons": {"thr": [...]}}`` (unquoted dotted keys) -> ``{"neurons.thr": [...]}``."""
    flat = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not leaf(value):
            flat |= _flatten(value, leaf, path + ".")
        else:
            flat[path] = value
    return flat


def _is_distribution(value):
    return isinstance(value, dict) and bool({"low", "high", "choices"} & set(value))


def _fail(path, message):
    raise ConfigError(f"{path}: {message}")


def load_sweep_spec(path):
    """Read the sweep spec file ``path`` into a validated :class:`SweepSpec`."""
    from ..formats.netfile import read_toml

    path = Path(path)
    data = read_toml(path, "sweep spec")
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        _fail(path, f"unknown key(s) {', '.join(unknown)}; allowed keys are "
                    f"{', '.join(_TOP_KEYS)}")
    if data.get("format", 1) != 1:
        _fail(path, f"format={data['format']!r} is not supported: this spikeforge reads sweep "
                    f"specs of format 1")
    kind = data.get("kind", "network")
    network = data.get("network")
    if network is not None:
        if not isinstance(network, str):
            _fail(path, f"network={network!r} must be the path of a network file")
        network = (path.parent / network)
    devices = data.get("device", "model://")
    if isinstance(devices, str):
        devices = [devices]
    if not isinstance(devices, list) or not devices:
        _fail(path, f"device={devices!r} must be a URL or a list of URLs")
    for key, types in (("steps", int), ("learn", bool)):
        value = data.get(key)
        if value is not None and (not isinstance(value, types)
                                  or (types is int and (isinstance(value, bool) or value < 0))):
            _fail(path, f"{key}={value!r} must be "
                        f"{'an integer >= 0' if types is int else 'true or false'}")
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        _fail(path, f"seeds={seeds!r} must be a list of integers >= 0 (or a count)")
    batch = data.get("batch", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        _fail(path, f"batch={batch!r} must be an integer >= 1 (model:// points per task)")
    metrics = data.get("metrics")
    if metrics is not None and (not isinstance(metrics, list)
                                or not all(isinstance(m, str) for m in metrics)):
        _fail(path, f"metrics={metrics!r} must be a list of metric names")

    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        _fail(path, "[grid] must be a table of parameter = [values]")
    grid = _flatten(grid_table, lambda v: False)
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            _fail(path, f"[grid] {name} = {values!r} must be a non-empty list of values, e.g. "
                        f"[1, 2, 3]")

    random_table = dict(data.get("random", {}))
    if not isinstance(random_table, dict):
        _fail(path, "[random] must be a table of parameter = {low = .., high = ..}")
    samples = random_table.pop("samples", 0)
    random_seed = random_table.pop("seed", 0)
    for key, value in (("samples", samples), ("seed", random_seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(path, f"[random] {key}={value!r} must be an integer >= 0")
    random = _flatten(random_table, _is_distribution)
    for name, dist in random.items():
        if not _is_distribution(dist):
            _fail(path, f"[random] {name} = {dist!r} must be {{low = A, high = B}}, "
                        f"{{low = A, high = B, log = true}} or {{choices = [...]}}")
        extra = sorted(set(dist) - {"low", "high", "log", "choices"})
        if extra:
            _fail(path, f"[random] {name}: unknown key(s) {', '.join(extra)}; use low, high, "
                        f"log or choices")
        if "choices" in dist:
            if not isinstance(dist["choices"], list) or not dist["choices"]:
                _fail(path, f"[random] {name}: choices must be a non-empty list")
        elif not ("low" in dist and "high" in dist) or not all(
                isinstance(dist[k], (int, float)) and not isinstance(dist[k], bool)
                for k in ("low", "high")) or dist["low"] > dist["high"] \
                or (dist.get("log") and dist["low"] <= 0):
            _fail(path, f"[random] {name}: needs numbers low <= high (both > 0 with log)")
    if random and not samples:
        _fail(path, "[random] has parameters but samples = 0: set samples = <number of draws>")
    options = data.get("options", {})
    if not isinstance(options, dict):
        _fail(path, "[options] must be a table")
    spec = SweepSpec(name=data.get("name", path.stem), kind=kind, network=network,
                     devices=tuple(devices), steps=data.get("steps"), learn=data.get("learn"),
                     seeds=tuple(seeds), seed_path=data.get("seed_path"),
                     metrics=tuple(metrics) if metrics else None, batch=batch, grid=grid, random=random,
                     samples=samples, random_seed=random_seed, options=options, source=path)
    return spec.validate(str(path))
