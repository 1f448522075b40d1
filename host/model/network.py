"""Networks in physical units: populations, spike sources and projections, compiled to one core.

::

    import spikeforge as sf

    exc = sf.Population(80, tau_m=20e-3, v_thresh=-50e-3, label="exc")
    inh = sf.Population(20, tau_m=10e-3, label="inh")
    noise = sf.SpikeSourcePoisson(40, rate_hz=20, label="noise")
    net = sf.Network(
        sf.Projection(noise, exc, sf.FixedProbability(0.2, seed=1), weight=4e-3,
                      stdp=sf.Stdp(tau_plus=20e-3, tau_minus=20e-3, A_plus=1e-4,
                                   A_minus=1.2e-4, w_max=8e-3)),
        sf.Projection(exc, inh, sf.FixedProbability(0.2, seed=2), weight=3e-3),
        sf.Projection(inh, exc, sf.FixedProbability(0.2, seed=3), weight=-6e-3),
        dt=1e-3)
    with sf.open("model://", net) as run:
        result = run.run(0.5)
        result.spike_times(exc)

Units are those of :mod:`.quantize` (seconds, volts; weights as the jump of ``R I`` in volts;
docs/units.md). Populations become consecutive neurons of the core, spike sources consecutive
input lines, in the order the network first meets them. Plasticity follows the projections:
the synapses of a projection with ``stdp`` learn, all others are fixed. The core has one
learning rule, so every plastic projection must give the same :class:`Stdp`.
"""

import dataclasses
import math

import numpy as np

from spikeforge.config import ConfigError, CoreConfig

from .quantize import Stdp, quantize, step_gain

__all__ = ["Population", "SpikeSourceArray", "SpikeSourcePoisson", "Projection", "Network",
           "AllToAll", "OneToOne", "FixedProbability", "FromList", "FromArray", "Uniform",
           "Normal", "Compiled",
           "NEURON_DEFAULTS"]

#: physical defaults of a population's neurons (seconds, volts)
NEURON_DEFAULTS = dict(tau_m=20e-3, tau_syn=5e-3, v_rest=-65e-3, v_reset=-65e-3,
                       v_thresh=-50e-3, t_ref=2e-3, bias=0.0, theta_inc=0.0, tau_th=0.1)


def _label(kind, label):
    if label is not None and not isinstance(label, str):
        raise ConfigError(f"{kind} label must be a string, not {label!r}")
    return label


def _count(kind, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"{kind} size {n!r} is not allowed: give a whole number of "
                          f"neurons >= 1")
    return int(n)


class Population:
    """``n`` leaky integrate-and-fire neurons with current synapses.

    Every parameter is one number for all neurons or a sequence of ``n`` values: ``tau_m``,
    ``tau_syn``, ``t_ref``, ``tau_th`` in seconds; ``v_rest``, ``v_reset``, ``v_thresh``,
    ``theta_inc`` in volts; ``bias`` a constant ``R I`` in volts. ``reset`` is ``"value"``
    (``V = v_reset`` after a spike) or ``"subtract"`` (``V`` drops by ``v_thresh - v_rest``,
    plus the adaptive offset).
    """

    def __init__(self, n, *, label=None, reset="value", **params):
        self.n = _count("population", n)
        self.label = _label("population", label)
        unknown = sorted(set(params) - set(NEURON_DEFAULTS))
        if unknown:
            raise ConfigError(f"unknown neuron parameter(s) {', '.join(unknown)}: known are "
                              f"{', '.join(NEURON_DEFAULTS)} (seconds and volts)")
        if reset not in ("value", "subtract"):
            raise ConfigError(f"reset={reset!r} is unknown: use 'value' or 'subtract'")
        self.reset = reset
        self.params = dict(NEURON_DEFAULTS)
        self.params.update(params)
        for name, value in self.params.items():
            array = np.asarray(value, dtype=float)
            if array.ndim not in (0, 1) or (array.ndim == 1 and array.shape[0] != self.n):
                raise ConfigError(f"population {self.name}: {name} has shape {array.shape}; "
                                  f"give one number or {self.n} values")

    @property
    def name(self):
        return self.label or f"population of {self.n}"

    def __len__(self):
        return self.n

    def __repr__(self):
        p = self.params

        def show(name, scale, unit):
            value = np.asarray(p[name], dtype=float)
            if value.ndim == 0:
                return f"{name}={float(value) * scale:g} {unit}"
            return f"{name}={value.min() * scale:g}..{value.max() * scale:g} {unit}"

        return (f"Population({self.n}{', ' + repr(self.label) if self.label else ''}: "
                f"{show('tau_m', 1e3, 'ms')}, {show('tau_syn', 1e3, 'ms')}, "
                f"{show('v_thresh', 1e3, 'mV')}, {show('v_reset', 1e3, 'mV')})")


