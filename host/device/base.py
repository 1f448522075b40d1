"""One API for every backend: the twin, the simulated board and a real board.

Every backend is a :class:`Device`. It holds one core (of :attr:`Device.config`) and offers:

* :meth:`Device.identify` — who is there (protocol, configuration hash, clock, board);
* :meth:`Device.load_network` / :meth:`Device.read_network` — weights, masks, parameters;
* :meth:`Device.read_state` / :meth:`Device.write_state` / :meth:`Device.reset` — neuron state;
* :meth:`Device.run` — ``steps`` time steps with input spikes, learning on or off, probes of
  chosen neurons' ``v`` and ``i``; returns a :class:`RunResult`;
* :meth:`Device.status` — counters.

Backends implement four primitives — :meth:`~Device.read_region`, :meth:`~Device.write_region`,
:meth:`~Device.region_crc` and :meth:`~Device._run` — and inherit the rest, so the same host code
(and the same packing of every region word, from :mod:`spikeforge.rtl.regions`) serves them all.

:func:`open_device` turns a URL into a backend: ``model://`` (the twin), and the other schemes
registered with :func:`register_scheme` by their modules (``sim://``, serial ports, sockets).
"""

import abc
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from ...config import ConfigError, CoreConfig
from ...rtl.protocol import MAX_COUNT_WINDOW, RUN_ARGS
from ...rtl.regions import Region, pack_region, region_crc, region_depth, unpack_region
from ..model.params import GlobalParams, Network, NeuronParams, poisson_states
from ..model.regions import twin_region_words
from ..model.fast import make_twin

__all__ = ["Device", "DeviceError", "Identity", "RunResult", "ModelDevice", "open_device",
           "register_scheme", "STATE_NAMES", "MAX_RUN_STEPS", "MAX_PERIOD_US", "MAX_EVERY",
           "run_field_max", "as_region", "power_on_network",
           "Recording", "parse_record"]

#: Names of the state arrays of :meth:`Device.read_state` (those built in the configuration).
STATE_NAMES = ("v", "i", "r", "s", "theta", "x", "y", "xin", "pstate")

#: State arrays held in their own region, and the region.
_STATE_REGIONS = {"x": Region.XTRACE, "y": Region.YTRACE, "xin": Region.XINTRACE,
                  "pstate": Region.POISSON_STATE}

def run_field_max(name):
    """The largest value the field ``name`` of RUN's arguments (``RUN_ARGS``) holds."""
    return (1 << RUN_ARGS[name].width) - 1


#: The most steps one run can ask for: the RUN request's step count (0 means "until STOP" on
#: the wire, so a run of 0 steps is not sent at all).
MAX_RUN_STEPS = run_field_max("steps")
#: The longest step period of a paced run, in microseconds (a board with a short RUN takes
#: less: ``SHORT_RUN_MAX_PERIOD_US``, which IDENTIFY tells).
MAX_PERIOD_US = run_field_max("period_us")
#: The largest ``every`` (a board with a short RUN takes less: ``SHORT_RUN_MAX_EVERY``).
MAX_EVERY = run_field_max("every")


def as_region(region):
    """``region`` as a :class:`Region`, or a :class:`ConfigError` naming the known ones."""
    try:
        return Region(region)
    except ValueError:
        names = ", ".join(f"{r.name} ({r.value})" for r in Region)
        raise ConfigError(f"unknown region {region!r}: choose one of {names}") from None


class DeviceError(RuntimeError):
    """A device could not be opened or did not do what was asked; the message says why and
    what to do."""


@dataclass(frozen=True)
class Identity:
    """What a device reports about itself."""
    backend: str          #: "model", "sim" or "board"
    config: CoreConfig
    protocol: int = 0
    clk_hz: int = 0
    board: str = ""
    build_id: str = ""

    @property
    def config_hash(self):
        return self.config.hash

    def to_dict(self):
        return {"backend": self.backend, "config": self.config.to_dict(),
                "config_hash": f"0x{self.config_hash:08x}", "protocol": self.protocol,
                "clk_hz": self.clk_hz, "board": self.board, "build_id": self.build_id}


