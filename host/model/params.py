"""Parameter containers of a spikeforge network, validated against a :class:`CoreConfig`.

The field names below are the contract with the RTL side, which packs them into memory words
by name:

* :class:`NeuronParams` -- per-neuron arrays ``thr, v_reset, reset_sub, refrac, alpha_v,
  alpha_i, bias, theta_inc, alpha_th``;
* :class:`GlobalParams` -- ``w_shift, w_min, w_max, a_plus, a_minus, stdp_shift, x_inc, y_inc,
  alpha_x, alpha_y, poisson_on``, the membrane floor ``v_min`` (with ``v_floor``), the rate of
  the weight-dependent term of potentiation ``a_decay`` (with ``weight_decay``), the
  winner-take-all switch ``wta`` (with ``winner_take_all``) and the step seed of stochastic
  rounding ``sr_seed`` (with ``stochastic_rounding``; the core advances it);
* :class:`Network` -- ``config``, ``neuron_params``, ``global_params``, the weights ``W``
  (shape ``(N+M, N)``, rows ``0..N-1`` recurrent, rows ``N..`` inputs) and the plasticity
  ``mask`` (same shape).

The meaning of every field is given in ``docs/model.md``.
"""

import math
from dataclasses import dataclass, fields

import numpy as np

from spikeforge.config import ConfigError, CoreConfig

__all__ = ["NeuronParams", "GlobalParams", "Network", "random_network", "random_inputs",
           "NEURON_FIELDS", "GLOBAL_FIELDS"]

NEURON_FIELDS = ("thr", "v_reset", "reset_sub", "refrac", "alpha_v", "alpha_i", "bias",
                 "theta_inc", "alpha_th")
GLOBAL_FIELDS = ("w_shift", "w_min", "w_max", "a_plus", "a_minus", "stdp_shift", "x_inc",
                 "y_inc", "alpha_x", "alpha_y", "poisson_on", "v_min", "a_decay", "wta",
                 "sr_seed")

#: the step seed of stochastic rounding unless one is given (any non-zero 32-bit word)
SR_SEED_DEFAULT = 0x2545F491

STDP_SHIFT_MAX = 31


# -- ranges --------------------------------------------------------------------------------------

def _signed(bits):
    low, high = CoreConfig.signed_range(bits)
    return low, high, f"signed {bits}-bit"


def _unsigned(bits):
    low, high = CoreConfig.unsigned_range(bits)
    return low, high, f"unsigned {bits}-bit"


def neuron_ranges(config):
    """``{field: (low, high, description)}`` of every per-neuron parameter."""
    return {
        "thr": _signed(config.v_bits),
        "v_reset": _signed(config.v_bits),
        "reset_sub": (0, 1, "one bit"),
        "refrac": _unsigned(config.refrac_bits),
        "alpha_v": _unsigned(config.decay_bits),
        "alpha_i": _unsigned(config.decay_bits),
        "bias": _signed(config.i_bits),
        "theta_inc": _unsigned(config.theta_bits),
        "alpha_th": _unsigned(config.decay_bits),
    }


def global_ranges(config):
    """``{field: (low, high, description)}`` of every global parameter."""
    return {
        "w_shift": (0, config.max_w_shift, "i_bits - weight_bits"),
        "w_min": _signed(config.weight_bits),
        "w_max": _signed(config.weight_bits),
        "a_plus": _unsigned(config.rate_bits),
        "a_minus": _unsigned(config.rate_bits),
        "stdp_shift": (0, STDP_SHIFT_MAX, "shift amount"),
        "x_inc": _unsigned(config.trace_bits),
        "y_inc": _unsigned(config.trace_bits),
        "alpha_x": _unsigned(config.decay_bits),
        "alpha_y": _unsigned(config.decay_bits),
        "poisson_on": (0, 1 if config.has_poisson else 0,
                       "one bit" if config.has_poisson else "0: no Poisson generators built"),
        "v_min": (_signed(config.v_bits) if config.v_floor else
                  (config.v_range[0], config.v_range[0],
                   "the bottom of the v range: no membrane floor built (v_floor=False)")),
        "a_decay": (_unsigned(config.rate_bits) if config.weight_decay else
                    (0, 0, "0: no weight-dependent potentiation built; build with "
                     "weight_decay=True")),
        "wta": ((0, 1, "one bit") if config.winner_take_all else
                (0, 0, "0: no winner-take-all built; build with winner_take_all=True")),
        "sr_seed": (0, (1 << 32) - 1, "unsigned 32-bit; 0, the power-on value, stays 0"),
    }


