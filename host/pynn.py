"""The PyNN interface: a script written against the PyNN 0.13 API runs on spikeforge devices.

::

    import spikeforge.pynn as sim          # instead of: import pyNN.brian2 as sim

    sim.setup(timestep=1.0, device="model://")
    exc = sim.Population(80, sim.IF_curr_exp(tau_m=20.0, v_thresh=-50.0), label="exc")
    noise = sim.Population(50, sim.SpikeSourcePoisson(rate=20.0), label="noise")
    sim.Projection(noise, exc, sim.FixedProbabilityConnector(0.2),
                   sim.StaticSynapse(weight=0.5, delay=1.0))
    exc.record("spikes")
    sim.run(1000.0)
    block = exc.get_data()                 # a neo.Block, as from every PyNN backend
    sim.end()

This is a thin layer over :mod:`spikeforge.host.model.network` (populations, sources,
projections in seconds and volts) and :func:`spikeforge.host.runs.session.open`: PyNN's
objects are collected, converted to SI units and compiled through the quantiser when the first
``run`` starts; :func:`quantization_report` gives what the core made of every parameter.

Units are PyNN's: ms, mV, nA, nF, Hz. A weight of ``IF_curr_exp`` is a jump of the synaptic
current in nA; the core's weight is the jump of ``R I`` with ``R = tau_m / cm``, so
``w [V] = w [nA] * tau_m [ms] / cm [nF] * 1e-3``. ``i_offset`` converts the same way.
``IF_curr_delta`` weights are jumps of the membrane potential in mV. As on every current-based
PyNN backend, inhibitory weights are negative.

What the core cannot do is an error naming the limit, never an approximation: ``tau_syn_E``
different from ``tau_syn_I`` (one synaptic time constant per neuron), delays other than one
time step, more neurons or inputs than a core holds, cell types other than ``IF_curr_exp`` and
``IF_curr_delta``, and changes to the network after the first ``run``.
"""

import math
import warnings

import numpy as np

from spikeforge.config import ConfigError

from .model import network as net
from .model.quantize import Stdp

__all__ = [
    "setup", "run", "run_until", "reset", "end", "get_time_step", "get_current_time",
    "get_min_delay", "get_max_delay", "num_processes", "rank", "quantization_report",
    "Population", "PopulationView", "Projection", "IF_curr_exp", "IF_curr_delta", "SpikeSourceArray",
    "SpikeSourcePoisson", "IF_cond_exp", "IF_cond_alpha", "IF_curr_alpha", "Izhikevich",
    "EIF_cond_exp_isfa_ista", "HH_cond_exp", "AllToAllConnector", "OneToOneConnector",
    "FixedProbabilityConnector", "FromListConnector", "ArrayConnector", "StaticSynapse",
    "STDPMechanism", "SpikePairRule", "AdditiveWeightDependence", "PyNNError",
    "QuantizationWarning",
]

#: the most neurons (and input lines) one core holds (CoreConfig's limits)
MAX_NEURONS = 1024
MAX_INPUTS = 1024


class PyNNError(ConfigError):
    """A PyNN construct this backend cannot run as written."""


class QuantizationWarning(UserWarning):
    """What the quantiser warns of when the network is compiled (a weight that rounds to zero,
    a learning step far from the one asked for, ...)."""


# -- the simulator state ------------------------------------------------------------------------

class _State:
    def __init__(self, timestep, device, seed, options):
        self.dt_ms = timestep
        self.device = device
        self.seed = seed
        self.options = options
        self.populations = []
        self.projections = []
        self.session = None
        self.compiled = None
        self.segments = []          # one list of Results per segment (reset starts a new one)

    @property
    def time_ms(self):
        return self.session.time * 1e3 if self.session is not None else 0.0


_state = None


def _current():
    if _state is None:
        raise PyNNError("call sim.setup() first: no simulation is set up")
    return _state


def _frozen(what):
    if _state is not None and _state.session is not None:
        raise PyNNError(f"{what} after the first run is not supported: the network is loaded "
                        f"onto the core when run() starts; build it completely before run()")


def setup(timestep=0.1, min_delay="auto", max_delay=None, *, device="model://", rng_seed=0,
          config=None, **extra):
    """Start a simulation. ``timestep`` in ms (PyNN's default 0.1 ms); ``device`` the URL to run
    on (``model://``, ``sim://``, ``serial:///dev/ttyUSB1``); ``rng_seed`` seeds the core's
    Poisson generators and the connectors drawn here; ``config`` fields of the core to change
    (a dict, as for ``sf.Network``); ``v_scale``, ``w_shift``, ``stdp_shift``, ``trace_inc``
    override the quantiser's choices. Returns the MPI rank (always 0)."""
    global _state
    if _state is not None:
        end()
    timestep = float(timestep)
    if not (timestep > 0 and math.isfinite(timestep)):
        raise PyNNError(f"timestep={timestep!r} ms must be a positive number of ms")
    if timestep >= 100:
        raise PyNNError(f"timestep={timestep:g} ms is too long: PyNN times are ms "
                        f"(e.g. timestep=1.0 for 1 ms)")
    for name, value in (("min_delay", min_delay), ("max_delay", max_delay)):
        if value not in ("auto", None) and not math.isclose(float(value), timestep):
            raise PyNNError(f"{name}={value!r} ms: the core delivers every spike one time step "
                            f"later, so the only delay is the timestep ({timestep:g} ms): "
                            f"leave {name} out")
    scales = {k: extra.pop(k) for k in ("v_scale", "w_shift", "stdp_shift", "trace_inc")
              if k in extra}
    if extra:
        raise PyNNError(f"setup: unknown option(s) {', '.join(sorted(extra))}: known are "
                        f"timestep, device, rng_seed, config, v_scale, w_shift, stdp_shift, "
                        f"trace_inc")
    _state = _State(timestep, device, int(rng_seed), dict(config=config, **scales))
    return 0