class SpikeSourceArray:
    """Input lines that spike at given times (seconds).

    ``times``: one sequence of times per line (``[[0.01, 0.02], [0.015]]``), or one flat
    sequence for a single line. Times round to the nearest step; spikes of one line that fall
    into one step count once.
    """

    def __init__(self, times, *, label=None):
        self.label = _label("spike source", label)
        if len(times) and np.ndim(times[0]) == 0:
            times = [times]
        self.times = []
        for k, line in enumerate(times):
            line = np.asarray(line, dtype=float).reshape(-1)
            if line.size and (not np.all(np.isfinite(line)) or line.min() < 0):
                raise ConfigError(f"spike source {self.label or ''}: line {k} has a time "
                                  f"{line[~np.isfinite(line) | (line < 0)][0]!r}; times are "
                                  f"seconds >= 0")
            self.times.append(np.sort(line))
        self.n = _count("spike source", len(self.times))

    @property
    def name(self):
        return self.label or f"spike source of {self.n}"

    def __len__(self):
        return self.n

    def __repr__(self):
        total = sum(t.size for t in self.times)
        return f"SpikeSourceArray({self.n} lines, {total} spikes{self._lab()})"

    def _lab(self):
        return f", {self.label!r}" if self.label else ""

    def steps(self, dt):
        """``[(step, line), ...]`` of every spike at step ``dt``."""
        out = []
        for k, line in enumerate(self.times):
            for step in np.unique(np.rint(line / dt).astype(np.int64)):
                out.append((int(step), k))
        return out


class SpikeSourcePoisson:
    """``n`` input lines firing at ``rate_hz`` (one rate or ``n``).

    With ``on_chip`` (the default) the core's own Poisson generators draw the spikes (seeded by
    the network's ``seed``; nothing crosses the link). Otherwise, or when the core is built
    without generators, the host draws them from ``seed`` and sends them as input spikes;
    those can be replayed elsewhere (Brian2, another device) spike for spike.
    """

    def __init__(self, n, rate_hz, *, label=None, on_chip=True, seed=0):
        self.n = _count("Poisson source", n)
        self.label = _label("Poisson source", label)
        self.on_chip, self.seed = bool(on_chip), int(seed)
        rate = np.asarray(rate_hz, dtype=float)
        if rate.ndim == 0:
            rate = np.full(self.n, float(rate))
        if rate.shape != (self.n,) or not np.all(np.isfinite(rate)) or np.any(rate < 0):
            raise ConfigError(f"Poisson source {self.name}: rate_hz must be one rate >= 0 Hz or "
                              f"{self.n} of them")
        self.rate_hz = rate

    @property
    def name(self):
        return self.label or f"Poisson source of {self.n}"

    def __len__(self):
        return self.n

    def __repr__(self):
        r = self.rate_hz
        rate = f"{r[0]:g} Hz" if np.all(r == r[0]) else f"{r.min():g}..{r.max():g} Hz"
        label = f", {self.label!r}" if self.label else ""
        where = "" if self.on_chip else ", drawn on the host"
        return f"SpikeSourcePoisson({self.n} at {rate}{where}{label})"


_SOURCES = (SpikeSourceArray, SpikeSourcePoisson)


# -- connectors ---------------------------------------------------------------------------------

class AllToAll:
    """Every pre neuron onto every post neuron (``allow_self=False`` leaves out ``i -> i`` in a
    projection of a population onto itself)."""

    def __init__(self, allow_self=True):
        self.allow_self = bool(allow_self)

    def pairs(self, n_pre, n_post, same):
        mask = np.ones((n_pre, n_post), dtype=bool)
        if same and not self.allow_self:
            np.fill_diagonal(mask, False)
        return mask

    def __repr__(self):
        return "AllToAll()" if self.allow_self else "AllToAll(allow_self=False)"