def _int_array(kind, name, value):
    """Convert ``value`` to an int64 numpy array, refusing non-integer data."""
    try:
        array = np.asarray(value)
    except Exception as error:  # pragma: no cover - exotic input
        raise ConfigError(f"{kind} {name} cannot be converted to an array: {error}") from None
    if array.dtype == bool:
        return array.astype(np.int64)
    if array.dtype.kind in "iu":
        if array.dtype.kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
            raise ConfigError(f"{kind} {name} holds values beyond 64 bits")
        return array.astype(np.int64)
    if array.dtype.kind == "f" and array.size and np.all(np.isfinite(array)) \
            and np.all(array == np.round(array)) and np.all(np.abs(array) < 2.0 ** 62):
        return array.astype(np.int64)
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(array) | (array != np.round(array))
                             | (np.abs(array) >= 2.0 ** 62))
        index = np.unravel_index(bad[0], array.shape) if array.ndim else ()
        where = f"[{', '.join(str(int(k)) for k in index)}]" if index else ""
        raise ConfigError(f"{kind} {name}{where}={float(array[index])!r} is not an integer "
                          f"({bad.size} such values): give integers in the core's fixed-point "
                          f"units (round floats first, e.g. np.round(x).astype(int))")
    raise ConfigError(f"{kind} {name} must hold integers, got {array.dtype} data "
                      f"(first value {array.flat[0]!r})")


def _check_array(kind, name, array, low, high, what):
    bad = np.flatnonzero((array < low) | (array > high))
    if bad.size:
        index = np.unravel_index(bad[0], array.shape)
        where = ", ".join(str(int(k)) for k in index)
        raise ConfigError(f"{kind} {name}[{where}]={int(array[index])} is out of range "
                          f"{low}..{high} ({what})")


def _check_scalar(kind, name, value, low, high, what):
    if not low <= value <= high:
        raise ConfigError(f"{kind} {name}={value} is out of range {low}..{high} ({what})")


def _fraction(config, value):
    """The decay factor nearest ``value * 2^F``, kept inside ``0..2^F-1``."""
    from .quantize import fraction_factor

    return fraction_factor(value, config.decay_bits)


# -- per-neuron parameters -----------------------------------------------------------------------

