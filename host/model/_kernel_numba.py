"""The numba code of the compiled twin kernel (imported by :mod:`.kernel` only when numba is
installed). Each step follows ``docs/model.md``; the layouts of the packed arrays are defined in
:mod:`.kernel`."""

import numba
import numpy as np

from .kernel import (_ADAPT, _AI, _AMINUS, _APLUS, _ATH, _AV, _AX, _AY, _BIAS, _F, _HTOP, _I,
                     _IHIGH, _ILOW, _PON, _PS, _R, _REFRAC, _RSUB, _SSHIFT, _STDP, _TH, _THINC,
                     _THR, _TTOP, _V, _VHIGH, _VLOW, _VRESET, _WMAX, _WMIN, _WSHIFT, _X, _XIN,
                     _XINC, _Y, _YINC)

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)

#: potentiation walks whole rows (vectorised) when at least N / DENSE_SPIKES neurons spiked,
#: else only the spike columns of each row
DENSE_SPIKES = 8
_inline = numba.njit(cache=True, inline="always")


@_inline
def dec(x, a, F, round_mask):
    # rounding toward zero: an arithmetic shift floors; adding 2^F - 1 to a negative
    # product first truncates
    p = x * a
    return (p + ((p >> 63) & round_mask)) >> F


@_inline
def sat(x, low, high):
    return low if x < low else (high if x > high else x)


@_inline
def stdp_change(product, shift, row, col):
    """The magnitude of one STDP update of synapse (row, col): ``product = rate * trace``
    (non-negative) shifted right, rounded down. (A rounding that depends on the synapse
    and the step takes its row, its column and a per-step seed here; the callers pass -1
    for the index the change does not depend on today.)"""
    return product >> shift


#: an STDP change beyond the whole 16-bit weight range clamps like this one: capping it lets
#: the weight updates run in 32-bit arithmetic (which vectorises better than 64-bit)
CHANGE_CAP = 1 << 17


@_inline
def capped(change):
    return np.int32(min(change, CHANGE_CAP))


@_inline
def row_change_is_zero(product, shift, row):
    """True when :func:`stdp_change` is 0 for every synapse of the row."""
    return (product >> shift) == 0


@_inline
def membrane_bounds(v, v_low, v_high):
    """v after integration lies in the signed range of v_bits."""
    return sat(v, v_low, v_high)


@_jit
def step_member(learn, raster_t, W, mask, row_ok, nstate, spike_bits, istate, nparam, gparam,
                rate, cfg, inputs, rows, cols, acc, change):
    """One step of one network; returns (arriving rows, spikes). ``row_ok[r]`` is true when
    every plastic weight of row ``r`` lies inside ``[w_min, w_max]``: potentiation skips such
    a row when its change is 0 (kept true by the kernel; set by the caller on loading)."""
    N = W.shape[1]
    R = W.shape[0]
    M = R - N
    F = cfg[_F]
    round_mask = (1 << F) - 1
    v_low, v_high = cfg[_VLOW], cfg[_VHIGH]
    i_low, i_high = cfg[_ILOW], cfg[_IHIGH]
    trace_top, theta_top = cfg[_TTOP], cfg[_HTOP]
    stdp = cfg[_STDP] != 0
    adaptive = cfg[_ADAPT] != 0
    learn = learn and stdp
    w_min, w_max = gparam[_WMIN], gparam[_WMAX]
    shift = gparam[_SSHIFT]

    # -- phase 0: Poisson generators, then the list of arriving rows
    E = 0
    for j in range(N):
        if spike_bits[j]:
            rows[E] = j
            E += 1
    poisson = gparam[_PON] != 0
    for k in range(M):
        hit = raster_t[k] != 0
        if poisson:
            p = istate[_PS, k]
            p ^= (p << 13) & 0xFFFFFFFF
            p ^= p >> 17
            p ^= (p << 5) & 0xFFFFFFFF
            istate[_PS, k] = p
            if (p & 0xFFFF) < rate[k]:
                hit = True
        inputs[k] = hit
        if hit:
            rows[E] = N + k
            E += 1

    # -- phase A: delivery with the weights at the start of the step, then depression
    for j in range(N):
        acc[j] = 0
    if learn:
        a_minus = gparam[_AMINUS]
        lo, hi = np.int32(w_min), np.int32(w_max)
        # the depression of column j (y before the step); it does not depend on the row, so
        # it is computed once per step (a rounding that did would move it into the row loop)
        for j in range(N):
            change[j] = capped(stdp_change(a_minus * nstate[_Y, j], shift, -1, j))
        for e in range(E):
            r = rows[e]
            w_row, m_row = W[r], mask[r]
            for j in range(N):
                w = np.int32(w_row[j])
                acc[j] += w
                # a select rather than a branch, in 32 bits, so that the loop vectorises
                new = min(max(w - change[j], lo), hi)
                w_row[j] = new if m_row[j] else w
            row_ok[r] = True                    # every plastic weight of the row is clamped
    else:
        for e in range(E):
            w_row = W[rows[e]]
            for j in range(N):
                acc[j] += w_row[j]

    # -- phase B: neuron update, every right-hand side from the start of the phase
    w_shift = gparam[_WSHIFT]
    alpha_x, alpha_y = gparam[_AX], gparam[_AY]
    x_inc, y_inc = gparam[_XINC], gparam[_YINC]
    S = 0
    for j in range(N):
        i_new = sat(dec(nstate[_I, j], nparam[_AI, j], F, round_mask)
                    + (acc[j] << w_shift) + nparam[_BIAS, j], i_low, i_high)
        nstate[_I, j] = i_new
        theta = nstate[_TH, j] if adaptive else 0
        spike = False
        r_left = nstate[_R, j]
        if r_left > 0:                  # refractory: v held, no spike
            nstate[_R, j] = r_left - 1
        else:
            v1 = membrane_bounds(dec(nstate[_V, j], nparam[_AV, j], F, round_mask) + i_new,
                                 v_low, v_high)
            th = sat(nparam[_THR, j] + theta, v_low, v_high)
            spike = v1 >= th
            if spike:
                nstate[_R, j] = nparam[_REFRAC, j]
                if nparam[_RSUB, j]:
                    v1 = sat(v1 - th, v_low, v_high)
                else:
                    v1 = nparam[_VRESET, j]
            else:
                nstate[_R, j] = 0
            nstate[_V, j] = v1
        if adaptive:
            nstate[_TH, j] = sat(dec(theta, nparam[_ATH, j], F, round_mask)
                                 + (nparam[_THINC, j] if spike else 0), 0, theta_top)
        else:
            nstate[_TH, j] = 0
        if stdp:
            nstate[_Y, j] = sat(dec(nstate[_Y, j], alpha_y, F, round_mask)
                                + (y_inc if spike else 0), 0, trace_top)
            nstate[_X, j] = sat(dec(nstate[_X, j], alpha_x, F, round_mask)
                                + (x_inc if spike_bits[j] else 0), 0, trace_top)
        else:
            nstate[_Y, j] = 0
            nstate[_X, j] = 0
        spike_bits[j] = spike
        if spike:
            cols[S] = j
            S += 1
    for k in range(M):
        if stdp:
            istate[_XIN, k] = sat(dec(istate[_XIN, k], alpha_x, F, round_mask)
                                  + (x_inc if inputs[k] else 0), 0, trace_top)
        else:
            istate[_XIN, k] = 0

    # -- phase C: potentiation of the columns that spiked, traces after phase B; the rows
    # are walked in storage order and only this step's spike columns are touched
    if learn and S > 0:
        a_plus = gparam[_APLUS]
        lo, hi = np.int32(w_min), np.int32(w_max)
        dense = S * DENSE_SPIKES >= N
        for r in range(R):
            product = a_plus * (nstate[_X, r] if r < N else istate[_XIN, r - N])
            if row_ok[r] and row_change_is_zero(product, shift, r):
                continue                        # adding 0 and clamping changes nothing
            d = capped(stdp_change(product, shift, r, -1))
            w_row, m_row = W[r], mask[r]
            if dense:
                # many spikes: the whole row with selects, so that the loop vectorises
                for j in range(N):
                    w = np.int32(w_row[j])
                    new = min(max(w + d, lo), hi)
                    w_row[j] = new if (spike_bits[j] & m_row[j]) else w
            else:
                for c in range(S):
                    j = cols[c]
                    w = np.int32(w_row[j])
                    new = min(max(w + d, lo), hi)
                    w_row[j] = new if m_row[j] else w
    return E, S