class OneToOne:
    """Pre neuron ``k`` onto post neuron ``k`` (the populations must have the same size)."""

    def pairs(self, n_pre, n_post, same):
        if n_pre != n_post:
            raise ConfigError(f"OneToOne joins populations of equal size, not {n_pre} onto "
                              f"{n_post}: use AllToAll, FixedProbability or FromList")
        return np.eye(n_pre, dtype=bool)

    def __repr__(self):
        return "OneToOne()"


class FixedProbability:
    """Each pair connected with probability ``p``, drawn from ``seed``."""

    def __init__(self, p, seed=0, allow_self=True):
        if not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"FixedProbability p={p!r} is not a probability: use 0..1")
        self.p, self.seed, self.allow_self = float(p), int(seed), bool(allow_self)

    def pairs(self, n_pre, n_post, same):
        mask = np.random.default_rng(self.seed).random((n_pre, n_post)) < self.p
        if same and not self.allow_self:
            np.fill_diagonal(mask, False)
        return mask

    def __repr__(self):
        return f"FixedProbability({self.p:g}, seed={self.seed})"


class FromList:
    """Explicit connections: ``[(pre, post), ...]`` or ``[(pre, post, weight), ...]`` (the
    weight in volts, overriding the projection's ``weight``)."""

    def __init__(self, connections):
        rows = [tuple(c) for c in connections]
        if any(len(c) not in (2, 3) for c in rows):
            raise ConfigError("FromList takes (pre, post) or (pre, post, weight) tuples")
        self.connections = rows

    def pairs(self, n_pre, n_post, same):
        mask = np.zeros((n_pre, n_post), dtype=bool)
        for c in self.connections:
            pre, post = int(c[0]), int(c[1])
            if not (0 <= pre < n_pre and 0 <= post < n_post):
                raise ConfigError(f"FromList connection ({pre}, {post}) is outside "
                                  f"{n_pre} x {n_post}")
            mask[pre, post] = True
        return mask

    def weights(self):
        if all(len(c) == 3 for c in self.connections):
            return {(int(c[0]), int(c[1])): float(c[2]) for c in self.connections}
        return None

    def __repr__(self):
        return f"FromList({len(self.connections)} connections)"


class FromArray:
    """A dense ``(n_pre, n_post)`` array of weights in volts; zeros (or NaN) are absent."""

    def __init__(self, weights):
        self.array = np.asarray(weights, dtype=float)
        if self.array.ndim != 2:
            raise ConfigError(f"FromArray needs a 2-D (n_pre, n_post) array, not shape "
                              f"{self.array.shape}")

    def pairs(self, n_pre, n_post, same):
        if self.array.shape != (n_pre, n_post):
            raise ConfigError(f"FromArray has shape {self.array.shape}; the projection needs "
                              f"({n_pre}, {n_post})")
        return np.isfinite(self.array) & (self.array != 0)

    def __repr__(self):
        return f"FromArray({self.array.shape[0]}x{self.array.shape[1]})"


class Uniform:
    """Weights drawn uniformly from ``[low, high]`` volts (one draw per synapse, seeded)."""

    def __init__(self, low, high, seed=0):
        self.low, self.high, self.seed = float(low), float(high), int(seed)
        if not self.low <= self.high:
            raise ConfigError(f"Uniform({low!r}, {high!r}): low must not exceed high")

    def draw(self, shape):
        return np.random.default_rng(self.seed).uniform(self.low, self.high, shape)

    def __repr__(self):
        return f"Uniform({self.low * 1e3:g} mV, {self.high * 1e3:g} mV, seed={self.seed})"


class Normal:
    """Weights drawn from a normal distribution (volts), seeded; ``clip`` keeps them on the
    sign of ``mean`` (an excitatory weight never turns inhibitory), as PyNN users expect."""

    def __init__(self, mean, sd, seed=0, clip=True):
        self.mean, self.sd, self.seed, self.clip = float(mean), float(sd), int(seed), clip
        if not self.sd >= 0:
            raise ConfigError(f"Normal sd={sd!r} must be >= 0")

    def draw(self, shape):
        values = np.random.default_rng(self.seed).normal(self.mean, self.sd, shape)
        if self.clip:
            values = np.maximum(values, 0.0) if self.mean >= 0 else np.minimum(values, 0.0)
        return values

    def __repr__(self):
        return f"Normal({self.mean * 1e3:g} mV, sd {self.sd * 1e3:g} mV, seed={self.seed})"


