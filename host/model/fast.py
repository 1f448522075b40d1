"""The compiled twin and the batched twin.

* :class:`BatchTwin` holds ``B`` independent networks of one :class:`CoreConfig` (each its
  own weights, mask, parameters, Poisson rates and state) and advances them together; every
  member's state after every step is bit-identical to a :class:`~.twin.Twin` running that
  network alone.
* :class:`CompiledTwin` is one network with the :class:`~.twin.Twin` interface (a batch of one).
* :func:`make_twin` gives the compiled twin when the kernel can run, else the numpy twin;
  :func:`kernel_name` says which runs.

Both run :mod:`.kernel` (numba). Without numba, :class:`BatchTwin` still works: it steps numpy
twins one after another (the same results, without the speed).
"""

import numpy as np

from . import kernel
from .params import Network
from .twin import Twin

__all__ = ["BatchTwin", "CompiledTwin", "make_twin", "kernel_name", "warm_up"]

_STATE_1D = ("v", "i", "r", "theta", "x", "y")


def kernel_name(kind="auto"):
    """``"compiled"`` or ``"numpy"``: the kernel :func:`make_twin` uses for ``kind``
    (``"auto"``: compiled when available; ``SPIKEFORGE_KERNEL=numpy`` forces numpy)."""
    if kind not in ("auto", "compiled", "numpy"):
        raise ValueError(f"twin kernel {kind!r} is unknown: choose auto, compiled or numpy")
    if kind == "numpy":
        return "numpy"
    if kernel.available():
        return "compiled"
    if kind == "compiled":
        raise RuntimeError(f"the compiled twin kernel is unavailable: "
                           f"{kernel.unavailable_reason()}")
    return "numpy"


def make_twin(network, kind="auto"):
    """A twin of ``network``: a :class:`CompiledTwin` when the compiled kernel runs (and
    ``kind`` is ``"auto"`` or ``"compiled"``), else a numpy :class:`Twin`."""
    if kernel_name(kind) == "compiled":
        return CompiledTwin(network)
    return Twin(network)


def warm_up():
    """Compile the kernel for both weight types (int8, int16) and cache it on disk; returns a
    one-line summary (what ``scripts/setup`` prints)."""
    import time

    from spikeforge.config import CoreConfig

    from .params import random_network

    if kernel_name() != "compiled":
        return f"unavailable ({kernel.unavailable_reason()})"
    start = time.perf_counter()
    for bits in (8, 16):
        config = CoreConfig(neurons=4, inputs=2, lanes=4, weight_bits=bits)
        CompiledTwin(random_network(config, 0)).run(np.ones((2, 2), dtype=bool), learn=True)
    return f"ready in {time.perf_counter() - start:.1f} s (cache {kernel.cache_folder()})"


def _config_array(config):
    v_low, v_high = config.v_range
    i_low, i_high = config.i_range
    values = {"decay_bits": config.decay_bits, "v_low": v_low, "v_high": v_high,
              "i_low": i_low, "i_high": i_high, "trace_top": (1 << config.trace_bits) - 1,
              "theta_top": (1 << config.theta_bits) - 1, "stdp": int(config.stdp),
              "adaptive": int(config.adaptive_threshold),
              "sround": int(config.stochastic_rounding)}
    return np.array([values[name] for name in kernel.CFG], dtype=np.int64)


def _learn_schedule(learn, steps):
    """``learn`` (a bool or one bool per step) as a bool array of length ``steps``."""
    if np.ndim(learn) == 0:
        return np.full(steps, bool(learn), dtype=bool)
    schedule = np.asarray(learn, dtype=bool).reshape(-1)
    if schedule.shape != (steps,):
        raise ValueError(f"learn has {schedule.size} entries; give one per step ({steps}) or "
                         f"a single bool")
    return schedule