def end(compatible_output=True):
    """Close the device and forget the network."""
    global _state
    if _state is not None and _state.session is not None:
        _state.session.close()
    _state = None


def _build():
    state = _current()
    if state.session is not None:
        return state.session
    if not any(not p.celltype.is_source for p in state.populations):
        raise PyNNError("the network has no population of neurons: add a Population of "
                        "IF_curr_exp")
    neurons = sum(p.size for p in state.populations if not p.celltype.is_source)
    inputs = sum(p.size for p in state.populations if p.celltype.is_source)
    device = state.device
    if neurons > MAX_NEURONS:
        raise PyNNError(f"the network has {neurons} neurons; the device {device} holds at most "
                        f"{MAX_NEURONS}: scale the populations down")
    if inputs > MAX_INPUTS:
        raise PyNNError(f"the network has {inputs} spike sources; the device {device} holds at "
                        f"most {MAX_INPUTS} input lines: use fewer sources")
    objects = [p._sf() for p in state.populations]
    objects += [proj._sf() for proj in state.projections]
    network = net.Network(*objects, dt=state.dt_ms * 1e-3, seed=state.seed,
                          **{k: v for k, v in state.options.items()})
    from .runs.session import open as open_session

    state.compiled = network.compile()
    for text in state.compiled.report.warnings:
        warnings.warn(f"quantisation: {text} (sim.quantization_report() has every parameter)",
                      QuantizationWarning, stacklevel=3)
    state.session = open_session(device, network)
    state.segments = [[]]
    return state.session


def run(simtime, callbacks=None):
    """Run ``simtime`` ms more; returns the current time (ms)."""
    if callbacks:
        raise PyNNError("run callbacks are not supported: call run() in steps instead")
    state = _current()
    simtime = float(simtime)
    if not (simtime >= 0 and math.isfinite(simtime)):
        raise PyNNError(f"run({simtime!r}): give a duration in ms >= 0")
    session = _build()
    record = [p._sf_pop for p in state.populations
              if not p.celltype.is_source and "v" in p._recording]
    state.segments[-1].append(session.run(simtime * 1e-3, record=record))
    return state.time_ms


def run_until(tstop, callbacks=None):
    """Run until ``tstop`` ms."""
    return run(max(0.0, float(tstop) - get_current_time()), callbacks)


def reset(annotations=None):
    """Back to time 0 with the initial state and weights; recording starts a new segment."""
    state = _current()
    if state.session is not None:
        state.session.reset(weights=True)
        state.segments.append([])


def get_time_step():
    return _current().dt_ms


def get_current_time():
    return _current().time_ms


def get_min_delay():
    return _current().dt_ms


get_max_delay = get_min_delay


def num_processes():
    return 1


def rank():
    return 0


def quantization_report():
    """What the core makes of every parameter (a :class:`QuantizationReport`; ``print`` it).
    Compiles the network if no run has done so yet."""
    state = _current()
    if state.compiled is None:
        _build()
    return state.compiled.report


# -- cell types ---------------------------------------------------------------------------------

def _values(name, value, n):
    if hasattr(value, "next") and hasattr(value, "parameters"):     # a RandomDistribution
        value = value.next(n)
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return float(array)
    array = array.reshape(-1)
    if array.size != n:
        raise PyNNError(f"{name} has {array.size} values for a population of {n}: give one "
                        f"value or {n}")
    return array


class _CellType:
    default_parameters = {}
    is_source = False

    def __init__(self, **parameters):
        unknown = sorted(set(parameters) - set(self.default_parameters))
        if unknown:
            raise PyNNError(f"{type(self).__name__}: unknown parameter(s) "
                            f"{', '.join(unknown)}; known are "
                            f"{', '.join(self.default_parameters)}")
        self.parameters = dict(self.default_parameters)
        self.parameters.update(parameters)

    def __repr__(self):
        return f"{type(self).__name__}({self.parameters})"


