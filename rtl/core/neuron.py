"""Phase B: the neuron update, docs/model.md "Phase B".

One neuron (and one input trace) per clock: decay, integrate, fire, reset, traces, in a pipeline
of four stages. Neurons that fire are appended to the spike list, which is the event list of the
next step (and the list of columns phase C walks).

With ``winner_take_all`` built and the global word ``wta`` set, the pass reads ``v_reset`` in
place of ``v`` when the last step had a spike (the global reset), writes every neuron as if it
did not spike (a candidate with its reset ``v``), and keeps the candidate with the largest margin
``v1 - th`` (the first one on a tie), whose index it writes to entry 0 of the spike list; one
write after the pass, in the first cycle of the next state, gives the winner its spiking state
word and post trace. It costs no cycle.
"""

from amaranth.hdl import Array, Cat, Mux, Signal, signed, unsigned
from amaranth.lib import data

from ...config import ceil_log2
from ..regions import Region, region_layout
from .arith import high, low, sat, select, write_banked

__all__ = ["build", "states"]


def build(m, k):
    """The four pipeline stages of phase B; :func:`states` issues one neuron per clock.

    Uses the state, parameter, accumulator, trace and list memory ports, ``n_spk``, ``n_rec``
    and ``gl``; adds ``b_index``, ``b_drain``, the stage-1 registers, ``b4_spike`` and, with
    ``winner_take_all``, ``b_commit``.
    """
    c = k.config
    N, M, L, B = c.neurons, c.inputs, c.lanes, c.banks
    lg_lanes, lg_banks = ceil_log2(L), ceil_log2(B)
    stdp, adaptive, wta = c.stdp, c.adaptive_threshold, c.winner_take_all
    trace_shape = unsigned(c.trace_bits)
    param_layout = region_layout(c, Region.PARAM)
    state_layout = region_layout(c, Region.STATE)

    # Four stages, one neuron (and one input trace) per clock:
    #   b1  RAM outputs -> every decay product, acc << w_shift, th = sat(thr + theta)
    #   b2  rounding toward zero, the current sum i' (saturated); pre traces x', xin' written
    #   b3  membrane sum v1 (saturated)
    #   b4  threshold compare, reset, refractory count; state, post trace and spike list
    #       written
    # Stage k writes element n while the reads of n+1..n+k-1 are in flight: every memory is
    # addressed by neuron (or input), so the addresses differ.
    F = c.decay_bits
    vb_shape = signed(c.v_bits)
    k.b_index = Signal(range(max(N, M) + 1))
    k.b_drain = Signal(range(4))
    k.b1_valid = b1_valid = Signal()
    k.b1_index = b1_index = Signal(range(max(N, M) + 1))
    k.b1_lane = b1_lane = Signal(range(L))
    # the pre-trace bank of the neuron and input in stage 1
    k.b1_xbank = b1_xbank = Signal(range(B))

    b2_valid, b3_valid, b4_valid = Signal(), Signal(), Signal()
    b2_index = Signal(range(max(N, M) + 1))
    b3_index = Signal(range(max(N, M) + 1))
    b4_index = Signal(range(max(N, M) + 1))
    b2_lane, b3_lane, b4_lane = Signal(range(L)), Signal(range(L)), Signal(range(L))
    b2_xbank = Signal(range(B))
    # the neuron in stage 4 fires (with winner-take-all: is a candidate, so that the step has
    # a spike)
    k.b4_spike = b4_spike = Signal()

    st = k.s_rp.data
    # the early fields are valid in stage 1, the late ones in stage 3
    late = k.pl_rp.data
    v_start = st.v
    if wta:
        # winner-take-all: the late parameters are read with the early ones, so that v_reset
        # can replace v in stage 1 (the global reset), and carried to stage 3
        k.wta_on = wta_on = Signal()
        reset_all = Signal()
        m.d.comb += [wta_on.eq(k.gl.wta), reset_all.eq(wta_on & (k.n_rec != 0))]
        pr1 = data.View(param_layout, Cat(k.pl_rp.data, k.p_rp.data))
        v_start = Mux(reset_all, pr1.v_reset, st.v)
        b2_late = Signal.like(k.pl_rp.data)
        b3_late = Signal.like(k.pl_rp.data)
        m.d.sync += [b2_late.eq(k.pl_rp.data), b3_late.eq(b2_late)]
        late = b3_late
    pr = data.View(param_layout, Cat(late, k.p_rp.data))
    acc_value = Array(acc_rp.data for acc_rp, _ in k.acc)[b1_lane]
    b1_bank = b1_index[lg_lanes:] if lg_lanes else b1_index
    # theta (read in stage 1) is carried to stage 3, where the threshold thr + theta is
    # formed from the late parameters
    b2_theta = Signal(c.theta_bits if adaptive else 0)
    b3_theta = Signal(c.theta_bits if adaptive else 0)
    if adaptive:
        m.d.sync += [b2_theta.eq(st.theta), b3_theta.eq(b2_theta)]

    # stage 1 -> 2 registers
    prod_i = st.i * pr.alpha_i
    prod_v = v_start * pr.alpha_v
    acc_sh = acc_value << k.gl.w_shift
    b2_prod_i = Signal(prod_i.shape(), reset_less=True)
    b2_prod_v = Signal(prod_v.shape(), reset_less=True)
    b2_acc_sh = Signal(acc_sh.shape())
    b2_bias = Signal.like(pr.bias)
    b2_v = Signal(vb_shape)
    b2_r = Signal(c.refrac_bits)
    m.d.sync += [
        b2_valid.eq(b1_valid), b2_index.eq(b1_index), b2_lane.eq(b1_lane),
        b2_xbank.eq(b1_xbank),
        b2_prod_i.eq(prod_i), b2_prod_v.eq(prod_v), b2_acc_sh.eq(acc_sh),
        b2_bias.eq(pr.bias), b2_v.eq(v_start), b2_r.eq(st.r),
    ]
    if adaptive:
        prod_th = st.theta * pr.alpha_th
        b2_prod_th = Signal(prod_th.shape(), reset_less=True)
        b2_theta_inc = Signal(c.theta_bits)
        m.d.sync += [b2_prod_th.eq(prod_th), b2_theta_inc.eq(pr.theta_inc)]
    if stdp:
        y_old = Array(y_rp.data for y_rp, _ in k.ytr)[b1_lane]
        prod_y = y_old * k.gl.alpha_y
        prod_x = select(k.xtr, b1_xbank) * k.gl.alpha_x
        b2_prod_y = Signal(prod_y.shape(), reset_less=True)
        b2_prod_x = Signal(prod_x.shape(), reset_less=True)
        b2_s = Signal()
        m.d.sync += [b2_prod_y.eq(prod_y), b2_prod_x.eq(prod_x), b2_s.eq(st.s)]
        if M:
            prod_xi = select(k.xitr, b1_xbank) * k.gl.alpha_x
            b2_prod_xi = Signal(prod_xi.shape(), reset_less=True)
            b2_inm = Signal()
            m.d.sync += [b2_prod_xi.eq(prod_xi), b2_inm.eq(k.inm_rp.data)]

    with m.If(b1_valid):
        with m.If(b1_index < N):
            # the accumulator is consumed: clear it for the next step
            for lane, (_, acc_wp) in enumerate(k.acc):
                m.d.comb += [acc_wp.addr.eq(b1_bank), acc_wp.data.eq(0),
                             acc_wp.en.eq(b1_lane == lane)]
        if M:
            with m.If(b1_index < M):
                m.d.comb += [k.inm_wp.addr.eq(b1_index), k.inm_wp.data.eq(0),
                             k.inm_wp.en.eq(1)]

    # stage 2 -> 3 registers
    def rtz(product):
        """``dec`` from its product: floor, plus one for a negative product with a
        non-zero fraction (rounding toward zero)."""
        return (product >> F) + ((product < 0) & (product[:F] != 0))

    i_sum = rtz(b2_prod_i) + b2_acc_sh + b2_bias
    b3_i = Signal(signed(c.i_bits))
    # a refractory neuron keeps v, another one integrates dec(v): one register holds
    # whichever stage 3 needs
    b3_v = Signal(vb_shape)
    b3_r = Signal(c.refrac_bits)
    m.d.sync += [
        b3_valid.eq(b2_valid), b3_index.eq(b2_index), b3_lane.eq(b2_lane),
        b3_i.eq(sat(i_sum, signed(c.i_bits))),
        b3_v.eq(Mux(b2_r != 0, b2_v, rtz(b2_prod_v))),   # |dec(v)| <= |v|: fits
        b3_r.eq(b2_r),
    ]
    # the decayed theta and y with and without this step's increment (chosen in stage 4)
    if adaptive:
        dec_th = b2_prod_th >> F
        b3_theta_no = Signal(c.theta_bits)
        b3_theta_yes = Signal(c.theta_bits)
        m.d.sync += [b3_theta_no.eq(dec_th),
                     b3_theta_yes.eq(sat(dec_th + b2_theta_inc, unsigned(c.theta_bits)))]
    if stdp:
        dec_y = b2_prod_y >> F
        b3_y_no = Signal(trace_shape)
        b3_y_yes = Signal(trace_shape)
        m.d.sync += [b3_y_no.eq(dec_y), b3_y_yes.eq(sat(dec_y + k.gl.y_inc, trace_shape))]
    with m.If(b2_valid):
        if not wta:
            m.d.comb += k.pl_rp.addr.eq(b2_index)      # late parameters, used in stage 3
        if stdp:
            with m.If(b2_index < N):
                x_new = sat((b2_prod_x >> F) + Mux(b2_s, k.gl.x_inc, 0), trace_shape)
                write_banked(m, k.xtr, b2_index, lg_banks, x_new)
            if M:
                with m.If(b2_index < M):
                    xi_new = sat((b2_prod_xi >> F) + Mux(b2_inm, k.gl.x_inc, 0),
                                 trace_shape)
                    write_banked(m, k.xitr, b2_index, lg_banks, xi_new)

    # stage 3 -> 4 registers
    refractory3 = b3_r != 0
    b4_i = Signal(signed(c.i_bits))
    b4_v1 = Signal(vb_shape)
    b4_th = Signal(vb_shape)
    b4_r = Signal(c.refrac_bits)
    b4_refrac = Signal(c.refrac_bits)
    b4_reset_sub = Signal()
    b4_v_reset = Signal(vb_shape)
    v_integrated = sat(b3_v + b3_i, vb_shape)
    if c.v_floor:
        # the membrane floor bounds v after integration
        v_integrated = Mux(v_integrated.as_signed() < k.gl.v_min, k.gl.v_min, v_integrated)
    m.d.sync += [
        b4_valid.eq(b3_valid), b4_index.eq(b3_index), b4_lane.eq(b3_lane),
        b4_i.eq(b3_i),
        b4_v1.eq(Mux(refractory3, b3_v, v_integrated)),
        # the late parameters of the neuron in stage 3 arrive now
        b4_th.eq(sat(pr.thr + b3_theta, vb_shape)), b4_r.eq(b3_r),
        b4_refrac.eq(pr.refrac), b4_reset_sub.eq(pr.reset_sub), b4_v_reset.eq(pr.v_reset),
    ]
    if adaptive:
        b4_theta_no = Signal(c.theta_bits)
        b4_theta_yes = Signal(c.theta_bits)
        m.d.sync += [b4_theta_no.eq(b3_theta_no), b4_theta_yes.eq(b3_theta_yes)]
    if stdp:
        b4_y_no = Signal(trace_shape)
        b4_y_yes = Signal(trace_shape)
        m.d.sync += [b4_y_no.eq(b3_y_no), b4_y_yes.eq(b3_y_yes)]

    if wta:
        # the best candidate of the pass: its margin, index, spiking state word and post trace
        have = Signal()
        best_margin = Signal(c.v_bits)
        best_index = Signal(range(N))
        best_state = Signal(state_layout)
        k.b_commit = Signal()
        m.d.sync += k.b_commit.eq(0)
        if stdp:
            best_y = Signal(trace_shape)
            best_lane = Signal(range(L))

    # stage 4: fire, reset, write
    with m.If(b4_valid):
        b4_bank = b4_index[lg_lanes:] if lg_lanes else b4_index
        with m.If(b4_index < N):
            refractory = b4_r != 0
            diff = Signal(signed(c.v_bits + 1))
            spike = Signal()
            candidate = spike                          # spikes by the plain rule
            if wta:
                # with wta set, a candidate does not spike in the pass
                candidate = Signal()
                m.d.comb += spike.eq(candidate & ~wta_on)
            m.d.comb += [
                diff.eq(b4_v1 - b4_th),
                candidate.eq(~refractory & ~diff[-1]),     # v1 >= th
                b4_spike.eq(candidate),
            ]
            new_state = Signal(state_layout)
            m.d.comb += [
                new_state.i.eq(b4_i),
                new_state.v.eq(Mux(candidate,
                                   Mux(b4_reset_sub, sat(diff, vb_shape), b4_v_reset),
                                   b4_v1)),
                new_state.r.eq(Mux(refractory, b4_r - 1, Mux(spike, b4_refrac, 0))),
                new_state.s.eq(spike),
            ]
            if adaptive:
                m.d.comb += new_state.theta.eq(Mux(spike, b4_theta_yes, b4_theta_no))
            m.d.comb += [k.s_wp.addr.eq(b4_index), k.s_wp.data.eq(new_state),
                             k.s_wp.en.eq(1)]
            with m.If(spike):
                m.d.comb += [k.spk_wp.addr.eq(k.n_spk), k.spk_wp.data.eq(b4_index),
                             k.spk_wp.en.eq(1)]
                m.d.sync += k.n_spk.eq(k.n_spk + 1)
            if stdp:
                y_new = Mux(spike, b4_y_yes, b4_y_no)
                for lane, (_, y_wp) in enumerate(k.ytr):
                    m.d.comb += [y_wp.addr.eq(b4_bank), y_wp.data.eq(y_new),
                                 y_wp.en.eq(b4_lane == lane)]
            if wta:
                # the best candidate so far: a larger margin wins, the first one a tie
                margin = diff[:c.v_bits]                   # >= 0 for a candidate
                with m.If(wta_on & candidate & (~have | (margin > best_margin))):
                    winner_state = Signal(state_layout)
                    m.d.comb += [winner_state.eq(new_state), winner_state.r.eq(b4_refrac),
                                 winner_state.s.eq(1)]
                    if adaptive:
                        m.d.comb += winner_state.theta.eq(b4_theta_yes)
                    m.d.sync += [have.eq(1), best_margin.eq(margin),
                                 best_index.eq(b4_index), best_state.eq(winner_state),
                                 k.n_spk.eq(1)]
                    m.d.comb += [k.spk_wp.addr.eq(0), k.spk_wp.data.eq(b4_index),
                                 k.spk_wp.en.eq(1)]
                    if stdp:
                        m.d.sync += [best_y.eq(b4_y_yes), best_lane.eq(b4_lane)]

    if wta:
        # the winner's commit, in the cycle after the pipeline drained (the first cycle of
        # phase C or of FINISH, which use neither port)
        with m.If(k.b_commit):
            m.d.sync += have.eq(0)
            with m.If(have):
                m.d.comb += [k.s_wp.addr.eq(best_index), k.s_wp.data.eq(best_state),
                             k.s_wp.en.eq(1)]
                if stdp:
                    best_bank = best_index[lg_lanes:] if lg_lanes else best_index
                    for lane, (_, y_wp) in enumerate(k.ytr):
                        m.d.comb += [y_wp.addr.eq(best_bank), y_wp.data.eq(best_y),
                                     y_wp.en.eq(best_lane == lane)]


