"""The bit-exact numpy twin of a spikeforge core.

:class:`Twin` implements ``docs/model.md`` (phases A, B and C of a time step) with vectorised
int64 arithmetic. Its state after every step must equal the RTL core's state bit for bit.

Internal layout: the decaying per-neuron and per-source quantities live in one int64 buffer
``[i | v | theta | y | x | xin]`` so that every decay of a step is one vectorised operation;
the public attributes ``i, v, theta, y, x, xin`` are views into it.
"""

import numpy as np

from .params import Network

__all__ = ["Twin", "dec", "sat", "xorshift32", "sr_uniform", "stdp_magnitude"]

_MASK32 = 0xFFFFFFFF


def xorshift32(x):
    """One step of xorshift32 (13, 17, 5) on unsigned 32-bit words (int or int64 array)."""
    x = x ^ ((x << 13) & _MASK32)
    x = x ^ (x >> 17)
    return x ^ ((x << 5) & _MASK32)


def sr_uniform(seed, row, col):
    """The 16-bit uniform value of stochastic rounding for synapse ``(row, col)`` under the
    phase seed ``seed``: the top 16 bits of two xorshift32 rounds of
    ``seed ^ (row << 11 | col)`` (ints or int64 arrays that broadcast)."""
    key = seed ^ ((row << 11) | col)
    return xorshift32(xorshift32(key)) >> 16


def stdp_magnitude(product, shift, u=None):
    """``product >> shift`` (``u`` None), or rounded up when ``u < frac``, with ``frac`` the
    16 bits below the binary point of ``product / 2^shift`` (stochastic rounding). A negative
    ``product`` (potentiation with ``a_decay``) shifts arithmetically: the quotient is
    floored, and the fraction is what the floor drops."""
    if u is None:
        return product >> shift
    scaled = (product << 16) >> shift
    return (scaled >> 16) + ((scaled & 0xFFFF) > u)


def dec(x, a, decay_bits):
    """Decay ``x`` by the factor ``a / 2^decay_bits`` rounded toward zero (integer only).

    ``p = x * a``; the result is ``floor(p / 2^F)`` for ``p >= 0`` and ``-floor(-p / 2^F)``
    otherwise. Works on Python ints and on int64 numpy arrays (``|x * a| < 2^63``).
    """
    if isinstance(x, np.ndarray) or isinstance(a, np.ndarray):
        p = np.asarray(x, dtype=np.int64) * np.asarray(a, dtype=np.int64)
        # an arithmetic shift floors; adding 2^F - 1 to a negative product first truncates
        return (p + ((p >> 63) & ((1 << decay_bits) - 1))) >> decay_bits
    p = int(x) * int(a)
    return p >> decay_bits if p >= 0 else -((-p) >> decay_bits)


def _clip_fallback(x, low, high, out):
    np.maximum(x, low, out=out)
    return np.minimum(out, high, out=out)


# the clip ufunc itself: np.clip adds several microseconds of Python dispatch per call
_clip = getattr(getattr(np, "_core", None), "umath", None)
_clip = getattr(_clip, "clip", None) or _clip_fallback


def sat(x, low, high):
    """Clamp to ``[low, high]``."""
    if isinstance(x, np.ndarray):
        return np.minimum(np.maximum(x, low), high)
    return min(max(x, low), high)


class _View:
    """A state attribute that is a slice of the twin's shared buffer."""

    def __init__(self, name):
        self.name = name

    def __get__(self, twin, owner=None):
        if twin is None:
            return self
        return twin._views[self.name]

    def __set__(self, twin, value):
        view = twin._views[self.name]
        value = np.asarray(value)
        if value.shape != view.shape and value.ndim != 0:
            raise ValueError(f"state {self.name} must have shape {view.shape}, not {value.shape}")
        view[...] = value