@dataclass(frozen=True)
class Recording:
    """What a run sends back: ``select`` ``"all"``, ``"set"`` (the neurons ``recorded``) or
    ``"none"``; the probes (and with ``counts`` the recorded neurons' spike counts over each
    window of ``every`` steps, instead of their spikes) in the steps s with
    ``(s + 1) % every == 0``."""
    select: str = "all"
    recorded: tuple = None
    every: int = 1
    counts: bool = False

    @property
    def is_default(self):
        return self.select == "all" and self.every == 1 and not self.counts

    def indices(self, neurons):
        """The recorded neurons, ascending (an int64 array)."""
        if self.select == "all":
            return np.arange(neurons)
        if self.select == "none":
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.recorded, dtype=np.int64)

    def probe_steps(self, steps):
        """The steps of a ``steps``-step run whose probes (and counts) are sent."""
        return np.arange(self.every - 1, steps, self.every)

    def apply(self, spikes, v=None, i=None):
        """What a device sends of a run whose every spike (``(steps, N)``) and probe value
        (``(steps, probes)``) is known: (spikes, v, i, counts), as :class:`RunResult` holds
        them. The reference of what the engine sends."""
        spikes = np.asarray(spikes, dtype=bool)
        steps, neurons = spikes.shape
        recorded = self.indices(neurons)
        at = self.probe_steps(steps)
        shown = np.zeros_like(spikes)
        counts = None
        if self.counts:
            windows = len(at)
            counts = (spikes[:windows * self.every, recorded]
                      .reshape(windows, self.every, len(recorded)).sum(axis=1)
                      .astype(np.uint8))
        else:
            shown[:, recorded] = spikes[:, recorded]
        return (shown, None if v is None else np.asarray(v)[at],
                None if i is None else np.asarray(i)[at], counts)


def parse_record(record, neurons):
    """``record`` (``"all"``, ``"none"``, a text such as ``"0-31,40"``, or an iterable of
    neuron indices) as ``("all" | "none" | "set", sorted indices or None)``; a
    :class:`ConfigError` naming the problem otherwise."""
    if isinstance(record, str):
        text = record.strip().lower()
        if text in ("all", "none"):
            return text, None
        indices = []
        for part in text.split(","):
            part = part.strip()
            try:
                if "-" in part:
                    low, high = (int(x) for x in part.split("-", 1))
                    if high < low:
                        raise ValueError
                    indices.extend(range(low, high + 1))
                else:
                    indices.append(int(part))
            except ValueError:
                raise ConfigError(f"record={record!r}: write 'all', 'none' or neuron indices "
                                  f"and ranges such as 0-31,40") from None
        record = indices
    try:
        indices = [int(n) for n in record]
    except (TypeError, ValueError):
        raise ConfigError(f"record={record!r}: give 'all', 'none' or neuron indices") from None
    for n in indices:
        if not 0 <= n < neurons:
            raise ConfigError(f"record: neuron {n} is out of range 0..{neurons - 1}")
    return "set", tuple(sorted(set(indices)))


@dataclass
class RunResult:
    """The outcome of :meth:`Device.run`.

    ``spikes`` is a ``(steps, N)`` bool raster of the recorded neurons' spikes (the columns of
    neurons not recorded, and every column of a run recording counts, are False); ``recorded``
    lists the recorded neurons (ascending); ``counts`` is ``None`` or a ``(windows,
    len(recorded))`` uint8 array of their spike counts over each window of ``every`` steps;
    ``probes`` maps ``"v"`` and ``"i"`` to ``(len(probe_steps), len(probe_ids))`` int64 arrays,
    the values after the steps ``probe_steps`` (every step by default); ``cycles`` holds the
    core's clock cycles per step where the backend measures them (else ``None``).; ``span``
    holds, per step, the device's clock cycles from the start of the previous step of the run
    to the start of this one (0 in the first step): the core's cycles of the previous step plus
    the command engine's, waits for inputs and pacing. Backends without a command engine
    (``model://``) give ``None``.
    """
    spikes: np.ndarray
    probe_ids: tuple = ()
    probes: dict = field(default_factory=dict)
    cycles: np.ndarray = None
    span: np.ndarray = None
    recorded: np.ndarray = None
    counts: np.ndarray = None
    probe_steps: np.ndarray = None
    every: int = 1

    def __post_init__(self):
        if self.recorded is None:
            self.recorded = np.arange(self.spikes.shape[1])
        if self.probe_steps is None:
            self.probe_steps = np.arange(self.spikes.shape[0])

    @property
    def steps(self):
        return self.spikes.shape[0]

    def to_neo(self, dt_ms=1.0, units=None):
        """The run as a :class:`neo.Block`: a spike train per recorded neuron (or their spike
        counts per window as an analog signal ``counts``), the probes as analog signals (see
        :func:`spikeforge.host.formats.neo_io.run_to_neo`)."""
        from ..formats.neo_io import run_to_neo

        return run_to_neo(self.spikes, dt_ms=dt_ms, probe_ids=self.probe_ids,
                          probes=self.probes, units=units, recorded=self.recorded,
                          every=self.every, counts=self.counts)