class IF_curr_exp(_CellType):
    """Leaky integrate-and-fire neuron with exponential current synapses (the core's neuron).
    ms, mV, nA, nF; ``tau_syn_E`` must equal ``tau_syn_I``."""
    default_parameters = dict(v_rest=-65.0, cm=1.0, tau_m=20.0, tau_refrac=0.1, tau_syn_E=5.0,
                              tau_syn_I=5.0, i_offset=0.0, v_reset=-65.0, v_thresh=-50.0)

    def _si(self, n):
        p = {k: _values(k, v, n) for k, v in self.parameters.items()}
        if not np.allclose(p["tau_syn_E"], p["tau_syn_I"]):
            raise PyNNError(f"{type(self).__name__}: tau_syn_E={_show(p['tau_syn_E'])} ms and "
                            f"tau_syn_I={_show(p['tau_syn_I'])} ms differ; the core has one "
                            f"synaptic time constant per neuron: give both the same value")
        return p, np.asarray(p["tau_syn_E"], dtype=float)


class IF_curr_delta(_CellType):
    """Leaky integrate-and-fire neuron whose synapses make ``v`` jump by the weight (mV)."""
    default_parameters = dict(v_rest=-65.0, cm=1.0, tau_m=20.0, tau_refrac=0.0, i_offset=0.0,
                              v_reset=-65.0, v_thresh=-50.0)

    def _si(self, n):
        p = {k: _values(k, v, n) for k, v in self.parameters.items()}
        return p, np.asarray(0.0)


def _show(value):
    a = np.asarray(value, dtype=float)
    return f"{float(a):g}" if a.ndim == 0 else f"{a.min():g}..{a.max():g}"


class _Unsupported(_CellType):
    """A PyNN standard cell type with no mapping on the core."""

    def __init__(self, **parameters):
        self.parameters = dict(parameters)


def _unsupported(name):
    return type(name, (_Unsupported,), {"__doc__": f"PyNN's {name}: not available on the "
                                                   f"core (a Population of it is an error)."})


IF_cond_exp = _unsupported("IF_cond_exp")
IF_cond_alpha = _unsupported("IF_cond_alpha")
IF_curr_alpha = _unsupported("IF_curr_alpha")
Izhikevich = _unsupported("Izhikevich")
EIF_cond_exp_isfa_ista = _unsupported("EIF_cond_exp_isfa_ista")
HH_cond_exp = _unsupported("HH_cond_exp")


class SpikeSourceArray(_CellType):
    """Spikes at given times (ms): one sequence for every neuron, or one sequence per neuron."""
    default_parameters = dict(spike_times=())
    is_source = True


class SpikeSourcePoisson(_CellType):
    """Poisson spike trains at ``rate`` Hz. ``start`` and ``duration`` (ms) must be left at
    their defaults: the core's generators run for the whole simulation."""
    default_parameters = dict(rate=1.0, start=0.0, duration=1e10)
    is_source = True


# -- populations --------------------------------------------------------------------------------

