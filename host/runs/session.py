"""Running a network given in physical units, and its results in seconds, hertz and volts.

:func:`open` compiles a :class:`~spikeforge.host.model.network.Network`, opens the device at a
URL with the network's own configuration, loads the integers and seeds the Poisson
generators; :meth:`Session.run` runs a duration in seconds (time continues from run to run) and
gives :class:`Results`.
"""

import numpy as np

from spikeforge.config import ConfigError

__all__ = ["open", "Session", "Results", "plot_weight_change"]

def open(url, network, **options):
    """Open the device at ``url`` (``model://``, ``sim://``, a serial port) for ``network``: a
    :class:`~spikeforge.host.model.network.Network` in physical units, or an integer
    :class:`~spikeforge.host.model.params.Network`. The configuration is the network's own."""
    from ..device import open_device
    from ..model.network import Network
    from ..model.params import Network as CoreNetwork

    if isinstance(network, Network):
        compiled = network.compile()
        core = compiled.network
    elif isinstance(network, CoreNetwork):
        compiled, core = None, network
    else:
        raise ConfigError(f"sf.open needs an sf.Network (or an integer network), not "
                          f"{type(network).__name__}")
    device = open_device(url, core.config, **options)
    try:
        return Session(url, device, core, compiled)
    except BaseException:
        device.close()
        raise


class Session:
    """A device holding one network. ``run(duration)`` advances it; ``reset()`` goes back to
    time 0; ``weights(projection)`` reads a projection's weights back in volts; ``report`` is
    the quantisation report; ``device`` the device underneath (the integer API)."""

    def __init__(self, url, device, core, compiled):
        self.url, self.device, self.core, self.compiled = url, device, core, compiled
        self.seed = compiled.source.seed if compiled is not None else 0
        self.step = 0
        device.load_network(core)
        if core.config.has_poisson:
            device.seed_poisson(self.seed)

    @property
    def report(self):
        return self.compiled.report if self.compiled is not None else None

    @property
    def dt(self):
        return self.compiled.dt if self.compiled is not None else 1.0

    @property
    def time(self):
        """Seconds run so far."""
        return self.step * self.dt

    def __repr__(self):
        return (f"<Session {self.url} {self.core.config.describe()}, t = {self.time:g} s>")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self.device.close()

    def reset(self, weights=False):
        """Back to time 0: zero the state (and, with ``weights``, load the network's weights
        again, undoing learning); the Poisson generators restart from their seed."""
        self.device.reset("state")
        if weights:
            self.device.load_network(self.core)
        if self.core.config.has_poisson:
            self.device.seed_poisson(self.seed)
        self.step = 0

    def run(self, duration=None, *, steps=None, learn=None, record=()):
        """Run ``duration`` seconds (or ``steps`` steps).

        ``learn``: apply STDP (default: when the network has a plastic projection).
        ``record``: populations (or ``(population, indices)``) whose ``v`` and ``i`` are
        recorded every step.
        """
        c = self.compiled
        if steps is None:
            if duration is None:
                raise ConfigError("run needs a duration in seconds (or steps=)")
            if c is None:
                raise ConfigError("an integer network has no time step: pass steps=")
            steps = c.steps(duration)
        if learn is None:
            learn = bool(c is not None and c.plastic)
        probes, owners = self._probes(record)
        inputs = (c.input_raster(self.step, steps) if c is not None else
                  np.zeros((steps, self.core.config.inputs), dtype=bool))
        raw = self.device.run(steps=steps, inputs=inputs, learn=learn, probes=probes)
        results = Results(self, raw, self.step, inputs, owners)
        self.step += steps
        return results

    def _probes(self, record):
        c = self.compiled
        if isinstance(record, tuple) and len(record) == 2 and not hasattr(record[1], "n"):
            record = [record]                     # one (population, indices) pair
        elif not isinstance(record, (list, tuple)):
            record = [record]
        probes, owners = [], []
        for item in record:
            pop, index = item if isinstance(item, tuple) else (item, None)
            if c is None or pop not in c.neuron_slice:
                raise ConfigError(f"record: {pop!r} is not a population of this network")
            span = c.neuron_slice[pop]
            local = np.arange(pop.n) if index is None else np.atleast_1d(index)
            if np.any((local < 0) | (local >= pop.n)):
                raise ConfigError(f"record: index out of range 0..{pop.n - 1} of {pop.name}")
            for k in local:
                probes.append(span.start + int(k))
                owners.append((pop, int(k)))
        return probes, owners

    def weights(self, projection):
        """The weights of ``projection`` now (after learning), in volts, ``(n_pre, n_post)``
        with NaN where there is no synapse."""
        if self.compiled is None:
            raise ConfigError("weights(projection) needs a network built from projections")
        return self.compiled.weights(projection, self.device.read_network())