class BatchTwin:
    """``B`` networks of one configuration, advanced together, each bit-identical to running
    it alone.

    ``networks`` is a sequence of :class:`Network` sharing one ``config``. ``kind``: ``"auto"``
    (the compiled kernel when numba is available, else numpy twins stepped in turn),
    ``"compiled"`` or ``"numpy"``.

    State, with the batch index first (views: writing into them changes the members):
    ``v, i, r, theta, x, y, s`` ``(B, N)``; ``xin, pstate`` ``(B, M)``; ``W`` and ``mask``
    ``(B, N+M, N)``, read-only (``W`` is ``int8`` or ``int16`` in the compiled kernel);
    ``synaptic_ops`` ``(B,)``.
    """

    def __init__(self, networks, kind="auto", *, _shared=False):
        networks = list(networks)
        if not networks:
            raise ValueError("a batch needs at least one network")
        config = networks[0].config
        seen = set()
        for k, network in enumerate(networks):
            if network.config != config:
                raise ValueError(f"batch member {k} is for {network.config.describe()}, member 0 "
                                 f"for {config.describe()}: a batch holds one configuration")
            if id(network) not in seen:       # a network repeated in the batch is checked once
                network.validate()
                seen.add(id(network))
        self.config = config
        self.kind = kernel_name(kind)
        self.size = len(networks)
        self.N, self.M = config.neurons, config.inputs
        self.steps = 0
        if self.kind == "numpy":
            self._twins = [Twin(network) for network in networks]
            return
        self._twins = None
        B, N, M = self.size, self.N, self.M
        # a replicated batch keeps one copy of the weights, mask and neuron parameters until
        # a step learns (then every member gets its own weights)
        unique = networks[:1] if _shared else networks
        # the narrowest signed type that holds a weight: fewer bytes for the strided column
        # walk of potentiation
        dtype = np.int8 if config.weight_bits <= 8 else np.int16
        self._W = np.ascontiguousarray(np.stack([n.W for n in unique]).astype(dtype))
        self._mask = np.ascontiguousarray(np.stack([n.mask for n in unique]).astype(bool))
        self._nstate = np.zeros((B, len(kernel.NSTATE), N), dtype=np.int64)
        self._istate = np.zeros((B, len(kernel.ISTATE), M), dtype=np.int64)
        self._spike_bits = np.zeros((B, N), dtype=bool)
        self._nparam = np.stack([
            np.stack([getattr(n.neuron_params, name) for name in kernel.NPARAM])
            for n in unique]).astype(np.int64)
        self._rate = np.stack([n.poisson_rate for n in networks]).astype(np.int64).reshape(B, M)
        gparam = np.zeros((B, len(kernel.GPARAM)), dtype=np.int64)
        for b, network in enumerate(networks):
            g = network.global_params.to_dict()
            g["poisson_on"] = int(bool(g["poisson_on"]) and config.has_poisson)
            gparam[b] = [g[name] for name in kernel.GPARAM]
        self._gparam = gparam
        self._cfg = _config_array(config)
        self._row_ok = np.zeros((len(unique), config.rows), dtype=bool)
        self._check_rows()
        self.last_inputs = np.zeros((B, M), dtype=bool)
        self.synaptic_ops = np.zeros(B, dtype=np.int64)

    @classmethod
    def replicate(cls, network, count, kind="auto"):
        """A batch of ``count`` copies of ``network``, to run different inputs or start states
        through it. The copies share one weight matrix, mask and set of neuron parameters
        until a step learns."""
        return cls([network] * int(count), kind=kind, _shared=True)

    def _unshare(self):
        B = self.size
        if self._W.shape[0] != B:
            self._W = np.ascontiguousarray(np.repeat(self._W, B, axis=0))
            self._mask = np.ascontiguousarray(np.repeat(self._mask, B, axis=0))
            self._row_ok = np.ascontiguousarray(np.repeat(self._row_ok, B, axis=0))
            self._nparam = np.ascontiguousarray(np.repeat(self._nparam, B, axis=0))

    # -- state --------------------------------------------------------------------------------

    def _check_rows(self):
        """Mark the rows whose plastic weights all lie inside ``[w_min, w_max]`` (the kernel
        keeps the marks up to date from then on)."""
        held = self._W.shape[0]       # 1 while a replicated batch shares its weights
        low = self._gparam[:held, kernel.GPARAM.index("w_min"), None, None]
        high = self._gparam[:held, kernel.GPARAM.index("w_max"), None, None]
        outside = ((self._W < low) | (self._W > high)) & self._mask
        self._row_ok[...] = ~outside.any(axis=2)

    @property
    def W(self):
        """Weights ``(B, N+M, N)``, read-only (``load_member_state`` writes them)."""
        if self._twins is not None:
            return np.stack([t.W for t in self._twins])
        view = np.broadcast_to(self._W, (self.size,) + self._W.shape[1:])
        view.flags.writeable = False
        return view

    @property
    def mask(self):
        """Plasticity masks ``(B, N+M, N)``, read-only (``load_member_state`` writes them)."""
        if self._twins is not None:
            return np.stack([t.mask for t in self._twins])
        view = np.broadcast_to(self._mask, (self.size,) + self._mask.shape[1:])
        view.flags.writeable = False
        return view

    def __getattr__(self, name):
        # state views (only reached for names that are not plain attributes)
        if name in _STATE_1D:
            if self.__dict__.get("_twins") is not None:
                return np.stack([getattr(t, name) for t in self._twins])
            return self.__dict__["_nstate"][:, kernel.NSTATE.index(name)]
        if name in kernel.ISTATE:
            if self.__dict__.get("_twins") is not None:
                return np.stack([getattr(t, name) for t in self._twins])
            return self.__dict__["_istate"][:, kernel.ISTATE.index(name)]
        if name == "s" and self.__dict__.get("_twins") is None:
            return self.__dict__["_spike_bits"]
        if self.__dict__.get("_twins") is not None and name in ("s", "last_inputs"):
            return np.stack([getattr(t, name) for t in self._twins])
        if name == "synaptic_ops" and self.__dict__.get("_twins") is not None:
            return np.array([t.synaptic_ops for t in self._twins], dtype=np.int64)
        raise AttributeError(name)

    def member_state(self, b):
        """Copies of member ``b``'s state arrays, as :meth:`Twin.state_dict` gives them."""
        if self._twins is not None:
            return self._twins[b].state_dict()
        state = {name: self._nstate[b, k].copy() for k, name in enumerate(kernel.NSTATE)}
        state["s"] = self._spike_bits[b].copy()
        state["xin"] = self._istate[b, 0].copy()
        state["pstate"] = self._istate[b, 1].copy()
        if self.config.stochastic_rounding:
            state["sr_seed"] = int(self._gparam[b, kernel.GPARAM.index("sr_seed")])
        w = 0 if self._W.shape[0] == 1 else b
        state["W"] = self._W[w].astype(np.int64)
        state["mask"] = self._mask[w].copy()
        return state

    def load_member_state(self, b, state):
        """Set member ``b``'s state arrays from a dict (any subset of the names of
        :meth:`member_state`)."""
        if self._twins is not None:
            return self._twins[b].load_state(state)
        for name, value in state.items():
            value = np.asarray(value)
            if name in kernel.NSTATE:
                target = self._nstate[b, kernel.NSTATE.index(name)]
            elif name in kernel.ISTATE:
                target = self._istate[b, kernel.ISTATE.index(name)]
            elif name == "s":
                target = self._spike_bits[b]
            elif name == "sr_seed" and self.config.stochastic_rounding:
                self._gparam[b, kernel.GPARAM.index("sr_seed")] = int(value)
                continue
            elif name in ("W", "mask"):
                self._unshare()
                target = getattr(self, "_" + name)[b]
            else:
                raise KeyError(f"unknown state variable {name!r}")
            if value.shape != target.shape and value.ndim != 0:
                raise ValueError(f"state {name} must have shape {target.shape}, not "
                                 f"{value.shape}")
            target[...] = value
        if "W" in state or "mask" in state:
            self._check_rows()
        return None

    def reset_state(self):
        """Zero every member's ``v, i, r, s, theta, x, y, xin``; weights, masks and the
        Poisson generators are kept."""
        if self._twins is not None:
            for twin in self._twins:
                twin.reset_state()
            return
        self._nstate[...] = 0
        self._istate[:, kernel.ISTATE.index("xin")] = 0
        self._spike_bits[...] = False

    # -- running ------------------------------------------------------------------------------

    def run(self, rasters, learn=False, probes=None):
        """Run every member for ``T`` steps.

        ``rasters``: bool ``(B, T, M)`` (one input raster per member) or ``(T, M)`` (the same
        inputs for every member). ``learn``: a bool, or one bool per step. ``probes``: neuron
        indices whose ``v`` and ``i`` are recorded after every step.

        Returns ``{'spikes': (B, T, N) bool}`` and, with ``probes``, ``'v'`` and ``'i'``:
        ``(B, T, len(probes))`` int64.
        """
        B, M, N = self.size, self.M, self.N
        rasters = np.asarray(rasters, dtype=bool)
        if rasters.ndim == 2:
            rasters = np.broadcast_to(rasters, (B,) + rasters.shape)
        if rasters.ndim != 3 or rasters.shape[0] != B or rasters.shape[2] != M:
            raise ValueError(f"input rasters must have shape ({B}, T, {M}) or (T, {M}), not "
                             f"{rasters.shape}")
        steps = rasters.shape[1]
        schedule = _learn_schedule(learn, steps) & self.config.stdp
        if probes is not None:
            probes = np.asarray(probes, dtype=np.int64).reshape(-1)
            if probes.size and (probes.min() < 0 or probes.max() >= N):
                raise ValueError(f"probe index out of range 0..{N - 1}")
        if self._twins is not None:
            return self._run_numpy(rasters, schedule, probes)
        if schedule.any():
            self._unshare()
        index = probes if probes is not None else np.zeros(0, dtype=np.int64)
        spikes = np.zeros((B, steps, N), dtype=bool)
        v_out = np.zeros((B, steps, index.size), dtype=np.int64)
        i_out = np.zeros((B, steps, index.size), dtype=np.int64)
        kernel.run_kernel(self._W, self._mask, self._row_ok, self._nstate, self._spike_bits,
                          self._istate, self._nparam, self._gparam, self._rate, self._cfg,
                          # a writeable C-ordered copy when it is not one: read-only or
                          # broadcast arrays would make numba compile another version
                          np.require(rasters, bool, ["C", "W"]), schedule,
                          np.require(index, np.int64, ["C", "W"]), spikes, v_out, i_out,
                          self.last_inputs, self.synaptic_ops)
        self.steps += steps
        result = {"spikes": spikes}
        if probes is not None:
            result["v"], result["i"] = v_out, i_out
        return result

    def _run_numpy(self, rasters, schedule, probes):
        B, steps = self.size, rasters.shape[1]
        spikes = np.zeros((B, steps, self.N), dtype=bool)
        P = 0 if probes is None else probes.size
        v_out = np.zeros((B, steps, P), dtype=np.int64)
        i_out = np.zeros((B, steps, P), dtype=np.int64)
        uniform = schedule.all() or not schedule.any()
        for b, twin in enumerate(self._twins):
            if uniform:
                out = twin.run(rasters[b], learn=bool(schedule[0]) if steps else False,
                               probes=probes)
                spikes[b] = out["spikes"]
                if probes is not None:
                    v_out[b], i_out[b] = out["v"], out["i"]
                continue
            for t in range(steps):
                spikes[b, t] = twin.step(rasters[b, t], learn=bool(schedule[t]))
                if probes is not None:
                    v_out[b, t], i_out[b, t] = twin.v[probes], twin.i[probes]
        self.steps += steps
        result = {"spikes": spikes}
        if probes is not None:
            result["v"], result["i"] = v_out, i_out
        return result

    def step(self, inputs, learn=False):
        """One step of every member; ``inputs`` bool ``(B, M)``. Returns the spikes ``(B, N)``."""
        inputs = np.asarray(inputs, dtype=bool)
        if inputs.shape != (self.size, self.M):
            raise ValueError(f"inputs must have shape ({self.size}, {self.M}), not "
                             f"{inputs.shape}")
        return self.run(inputs[:, None, :], learn)["spikes"][:, 0]