@dataclass(eq=False)
class NeuronParams:
    """Per-neuron parameters, each a numpy int64 array of length N.

    ``theta_inc`` and ``alpha_th`` are always present; a core built without
    ``adaptive_threshold`` ignores them, but they must still be in range.
    """

    thr: np.ndarray
    v_reset: np.ndarray
    reset_sub: np.ndarray
    refrac: np.ndarray
    alpha_v: np.ndarray
    alpha_i: np.ndarray
    bias: np.ndarray
    theta_inc: np.ndarray
    alpha_th: np.ndarray

    def __post_init__(self):
        for name in NEURON_FIELDS:
            setattr(self, name, _int_array("neuron parameter", name, getattr(self, name)))

    @classmethod
    def full(cls, config, **values):
        """Parameters from scalars or arrays; a scalar is repeated for every neuron. Every
        field must be given."""
        missing = [name for name in NEURON_FIELDS if name not in values]
        unknown = [name for name in values if name not in NEURON_FIELDS]
        if unknown:
            raise ConfigError(f"unknown neuron parameter(s): {', '.join(unknown)}; known are "
                              f"{', '.join(NEURON_FIELDS)}")
        if missing:
            raise ConfigError(f"missing neuron parameter(s): {', '.join(missing)}")
        n = config.neurons
        arrays = {}
        for name in NEURON_FIELDS:
            array = _int_array("neuron parameter", name, values[name])
            if array.ndim == 0:
                array = np.full(n, int(array), dtype=np.int64)
            arrays[name] = array
        params = cls(**arrays)
        params.validate(config)
        return params

    @classmethod
    def default(cls, config, **overrides):
        """A sensible leaky integrate-and-fire neuron: threshold 1000 (scaled down to a quarter
        of the membrane range for narrow ``v_bits``), ``v`` decay 0.9, ``i`` decay 0.8,
        2 refractory steps, reset to 0, no bias, no threshold adaptation (decay 0.99 ready
        for it). Keyword arguments override fields (scalars or arrays)."""
        v_high = config.v_range[1]
        values = dict(
            thr=min(1000, v_high // 4),
            v_reset=0,
            reset_sub=0,
            refrac=min(2, (1 << config.refrac_bits) - 1),
            alpha_v=_fraction(config, 0.9),
            alpha_i=_fraction(config, 0.8),
            bias=0,
            theta_inc=0,
            alpha_th=_fraction(config, 0.99),
        )
        values.update(overrides)
        return cls.full(config, **values)

    def validate(self, config):
        n = config.neurons
        for name, (low, high, what) in neuron_ranges(config).items():
            # floats or NaN assigned after construction are refused here, not truncated later
            array = _int_array("neuron parameter", name, getattr(self, name))
            setattr(self, name, array)
            if array.shape != (n,):
                raise ConfigError(f"neuron parameter {name} has shape {array.shape}; expected "
                                  f"({n},), one value per neuron")
            _check_array("neuron parameter", name, array, low, high, what)
        return self

    def copy(self):
        return NeuronParams(**{name: np.array(getattr(self, name), dtype=np.int64)
                               for name in NEURON_FIELDS})

    def to_dict(self):
        return {name: getattr(self, name).tolist() for name in NEURON_FIELDS}


# -- global parameters ---------------------------------------------------------------------------

@dataclass(eq=False)
class GlobalParams:
    """Network-wide parameters (plain Python ints). The STDP fields are ignored by a core
    built without ``stdp`` but must still be in range."""

    w_shift: int
    w_min: int
    w_max: int
    a_plus: int
    a_minus: int
    stdp_shift: int
    x_inc: int
    y_inc: int
    alpha_x: int
    alpha_y: int
    poisson_on: int = 0
    #: membrane floor (with ``v_floor``); None: the bottom of the v range, set by validate
    v_min: int = None
    #: rate of the weight-dependent term of potentiation (with ``weight_decay``)
    a_decay: int = 0
    #: 1: one winner per step and a global reset after a spike (with ``winner_take_all``)
    wta: int = 0
    #: step seed of stochastic rounding (with ``stochastic_rounding``; advanced by the core)
    sr_seed: int = SR_SEED_DEFAULT

    def __post_init__(self):
        for name in GLOBAL_FIELDS:
            value = getattr(self, name)
            if name == "v_min" and value is None:
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"global parameter {name} must be an integer, not {value!r}")
            setattr(self, name, int(value))

    @classmethod
    def default(cls, config, **overrides):
        """Full signed weight range as STDP bounds, a ``w_shift`` that makes a quarter of the
        default threshold reachable with one full weight, small learning rates (2 with
        ``stdp_shift`` 6), trace increments of half the trace range and trace decay 0.9."""
        w_high = config.weight_range[1]
        thr = min(1000, config.v_range[1] // 4)
        shift = 0
        if thr > 4 * w_high:
            shift = int(round(math.log2(thr / (4 * w_high))))
        rate_high = (1 << config.rate_bits) - 1
        values = dict(
            w_shift=min(max(shift, 0), config.max_w_shift),
            w_min=config.weight_range[0],
            w_max=w_high,
            a_plus=min(2, rate_high),
            a_minus=min(2, rate_high),
            stdp_shift=6,
            x_inc=1 << (config.trace_bits - 1),
            y_inc=1 << (config.trace_bits - 1),
            alpha_x=_fraction(config, 0.9),
            alpha_y=_fraction(config, 0.9),
            poisson_on=0,
            v_min=config.v_range[0],
            a_decay=0,
            wta=0,
            sr_seed=SR_SEED_DEFAULT,
        )
        unknown = [name for name in overrides if name not in GLOBAL_FIELDS]
        if unknown:
            raise ConfigError(f"unknown global parameter(s): {', '.join(unknown)}; known are "
                              f"{', '.join(GLOBAL_FIELDS)}")
        values.update(overrides)
        params = cls(**values)
        params.validate(config)
        return params

    def validate(self, config):
        if self.v_min is None:
            self.v_min = config.v_range[0]
        for name, (low, high, what) in global_ranges(config).items():
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"global parameter {name}={value!r} must be an integer "
                                  f"({what}, {low}..{high})")
            _check_scalar("global parameter", name, getattr(self, name), low, high, what)
        if self.w_min > self.w_max:
            raise ConfigError(f"global parameters w_min={self.w_min} and w_max={self.w_max} are "
                              f"inconsistent: w_min must be <= w_max")
        return self

    def copy(self):
        return GlobalParams(**self.to_dict())

    def to_dict(self):
        return {name: getattr(self, name) for name in GLOBAL_FIELDS}