class Twin:
    """Bit-exact model of one core running ``network``.

    State (numpy int64 unless noted): ``v, i, r, theta, x, y`` (length N), ``s`` (bool, N),
    ``xin`` (length M), ``W`` (``(N+M, N)``) and ``mask`` (bool, ``(N+M, N)``).
    ``synaptic_ops`` counts arriving rows times N, summed over all steps.
    """

    i = _View("i")
    v = _View("v")
    theta = _View("theta")
    y = _View("y")
    x = _View("x")
    xin = _View("xin")

    def __init__(self, network: Network):
        network.validate()
        config = network.config
        self.config = config
        self.network = network.copy()
        n, m = config.neurons, config.inputs
        self.N, self.M = n, m
        self.W = np.array(network.W, dtype=np.int64, order="C")
        self.mask = np.array(network.mask, dtype=bool, order="C")
        self._load_params()

        # shared buffer of every decaying quantity: [i | v | theta | y | x | xin]
        self._buf = np.zeros(5 * n + m, dtype=np.int64)
        b = self._buf
        self._views = {
            "i": b[0:n], "v": b[n:2 * n], "theta": b[2 * n:3 * n], "y": b[3 * n:4 * n],
            "x": b[4 * n:5 * n], "xin": b[5 * n:],
        }
        self._traces = b[2 * n:]            # theta, y, x, xin: non-negative, saturate above
        self._arriving = np.zeros(n + m, dtype=bool)
        self.r = np.zeros(n, dtype=np.int64)
        self.s = np.zeros(n, dtype=bool)
        #: xorshift32 states of the Poisson generators (kept by reset_state: they are the
        #: generators' position in their sequence, not neuron state)
        self.pstate = np.zeros(m, dtype=np.int64)
        #: the input spikes of the last step: pushed inputs and Poisson draws together
        self.last_inputs = np.zeros(m, dtype=bool)
        self.synaptic_ops = 0
        self.steps = 0

    # -- parameters ---------------------------------------------------------------------------

    def _load_params(self):
        config = self.config
        n, m = config.neurons, config.inputs
        p = self.network.neuron_params
        g = self.network.global_params
        self.F = config.decay_bits
        self.stdp = config.stdp
        self.adaptive = config.adaptive_threshold
        self.v_low, self.v_high = config.v_range
        self.i_low, self.i_high = config.i_range
        self.thr = p.thr.copy()
        self.v_reset = p.v_reset.copy()
        self.reset_sub = p.reset_sub.astype(bool)
        self.refrac = p.refrac.copy()
        self.bias = p.bias.copy()
        self.w_shift = g.w_shift
        self.w_min, self.w_max = g.w_min, g.w_max
        self.a_plus, self.a_minus, self.stdp_shift = g.a_plus, g.a_minus, g.stdp_shift
        self.v_min = g.v_min
        # the weight-dependent term of potentiation: 0 (today's rule) unless it is built
        self.a_decay = g.a_decay if config.weight_decay else 0
        self.wta = bool(g.wta) and config.winner_take_all
        self.sround = config.stochastic_rounding
        trace_top = (1 << config.trace_bits) - 1
        theta_top = (1 << config.theta_bits) - 1
        zeros = np.zeros(n, dtype=np.int64)
        # Without the adaptive threshold theta stays 0 (no decay, no increment); without STDP
        # the traces stay 0. Zero factors and increments give exactly that.
        alpha_th = p.alpha_th if self.adaptive else zeros
        theta_inc = p.theta_inc if self.adaptive else zeros
        alpha_x = g.alpha_x if self.stdp else 0
        alpha_y = g.alpha_y if self.stdp else 0
        self._x_inc = g.x_inc if self.stdp else 0
        y_inc = g.y_inc if self.stdp else 0
        self._alpha = np.concatenate([
            p.alpha_i, p.alpha_v, alpha_th, np.full(n, alpha_y, dtype=np.int64),
            np.full(n + m, alpha_x, dtype=np.int64)]).astype(np.int64)
        self._round = (1 << self.F) - 1
        self._trace_top = np.concatenate([
            np.full(n, theta_top, dtype=np.int64),
            np.full(2 * n + m, trace_top, dtype=np.int64)])
        self._theta_inc = np.array(theta_inc, dtype=np.int64)
        self._y_inc = y_inc
        self._reset_set = ~self.reset_sub
        # reset modes: all "set to v_reset", all "subtract", or mixed
        self._reset_mode = ("sub" if self.reset_sub.all() else
                            "set" if not self.reset_sub.any() else "mixed")
        self._learning = self.stdp
        self.poisson_rate = self.network.poisson_rate.copy()
        self.poisson_on = bool(g.poisson_on) and config.has_poisson

    # -- state --------------------------------------------------------------------------------

    def reset_state(self):
        """Zero ``v, i, r, s, theta, x, y, xin``; the weights and the mask are kept."""
        self._buf[:] = 0
        self.r[:] = 0
        self.s[:] = False

    def state_dict(self):
        """Copies of every state array."""
        return {
            "v": self.v.copy(), "i": self.i.copy(), "r": self.r.copy(), "s": self.s.copy(),
            "theta": self.theta.copy(), "x": self.x.copy(), "y": self.y.copy(),
            "xin": self.xin.copy(), "W": self.W.copy(), "mask": self.mask.copy(),
            "pstate": self.pstate.copy(),
            **({"sr_seed": self.sr_seed} if self.sround else {}),
        }

    @property
    def sr_seed(self):
        """The step seed of stochastic rounding (the GLOBAL word ``sr_seed``): advanced by two
        xorshift32 steps in every learning step."""
        return self.network.global_params.sr_seed

    @sr_seed.setter
    def sr_seed(self, value):
        self.network.global_params.sr_seed = int(value)

    def load_state(self, state):
        """Set state arrays from a dict as returned by :meth:`state_dict` (any subset)."""
        for name, value in state.items():
            if name in ("W", "mask", "r", "s", "pstate"):
                target = getattr(self, name)
                value = np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"state {name} must have shape {target.shape}, "
                                     f"not {value.shape}")
                target[...] = value
            elif name == "sr_seed" and self.sround:
                self.sr_seed = int(value)
            elif name in self._views:
                setattr(self, name, value)
            else:
                raise KeyError(f"unknown state variable {name!r}")

    # -- one step -----------------------------------------------------------------------------

    def _input_vector(self, inputs):
        m = self.M
        if isinstance(inputs, np.ndarray) and inputs.dtype == bool:
            if inputs.shape != (m,):
                raise ValueError(f"input vector must have shape ({m},), not {inputs.shape}")
            return inputs
        array = np.asarray(inputs)
        if array.size == 0:
            return np.zeros(m, dtype=bool)
        if array.dtype == bool:
            if array.shape != (m,):
                raise ValueError(f"input vector must have shape ({m},), not {array.shape}")
            return array
        if array.dtype.kind not in "iu" or array.ndim != 1:
            raise ValueError("inputs must be a bool vector of length M or a sequence of input "
                             "indices")
        if array.min() < 0 or array.max() >= m:
            raise ValueError(f"input index out of range 0..{m - 1}: {array.tolist()}")
        vector = np.zeros(m, dtype=bool)
        vector[array] = True
        if int(vector.sum()) != array.size:
            raise ValueError(f"input indices must be distinct: {array.tolist()}")
        return vector

    def step(self, inputs=(), learn=False):
        """Advance one time step; return the spikes produced in it (bool, length N).

        ``inputs``: bool vector of length M, or a sequence of distinct input indices.
        ``learn``: apply STDP weight updates (only if the core is built with ``stdp``).
        """
        return self._step(inputs, learn, None)

    def _step(self, inputs, learn, frozen):
        """One step. ``frozen`` is None, or the inverted mask when the caller guarantees the
        mask does not change (False: every mask bit is set, nothing to mask)."""
        n = self.N
        W = self.W
        buf = self._buf
        clip = _clip
        learn = learn and self._learning
        arriving = self._arriving
        arriving[:n] = self.s
        if self.M:
            inputs = self._input_vector(inputs)
            if self.poisson_on:
                # phase 0: every generator advances one xorshift32 step and draws
                p = self.pstate
                p ^= (p << 13) & 0xFFFFFFFF
                p ^= p >> 17
                p ^= (p << 5) & 0xFFFFFFFF
                inputs = inputs | ((p & 0xFFFF) < self.poisson_rate)
            arriving[n:] = inputs
            self.last_inputs[:] = inputs
        rows = arriving.nonzero()[0]
        if learn and self.sround:
            seed_a = xorshift32(self.sr_seed)        # the seed of phase A, then of phase C
            seed_c = xorshift32(seed_a)
            self.sr_seed = seed_c

        # -- phase A: delivery with the weights at the start of the step, then depression
        if rows.size:
            block = W[rows]
            acc = np.add.reduce(block, axis=0)
            self.synaptic_ops += rows.size * n
            if learn:
                if self.sround:
                    u = sr_uniform(seed_a, rows[:, None], np.arange(n)[None, :])
                    dep = stdp_magnitude(self.a_minus * buf[3 * n:4 * n][None, :],
                                         self.stdp_shift, u)
                else:
                    dep = (self.a_minus * buf[3 * n:4 * n]) >> self.stdp_shift
                new = block - dep
                clip(new, self.w_min, self.w_max, out=new)
                if frozen is None:
                    np.copyto(new, block, where=~self.mask[rows])
                elif frozen is not False:
                    np.copyto(new, block, where=frozen[rows])
                W[rows] = new
            if self.w_shift:
                acc <<= self.w_shift
        else:
            acc = 0

        # -- phase B: every decay at once, from the values at the start of the phase
        if self.adaptive:
            th = self.thr + buf[2 * n:3 * n]
            np.minimum(th, self.v_high, out=th)  # theta >= 0: only the upper bound can bite
        else:
            th = self.thr
        if self.wta and self.s.any():
            # winner-take-all: a spike in the last step resets every membrane first
            buf[n:2 * n] = self.v_reset
        v_old = buf[n:2 * n].copy()
        d = buf
        d *= self._alpha
        signed = d[:2 * n]             # only i and v can be negative
        signed += (signed >> 63) & self._round
        d >>= self.F
        i_new = d[:n]
        i_new += acc
        i_new += self.bias
        clip(i_new, self.i_low, self.i_high, out=i_new)
        v1 = d[n:2 * n]
        v1 += i_new
        clip(v1, self.v_min, self.v_high, out=v1)   # v_min: the floor, or the bottom of v
        r = self.r
        hold = r > 0                                 # refractory: v held, no spike
        spike = np.greater(v1 >= th, hold)           # (v1 >= th) and not hold
        if np.count_nonzero(hold):
            np.copyto(v1, v_old, where=hold)
            r -= hold
        any_spike = np.count_nonzero(spike)
        won = spike
        if any_spike and self.wta:
            # winner-take-all: every candidate is reset, only the largest margin v1 - th
            # (the lowest index on a tie) spikes
            won = np.zeros(n, dtype=bool)
            won[np.argmax(np.where(spike, v1 - th, -1))] = True
        if any_spike:
            mode = self._reset_mode
            if mode == "set":
                np.copyto(v1, self.v_reset, where=spike)
            else:
                reset = v1 - th           # >= 0 where spike: only the upper bound can bite
                np.minimum(reset, self.v_high, out=reset)
                if mode == "mixed":
                    np.copyto(reset, self.v_reset, where=self._reset_set)
                np.copyto(v1, reset, where=spike)
            spike = won
            np.copyto(r, self.refrac, where=spike)
            if self.adaptive:
                theta = d[2 * n:3 * n]
                np.add(theta, self._theta_inc, out=theta, where=spike)
            if self._y_inc:
                y = d[3 * n:4 * n]
                np.add(y, self._y_inc, out=y, where=spike)
        if self._x_inc and rows.size:
            x = d[4 * n:]
            np.add(x, self._x_inc, out=x, where=arriving)
        traces = d[2 * n:]
        np.minimum(traces, self._trace_top, out=traces)
        self.s = spike

        # -- phase C: potentiation of the columns of the neurons that spiked, with the traces
        # after phase B
        if learn and any_spike:
            cols = spike.nonzero()[0]
            block = W[:, cols]
            # the signed product a_plus * X_r - a_decay * W[r, j] (W after phase A)
            product = (self.a_plus * buf[4 * n:])[:, None]
            if self.a_decay:
                product = product - self.a_decay * block
            if self.sround:
                u = sr_uniform(seed_c, np.arange(n + self.M)[:, None], cols[None, :])
                pot = stdp_magnitude(product, self.stdp_shift, u)
            else:
                pot = product >> self.stdp_shift
            new = block + pot
            clip(new, self.w_min, self.w_max, out=new)
            if frozen is None:
                np.copyto(new, block, where=~self.mask[:, cols])
            elif frozen is not False:
                np.copyto(new, block, where=frozen[:, cols])
            W[:, cols] = new
        self.steps += 1
        return spike.copy()

    # -- many steps ---------------------------------------------------------------------------

    def run(self, input_raster, learn=False, probes=None):
        """Run one step per row of ``input_raster`` (bool, ``(T, M)``).

        Returns ``{'spikes': (T, N) bool}`` and, if ``probes`` (neuron indices) is given,
        ``'v'`` and ``'i'``: ``(T, len(probes))`` int64, the values after each step.
        """
        raster = np.asarray(input_raster, dtype=bool)
        if raster.ndim != 2 or raster.shape[1] != self.M:
            raise ValueError(f"input raster must have shape (T, {self.M}), not {raster.shape}")
        steps = raster.shape[0]
        spikes = np.zeros((steps, self.N), dtype=bool)
        result = {"spikes": spikes}
        if probes is not None:
            probes = np.asarray(probes, dtype=np.int64).reshape(-1)
            if probes.size and (probes.min() < 0 or probes.max() >= self.N):
                raise ValueError(f"probe index out of range 0..{self.N - 1}")
            v_trace = np.zeros((steps, probes.size), dtype=np.int64)
            i_trace = np.zeros((steps, probes.size), dtype=np.int64)
            result["v"], result["i"] = v_trace, i_trace
        step = self._step
        learn = bool(learn) and self._learning
        frozen = None  # the mask does not change during a run: invert it once
        if learn:
            frozen = False if self.mask.all() else ~self.mask
        for t in range(steps):
            spikes[t] = step(raster[t], learn, frozen)
            if probes is not None:
                v_trace[t] = self._views["v"][probes]
                i_trace[t] = self._views["i"][probes]
        return result

