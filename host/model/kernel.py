"""The compiled twin kernel: ``docs/model.md`` as loops compiled by numba, for a batch of networks.

One function, :func:`run_kernel`, advances ``B`` independent networks of one configuration by
``T`` steps. It is bit-exact with the numpy :class:`~spikeforge.host.model.twin.Twin` (the
readable reference, and the fallback when numba is not installed) and so with the RTL core;
``tests/host/test_kernel.py`` holds the two equal on every state word of every step.

Why loops and this storage:

* a step's work is a few rows of weights to deliver (phase A), a neuron update (phase B) and,
  with learning, the columns of the neurons that spiked (phase C). Vectorised numpy pays a
  Python call and a temporary array for each of these; compiled loops pay neither;
* weights are kept in the narrowest type that holds them, ``int8`` (``weight_bits <= 8``) or
  ``int16``: an eighth or a quarter of the bytes of ``int64``. Phase A reads each arriving row
  whole (accumulation and depression in one pass; the depression touches only the columns
  whose change is not 0 when the row is known to lie inside the weight bounds). Phase C goes
  down each spike column through the rows whose change is not 0 (or whose weights may lie
  outside the bounds), or along whole rows with vectorised selects when many neurons spiked;
  no column is ever gathered into a temporary. Keeping a second, transposed copy of the
  weights for phase C was measured and rejected (N=1024, 20 spike columns, 26 arriving rows:
  potentiation 78 us with the mirror writes against 53 us without; depression 53 us against
  39 us): every learning update must then be written twice, one of the writes strided;
* state, parameters and global parameters are packed into a few arrays with a leading batch
  axis, so one call takes a dozen arguments whatever ``B`` is.

The compiled code is cached in ``<cache root>/numba`` (see :func:`spikeforge.paths.cache_root`;
on Linux ``~/.cache/spikeforge/numba``) unless ``NUMBA_CACHE_DIR`` is set: the first use on a machine
compiles for a few seconds (``scripts/setup`` does it), later processes load it in about half
a second.

The STDP change of a synapse is computed in one place, ``stdp_change`` in
:mod:`._kernel_numba` (``(rate * trace) >> stdp_shift``, or with stochastic rounding rounded
up by the synapse's row, column and the phase seed; signed in the potentiation with
``weight_decay``), and the membrane's bounds after integration in ``membrane_bounds`` (the
signed range, and the floor ``v_min``).
"""

import os

__all__ = ["available", "unavailable_reason", "run_kernel", "NSTATE", "NPARAM", "GPARAM",
           "CFG", "ISTATE"]

# -- packed layouts ------------------------------------------------------------------------------
#: rows of the per-neuron state array ``nstate`` (B, len(NSTATE), N), int64
NSTATE = ("v", "i", "r", "theta", "x", "y")
#: rows of the per-input state array ``istate`` (B, len(ISTATE), M), int64
ISTATE = ("xin", "pstate")
#: rows of the per-neuron parameter array ``nparam`` (B, len(NPARAM), N), int64
NPARAM = ("thr", "v_reset", "reset_sub", "refrac", "alpha_v", "alpha_i", "bias", "theta_inc",
          "alpha_th")
#: columns of the global parameter array ``gparam`` (B, len(GPARAM)), int64
GPARAM = ("w_shift", "w_min", "w_max", "a_plus", "a_minus", "stdp_shift", "x_inc", "y_inc",
          "alpha_x", "alpha_y", "poisson_on", "v_min", "a_decay", "wta", "sr_seed")
#: entries of the configuration array ``cfg``, int64 (one configuration for the whole batch)
CFG = ("decay_bits", "v_low", "v_high", "i_low", "i_high", "trace_top", "theta_top",
       "stdp", "adaptive", "sround")

_V, _I, _R, _TH, _X, _Y = range(6)
_XIN, _PS = range(2)
_THR, _VRESET, _RSUB, _REFRAC, _AV, _AI, _BIAS, _THINC, _ATH = range(9)
(_WSHIFT, _WMIN, _WMAX, _APLUS, _AMINUS, _SSHIFT, _XINC, _YINC, _AX, _AY,
 _PON, _VMIN, _ADECAY, _WTA, _SEED) = range(15)
(_F, _VLOW, _VHIGH, _ILOW, _IHIGH, _TTOP, _HTOP, _STDP, _ADAPT, _SROUND) = range(10)

_KERNEL = None
_REASON = None


def _cache_root():
    from spikeforge.paths import cache_root

    return os.path.join(cache_root(), "numba")


def _load():
    """Import numba and define the kernel (compiled at its first call, then cached on disk).
    Returns the kernel, or None with the reason in ``_REASON``."""
    global _KERNEL, _REASON
    if _KERNEL is not None or _REASON is not None:
        return _KERNEL
    if os.environ.get("SPIKEFORGE_KERNEL", "").lower() == "numpy":
        _REASON = "SPIKEFORGE_KERNEL=numpy asks for the numpy twin"
        return None
    if not os.environ.get("NUMBA_CACHE_DIR"):
        # read by numba when it is imported
        os.environ["NUMBA_CACHE_DIR"] = _cache_root()
    try:
        import numba
    except ImportError:
        _REASON = ("numba is not installed (pip install 'spikeforge[fast]' or pip install "
                   "numba); the numpy twin runs instead")
        return None
    except Exception as error:  # e.g. a numba release that does not support this numpy
        _REASON = (f"numba fails to import ({type(error).__name__}: {error}); the numpy twin "
                   f"runs instead")
        return None
    from ._kernel_numba import run_batch

    _KERNEL = run_batch
    return _KERNEL


def cache_folder():
    """Where numba keeps the compiled kernel."""
    return os.environ.get("NUMBA_CACHE_DIR") or _cache_root()


def available():
    """True when the compiled kernel can run (numba imports)."""
    return _load() is not None


def unavailable_reason():
    """Why the compiled kernel cannot run ('' when it can)."""
    _load()
    return _REASON or ""


def run_kernel(*args):
    """Run the compiled kernel: ``run_batch`` of :mod:`._kernel_numba` (its docstring gives
    the arguments)."""
    kernel = _load()
    if kernel is None:
        raise RuntimeError(f"the compiled twin kernel is unavailable: {_REASON}")
    return kernel(*args)