@_jit
def run_batch(W, mask, row_ok, nstate, spike_bits, istate, nparam, gparam, rate, cfg, raster,
              learn, probes, spikes_out, v_out, i_out, last_inputs, synops):
    """Advance B networks by T steps.

    W (B, N+M, N) int8 or int16 and mask (B, N+M, N) bool: weights and plasticity mask;
    row_ok (B, N+M) bool: see :func:`step_member`. W, mask, row_ok and nparam may have a
    leading size of 1: the members share them (only when no step learns);
    nstate (B, 6, N) int64 (rows NSTATE), spike_bits (B, N) bool (s), istate (B, 2, M)
    int64 (rows ISTATE); nparam (B, 9, N) int64 (rows NPARAM), gparam (B, 11) int64
    (GPARAM), rate (B, M) int64 Poisson rates, cfg (9,) int64 (CFG);
    raster (B, T, M) bool input spikes, learn (T,) bool;
    probes (P,) int64 neurons whose v and i are recorded; outputs: spikes_out (B, T, N)
    bool, v_out and i_out (B, T, P) int64, last_inputs (B, M) bool, synops (B,) int64
    (arriving rows times N, added to).
    """
    N = W.shape[2]
    R = W.shape[1]
    M = R - N
    T = raster.shape[1]
    P = probes.shape[0]
    inputs = np.zeros(M, dtype=np.bool_)
    rows = np.empty(R, dtype=np.int64)
    cols = np.empty(N, dtype=np.int64)
    acc = np.empty(N, dtype=np.int64)
    change = np.empty(N, dtype=np.int32)
    B = nstate.shape[0]
    shared_w = W.shape[0] == 1
    shared_p = nparam.shape[0] == 1
    for b in range(B):
        wb = 0 if shared_w else b
        pb = 0 if shared_p else b
        for t in range(T):
            E, S = step_member(learn[t], raster[b, t], W[wb], mask[wb], row_ok[wb], nstate[b],
                               spike_bits[b], istate[b], nparam[pb], gparam[b], rate[b],
                               cfg, inputs, rows, cols, acc, change)
            synops[b] += E * N
            for j in range(N):
                spikes_out[b, t, j] = spike_bits[b, j]
            for q in range(P):
                v_out[b, t, q] = nstate[b, _V, probes[q]]
                i_out[b, t, q] = nstate[b, _I, probes[q]]
        if T:
            for k in range(M):
                last_inputs[b, k] = inputs[k]
    return None
