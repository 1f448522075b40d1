"""The numba code of the compiled twin kernel (imported by :mod:`.kernel` only when numba is
installed). Each step follows ``docs/model.md``; the layouts of the packed arrays are defined in
:mod:`.kernel`."""

import numba
import numpy as np

from .kernel import (_ADAPT, _ADECAY, _AI, _AMINUS, _APLUS, _ATH, _AV, _AX, _AY, _BIAS, _F,
                     _HTOP, _I, _IHIGH, _ILOW, _PON, _PS, _R, _REFRAC, _RSUB, _SEED, _SROUND,
                     _SSHIFT, _STDP, _TH, _THINC, _THR, _TTOP, _V, _VHIGH, _VLOW, _VMIN, _VRESET,
                     _WMAX, _WMIN, _WSHIFT, _WTA, _X, _XIN, _XINC, _Y, _YINC)

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)
_inline = numba.njit(cache=True, inline="always")

#: learning updates walk whole rows (vectorised selects) when at least N / DENSE_SPIKES
#: columns can change (neurons spiked, for potentiation; post traces give a change, for
#: depression), else only those columns
DENSE_SPIKES = 8


@_inline
def dec(x, a, F, round_mask):
    # rounding toward zero: an arithmetic shift floors; adding 2^F - 1 to a negative
    # product first truncates. Every decaying value fits in 32 bits and every factor in 16:
    # telling the compiler so lets it use the 32 x 32 -> 64-bit vector multiply
    p = np.int64(np.int32(x)) * np.int64(np.int32(a))
    return (p + ((p >> 63) & round_mask)) >> F


@_inline
def sat(x, low, high):
    return min(max(x, low), high)


@_inline
def xorshift32(x):
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    return x ^ ((x << 5) & 0xFFFFFFFF)


@_inline
def stdp_change(product, shift, row, col, seed, sround):
    """The magnitude of one STDP update of synapse (row, col): ``product = rate * trace``
    (non-negative; signed in the potentiation with ``a_decay``) shifted right, rounded down
    (an arithmetic shift); with stochastic rounding (``sround``)
    rounded up when the synapse's 16-bit uniform value (two xorshift32 rounds of
    ``seed ^ (row << 11 | col)``, top bits) lies below the 16 bits the shift drops. (Without
    it the callers pass -1 for the index the change does not depend on.)"""
    if not sround:
        return product >> shift
    scaled = (product << 16) >> shift
    u = xorshift32(xorshift32(seed ^ ((row << 11) | col))) >> 16
    return (scaled >> 16) + (1 if (scaled & 0xFFFF) > u else 0)


#: an STDP change beyond the whole 16-bit weight range clamps like this one: capping it lets
#: the weight updates run in 32-bit arithmetic (which vectorises better than 64-bit)
CHANGE_CAP = 1 << 17


@_inline
def capped(change):
    return np.int32(min(change, CHANGE_CAP))


@_inline
def capped_signed(change):
    """:func:`capped` for a change of either sign (the potentiation with ``a_decay``)."""
    return np.int32(max(min(change, CHANGE_CAP), -CHANGE_CAP))


@_inline
def row_change_is_zero(product, shift, row, sround):
    """True when :func:`stdp_change` is 0 for every synapse of the row (potentiation)."""
    if sround:
        return ((product << 16) >> shift) == 0     # nothing to round up either
    return (product >> shift) == 0


@_inline
def column_change_is_zero(product, shift, col):
    """True when :func:`stdp_change` is 0 for every synapse of the column (depression)."""
    return (product >> shift) == 0


@_inline
def membrane_bounds(v, v_low, v_high, v_min):
    """v after integration lies in the signed range of v_bits, and not below the floor
    ``v_min`` (the bottom of the range when no floor is built)."""
    return max(sat(v, v_low, v_high), v_min)