class _Row:
    """A state attribute of a :class:`CompiledTwin`: a 1-D view into the batch of one;
    assigning copies into it."""

    def __init__(self, name):
        self.name = name

    def __get__(self, twin, owner=None):
        if twin is None:
            return self
        return twin._rows[self.name]

    def __set__(self, twin, value):
        view = twin._rows[self.name]
        value = np.asarray(value)
        if value.shape != view.shape and value.ndim != 0:
            raise ValueError(f"state {self.name} must have shape {view.shape}, not "
                             f"{value.shape}")
        view[...] = value


class CompiledTwin:
    """One network on the compiled kernel, with the interface of :class:`~.twin.Twin`
    (``step``, ``run``, ``state_dict``, ``load_state``, ``reset_state`` and the state
    attributes). ``W`` and ``mask`` are read-only views (``W`` held as ``int8`` or
    ``int16``); :meth:`load_state` writes them."""

    v = _Row("v")
    i = _Row("i")
    r = _Row("r")
    theta = _Row("theta")
    x = _Row("x")
    y = _Row("y")
    s = _Row("s")
    xin = _Row("xin")
    pstate = _Row("pstate")
    W = _Row("W")
    mask = _Row("mask")
    last_inputs = _Row("last_inputs")

    def __init__(self, network: Network):
        self._batch = BatchTwin([network], kind="compiled")
        batch = self._batch
        self.config = network.config
        self.network = network.copy()
        self.N, self.M = self.config.neurons, self.config.inputs
        self.poisson_rate = batch._rate[0]
        self.poisson_on = bool(batch._gparam[0, kernel.GPARAM.index("poisson_on")])
        self._rows = {name: batch._nstate[0, k] for k, name in enumerate(kernel.NSTATE)}
        self._rows.update({name: batch._istate[0, k] for k, name in enumerate(kernel.ISTATE)})
        self._rows.update(s=batch._spike_bits[0], W=batch.W[0], mask=batch.mask[0],
                          last_inputs=batch.last_inputs[0])
        self._views = {name: self._rows[name] for name in ("i", "v", "theta", "y", "x", "xin")}

    @property
    def synaptic_ops(self):
        return int(self._batch.synaptic_ops[0])

    @synaptic_ops.setter
    def synaptic_ops(self, value):
        self._batch.synaptic_ops[0] = value

    @property
    def steps(self):
        return self._batch.steps

    def reset_state(self):
        """Zero ``v, i, r, s, theta, x, y, xin``; the weights and the mask are kept."""
        self._batch.reset_state()

    @property
    def sr_seed(self):
        """The step seed of stochastic rounding (see :attr:`.twin.Twin.sr_seed`)."""
        return int(self._batch._gparam[0, kernel.GPARAM.index("sr_seed")])

    @sr_seed.setter
    def sr_seed(self, value):
        self._batch._gparam[0, kernel.GPARAM.index("sr_seed")] = int(value)
        self.network.global_params.sr_seed = int(value)

    def _sync_seed(self):
        # the network's GLOBAL word follows the seed the kernel advanced
        self.network.global_params.sr_seed = self.sr_seed

    def state_dict(self):
        """Copies of every state array (``W`` as int64, as the numpy twin gives it)."""
        return self._batch.member_state(0)

    def load_state(self, state):
        """Set state arrays from a dict as returned by :meth:`state_dict` (any subset)."""
        self._batch.load_member_state(0, state)
        self._sync_seed()

    _input_vector = Twin._input_vector

    def step(self, inputs=(), learn=False):
        """Advance one time step; return the spikes produced in it (bool, length N)."""
        vector = self._input_vector(inputs) if self.M else np.zeros(0, dtype=bool)
        spikes = self._batch.run(vector[None, None, :], learn)["spikes"][0, 0]
        self._sync_seed()
        return spikes

    def run(self, input_raster, learn=False, probes=None):
        """Run one step per row of ``input_raster`` (bool ``(T, M)``); as :meth:`Twin.run`."""
        raster = np.asarray(input_raster, dtype=bool)
        if raster.ndim != 2 or raster.shape[1] != self.M:
            raise ValueError(f"input raster must have shape (T, {self.M}), not {raster.shape}")
        out = self._batch.run(raster[None], learn, probes)
        self._sync_seed()
        return {name: value[0] for name, value in out.items()}