class Population:
    """``size`` cells of ``cellclass`` (an instance such as ``IF_curr_exp(tau_m=10.0)``, or the
    class with ``cellparams``)."""

    _count = 0

    def __init__(self, size, cellclass, cellparams=None, structure=None, initial_values=None,
                 label=None):
        state = _current()
        _frozen("creating a Population")
        if isinstance(cellclass, type):
            cellclass = cellclass(**(cellparams or {}))
        elif cellparams:
            raise PyNNError("give cell parameters either to the cell type or as cellparams, "
                            "not both")
        if isinstance(cellclass, _Unsupported) or not isinstance(cellclass, _CellType):
            name = getattr(cellclass, "__name__", type(cellclass).__name__)
            raise PyNNError(f"cell type {name} has no mapping on the core: spikeforge.pynn runs "
                            f"IF_curr_exp and IF_curr_delta (and the spike sources "
                            f"SpikeSourceArray, SpikeSourcePoisson)")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise PyNNError(f"Population size {size!r}: give a whole number >= 1")
        if structure is not None:
            raise PyNNError("Population structure (space) is not supported: leave it out")
        self.size = int(size)
        self.celltype = self._drawn(cellclass)
        Population._count += 1
        self.label = label or f"population{Population._count}"
        self._recording = set()
        self._cleared = (0, 0)          # (segment, runs in it) that get_data(clear=True) dropped
        self._initial = dict(initial_values or {})
        self._check_initial()
        self._sf_pop = None
        state.populations.append(self)

    def __len__(self):
        return self.size

    def __getitem__(self, selector):
        """A :class:`PopulationView` of some neurons (a slice, indices or a boolean mask)."""
        return PopulationView(self, selector)

    def __repr__(self):
        return f"Population({self.size}, {type(self.celltype).__name__}, label={self.label!r})"

    @property
    def local_size(self):
        return self.size

    @property
    def all_cells(self):
        return np.arange(self.size)

    def _check_initial(self):
        for name, value in self._initial.items():
            if name != "v" or self.celltype.is_source:
                raise PyNNError(f"initial value of {name!r} is not supported: the core starts "
                                f"every neuron at v = v_rest")
            v_rest = self.celltype.parameters["v_rest"]
            if not np.allclose(_values("v", value, self.size), v_rest):
                raise PyNNError(f"initialize(v=...): the core starts every neuron at v_rest "
                                f"({_show(v_rest)} mV); other initial potentials are not "
                                f"supported")

    def _drawn(self, celltype):
        """The cell type with every RandomDistribution parameter drawn once, for good."""
        drawn = type(celltype).__new__(type(celltype))
        drawn.parameters = {k: (_values(k, v, self.size) if hasattr(v, "next") else v)
                            for k, v in celltype.parameters.items()}
        return drawn

    def initialize(self, **initial_values):
        """Initial values: the core starts every neuron at ``v_rest``; only that is allowed."""
        _frozen("initialize")
        self._initial.update(initial_values)
        self._check_initial()

    def set(self, **parameters):
        """Change cell parameters (before the first run)."""
        _frozen("set")
        merged = dict(self.celltype.parameters)
        merged.update(parameters)
        self.celltype = self._drawn(type(self.celltype)(**merged))

    def get(self, name, gather=True, simplify=True):
        value = _values(name, self.celltype.parameters[name], self.size)
        return value if simplify or np.ndim(value) else np.full(self.size, value)

    def record(self, variables, to_file=None, sampling_interval=None):
        """Record ``'spikes'`` and/or ``'v'`` (or ``'all'``; ``None`` stops recording)."""
        if to_file is not None:
            raise PyNNError("record(to_file=...) is not supported: use get_data() and "
                            "neo's io to write a file")
        if sampling_interval not in (None,) and not math.isclose(
                float(sampling_interval), _current().dt_ms):
            raise PyNNError(f"sampling_interval={sampling_interval!r} ms: the core records "
                            f"every time step ({_current().dt_ms:g} ms); leave it out")
        if variables is None:
            self._recording = set()
            return
        recordable = ["spikes"] if self.celltype.is_source else ["spikes", "v"]
        if variables == "all":
            variables = recordable
        if isinstance(variables, str):
            variables = [variables]
        for name in variables:
            if name == "counts" and name not in recordable:
                # the core can send counts instead of spikes, but PyNN has no such variable
                raise PyNNError(f"{self.label}: cannot record 'counts' through PyNN (it has "
                                f"no spike-count variable); record 'spikes' and bin them, or "
                                f"run the network with spikeforge's Device.run(counts=True) or "
                                f"`spikeforge run --counts`")
            if name not in recordable:
                raise PyNNError(f"{self.label}: cannot record {name!r}; recordable are "
                                f"{', '.join(recordable)}")
            if name == "v" or (self.celltype.is_source and isinstance(
                    self.celltype, SpikeSourcePoisson)):
                _frozen(f"record({name!r}) on {self.label}")
        self._recording.update(variables)

    # -- spikeforge objects

    def _sf(self):
        if self._sf_pop is not None:
            return self._sf_pop
        p = self.celltype.parameters
        n = self.size
        if isinstance(self.celltype, SpikeSourceArray):
            # the core delivers an input in the step it spikes and a neuron's spike one step
            # later; the PyNN delay of one step is kept for sources too by sending each spike
            # one step late
            self._times = _spike_times(p["spike_times"], n, self.label)
            dt = _current().dt_ms
            self._sf_pop = net.SpikeSourceArray([(t + dt) * 1e-3 for t in self._times],
                                                label=self.label)
        elif isinstance(self.celltype, SpikeSourcePoisson):
            if float(np.max(p["start"])) != 0.0 or float(np.min(p["duration"])) < 1e9:
                raise PyNNError(f"{self.label}: SpikeSourcePoisson start/duration are not "
                                f"supported: the core's generators run for the whole "
                                f"simulation; leave start and duration out")
            on_chip = "spikes" not in self._recording
            self._sf_pop = net.SpikeSourcePoisson(
                n, _values("rate", p["rate"], n), label=self.label, on_chip=on_chip,
                seed=_current().seed + 1000 * _current().populations.index(self))
        else:
            values, tau_syn = self.celltype._si(n)
            r = np.asarray(values["tau_m"], dtype=float) / np.asarray(values["cm"], dtype=float)
            self.resistance = r          # MOhm: nA -> mV
            self._sf_pop = net.Population(
                n, label=self.label, tau_m=_si_array(values["tau_m"], 1e-3),
                tau_syn=_si_array(tau_syn, 1e-3), v_rest=_si_array(values["v_rest"], 1e-3),
                v_reset=_si_array(values["v_reset"], 1e-3),
                v_thresh=_si_array(values["v_thresh"], 1e-3),
                t_ref=_si_array(values["tau_refrac"], 1e-3),
                bias=_si_array(np.asarray(values["i_offset"], dtype=float) * r, 1e-3))
        return self._sf_pop

    def _weight_scale(self):
        """Volts of R I per PyNN weight unit, per neuron (nA for IF_curr_exp, mV of the jump of
        v for IF_curr_delta)."""
        self._sf()
        if isinstance(self.celltype, IF_curr_delta):
            # with tau_syn = 0 the core holds a weight's R I for one step, which moves v by
            # (1 - exp(-dt / tau_m)) of it: the weight that makes v jump by w mV
            tau_m = np.broadcast_to(np.asarray(self.celltype.parameters["tau_m"], float),
                                    (self.size,))
            return 1e-3 / -np.expm1(-_current().dt_ms / tau_m)
        return np.broadcast_to(self.resistance * 1e-3, (self.size,)).astype(float)

    # -- results

    def get_data(self, variables="all", gather=True, clear=False, annotations=None):
        """The recorded data as a :class:`neo.Block`, one segment per run since ``setup`` or
        ``reset``: a SpikeTrain per neuron (ms) and an AnalogSignal ``v`` (mV)."""
        from spikeforge._extras import require

        neo = require("neo", "pynn", "Population.get_data")
        pq = require("quantities", "pynn", "Population.get_data")
        from .formats.neo_io import run_to_neo

        state = _current()
        if variables == "all":
            variables = sorted(self._recording)
        if isinstance(variables, str):
            variables = [variables]
        for name in variables:
            if name not in self._recording:
                raise PyNNError(f"{self.label}: {name!r} was not recorded: call "
                                f"{self.label}.record({name!r}) before run()")
        block = neo.Block(name=self.label, **(annotations or {}))
        first, skip = self._cleared
        for index, results in enumerate(state.segments or [[]]):
            if index < first:
                continue
            if index == first:
                results = results[skip:]
            spikes, v = self._collect(results, "v" in variables)
            one = run_to_neo(spikes, dt_ms=state.dt_ms, probe_ids=(
                range(self.size) if v is not None else ()),
                probes={"v": v * 1e3} if v is not None else None, units={"v": pq.mV},
                name=self.label)
            segment = one.segments[0]
            segment.index = index
            if "spikes" not in variables:
                segment.spiketrains = []
            # the segment starts where its first kept run starts; a neuron's spike (and v)
            # of step k is known at the end of the step, at (k + 1) dt, where pyNN.brian2
            # puts it too
            start = results[0].start * state.dt_ms * pq.ms if results else 0 * pq.ms
            shift = start + (0 if self.celltype.is_source else state.dt_ms) * pq.ms
            segment.spiketrains = [neo.SpikeTrain(
                train.times + shift, t_start=start, t_stop=train.t_stop + shift,
                name=train.name) for train in segment.spiketrains]
            for signal in segment.analogsignals:
                signal.t_start = shift
            for k, train in enumerate(segment.spiketrains):
                train.segment = segment
                train.annotate(source_population=self.label, source_id=k, source_index=k)
            for signal in segment.analogsignals:
                signal.annotate(source_population=self.label)
                signal.array_annotate(channel_index=np.arange(self.size))
            segment.block = block
            block.segments.append(segment)
        if clear:
            self._clear()
        return block

    def _collect(self, results, want_v):
        steps = sum(r.steps for r in results)
        if not results:
            return np.zeros((0, self.size), dtype=bool), (np.zeros((0, self.size))
                                                          if want_v else None)
        compiled = _current().compiled
        if isinstance(self.celltype, SpikeSourceArray):
            dt = _current().dt_ms
            start = int(round(results[0].start))
            spikes = np.zeros((steps, self.size), dtype=bool)
            for k, times in enumerate(self._times):
                rows = np.unique(np.rint(times / dt).astype(np.int64)) - start
                spikes[rows[(rows >= 0) & (rows < steps)], k] = True
        elif self.celltype.is_source:
            span = compiled.input_slice[self._sf_pop]
            spikes = np.concatenate([r.inputs[:, span] for r in results])
        else:
            spikes = np.concatenate([r.spikes[:, compiled.neuron_slice[self._sf_pop]]
                                     for r in results])
        v = np.concatenate([r.v(self._sf_pop) for r in results]) if want_v else None
        assert spikes.shape[0] == steps
        return spikes, v

    def _clear(self):
        """Forget what was recorded so far (for this population only)."""
        segments = _current().segments
        self._cleared = (max(0, len(segments) - 1), len(segments[-1]) if segments else 0)

    def get_spike_counts(self, gather=True):
        """Spikes of each neuron in the current segment, ``{index: count}``."""
        spikes, _ = self._collect(_current().segments[-1] if _current().segments else [], False)
        return {k: int(c) for k, c in enumerate(spikes.sum(axis=0))}

    def mean_spike_count(self, gather=True):
        return float(np.mean(list(self.get_spike_counts().values())))