# -- a whole network -----------------------------------------------------------------------------

@dataclass(eq=False)
class Network:
    """Configuration, parameters, weights ``W`` (int64, shape ``(N+M, N)``) and plasticity
    ``mask`` (bool, same shape) of one core."""

    config: CoreConfig
    neuron_params: NeuronParams
    global_params: GlobalParams
    W: np.ndarray
    mask: np.ndarray = None
    #: per-input Poisson rate (unsigned 16-bit: spike probability rate / 2**16 per step)
    poisson_rate: np.ndarray = None

    def __post_init__(self):
        if not isinstance(self.config, CoreConfig):
            raise ConfigError(f"network config must be a CoreConfig, not {self.config!r}")
        if self.mask is None:
            self.mask = np.ones(self.W.shape, dtype=bool)
        if self.poisson_rate is None:
            self.poisson_rate = np.zeros(self.config.inputs, dtype=np.int64)

    def __setattr__(self, name, value):
        # W, mask and poisson_rate are checked whenever they are assigned, so that floats or
        # NaN given after construction are refused at once instead of truncated on upload
        if name == "W":
            value = _int_array("weight matrix", "W", value)
        elif name == "mask" and value is not None:
            mask = np.asarray(value)
            if mask.dtype != bool:
                mask = _int_array("plasticity mask", "mask", mask)
                _check_array("plasticity mask", "mask", mask, 0, 1, "one bit")
                mask = mask.astype(bool)
            value = mask
        elif name == "poisson_rate" and value is not None:
            value = _int_array("Poisson rate", "poisson_rate", value)
        super().__setattr__(name, value)

    @classmethod
    def default(cls, config, W=None, mask=None):
        """Default neuron and global parameters, zero weights unless ``W`` is given, every
        synapse plastic unless ``mask`` is given."""
        if W is None:
            W = np.zeros((config.rows, config.neurons), dtype=np.int64)
        network = cls(config, NeuronParams.default(config), GlobalParams.default(config), W,
                      mask)
        return network.validate()

    @property
    def shape(self):
        return (self.config.rows, self.config.neurons)

    def validate(self):
        config = self.config
        if not isinstance(self.neuron_params, NeuronParams):
            raise ConfigError("network neuron_params must be a NeuronParams")
        if not isinstance(self.global_params, GlobalParams):
            raise ConfigError("network global_params must be a GlobalParams")
        self.neuron_params.validate(config)
        self.global_params.validate(config)
        shape = self.shape
        what = f"(N+M, N) = ({config.neurons}+{config.inputs}, {config.neurons})"
        if self.W.shape != shape:
            raise ConfigError(f"weight matrix W has shape {self.W.shape}; expected {shape} {what}")
        low, high = config.weight_range
        _check_array("weight", "W", self.W, low, high, f"signed {config.weight_bits}-bit")
        if self.mask.shape != shape:
            raise ConfigError(f"plasticity mask has shape {self.mask.shape}; expected {shape} "
                              f"{what}")
        if self.poisson_rate.shape != (config.inputs,):
            raise ConfigError(f"Poisson rates have shape {self.poisson_rate.shape}; expected "
                              f"({config.inputs},), one per input")
        _check_array("Poisson rate", "poisson_rate", self.poisson_rate, 0,
                     (1 << config.poisson_rate_bits) - 1,
                     f"unsigned {config.poisson_rate_bits}-bit: probability rate/65536")
        if self.poisson_rate.any() and not config.has_poisson:
            raise ConfigError("the network sets Poisson rates but the core has no Poisson "
                              "generators (poisson=false or no inputs)")
        return self

    def copy(self):
        return Network(self.config, self.neuron_params.copy(), self.global_params.copy(),
                       self.W.copy(), self.mask.copy(), self.poisson_rate.copy())

    def __repr__(self):
        synapses = int(np.count_nonzero(self.W))
        plastic = int(np.count_nonzero(self.mask & (self.W != 0))) if self.config.stdp else 0
        return (f"<Network {self.config.describe()}: {synapses} non-zero weights, {plastic} "
                f"of them plastic, w_shift={self.global_params.w_shift}>")


# -- random networks for differential tests --------------------------------------------------------