@_jit
def step_member(learn, raster_t, W, mask, row_ok, nstate, spike_bits, istate, nparam, gparam,
                rate, cfg, inputs, rows, cols, acc, change, active, row_change):
    """One step of one network; returns (arriving rows, spikes). ``row_ok[r]`` is true when
    every plastic weight of row ``r`` lies inside ``[w_min, w_max]``: the learning updates
    skip the weights of such a row whose change is 0 (kept by the kernel; set by the caller
    when it loads weights).
    ``inputs, rows, cols, acc, change, active, row_change`` are scratch arrays."""
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
    sround = cfg[_SROUND] != 0
    seed_a = np.int64(0)
    seed_c = np.int64(0)
    if learn and sround:
        # the seeds of phases A and C: two xorshift32 steps per learning step
        seed_a = xorshift32(gparam[_SEED])
        seed_c = xorshift32(seed_a)
        gparam[_SEED] = seed_c

    # -- phase 0: Poisson generators, then the list of arriving rows
    E = 0
    for j in range(N):
        rows[E] = j
        E += spike_bits[j]
    spiked_before = E > 0                   # some neuron spiked in the last step
    if gparam[_PON] != 0:
        p_s = istate[_PS]
        for k in range(M):
            p = p_s[k]
            p ^= (p << 13) & 0xFFFFFFFF
            p ^= p >> 17
            p ^= (p << 5) & 0xFFFFFFFF
            p_s[k] = p
            inputs[k] = raster_t[k] | ((p & 0xFFFF) < rate[k])
    else:
        for k in range(M):
            inputs[k] = raster_t[k]
    for k in range(M):
        rows[E] = N + k
        E += inputs[k]

    # -- phase A: delivery with the weights at the start of the step, then depression
    for j in range(N):
        acc[j] = 0
    if learn and sround:
        # the depression depends on the row: one pass over each arriving row
        a_minus = gparam[_AMINUS]
        lo, hi = np.int32(w_min), np.int32(w_max)
        y_s = nstate[_Y]
        for e in range(E):
            r = rows[e]
            w_row, m_row = W[r], mask[r]
            for j in range(N):
                w = np.int32(w_row[j])
                acc[j] += w
                if m_row[j]:
                    d = capped(stdp_change(a_minus * y_s[j], shift, r, j, seed_a, True))
                    w_row[j] = min(max(w - d, lo), hi)
            row_ok[r] = True
    elif learn:
        a_minus = gparam[_AMINUS]
        lo, hi = np.int32(w_min), np.int32(w_max)
        # the depression of column j (y before the step); it does not depend on the row, so
        # it is computed once per step (a rounding that did would move it into the row loop),
        # with the list of the D columns whose change is not 0
        D = 0
        for j in range(N):
            change[j] = capped(stdp_change(a_minus * nstate[_Y, j], shift, -1, j, seed_a,
                                           False))
            active[D] = j
            D += not column_change_is_zero(a_minus * nstate[_Y, j], shift, j)
        few = D * DENSE_SPIKES < N
        for e in range(E):
            r = rows[e]
            w_row, m_row = W[r], mask[r]
            if few and row_ok[r]:
                # the row's plastic weights lie in the bounds: only the D columns can change
                for j in range(N):
                    acc[j] += np.int32(w_row[j])
                for q in range(D):
                    j = active[q]
                    w = np.int32(w_row[j])
                    new = min(max(w - change[j], lo), hi)
                    w_row[j] = new if m_row[j] else w
            else:
                for j in range(N):
                    w = np.int32(w_row[j])
                    acc[j] += w
                    # a select rather than a branch, in 32 bits, so that the loop vectorises
                    new = min(max(w - change[j], lo), hi)
                    w_row[j] = new if m_row[j] else w
                row_ok[r] = True                # every plastic weight of the row is clamped
    else:
        for e in range(E):
            w_row = W[rows[e]]
            for j in range(N):
                acc[j] += np.int32(w_row[j])

    # -- phase B: neuron update, every right-hand side from the start of the phase. Written
    # with selects and no branches so that the loops vectorise; without STDP the trace
    # factors and increments are 0, which keeps the traces at 0
    w_shift = gparam[_WSHIFT]
    on = 1 if stdp else 0
    alpha_x, alpha_y = gparam[_AX] * on, gparam[_AY] * on
    x_inc, y_inc = gparam[_XINC] * on, gparam[_YINC] * on
    adapt = 1 if adaptive else 0
    i_s, v_s, r_s = nstate[_I], nstate[_V], nstate[_R]
    th_s, x_s, y_s = nstate[_TH], nstate[_X], nstate[_Y]
    thr, v_reset = nparam[_THR], nparam[_VRESET]
    reset_sub, refrac = nparam[_RSUB], nparam[_REFRAC]
    alpha_v, alpha_i, bias = nparam[_AV], nparam[_AI], nparam[_BIAS]
    theta_inc, alpha_th = nparam[_THINC], nparam[_ATH]
    v_min = gparam[_VMIN]
    # (one simple loop per quantity vectorises better than one loop doing everything)
    for j in range(N):
        i_s[j] = sat(dec(i_s[j], alpha_i[j], F, round_mask) + (np.int64(acc[j]) << w_shift)
                     + bias[j], i_low, i_high)
    for j in range(N):                      # x counts the spike of last step, arriving now
        x_s[j] = sat(dec(x_s[j], alpha_x, F, round_mask) + (x_inc if spike_bits[j] else 0),
                     0, trace_top)
    if gparam[_WTA] != 0:
        # winner-take-all: a spike in the last step resets every membrane to v_reset first;
        # every candidate is reset, and only the largest margin v1 - th (the lowest index on
        # a tie) spikes
        winner = -1
        best = np.int64(-1)
        for j in range(N):
            theta = th_s[j] * adapt
            th = sat(thr[j] + theta, v_low, v_high)
            v0 = v_reset[j] if spiked_before else v_s[j]
            v1 = membrane_bounds(dec(v0, alpha_v[j], F, round_mask) + i_s[j], v_low, v_high,
                                 v_min)
            r_left = r_s[j]
            free = r_left <= 0
            spike = free & (v1 >= th)
            reset = sat(v1 - th, v_low, v_high) if reset_sub[j] != 0 else v_reset[j]
            v_s[j] = (reset if spike else v1) if free else v0
            r_s[j] = 0 if free else r_left - 1
            spike_bits[j] = False
            if spike and v1 - th > best:
                best = v1 - th
                winner = j
        if winner >= 0:
            spike_bits[winner] = True
            r_s[winner] = refrac[winner]
    else:
        for j in range(N):
            theta = th_s[j] * adapt
            th = sat(thr[j] + theta, v_low, v_high)
            v1 = membrane_bounds(dec(v_s[j], alpha_v[j], F, round_mask) + i_s[j], v_low,
                                 v_high, v_min)
            r_left = r_s[j]
            free = r_left <= 0              # refractory (r > 0): v held, no spike
            spike = free & (v1 >= th)
            reset = sat(v1 - th, v_low, v_high) if reset_sub[j] != 0 else v_reset[j]
            v_s[j] = (reset if spike else v1) if free else v_s[j]
            r_s[j] = (refrac[j] if spike else 0) if free else r_left - 1
            spike_bits[j] = spike
    if adaptive:
        for j in range(N):
            th_s[j] = sat(dec(th_s[j], alpha_th[j], F, round_mask)
                          + (theta_inc[j] if spike_bits[j] else 0), 0, theta_top)
    else:
        for j in range(N):
            th_s[j] = 0
    for j in range(N):
        y_s[j] = sat(dec(y_s[j], alpha_y, F, round_mask) + (y_inc if spike_bits[j] else 0),
                     0, trace_top)
    S = 0
    for j in range(N):
        cols[S] = j
        S += spike_bits[j]
    xin_s = istate[_XIN]
    for k in range(M):
        xin_s[k] = sat(dec(xin_s[k], alpha_x, F, round_mask) + (x_inc if inputs[k] else 0),
                       0, trace_top)

    # -- phase C: potentiation of the columns that spiked, with the traces after phase B;
    # only the rows that can change and this step's spike columns are touched
    a_decay = gparam[_ADECAY]
    if learn and S > 0 and a_decay != 0:
        # the weight-dependent term: every plastic weight of a spike column changes (a row
        # with X = 0 too), by (a_plus * X - a_decay * W) >> shift with W after phase A
        a_plus = gparam[_APLUS]
        lo, hi = np.int32(w_min), np.int32(w_max)
        x_in = istate[_XIN]
        if S * DENSE_SPIKES >= N:
            # many spikes: whole rows with selects
            for r in range(R):
                w_row, m_row = W[r], mask[r]
                pre = a_plus * (x_s[r] if r < N else x_in[r - N])
                for j in range(N):
                    w = np.int32(w_row[j])
                    d = capped_signed(stdp_change(pre - a_decay * np.int64(w), shift, r, j,
                                                  seed_c, sround))
                    new = min(max(w + d, lo), hi)
                    w_row[j] = new if (spike_bits[j] & m_row[j]) else w
        else:
            for c in range(S):
                j = cols[c]
                for r in range(R):
                    if mask[r, j]:
                        w = np.int32(W[r, j])
                        pre = a_plus * (x_s[r] if r < N else x_in[r - N])
                        d = capped_signed(stdp_change(pre - a_decay * np.int64(w), shift, r,
                                                      j, seed_c, sround))
                        W[r, j] = min(max(w + d, lo), hi)
    elif learn and S > 0:
        a_plus = gparam[_APLUS]
        lo, hi = np.int32(w_min), np.int32(w_max)
        # the rows this step can change: a change that is not 0, or a plastic weight that may
        # lie outside [w_min, w_max] (adding 0 and clamping changes nothing otherwise)
        x_in = istate[_XIN]
        Q = 0
        for r in range(R):
            # the pre trace after phase B: of the neuron (rows 0..N-1) or of the input
            product = a_plus * (x_s[r] if r < N else x_in[r - N])
            active[Q] = r
            row_change[Q] = capped(stdp_change(product, shift, r, -1, seed_c, False))
            Q += not (row_ok[r] and row_change_is_zero(product, shift, r, sround))
        if sround:
            # the change depends on the column: down each spike column through the rows
            for c in range(S):
                j = cols[c]
                for q in range(Q):
                    r = active[q]
                    if mask[r, j]:
                        product = a_plus * (x_s[r] if r < N else x_in[r - N])
                        d = capped(stdp_change(product, shift, r, j, seed_c, True))
                        W[r, j] = min(max(np.int32(W[r, j]) + d, lo), hi)
        elif S * DENSE_SPIKES >= N:
            # many spikes: whole rows with selects, so that the loop vectorises
            for q in range(Q):
                w_row, m_row, d = W[active[q]], mask[active[q]], row_change[q]
                for j in range(N):
                    w = np.int32(w_row[j])
                    new = min(max(w + d, lo), hi)
                    w_row[j] = new if (spike_bits[j] & m_row[j]) else w
        else:
            # few spikes: down each spike column through the rows that change
            for c in range(S):
                j = cols[c]
                for q in range(Q):
                    r = active[q]
                    w = np.int32(W[r, j])
                    new = min(max(w + row_change[q], lo), hi)
                    W[r, j] = new if mask[r, j] else w
    return E, S