class PopulationView:
    """Some neurons of a population: ``pop[0:10]``, ``pop[[1, 5]]``. A view can be the pre or
    post of a :class:`Projection`; ``record`` records the whole population and ``get_data``
    gives the view's neurons."""

    def __init__(self, parent, selector, label=None):
        if isinstance(parent, PopulationView):
            parent, base = parent.parent, parent.indices
        else:
            base = np.arange(parent.size)
        try:
            indices = np.atleast_1d(base[selector])
        except IndexError as error:
            raise PyNNError(f"{parent.label}[{selector!r}]: {error}") from None
        if indices.size == 0:
            raise PyNNError(f"{parent.label}[{selector!r}] selects no neuron")
        if np.unique(indices).size != indices.size:
            raise PyNNError(f"{parent.label}[{selector!r}] selects a neuron twice")
        self.parent, self.indices = parent, indices
        self.size = int(indices.size)
        self.label = label or f"view of {parent.label}"

    @property
    def celltype(self):
        return self.parent.celltype

    def __len__(self):
        return self.size

    def __getitem__(self, selector):
        return PopulationView(self, selector)

    def __repr__(self):
        return f"PopulationView({self.parent.label}, {self.size} neurons)"

    def record(self, variables, to_file=None, sampling_interval=None):
        self.parent.record(variables, to_file=to_file, sampling_interval=sampling_interval)

    def get(self, name, gather=True, simplify=True):
        value = self.parent.get(name)
        return value[self.indices] if np.ndim(value) else value

    def get_spike_counts(self, gather=True):
        counts = self.parent.get_spike_counts()
        return {k: counts[int(i)] for k, i in enumerate(self.indices)}

    def get_data(self, variables="all", gather=True, clear=False, annotations=None):
        block = self.parent.get_data(variables, clear=clear, annotations=annotations)
        block.name = self.label
        keep = {int(i): k for k, i in enumerate(self.indices)}
        for segment in block.segments:
            trains = [t for t in segment.spiketrains if t.annotations["source_index"] in keep]
            trains.sort(key=lambda t: keep[t.annotations["source_index"]])
            segment.spiketrains = trains
            signals = []
            for signal in segment.analogsignals:
                part = signal[:, self.indices]
                part.array_annotate(channel_index=self.indices)
                signals.append(part)
            segment.analogsignals = signals
        return block