def states(m, k, after):
    """The states of phase B, inside the sequencer's FSM: ``B_RUN`` issues one element per
    clock, ``B_DRAIN`` empties the pipeline and then calls ``after(m)`` to choose the next
    state (the last neuron's spike, ``b4_spike``, is counted at the end of its last cycle)."""
    c = k.config
    N, M, L, B = c.neurons, c.inputs, c.lanes, c.banks
    lg_lanes, lg_banks = ceil_log2(L), ceil_log2(B)
    cycles, b_index, b_drain = k.cycles, k.b_index, k.b_drain
    with m.State("B_RUN"):
        m.d.sync += cycles.eq(cycles + 1)
        bank = b_index[lg_lanes:] if lg_lanes else b_index
        m.d.comb += [k.s_rp.addr.eq(b_index), k.p_rp.addr.eq(b_index)]
        if c.winner_take_all:
            m.d.comb += k.pl_rp.addr.eq(b_index)      # late parameters, carried to stage 3
        for acc_rp, _ in k.acc:
            m.d.comb += acc_rp.addr.eq(bank)
        if M:
            m.d.comb += k.inm_rp.addr.eq(b_index)
        if c.stdp:
            for rp, _ in k.xtr + (k.xitr if M else []):
                m.d.comb += rp.addr.eq(high(b_index, lg_banks))
            for y_rp, _ in k.ytr:
                m.d.comb += y_rp.addr.eq(bank)
        m.d.sync += [k.b1_valid.eq(1), k.b1_index.eq(b_index),
                     k.b1_lane.eq(low(b_index, lg_lanes)),
                     k.b1_xbank.eq(low(b_index, lg_banks)),
                     b_index.eq(b_index + 1)]
        with m.If(b_index == max(N, M) - 1):
            m.d.sync += b_drain.eq(0)
            m.next = "B_DRAIN"

    with m.State("B_DRAIN"):
        # four cycles: the last element issued is in stage 1, 2, 3 and then 4
        m.d.sync += [cycles.eq(cycles + 1), b_drain.eq(b_drain + 1)]
        with m.If(b_drain == 3):
            if c.winner_take_all:
                m.d.sync += k.b_commit.eq(k.wta_on)
            after(m)