class Device(abc.ABC):
    """A core behind some transport. Use as a context manager, or call :meth:`close`."""

    backend = "?"

    def __init__(self, config):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        self.config = config

    # -- primitives of a backend ----------------------------------------------------------------

    @abc.abstractmethod
    def identify(self):
        """Return an :class:`Identity`."""

    @abc.abstractmethod
    def read_region(self, region, offset=0, count=None):
        """Read ``count`` words of ``region`` from ``offset`` (all words by default)."""

    @abc.abstractmethod
    def write_region(self, region, words, offset=0):
        """Write ``words`` into ``region`` from ``offset``."""

    @abc.abstractmethod
    def region_crc(self, region):
        """CRC-32 of the whole region, as :func:`spikeforge.rtl.regions.region_crc` computes."""

    @abc.abstractmethod
    def _run(self, steps, inputs, learn, probes, period_us=0, recording=None):
        """Run ``steps`` steps; ``inputs`` is a ``(steps, M)`` bool raster; ``period_us`` > 0
        paces the steps; ``recording`` (a :class:`Recording`, given when not the default)
        says what is sent back."""

    def status(self):
        """Counters of the device (empty for backends that have none)."""
        return {}

    @property
    def max_probes(self):
        """The most neurons one run can probe."""
        return self.config.neurons

    def has_region(self, region):
        """True when the device holds ``region`` (built in its configuration; RECORD only on a
        device that can record a set of neurons)."""
        return region_depth(self.config, as_region(region)) > 0

    def check_recording(self, recording, period_us=0):
        """Raise :class:`ConfigError` if this device cannot run with ``recording`` (a
        :class:`Recording`) and ``period_us``: the limits of the board it talks to (every
        ``every``-th step, a step period, counts, a set of neurons), which :meth:`run` checks
        too. Call it before a long upload to refuse early."""
        self._check_short_run(int(recording.every), int(period_us))
        if recording.counts:
            self._check_counts()
        if recording.select == "set":
            self._check_set()

    def _check_short_run(self, every, period_us):
        """Raise :class:`ConfigError` if the device cannot send every ``every``-th step or pace
        steps ``period_us`` apart."""

    def _check_counts(self):
        """Raise :class:`ConfigError` if the device cannot send spike counts."""

    def _check_set(self):
        """Raise :class:`ConfigError` if the device cannot record a set of neurons."""

    def close(self):
        """Release the transport; the device cannot be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- what users call --------------------------------------------------------------------------

    def _check_region_words(self, region, words, offset):
        depth = region_depth(self.config, region)
        if offset < 0 or offset + len(words) > depth:
            raise ConfigError(f"{Region(region).name} holds {depth} words; cannot write "
                              f"{len(words)} words at offset {offset}")

    def load_network(self, network, *, verify=True):
        """Write weights, masks, neuron and global parameters of ``network``; with ``verify``,
        compare each region's CRC with the host's and raise :class:`DeviceError` on a
        difference."""
        if not isinstance(network, Network):
            raise ConfigError(f"load_network needs a Network, not {type(network).__name__}: "
                              f"build one with Network.default(config) or read a network file "
                              f"with load_network_file")
        if network.config != self.config:
            raise ConfigError(f"the network is for {network.config.describe()}, the device "
                              f"holds {self.config.describe()}")
        network.validate()
        regions = network_regions(network)
        for region, words in regions.items():
            self.write_region(region, words)
        if verify:
            for region, words in regions.items():
                if self.region_crc(region) != region_crc(self.config, words):
                    raise DeviceError(f"{region.name} did not verify after upload (CRC "
                                      f"mismatch): the link corrupted data; retry")

    def read_network(self):
        """Read weights, masks and parameters back into a :class:`Network`."""
        c = self.config
        W = unpack_region(c, Region.WEIGHT, self.read_region(Region.WEIGHT))
        mask = (unpack_region(c, Region.MASK, self.read_region(Region.MASK))
                if region_depth(c, Region.MASK) else np.ones_like(W, dtype=bool))
        params = unpack_region(c, Region.PARAM, self.read_region(Region.PARAM))
        neuron = NeuronParams.default(c)
        for name, values in params.items():
            setattr(neuron, name, values)
        glob = unpack_region(c, Region.GLOBAL, self.read_region(Region.GLOBAL))
        defaults = GlobalParams.default(c)
        for name, value in glob.items():
            setattr(defaults, name, value)
        rates = (unpack_region(c, Region.POISSON_RATE, self.read_region(Region.POISSON_RATE))
                 if region_depth(c, Region.POISSON_RATE) else None)
        return Network(c, neuron, defaults, W, mask, rates)

    def read_state(self):
        """All state as a dict of numpy arrays (:data:`STATE_NAMES` that are built)."""
        c = self.config
        state = unpack_region(c, Region.STATE, self.read_region(Region.STATE))
        state["s"] = state["s"].astype(bool)
        state.setdefault("theta", np.zeros(c.neurons, dtype=np.int64))
        for name, region in _STATE_REGIONS.items():
            size = c.inputs if name in ("xin", "pstate") else c.neurons
            state[name] = (unpack_region(c, region, self.read_region(region))
                           if region_depth(c, region) else np.zeros(size, dtype=np.int64))
        return state

    def write_state(self, state):
        """Write state arrays (any subset of :data:`STATE_NAMES`; the rest keeps its value)."""
        c = self.config
        unknown = set(state) - set(STATE_NAMES)
        if unknown:
            raise ConfigError(f"unknown state variable(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(STATE_NAMES)}")
        current = self.read_state()
        current.update({name: np.asarray(value) for name, value in state.items()})
        for name in STATE_NAMES:
            size = c.inputs if name in ("xin", "pstate") else c.neurons
            if np.shape(current[name]) != (size,):
                raise ConfigError(f"state {name} must have shape ({size},), not "
                                  f"{np.shape(current[name])}")
        self.write_region(Region.STATE, pack_region(c, Region.STATE, {
            name: np.asarray(current[name], dtype=np.int64) for name in ("v", "i", "r", "s",
                                                                         "theta")}))
        for name, region in _STATE_REGIONS.items():
            if region_depth(c, region):
                self.write_region(region, pack_region(c, region, current[name]))

    def reset(self, what="state"):
        """Zero the state (``"state"``), or the state and every weight, mask and parameter
        (``"all"``). The Poisson generators keep their position in their sequences."""
        if what not in ("state", "all"):
            raise ConfigError(f"reset what={what!r}: choose 'state' or 'all'")
        c = self.config
        regions = [Region.STATE, Region.XTRACE, Region.YTRACE, Region.XINTRACE]
        if what == "all":
            regions += [Region.WEIGHT, Region.MASK, Region.PARAM, Region.GLOBAL,
                        Region.POISSON_RATE, Region.RECORD]
        for region in regions:
            depth = region_depth(c, region)
            if depth and self.has_region(region):
                self.write_region(region, [0] * depth)

    def seed_poisson(self, seed):
        """Seed the on-chip Poisson generators with non-zero xorshift states drawn from
        ``seed`` (the generators draw only while the global ``poisson_on`` is set)."""
        c = self.config
        if not c.has_poisson:
            raise ConfigError("this core has no Poisson generators (built with poisson=false "
                              "or without inputs)")
        self.write_region(Region.POISSON_STATE,
                          pack_region(c, Region.POISSON_STATE, poisson_states(c, seed)))

    def run(self, steps=None, inputs=None, *, learn=False, probes=(), period_us=0,
            record="all", every=1, counts=False):
        """Run time steps.

        Arguments
        ---------
        steps : int, optional
            Number of steps; defaults to the length of ``inputs``.
        inputs : array-like, optional
            ``(steps, M)`` bool raster of input spikes (no input spikes when omitted).
        learn : bool
            Apply STDP in these steps.
        probes : sequence of int
            Neurons whose ``v`` and ``i`` are recorded after every step.
        period_us : int
            Real-time pacing: a board starts step *k+1* ``period_us`` microseconds after step
            *k* (0, the default, runs the steps back to back). Steps that start late (the link
            or the inputs were late) are counted in ``status()["step_overruns"]``. The results
            do not depend on it; ``model://`` runs unpaced.
        record : "all", "none", or neuron indices
            Whose spikes are sent back (the others read False in the result): every neuron's,
            none, or those listed (written into the device's RECORD region when it differs).
        every : int
            Probes (and counts) are sent in every ``every``-th step only: the steps s with
            ``(s + 1) % every == 0`` (``RunResult.probe_steps``).
        counts : bool
            Send the recorded neurons' spike counts over each window of ``every`` steps (at
            most 255) instead of their spikes (``RunResult.counts``).
        """
        c = self.config
        if steps is not None and (isinstance(steps, bool) or not isinstance(
                steps, (int, np.integer)) or not 0 <= steps <= MAX_RUN_STEPS):
            raise ConfigError(f"steps={steps!r} must be a whole number from 0 to "
                              f"{MAX_RUN_STEPS} (RUN's {RUN_ARGS['steps'].width}-bit step "
                              f"count); split longer runs into several calls")
        if inputs is None:
            if steps is None:
                raise ConfigError("run needs steps or an input raster")
            inputs = np.zeros((steps, c.inputs), dtype=bool)
        inputs = np.asarray(inputs, dtype=bool)
        if inputs.ndim != 2 or inputs.shape[1] != c.inputs:
            raise ConfigError(f"input raster has shape {inputs.shape}, expected (steps, "
                              f"{c.inputs})")
        if steps is None:
            steps = inputs.shape[0]
        if steps < 0 or inputs.shape[0] != steps:
            raise ConfigError(f"steps={steps} does not match the raster's {inputs.shape[0]} rows")
        probes = tuple(int(p) for p in probes)
        if len(probes) > self.max_probes:
            raise ConfigError(f"{len(probes)} probes requested; this device records at most "
                              f"{self.max_probes} neurons' v and i per run")
        for p in probes:
            if not 0 <= p < c.neurons:
                raise ConfigError(f"probe neuron {p} is out of range 0..{c.neurons - 1}")
        if learn and not c.stdp:
            raise ConfigError("learning was requested but this core is built without STDP")
        if isinstance(period_us, bool) or not isinstance(period_us, (int, np.integer)) \
                or not 0 <= period_us <= MAX_PERIOD_US:
            raise ConfigError(f"period_us={period_us!r} must be a whole number of "
                              f"microseconds from 0 (unpaced) to {MAX_PERIOD_US} (RUN's "
                              f"{RUN_ARGS['period_us'].width}-bit period); use a period in "
                              f"that range")
        select, recorded = parse_record(record, c.neurons)
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) \
                or not 1 <= every <= MAX_EVERY:
            raise ConfigError(f"every={every!r} must be a whole number of steps from 1 to "
                              f"{MAX_EVERY} (RUN's {RUN_ARGS['every'].width}-bit every); use "
                              f"every in that range")
        if counts and every > MAX_COUNT_WINDOW:
            raise ConfigError(f"counts over windows of every={every} steps: at most "
                              f"{MAX_COUNT_WINDOW} (the counts are "
                              f"{MAX_COUNT_WINDOW.bit_length()} bits); use a smaller every")
        recording = Recording(select, recorded, int(every), bool(counts))
        self.check_recording(recording, int(period_us))
        if select == "set":
            words = [0] * c.neurons
            for n in recorded:
                words[n] = 1
            # written only when the device holds another set (it may have been reset)
            if self.region_crc(Region.RECORD) != region_crc(c, words):
                self.write_region(Region.RECORD, words)
        # (a backend's _run takes period_us and recording only when they are asked for)
        extra = {"period_us": int(period_us)} if period_us else {}
        if not recording.is_default:
            extra["recording"] = recording
        return self._run(steps, inputs, bool(learn), probes, **extra)


def power_on_network(config):
    """The network a core holds when it is switched on, and what every backend holds when it is
    opened fresh (``model://`` and ``sim://`` start anew on every open): every weight, mask bit,
    neuron parameter, Poisson rate and global parameter zero, except ``w_min`` and ``w_max``,
    which span the weight range when the core has STDP (docs/model.md, "Power-on state")."""
    def zeros(region):
        return unpack_region(config, region, [0] * region_depth(config, region))

    network = Network.default(config)
    network.W = zeros(Region.WEIGHT)
    if region_depth(config, Region.MASK):
        network.mask = zeros(Region.MASK)
    for name, values in zeros(Region.PARAM).items():
        setattr(network.neuron_params, name, values)
    for name, value in zeros(Region.GLOBAL).items():
        setattr(network.global_params, name, value)
    if config.stdp:
        network.global_params.w_min, network.global_params.w_max = config.weight_range
    if region_depth(config, Region.POISSON_RATE):
        network.poisson_rate = zeros(Region.POISSON_RATE)
    return network


def network_regions(network):
    """The region words that hold ``network`` (weights, mask, parameters, globals)."""
    c = network.config
    regions = {
        Region.WEIGHT: pack_region(c, Region.WEIGHT, network.W),
        Region.PARAM: pack_region(c, Region.PARAM, network.neuron_params.to_dict()),
        Region.GLOBAL: pack_region(c, Region.GLOBAL, network.global_params.to_dict()),
    }
    if region_depth(c, Region.MASK):
        regions[Region.MASK] = pack_region(c, Region.MASK, network.mask)
    if region_depth(c, Region.POISSON_RATE):
        regions[Region.POISSON_RATE] = pack_region(c, Region.POISSON_RATE, network.poisson_rate)
    return regions


class ModelDevice(Device):
    """The twin behind the device API (``model://``): bit-identical to the hardware, and fast.

    ``kernel``: ``"auto"`` (the compiled twin when numba is installed, else the numpy twin),
    ``"compiled"`` or ``"numpy"``; ``model://?kernel=numpy`` picks it from the URL."""

    backend = "model"

    def __init__(self, config, kernel="auto"):
        super().__init__(config)
        self.kernel = kernel
        self.twin = make_twin(power_on_network(config), kernel)
        self.twin.reset_state()
        self._regions = {}
        self._record = [0] * config.neurons
        self._closed = False

    def identify(self):
        self._check_open()
        return Identity(backend=self.backend, config=self.config, board="model")

    def _check_open(self):
        if self._closed:
            raise DeviceError("the device is closed")

    # The twin keeps its network in typed arrays; region access goes through the same packing
    # as the hardware's words so that every backend reads and writes identical words.
    def _words(self, region):
        if region == Region.RECORD:
            return list(self._record)
        return twin_region_words(self.twin, region)

    def read_region(self, region, offset=0, count=None):
        self._check_open()
        region = as_region(region)
        words = self._words(region)
        if count is None:
            count = len(words) - offset
        if offset < 0 or count < 0 or offset + count > len(words):
            raise ConfigError(f"{region.name} holds {len(words)} words; cannot read {count} "
                              f"words at offset {offset}")
        return words[offset:offset + count]

    def write_region(self, region, words, offset=0):
        self._check_open()
        region = as_region(region)
        words = [int(word) for word in words]
        self._check_region_words(region, words, offset)
        current = self._words(region)
        current[offset:offset + len(words)] = words
        self._store(region, current)

    def _store(self, region, words):
        c = self.config
        twin = self.twin
        if region == Region.RECORD:
            self._record = [int(word) & 1 for word in words]
            return
        values = unpack_region(c, region, words)
        if region in (Region.WEIGHT, Region.MASK, Region.PARAM, Region.GLOBAL,
                      Region.POISSON_RATE):
            network = twin.network.copy()
            network.W = twin.W.copy()
            network.mask = twin.mask.copy()
            if region == Region.WEIGHT:
                network.W = values
            elif region == Region.MASK:
                network.mask = values
            elif region == Region.POISSON_RATE:
                network.poisson_rate = values
            elif region == Region.PARAM:
                for name, array in values.items():
                    setattr(network.neuron_params, name, array)
            else:
                for name, value in values.items():
                    setattr(network.global_params, name, value)
            state = twin.state_dict()
            self.twin = make_twin(network, self.kernel)
            self.twin.load_state({name: state[name] for name in STATE_NAMES})
            self.twin.synaptic_ops = twin.synaptic_ops
        elif region == Region.STATE:
            for name, array in values.items():
                setattr(twin, name, array.astype(bool) if name == "s" else array)
        else:
            name = {region: name for name, region in _STATE_REGIONS.items()}[region]
            if name == "pstate":
                twin.pstate[:] = values
            else:
                setattr(twin, name, values)

    def region_crc(self, region):
        self._check_open()
        return region_crc(self.config, self._words(as_region(region)))

    def _run(self, steps, inputs, learn, probes, period_us=0, recording=None):
        self._check_open()
        out = self.twin.run(inputs, learn=learn, probes=list(probes) if probes else None)
        if recording is None:
            return RunResult(spikes=out["spikes"], probe_ids=probes,
                             probes={"v": out["v"], "i": out["i"]} if probes else {})
        spikes, v, i, counts = recording.apply(out["spikes"], out["v"] if probes else None,
                                               out["i"] if probes else None)
        return RunResult(spikes=spikes, probe_ids=probes,
                         probes={"v": v, "i": i} if probes else {},
                         recorded=recording.indices(self.config.neurons), counts=counts,
                         probe_steps=recording.probe_steps(steps), every=recording.every)

    def close(self):
        self._closed = True


def _open_model(url, config, **options):
    query = dict(part.split("=", 1) for part in urlsplit(url).query.split("&") if "=" in part)
    kernel = query.get("kernel", "auto")
    if kernel not in ("auto", "compiled", "numpy"):
        raise DeviceError(f"model://?kernel={kernel} is unknown: use kernel=auto, "
                          f"kernel=compiled or kernel=numpy")
    try:
        return ModelDevice(config, kernel)
    except RuntimeError as error:
        raise DeviceError(str(error)) from None


_SCHEMES = {"model": _open_model}


def register_scheme(scheme, opener):
    """Make ``open_device`` hand URLs of ``scheme`` to ``opener(url, config, **options)``."""
    _SCHEMES[scheme] = opener


def open_device(url, config, **options):
    """Open the device at ``url`` holding a core of ``config``.

    ``model://`` is the twin; ``sim://`` the simulated board; a serial port path (``/dev/ttyUSB1``,
    ``COM3``) or ``serial://PATH?baud=…`` a real board; ``socket://host:port`` any board reachable
    over TCP. ``config`` may also be a network (integer, or one in physical units): the device
    then holds a core of the network's own configuration.
    """
    from . import backends  # noqa: F401  (registers the schemes of the other backends)

    if isinstance(config, Network):
        config = config.config
    elif hasattr(config, "core_config"):          # a network in physical units
        config = config.core_config()
    if not isinstance(config, CoreConfig):
        raise ConfigError(f"open_device needs a CoreConfig or a network, not "
                          f"{type(config).__name__}")

    if not isinstance(url, str) or not url:
        raise DeviceError(f"device URL {url!r} is empty: use model://, sim://, a serial port "
                          f"such as /dev/ttyUSB1, or socket://host:port")
    if not url.isprintable():
        raise DeviceError(f"device URL {url!r} holds control characters: type it again, e.g. "
                          f"model://, sim://, /dev/ttyUSB1 or socket://host:port")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise DeviceError(f"device URL {url!r} cannot be parsed ({error}): use model://, "
                          f"sim://, a serial port such as /dev/ttyUSB1, or socket://host:port") \
            from None
    scheme = parts.scheme if "://" in url else "serial"
    opener = _SCHEMES.get(scheme)
    if opener is None:
        known = ", ".join(f"{name}://" for name in sorted(_SCHEMES))
        raise DeviceError(f"unknown device URL scheme in {url!r}: use one of {known}, or a "
                          f"serial port path")
    return opener(url, config, **options)