def _root(pop):
    return pop.parent if isinstance(pop, PopulationView) else pop


def _indices(pop):
    return pop.indices if isinstance(pop, PopulationView) else np.arange(pop.size)


def _plain(value):
    """A PyNN Sequence (or anything array-like) as a float array of ms."""
    return np.asarray(getattr(value, "value", value), dtype=float).reshape(-1)


def _spike_times(spike_times, n, label):
    items = list(getattr(spike_times, "value", spike_times))
    if items and (hasattr(items[0], "value") or np.ndim(items[0]) != 0):
        times = [_plain(t) for t in items]             # one sequence per source
    else:
        times = [_plain(items)] * n                    # one sequence for all
    if len(times) != n:
        raise PyNNError(f"{label}: spike_times has {len(times)} sequences for {n} sources: "
                        f"give one sequence for all or one per source")
    return times


def _si_array(value, factor):
    a = np.asarray(value, dtype=float) * factor
    return float(a) if a.ndim == 0 else a


# -- connectors ---------------------------------------------------------------------------------

class _Connector:
    def _sf(self, state):
        raise NotImplementedError


class AllToAllConnector(_Connector):
    def __init__(self, allow_self_connections=True, safe=True, callback=None):
        self.allow_self_connections = bool(allow_self_connections)

    def _sf(self, state):
        return net.AllToAll(allow_self=self.allow_self_connections)


class OneToOneConnector(_Connector):
    def __init__(self, safe=True, callback=None):
        pass

    def _sf(self, state):
        return net.OneToOne()


class FixedProbabilityConnector(_Connector):
    def __init__(self, p_connect, allow_self_connections=True, rng=None, safe=True,
                 callback=None):
        self.p_connect = float(p_connect)
        if not 0.0 <= self.p_connect <= 1.0:
            raise PyNNError(f"FixedProbabilityConnector p_connect={p_connect!r} is not a "
                            f"probability: give a value from 0 to 1")
        self.allow_self_connections = bool(allow_self_connections)
        self.seed = getattr(rng, "seed", None)

    def _sf(self, state):
        seed = self.seed if self.seed is not None else state.seed + 1 + len(state.projections)
        return net.FixedProbability(self.p_connect, seed=seed,
                                    allow_self=self.allow_self_connections)


class FromListConnector(_Connector):
    """``[(i, j), ...]`` or ``[(i, j, weight), ...]`` or ``(i, j, weight, delay)`` (weight in
    the post cell type's unit, delay in ms)."""

    def __init__(self, conn_list, column_names=None, safe=True, callback=None):
        rows = [tuple(c) for c in conn_list]
        if any(len(c) not in (2, 3, 4) for c in rows):
            raise PyNNError("FromListConnector takes (i, j), (i, j, weight) or "
                            "(i, j, weight, delay) tuples")
        if column_names is not None and list(column_names) not in (
                [], ["weight"], ["weight", "delay"]):
            raise PyNNError(f"FromListConnector column_names={column_names!r}: supported "
                            f"are 'weight' and 'delay'")
        self.conn_list = rows

    def _sf(self, state):
        for row in self.conn_list:
            if len(row) == 4:
                _check_delay(row[3], state)
        return net.FromList([(int(c[0]), int(c[1])) for c in self.conn_list])

    def weights(self):
        if all(len(c) >= 3 for c in self.conn_list) and self.conn_list:
            return {(int(c[0]), int(c[1])): float(c[2]) for c in self.conn_list}
        return None