def _pick(rng, n, low, high, typical_low, typical_high, p_extreme):
    """``n`` integers: mostly uniform in the typical interval (clipped to ``low..high``); a
    fraction ``p_extreme`` is ``low``, ``high`` or uniform over the whole legal range."""
    typical_low = int(min(max(typical_low, low), high))
    typical_high = int(min(max(typical_high, typical_low), high))
    values = rng.integers(typical_low, typical_high, size=n, endpoint=True)
    kind = rng.random(n)
    extreme = kind < p_extreme
    third = p_extreme / 3
    values = np.where(kind < third, low, values)
    values = np.where((kind >= third) & (kind < 2 * third), high, values)
    wide = extreme & (kind >= 2 * third)
    if wide.any():
        values[wide] = rng.integers(low, high, size=int(wide.sum()), endpoint=True)
    return values.astype(np.int64)


def _pick1(rng, low, high, typical_low, typical_high, p_extreme):
    return int(_pick(rng, 1, low, high, typical_low, typical_high, p_extreme)[0])


def random_network(config, rng, *, density=None, regime=None, plastic=None):
    """A random network whose parameters cover their full legal ranges.

    ``regime`` is ``"active"`` (thresholds, biases and ``w_shift`` scaled so that neurons
    spike now and then, with a share of extreme values mixed in), ``"extreme"`` (every field
    uniform over its whole range: saturating networks) or ``"bounds"`` (every field at one of
    its range ends). By default it is drawn per network: 70 % active, 20 % extreme,
    10 % bounds. ``density`` is the fraction of non-zero weights (random if omitted);
    ``plastic`` the fraction of plastic synapses (random if omitted).
    """
    rng = np.random.default_rng(rng)
    if regime is None:
        regime = rng.choice(["active", "extreme", "bounds"], p=[0.7, 0.2, 0.1])
    if regime not in ("active", "extreme", "bounds"):
        raise ValueError(f"unknown regime {regime!r}: choose active, extreme or bounds")
    n, rows = config.neurons, config.rows
    v_low, v_high = config.v_range
    i_low, i_high = config.i_range
    w_low, w_high = config.weight_range
    a_top = (1 << config.decay_bits) - 1
    r_top = (1 << config.refrac_bits) - 1
    h_top = (1 << config.theta_bits) - 1
    t_top = (1 << config.trace_bits) - 1
    rate_top = (1 << config.rate_bits) - 1
    if density is None:
        density = float(rng.choice([0.05, 0.2, 0.5, 1.0]))
    if plastic is None:
        plastic = float(rng.choice([0.0, 0.3, 0.8, 1.0]))

    if regime == "active":
        p = 0.1  # share of extreme values in every field
        scale = int(2 ** rng.uniform(4, max(4.5, math.log2(max(v_high // 4, 17)))))
        scale = min(scale, v_high)
        thr = _pick(rng, n, v_low, v_high, scale // 2, 2 * scale, p / 2)
        v_reset = _pick(rng, n, v_low, v_high, -scale // 2, scale // 4, p)
        reset_sub = (rng.random(n) < 0.5).astype(np.int64)
        refrac = _pick(rng, n, 0, r_top, 0, min(r_top, 4), p)
        alpha_v = _pick(rng, n, 0, a_top, int(0.5 * a_top), a_top, p)
        alpha_i = _pick(rng, n, 0, a_top, int(0.3 * a_top), int(0.95 * a_top), p)
        # bias relative to what it takes to reach the threshold on its own: the steady state
        # of v under a constant bias is about bias / ((1 - a_v)(1 - a_i)); u > 1 fires
        # spontaneously, u < 1 needs input
        gain = (1.0 - alpha_v / (a_top + 1.0)) * (1.0 - alpha_i / (a_top + 1.0))
        u = rng.uniform(-0.5, 2.0, size=n)
        typical = np.rint(np.abs(thr) * np.maximum(gain, 1.0 / (a_top + 1)) * u)
        typical = np.where(typical == 0, np.sign(u), typical)
        bias = np.clip(typical, i_low, i_high).astype(np.int64)
        extreme = rng.random(n) < p / 2
        bias[extreme] = _pick(rng, int(extreme.sum()), i_low, i_high, i_low, i_high, 1.0)
        theta_inc = _pick(rng, n, 0, h_top, 0, max(scale // 4, 1), p)
        alpha_th = _pick(rng, n, 0, a_top, int(0.8 * a_top), a_top, p)
        # one full weight reaches 1/2 .. 1/16 of the threshold scale
        ratio = scale / (w_high * 2 ** rng.uniform(1, 4))
        w_shift = 0 if ratio <= 1 else int(round(math.log2(ratio)))
        if rng.random() < 0.1:
            w_shift = int(rng.integers(0, config.max_w_shift, endpoint=True))
        w_shift = min(max(w_shift, 0), config.max_w_shift)
        weights = _pick(rng, rows * n, w_low, w_high, w_low // 2, w_high, 0.1)
        trace_p = 0.1
    else:
        full = regime == "extreme"
        p = 0.25 if full else 1.0

        def field(count, low, high):
            if full:
                return _pick(rng, count, low, high, low, high, p)
            return np.where(rng.random(count) < 0.5, low, high).astype(np.int64)

        thr = field(n, v_low, v_high)
        v_reset = field(n, v_low, v_high)
        reset_sub = (rng.random(n) < 0.5).astype(np.int64)
        refrac = field(n, 0, r_top)
        alpha_v = field(n, 0, a_top)
        alpha_i = field(n, 0, a_top)
        bias = field(n, i_low, i_high)
        theta_inc = field(n, 0, h_top)
        alpha_th = field(n, 0, a_top)
        w_shift = int(field(1, 0, config.max_w_shift)[0])
        weights = field(rows * n, w_low, w_high)
        trace_p = p

    weights = weights.reshape(rows, n)
    weights[rng.random((rows, n)) >= density] = 0
    mask = rng.random((rows, n)) < plastic

    if rng.random() < 0.5:
        w_min, w_max = w_low, w_high
    else:
        w_min, w_max = sorted(int(v) for v in rng.integers(w_low, w_high, size=2,
                                                            endpoint=True))
    # learning steps of a few weight units at typical trace values, sometimes anything
    natural = max(0, config.rate_bits + config.trace_bits - config.weight_bits + 1)
    stdp_shift = _pick1(rng, 0, STDP_SHIFT_MAX, max(0, natural - 2), natural + 2, trace_p)
    glob = GlobalParams(
        w_shift=w_shift,
        w_min=w_min,
        w_max=w_max,
        a_plus=_pick1(rng, 0, rate_top, 0, rate_top, trace_p),
        a_minus=_pick1(rng, 0, rate_top, 0, rate_top, trace_p),
        stdp_shift=stdp_shift,
        x_inc=_pick1(rng, 0, t_top, t_top // 8, t_top, trace_p),
        y_inc=_pick1(rng, 0, t_top, t_top // 8, t_top, trace_p),
        alpha_x=_pick1(rng, 0, a_top, a_top // 2, a_top, trace_p),
        alpha_y=_pick1(rng, 0, a_top, a_top // 2, a_top, trace_p),
    )
    neuron = NeuronParams(thr=thr, v_reset=v_reset, reset_sub=reset_sub, refrac=refrac,
                          alpha_v=alpha_v, alpha_i=alpha_i, bias=bias, theta_inc=theta_inc,
                          alpha_th=alpha_th)
    rates = None
    if config.v_floor:
        # a floor that bites: often between the bottom of the range and 0
        glob.v_min = _pick1(rng, v_low, v_high, v_low // 4, 0, 0.2)
    if config.weight_decay:
        # sometimes 0 (today's rule), mostly small against a_plus, sometimes anything
        glob.a_decay = _pick1(rng, 0, rate_top, 0, min(rate_top, max(3, rate_top // 8)),
                              trace_p)
    if config.winner_take_all:
        # mostly on: the option's rule, sometimes today's
        glob.wta = int(rng.random() < 0.8)
    if config.stochastic_rounding:
        glob.sr_seed = int(rng.integers(1, 1 << 32))
    if config.has_poisson:
        glob.poisson_on = int(rng.random() < 0.5)
        rates = _pick(rng, config.inputs, 0, (1 << config.poisson_rate_bits) - 1, 0,
                      (1 << config.poisson_rate_bits) // 4, 0.2)
    return Network(config, neuron, glob, weights, mask, rates).validate()


def poisson_states(config, seed):
    """Initial xorshift32 states of the Poisson generators: non-zero, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 1 << 32, size=config.inputs, dtype=np.int64)


def random_inputs(config, rng, steps, rate):
    """A Poisson-like input raster: bool array ``(steps, M)``, each entry true with
    probability ``rate``."""
    rng = np.random.default_rng(rng)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"input rate {rate} is not a probability")
    return rng.random((int(steps), config.inputs)) < rate