class Projection:
    """Synapses from ``pre`` (a population or a spike source) onto ``post`` (a population).

    ``weight`` in volts (the jump of the target's ``R I`` per spike; negative inhibits): one
    number, an ``(n_pre, n_post)`` array, or a :class:`Uniform` or :class:`Normal` draw.
    ``stdp``: a :class:`Stdp` to make these synapses learn.
    """

    def __init__(self, pre, post, connector, weight=None, *, stdp=None, label=None):
        if not isinstance(pre, (Population,) + _SOURCES):
            raise ConfigError(f"projection pre must be a Population or a spike source, not "
                              f"{type(pre).__name__}")
        if not isinstance(post, Population):
            raise ConfigError(f"projection post must be a Population, not "
                              f"{type(post).__name__}")
        if stdp is not None and not isinstance(stdp, Stdp):
            raise ConfigError(f"stdp must be an sf.Stdp, not {type(stdp).__name__}")
        self.pre, self.post, self.connector, self.stdp = pre, post, connector, stdp
        self.label = _label("projection", label)
        self.connected = connector.pairs(pre.n, post.n, pre is post)
        values = np.zeros((pre.n, post.n))
        if isinstance(connector, FromArray):
            values = np.nan_to_num(connector.array)
        elif isinstance(connector, FromList) and connector.weights() is not None:
            for (i, j), w in connector.weights().items():
                values[i, j] = w
        elif weight is None:
            raise ConfigError(f"projection {self.name} needs a weight (volts)")
        elif isinstance(weight, (Uniform, Normal)):
            values = weight.draw((pre.n, post.n))
        else:
            w = np.asarray(weight, dtype=float)
            if w.ndim not in (0, 2) or (w.ndim == 2 and w.shape != (pre.n, post.n)):
                raise ConfigError(f"projection {self.name}: weight has shape {w.shape}; give "
                                  f"one number or ({pre.n}, {post.n})")
            values = np.broadcast_to(w, (pre.n, post.n)).copy()
        self.weight = np.where(self.connected, values, 0.0)

    @property
    def name(self):
        return self.label or f"{self.pre.name} -> {self.post.name}"

    def __repr__(self):
        w = self.weight[self.connected]
        span = (f"{w.min() * 1e3:g}..{w.max() * 1e3:g} mV" if w.size and np.ptp(w)
                else f"{w[0] * 1e3:g} mV" if w.size else "none")
        return (f"Projection({self.name}: {int(self.connected.sum())} synapses, "
                f"{self.connector!r}, weight {span}{', plastic' if self.stdp else ''})")


# -- the network --------------------------------------------------------------------------------