class ArrayConnector(_Connector):
    """A boolean ``(n_pre, n_post)`` array of which pairs connect."""

    def __init__(self, array, safe=True, callback=None):
        self.array = np.asarray(array, dtype=bool)

    def _sf(self, state):
        return net.FromList(list(zip(*(index.tolist() for index in np.nonzero(self.array)))))


# -- synapse types ------------------------------------------------------------------------------

def _check_delay(delay, state):
    if delay is None:
        return
    values = np.asarray(getattr(delay, "value", delay), dtype=float)
    if not np.allclose(values, state.dt_ms):
        raise PyNNError(f"delay={_show(values)} ms is not supported: the core delivers every "
                        f"spike one time step later, so the only delay is the timestep "
                        f"({state.dt_ms:g} ms): give delay={state.dt_ms:g} or leave it out")


class StaticSynapse:
    """A fixed weight (nA for IF_curr_exp, mV for IF_curr_delta) and delay (ms, one step)."""

    def __init__(self, weight=0.0, delay=None):
        self.weight, self.delay = weight, delay


class SpikePairRule:
    """Pair STDP: ``A_plus``, ``A_minus`` as fractions of ``w_max`` (PyNN's convention for the
    additive rule), ``tau_plus``, ``tau_minus`` in ms."""

    def __init__(self, tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.01):
        self.tau_plus, self.tau_minus = float(tau_plus), float(tau_minus)
        self.A_plus, self.A_minus = float(A_plus), float(A_minus)


class AdditiveWeightDependence:
    """Additive updates with hard bounds ``w_min``, ``w_max`` (the weight's unit)."""

    def __init__(self, w_min=0.0, w_max=1.0):
        self.w_min, self.w_max = float(w_min), float(w_max)


class STDPMechanism:
    """Spike-pair STDP with additive weight dependence: the core's learning rule."""

    def __init__(self, timing_dependence=None, weight_dependence=None, voltage_dependence=None,
                 dendritic_delay_fraction=1.0, weight=0.0, delay=None):
        if not isinstance(timing_dependence, SpikePairRule):
            raise PyNNError(f"STDPMechanism timing_dependence "
                            f"{type(timing_dependence).__name__}: the core learns with "
                            f"SpikePairRule only")
        if not isinstance(weight_dependence, AdditiveWeightDependence):
            raise PyNNError(f"STDPMechanism weight_dependence "
                            f"{type(weight_dependence).__name__}: the core learns with "
                            f"AdditiveWeightDependence only")
        if voltage_dependence is not None:
            raise PyNNError("STDPMechanism voltage_dependence is not supported")
        self.timing_dependence, self.weight_dependence = timing_dependence, weight_dependence
        self.weight, self.delay = weight, delay

    def _stdp(self, scale):
        t, w = self.timing_dependence, self.weight_dependence
        return Stdp(tau_plus=t.tau_plus * 1e-3, tau_minus=t.tau_minus * 1e-3,
                    A_plus=t.A_plus * w.w_max * scale, A_minus=t.A_minus * w.w_max * scale,
                    w_min=w.w_min * scale, w_max=w.w_max * scale)


# -- projections --------------------------------------------------------------------------------