class Results:
    """Spikes and traces of one run, in physical units.

    ``t`` the times of the steps (seconds); ``spikes`` the ``(steps, N)`` raster of the whole
    core; ``spike_times(pop)`` one array of spike times (seconds) per neuron; ``rates_hz(pop)``
    the mean rate of each neuron; ``v(pop)`` and ``i(pop)`` the recorded traces in volts
    (``(steps, k)``); ``raw`` the device's integer result.
    """

    def __init__(self, session, raw, start, inputs, owners):
        self.session, self.raw, self.start, self.inputs = session, raw, start, inputs
        self.owners = owners
        self.dt = session.dt
        self.spikes = raw.spikes
        self.t = (start + np.arange(raw.steps)) * self.dt

    @property
    def steps(self):
        return self.raw.steps

    @property
    def duration(self):
        return self.steps * self.dt

    def __repr__(self):
        return (f"<Results {self.steps} steps ({self.duration:g} s from t = "
                f"{self.start * self.dt:g} s), {int(self.spikes.sum())} spikes, "
                f"{len(self.owners)} traces>")

    def _columns(self, pop):
        c = self.session.compiled
        if pop is None:
            return slice(0, self.spikes.shape[1])
        if c is None or pop not in c.neuron_slice:
            raise ConfigError(f"{pop!r} is not a population of this network")
        return c.neuron_slice[pop]

    def spike_times(self, pop=None):
        """A list with one array of spike times (seconds) per neuron of ``pop`` (default:
        every neuron of the core)."""
        raster = self.spikes[:, self._columns(pop)]
        return [self.t[np.flatnonzero(raster[:, k])] for k in range(raster.shape[1])]

    def spike_count(self, pop=None):
        return self.spikes[:, self._columns(pop)].sum(axis=0)

    def rates_hz(self, pop=None):
        """Mean firing rate of each neuron of ``pop`` over the run (Hz)."""
        if self.steps == 0:
            return np.zeros(self.spikes[:, self._columns(pop)].shape[1])
        return self.spike_count(pop) / self.duration

    def _trace(self, pop, name):
        picks = [k for k, (owner, _) in enumerate(self.owners) if pop is None or owner is pop]
        if not picks:
            raise ConfigError(f"no trace of {getattr(pop, 'name', pop)} was recorded: pass "
                              f"record=[population] to run")
        c = self.session.compiled
        neurons = np.array([self.raw.probe_ids[k] for k in picks])
        values = self.raw.probes[name][:, picks]
        return c.volts(neurons, values) if name == "v" else c.currents(neurons, values)

    def v(self, pop=None):
        """Membrane potential (volts) of the recorded neurons of ``pop``, ``(steps, k)``."""
        return self._trace(pop, "v")

    def i(self, pop=None):
        """Synaptic current as ``R I`` (volts) of the recorded neurons of ``pop``."""
        return self._trace(pop, "i")

    # -- pictures (matplotlib Figures; nothing is written)

    def plot_raster(self, pops=None, title=None):
        """A raster of the spikes, one colour band per population; returns the Figure."""
        from .plots import _figure

        c = self.session.compiled
        fig = _figure(figsize=(8, 4))
        ax = fig.add_subplot()
        groups = ([(p.name, c.neuron_slice[p]) for p in (pops or c.source.populations)]
                  if c is not None else [("neurons", slice(0, self.spikes.shape[1]))])
        for label, span in groups:
            steps, idx = np.nonzero(self.spikes[:, span])
            ax.scatter(self.t[steps] if steps.size else [], idx + span.start, s=3, marker="|",
                       label=f"{label} ({steps.size} spikes)")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("neuron")
        ax.set_title(title or f"{int(self.spikes.sum())} spikes in {self.duration:g} s")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        return fig

    def plot_traces(self, pop=None, title=None):
        """Membrane traces (mV) of the recorded neurons; returns the Figure."""
        from .plots import _figure

        fig = _figure(figsize=(8, 3.5))
        ax = fig.add_subplot()
        v = self.v(pop)
        for k in range(v.shape[1]):
            ax.plot(self.t, v[:, k] * 1e3, lw=0.8)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("v (mV)")
        ax.set_title(title or "membrane potential")
        fig.tight_layout()
        return fig


def plot_weight_change(before, after, title="weights before and after learning", bins=30):
    """Histograms (mV) of a projection's weights before and after learning, as given by
    :meth:`Session.weights` (NaN where there is no synapse); returns the Figure."""
    from .plots import plot_weight_histogram

    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape:
        raise ConfigError(f"weights before {before.shape} and after {after.shape} differ in "
                          f"shape: give the same projection's weights twice")
    present = np.isfinite(before) & np.isfinite(after)
    both = np.concatenate([before[present], after[present]]) * 1e3
    limits = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    if limits[0] == limits[1]:
        limits = (limits[0] - 0.5, limits[1] + 0.5)
    fig = plot_weight_histogram(before[present] * 1e3, after[present] * 1e3, limits=limits,
                                bins=bins, title=title)
    fig.axes[0].set_xlabel("weight (mV)")
    return fig