class Network:
    """Populations, spike sources and projections, at time step ``dt`` (seconds).

    Arguments are projections, populations or spike sources in any order; the pre and post of
    every projection join the network by themselves. ``config`` is a :class:`CoreConfig` or a
    dict of its fields to change (sizes come from the network); ``seed`` seeds the core's
    Poisson generators; the keyword arguments ``v_scale``, ``w_shift``, ``stdp_shift`` and
    ``trace_inc`` override the quantiser's choices.
    """

    def __init__(self, *objects, dt=1e-3, config=None, seed=0, **scales):
        self.dt = float(dt)
        self.seed = int(seed)
        self.populations, self.sources, self.projections = [], [], []
        unknown = sorted(set(scales) - {"v_scale", "w_shift", "stdp_shift", "trace_inc"})
        if unknown:
            raise ConfigError(f"unknown Network option(s) {', '.join(unknown)}")
        self.scales = scales
        self.config_options = config
        for obj in objects:
            self.add(obj)

    def add(self, *objects):
        for obj in objects:
            if isinstance(obj, Projection):
                self.add(obj.pre, obj.post)
                if obj not in self.projections:
                    self.projections.append(obj)
            elif isinstance(obj, Population):
                if obj not in self.populations:
                    self.populations.append(obj)
            elif isinstance(obj, _SOURCES):
                if obj not in self.sources:
                    self.sources.append(obj)
            elif isinstance(obj, (list, tuple)):
                self.add(*obj)
            else:
                raise ConfigError(f"a Network holds populations, spike sources and "
                                  f"projections, not {type(obj).__name__}")
        self._compiled = None
        return self

    @property
    def neurons(self):
        return sum(p.n for p in self.populations)

    @property
    def inputs(self):
        return sum(s.n for s in self.sources)

    def __repr__(self):
        lines = [f"Network(dt={self.dt * 1e3:g} ms, {self.neurons} neurons, {self.inputs} "
                 f"inputs)"]
        lines += [f"  {obj!r}" for obj in self.populations + self.sources + self.projections]
        return "\n".join(lines)

    def core_config(self):
        """The :class:`CoreConfig` the network compiles to."""
        if not self.populations:
            raise ConfigError("the network has no population: add a Population")
        n, m = self.neurons, self.inputs
        options = self.config_options
        if isinstance(options, CoreConfig):
            if (options.neurons, options.inputs) != (n, m):
                raise ConfigError(f"config has neurons={options.neurons}, inputs="
                                  f"{options.inputs}; the network needs {n} and {m}")
            return options
        fields = dict(neurons=n, inputs=m, lanes=min(8, 1 << max(0, (n - 1).bit_length())))
        plastic = any(p.stdp is not None for p in self.projections)
        fields.update(stdp=plastic,
                      poisson=any(isinstance(s, SpikeSourcePoisson) and s.on_chip
                                  for s in self.sources),
                      adaptive_threshold=any(np.any(p.params["theta_inc"])
                                             for p in self.populations))
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(CoreConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown core configuration field(s) {', '.join(unknown)}: "
                              f"known are {', '.join(sorted(known))}")
        for name, size in (("neurons", n), ("inputs", m)):
            if name in options and options[name] != size:
                raise ConfigError(f"config {name}={options[name]!r}, but the network has "
                                  f"{size}: leave {name} out (it follows from the network)")
        fields.update(options)
        return CoreConfig(**fields)

    def compile(self):
        """The integer network and its quantisation report, as a :class:`Compiled`."""
        if self._compiled is None:
            self._compiled = Compiled(self)
        return self._compiled