class Projection:
    """Synapses from ``presynaptic_population`` onto ``postsynaptic_population``."""

    def __init__(self, presynaptic_population, postsynaptic_population, connector,
                 synapse_type=None, source=None, receptor_type=None, space=None, label=None):
        state = _current()
        _frozen("creating a Projection")
        pre, post = presynaptic_population, postsynaptic_population
        for role, pop in (("presynaptic", pre), ("postsynaptic", post)):
            if not isinstance(pop, (Population, PopulationView)):
                raise PyNNError(f"Projection {role} population must be a Population or a "
                                f"PopulationView, not {type(pop).__name__}")
        if _root(post).celltype.is_source:
            raise PyNNError(f"Projection onto {post.label}: a spike source has no synapses")
        if not isinstance(connector, _Connector):
            raise PyNNError(f"connector {type(connector).__name__} is not supported: use "
                            f"AllToAll, OneToOne, FixedProbability, FromList or "
                            f"ArrayConnector")
        synapse_type = synapse_type if synapse_type is not None else StaticSynapse()
        if not isinstance(synapse_type, (StaticSynapse, STDPMechanism)):
            raise PyNNError(f"synapse type {type(synapse_type).__name__} is not supported: "
                            f"use StaticSynapse or STDPMechanism(SpikePairRule, "
                            f"AdditiveWeightDependence)")
        if receptor_type is None:
            receptor_type = "excitatory"
        if receptor_type not in ("excitatory", "inhibitory"):
            raise PyNNError(f"receptor_type={receptor_type!r}: use 'excitatory' or "
                            f"'inhibitory'")
        _check_delay(synapse_type.delay, state)
        self.pre, self.post, self.connector = pre, post, connector
        self.synapse_type, self.receptor_type = synapse_type, receptor_type
        self.label = label or f"{pre.label}->{post.label}"
        self._sf_proj = None
        self._weights = self._initial_weights()
        state.projections.append(self)

    def __repr__(self):
        return f"Projection({self.label}, {type(self.synapse_type).__name__})"

    def _initial_weights(self):
        """The (n_pre, n_post) weights in PyNN units (0 where no synapse is made)."""
        shape = (self.pre.size, self.post.size)
        c = self.connector
        if isinstance(c, FromListConnector) and c.weights() is not None:
            w = np.zeros(shape)
            for (i, j), value in c.weights().items():
                w[i, j] = value
        else:
            weight = self.synapse_type.weight
            if hasattr(weight, "next") and hasattr(weight, "parameters"):
                weight = np.asarray(weight.next(shape[0] * shape[1])).reshape(shape)
            w = np.asarray(weight, dtype=float)
            if w.ndim not in (0, 2) or (w.ndim == 2 and w.shape != shape):
                raise PyNNError(f"Projection {self.label}: weight has shape {w.shape}; give "
                                f"one value or {shape}")
            w = np.broadcast_to(w, shape).astype(float)
        sign_wrong = (w < 0) if self.receptor_type == "excitatory" else (w > 0)
        if np.any(sign_wrong):
            want = "positive" if self.receptor_type == "excitatory" else "negative"
            raise PyNNError(f"Projection {self.label}: {self.receptor_type} weights of "
                            f"current-based synapses are {want} in PyNN (got {w[sign_wrong][0]:g})")
        return w

    def _ends(self):
        """The populations behind pre and post, and the indices of the neurons taking part."""
        return (_root(self.pre), _indices(self.pre), _root(self.post), _indices(self.post))

    def _sf(self):
        if self._sf_proj is not None:
            return self._sf_proj
        state = _current()
        pre, pi, post, qi = self._ends()
        scale = post._weight_scale()[qi]
        same = pre is post and np.array_equal(pi, qi)
        mask = self.connector._sf(state).pairs(pi.size, qi.size, same)
        # in the populations' own indices (a view connects a part of its population)
        full = np.zeros((pre.size, post.size))
        full[np.ix_(pi, qi)] = self._weights * scale[None, :]
        pairs = [(int(pi[i]), int(qi[j])) for i, j in zip(*np.nonzero(mask))]
        stdp = None
        if isinstance(self.synapse_type, STDPMechanism):
            scales = np.unique(scale)
            if scales.size != 1:
                raise PyNNError(f"Projection {self.label}: STDP onto neurons with different "
                                f"tau_m / cm is not supported (the learning rule is in the "
                                f"core's weight units): give {self.post.label} one tau_m and cm")
            stdp = self.synapse_type._stdp(float(scales[0]))
        self._sf_proj = net.Projection(pre._sf(), post._sf(), net.FromList(pairs),
                                       weight=full, stdp=stdp, label=self.label)
        return self._sf_proj

    def _connected(self):
        _, pi, _, qi = self._ends()
        return self._sf().connected[np.ix_(pi, qi)]

    def __len__(self):
        return int(self._connected().sum())

    def size(self, gather=True):
        return len(self)

    def get(self, attribute_names, format="list", gather=True, with_address=True,
            multiple_synapses="sum"):
        """``'weight'`` (PyNN units; after learning, the core's current weights) and/or
        ``'delay'`` (ms), as an ``(n_pre, n_post)`` array with NaN where there is no synapse
        (``format='array'``) or a list of ``(i, j, value...)``."""
        names = [attribute_names] if isinstance(attribute_names, str) else list(attribute_names)
        for name in names:
            if name not in ("weight", "delay"):
                raise PyNNError(f"Projection.get({name!r}): available are 'weight' and 'delay'")
        state = _current()
        proj = self._sf()
        if state.session is not None:
            volts = state.session.weights(proj)
        else:
            volts = np.where(proj.connected, proj.weight, np.nan)
        _, pi, post, qi = self._ends()
        connected = self._connected()
        arrays = {"weight": volts[np.ix_(pi, qi)] / post._weight_scale()[qi][None, :],
                  "delay": np.where(connected, state.dt_ms, np.nan)}
        if format == "array":
            out = [arrays[name] for name in names]
            return out[0] if isinstance(attribute_names, str) else out
        if format != "list":
            raise PyNNError(f"Projection.get format={format!r}: use 'list' or 'array'")
        rows = []
        for i, j in zip(*np.nonzero(connected)):
            values = tuple(float(arrays[name][i, j]) for name in names)
            rows.append(((int(i), int(j)) if with_address else ()) + values)
        return rows

    def getWeights(self, format="list", gather=True):
        return self.get("weight", format=format)