@_jit
def run_batch(W, mask, row_ok, nstate, spike_bits, istate, nparam, gparam, rate, cfg, raster,
              learn, probes, spikes_out, v_out, i_out, last_inputs, synops):
    """Advance B networks by T steps.

    W (B, N+M, N) int8 or int16 and mask (B, N+M, N) bool: weights and plasticity mask;
    row_ok (B, N+M) bool: see :func:`step_member`. W, mask, row_ok and nparam may have a
    leading size of 1: the members share them (only when no step learns);
    nstate (B, 6, N) int64 (rows NSTATE), spike_bits (B, N) bool (s), istate (B, 2, M)
    int64 (rows ISTATE); nparam (B, 9, N) int64 (rows NPARAM), gparam (B, 14) int64
    (GPARAM; its sr_seed column is advanced by the learning steps), rate (B, M) int64
    Poisson rates, cfg (10,) int64 (CFG);
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
    # the accumulator is at most acc_bits = weight_bits + ceil_log2(N+M+1) + 1 <= 28 bits wide
    acc = np.empty(N, dtype=np.int32)
    change = np.empty(N, dtype=np.int32)
    active = np.empty(R, dtype=np.int64)
    row_change = np.empty(R, dtype=np.int32)
    B = nstate.shape[0]
    shared_w = W.shape[0] == 1
    shared_p = nparam.shape[0] == 1
    for b in range(B):
        wb = 0 if shared_w else b
        pb = 0 if shared_p else b
        # the member's views, made once: a view made per step costs reference counting
        W_b, mask_b, row_ok_b = W[wb], mask[wb], row_ok[wb]
        nstate_b, spikes_b, istate_b = nstate[b], spike_bits[b], istate[b]
        nparam_b, gparam_b, rate_b, raster_b = nparam[pb], gparam[b], rate[b], raster[b]
        out_b = spikes_out[b]
        for t in range(T):
            E, S = step_member(learn[t], raster_b[t], W_b, mask_b, row_ok_b, nstate_b,
                               spikes_b, istate_b, nparam_b, gparam_b, rate_b,
                               cfg, inputs, rows, cols, acc, change, active, row_change)
            synops[b] += E * N
            out_t = out_b[t]
            for j in range(N):
                out_t[j] = spikes_b[j]
            for q in range(P):
                v_out[b, t, q] = nstate_b[_V, probes[q]]
                i_out[b, t, q] = nstate_b[_I, probes[q]]
        if T:
            for k in range(M):
                last_inputs[b, k] = inputs[k]
    return None