class Compiled:
    """A :class:`Network` compiled to one core: ``network`` (the integers the devices load),
    ``report`` (the :class:`QuantizationReport`), and where each population and source sits
    (``neuron_slice``, ``input_slice``)."""

    def __init__(self, net):
        self.source = net
        config = net.core_config()
        n, m = config.neurons, config.inputs
        self._n = n
        self.dt = net.dt
        self.neuron_slice, self.input_slice = {}, {}
        start = 0
        for pop in net.populations:
            self.neuron_slice[pop] = slice(start, start + pop.n)
            start += pop.n
        start = 0
        for src in net.sources:
            self.input_slice[src] = slice(start, start + src.n)
            start += src.n

        params = {}
        for name in NEURON_DEFAULTS:
            params[name] = np.concatenate([np.broadcast_to(
                np.asarray(p.params[name], dtype=float), (p.n,)) for p in net.populations])
        resets = [p.reset for p in net.populations for _ in range(p.n)]
        weights = np.zeros((n + m, n))
        plastic = np.zeros((n + m, n), dtype=bool)
        taken = np.zeros((n + m, n), dtype=bool)
        stdp = None
        for proj in net.projections:
            rows = self.rows(proj.pre)
            cols = self.neuron_slice[proj.post]
            block = taken[rows, cols]
            if np.any(block & proj.connected):
                raise ConfigError(f"projection {proj.name} connects a synapse another "
                                  f"projection already holds; the core has one weight per "
                                  f"pair of neurons: merge them into one projection")
            block |= proj.connected
            taken[rows, cols] = block
            weights[rows, cols] += proj.weight
            if proj.stdp is not None:
                if stdp is not None and proj.stdp != stdp:
                    raise ConfigError(f"projection {proj.name} has STDP {proj.stdp!r}, another "
                                      f"plastic projection {stdp!r}; the core has one learning "
                                      f"rule: give every plastic projection the same Stdp")
                stdp = proj.stdp
                plastic[rows, cols] |= proj.connected
        poisson = [s for s in net.sources if isinstance(s, SpikeSourcePoisson)]
        on_chip = [s for s in poisson if s.on_chip and config.has_poisson]
        rates = None
        if on_chip:
            rates = np.zeros(m)
            for src in on_chip:
                rates[self.input_slice[src]] = src.rate_hz
        # Poisson sources drawn on the host: a growing raster per source, one draw per step
        self._host_poisson = {src: [np.random.default_rng(src.seed),
                                    np.zeros((0, src.n), dtype=bool)]
                              for src in poisson if src not in on_chip}
        self.network, self.report = quantize(
            weights, dt=net.dt, reset=resets, mask=plastic, stdp=stdp,
            poisson_rate=rates, config=config, **net.scales, **params)
        self.plastic = bool(plastic.any())
        self._arrays = [(src, src.steps(net.dt)) for src in net.sources
                        if isinstance(src, SpikeSourceArray)]

    def __repr__(self):
        return (f"<Compiled {self.network.config.describe()}, {len(self.neuron_slice)} "
                f"populations, {len(self.input_slice)} sources, max quantisation error "
                f"{100 * self.report.max_error():.3g} %, {len(self.report.warnings)} warnings>")

    def rows(self, obj):
        """The weight rows of a population or a source."""
        n = self._n
        if isinstance(obj, Population):
            return self.neuron_slice[obj]
        s = self.input_slice[obj]
        return slice(n + s.start, n + s.stop)

    def steps(self, duration):
        """Steps of ``duration`` seconds (rounded)."""
        duration = float(duration)
        if not duration >= 0 or not math.isfinite(duration):
            raise ConfigError(f"duration={duration!r} must be seconds >= 0")
        if duration >= 1000 and duration / self.dt > 1e7:
            raise ConfigError(f"duration={duration:g} s is {duration / self.dt:.3g} steps; "
                              f"durations are seconds (did you mean {duration:g} ms = "
                              f"{duration * 1e-3:g}?)")
        return int(round(duration / self.dt))

    def input_raster(self, start, steps):
        """The host-driven input spikes of steps ``start .. start+steps-1``."""
        raster = np.zeros((steps, self.network.config.inputs), dtype=bool)
        for src, spikes in self._arrays:
            offset = self.input_slice[src].start
            for step, line in spikes:
                if start <= step < start + steps:
                    raster[step - start, offset + line] = True
        for src, drawn in self._host_poisson.items():
            rng, cache = drawn
            if cache.shape[0] < start + steps:
                more = rng.random((start + steps - cache.shape[0], src.n)) \
                    < src.rate_hz * self.dt
                drawn[1] = cache = np.concatenate([cache, more])
            span = self.input_slice[src]
            raster[:, span] |= cache[start:start + steps]
        return raster

    def host_drawn(self, src):
        """The source's spikes are drawn on the host (and appear in :meth:`input_raster`)."""
        return isinstance(src, SpikeSourceArray) or src in self._host_poisson

    # -- reading back in physical units

    def weights(self, proj, network=None):
        """Weights of ``proj`` in volts as an ``(n_pre, n_post)`` array (NaN where there is no
        synapse), from ``network`` (default: the compiled one)."""
        net = network if network is not None else self.network
        rows, cols = self.rows(proj.pre), self.neuron_slice[proj.post]
        W = net.W[rows, cols].astype(float)
        gain = self._gain()[cols]
        values = W * (1 << net.global_params.w_shift) / gain[None, :]
        return np.where(proj.connected, values, np.nan)

    def _gain(self):
        p = self.network.neuron_params
        return self.report.scales["v_scale"] * step_gain(
            p.alpha_v, p.alpha_i, self.dt, self.network.config.decay_bits)

    def volts(self, neurons, v):
        """Membrane values ``v`` (state units) of ``neurons`` (global indices) in volts."""
        v_rest = self.report["v_rest"].used[neurons]
        return v_rest + np.asarray(v, dtype=float) / self.report.scales["v_scale"]

    def currents(self, neurons, i):
        """Synaptic currents (state units) of ``neurons`` as ``R I`` in volts."""
        return np.asarray(i, dtype=float) / self._gain()[neurons]
