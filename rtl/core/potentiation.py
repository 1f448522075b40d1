"""Phase C: potentiation (learning on only), docs/model.md "Phase C".

For every neuron that fired, its column is walked one bank row at a time: ``B`` rows (one per
weight bank) per clock, in bank row order — neuron rows, then input rows. The potentiation of a
row, ``mag(a_plus * X_r)``, uses the pre traces after phase B. With ``weight_decay`` the
product is ``a_plus * X_r - a_decay * W`` (signed), formed in the stage of the update from the
weight read.
"""

from amaranth.hdl import Array, Mux, Signal, signed

from ...config import ceil_log2
from ..regions import Region, region_layout
from .arith import (clampw, low, sr_round, sr_round_signed, sr_scaled, sr_scaled_signed,
                    sr_uniform)

__all__ = ["build", "enter", "states"]


def build(m, k):
    """The pipeline of phase C: the column's rows read, potentiated and written back.

    Uses the weight, mask and pre-trace memory ports and ``gl``; adds the column counters and
    the stage-0 registers that :func:`states` drives.
    """
    c = k.config
    N, M, L, Wr, B = c.neurons, c.inputs, c.lanes, c.words_per_row, c.banks
    nb_n, nb_m = c.neuron_bank_rows, c.input_bank_rows
    sround = c.stochastic_rounding
    decay = c.weight_decay
    word_layout = region_layout(c, Region.WEIGHT)
    # The column of a neuron that spiked is walked one bank row at a time: B rows (one
    # per bank) per clock, in bank row order — neuron rows, then input rows.
    k.c_spike = Signal(range(N + 1))
    k.c_brow = Signal(range(nb_n + nb_m))      # bank row being issued
    k.c_addr = Signal(range(c.bank_depth + Wr))
    k.c_post_q = Signal(range(N))
    # stage 0: the weight and mask address is registered at the memories
    k.c0_valid = c0_valid = Signal()
    k.c0_src_in = c0_src_in = Signal()
    k.c0_q0 = c0_q0 = Signal(range(max(N, M) + B))
    k.c0_addr = c0_addr = Signal(range(c.bank_depth))
    k.c0_lane = c0_lane = Signal(range(L))
    k.c0_post = c0_post = Signal(range(N)) if sround else None
    c1_valid = Signal()
    c1_src_in = Signal()                 # the bank row holds input rows
    c1_q0 = Signal(range(max(N, M) + B)) # section index of the row in bank 0
    c1_addr = Signal(range(c.bank_depth))
    c1_lane = Signal(range(L))
    m.d.sync += [c1_valid.eq(c0_valid), c1_src_in.eq(c0_src_in), c1_q0.eq(c0_q0),
                 c1_addr.eq(c0_addr), c1_lane.eq(c0_lane)]
    # The potentiation of bank row b, (a_plus * X) >> stdp_shift per bank, is computed
    # in stage 0 from the pre traces of row b (read at the issue; they do not change
    # during phase C) and registered here.
    k.cx_src_in = cx_src_in = Signal()                 # the traces being read are input traces
    c_pot = []
    c_u = []                                           # with weight_decay and sround
    for bank in range(B):
        x_value = (Mux(cx_src_in, k.xitr[bank][0].data, k.xtr[bank][0].data) if M
                   else k.xtr[bank][0].data)
        if decay:
            # the weight-dependent term needs the weight read: stage 0 registers the
            # product a_plus * X (and with sround the synapse's uniform value); the update
            # stage subtracts a_decay * W, shifts and rounds
            pre = k.gl.a_plus * x_value
            reg = Signal(pre.shape(), name=f"c_pre{bank}")
            m.d.sync += reg.eq(pre)
            c_pot.append(reg)
            if sround:
                row = c0_q0 + bank + Mux(c0_src_in, N, 0)
                reg_u = Signal(16, name=f"c_pot_u{bank}")
                m.d.sync += reg_u.eq(sr_uniform(k.sr_hash_c, row[:11], c0_post))
                c_u.append(reg_u)
            continue
        if sround:
            # stochastic rounding: shifted with 16 bits of fraction and the synapse's
            # uniform value in stage 0, rounded in stage 1
            scaled = sr_scaled(k.gl.a_plus * x_value, k.gl.stdp_shift)
            row = c0_q0 + bank + Mux(c0_src_in, N, 0)
            reg = Signal(scaled.shape(), name=f"c_pot{bank}")
            reg_u = Signal(16, name=f"c_pot_u{bank}")
            m.d.sync += [reg.eq(scaled),
                         reg_u.eq(sr_uniform(k.sr_hash_c, row[:11], c0_post))]
            rounded = Signal(sr_round(reg, reg_u).shape(), name=f"c_potr{bank}")
            m.d.comb += rounded.eq(sr_round(reg, reg_u))
            c_pot.append(rounded)
            continue
        potentiation = (k.gl.a_plus * x_value) >> k.gl.stdp_shift
        reg = Signal(potentiation.shape(), name=f"c_pot{bank}")
        m.d.sync += reg.eq(potentiation)
        c_pot.append(reg)

    # With more than one bank row per column, the read words are registered before the
    # update (stage 2), keeping the block RAM outputs off the adder path; a row of the
    # next column is read at least one cycle after the write of the same row of this
    # column. With one bank row that read would come in the cycle of the write, so the
    # update stays in stage 1.
    c_late = nb_n + nb_m > 1
    if c_late:
        cu_valid = Signal()
        cu_src_in = Signal()
        cu_q0 = Signal.like(c1_q0)
        cu_addr = Signal.like(c1_addr)
        cu_lane = Signal.like(c1_lane)
        cu_pot = [Signal.like(pot, name=f"c2_pot{bank}") for bank, pot in enumerate(c_pot)]
        cu_u = [Signal(16, name=f"c2_pot_u{bank}") for bank in range(len(c_u))]
        m.d.sync += [dst.eq(src) for dst, src in zip(cu_u, c_u)]
        cu_words = [Signal(word_layout, name=f"c2_old{bank}") for bank in range(B)]
        cu_masks = [Signal(L, name=f"c2_mask{bank}") for bank in range(B)]
        m.d.sync += [cu_valid.eq(c1_valid), cu_src_in.eq(c1_src_in), cu_q0.eq(c1_q0),
                     cu_addr.eq(c1_addr), cu_lane.eq(c1_lane)]
        for bank in range(B):
            m.d.sync += [cu_pot[bank].eq(c_pot[bank]),
                         cu_words[bank].eq(k.wts[bank][0].data),
                         cu_masks[bank].eq(k.msk[bank][0].data)]
    else:
        cu_valid, cu_src_in, cu_q0, cu_addr, cu_lane = (c1_valid, c1_src_in, c1_q0,
                                                        c1_addr, c1_lane)
        cu_pot = c_pot
        cu_u = c_u
        cu_words = [k.wts[bank][0].data for bank in range(B)]
        cu_masks = [k.msk[bank][0].data for bank in range(B)]
    with m.If(cu_valid):
        for bank in range(B):
            w_wp = k.wts[bank][1]
            old_word = cu_words[bank]
            row_valid = cu_q0 + bank < Mux(cu_src_in, M, N)
            new_word = Signal(word_layout, name=f"c_word{bank}")
            if decay:
                # one lane of the word learns: its weight W, the signed product
                # a_plus * X - a_decay * W, its mag (an arithmetic shift) and the new weight
                weight = Signal(signed(c.weight_bits), name=f"c_w{bank}")
                m.d.comb += weight.eq(Array(old_word[lane] for lane in range(L))[cu_lane]
                                      if L > 1 else old_word[0])
                product = cu_pot[bank] - k.gl.a_decay * weight
                p_sig = Signal(signed(len(product)), name=f"c_prod{bank}")
                m.d.comb += p_sig.eq(product)
                if sround:
                    magnitude = sr_round_signed(sr_scaled_signed(p_sig, k.gl.stdp_shift),
                                                cu_u[bank])
                else:
                    magnitude = p_sig >> k.gl.stdp_shift
                updated = Signal(signed(c.weight_bits), name=f"c_new{bank}")
                m.d.comb += updated.eq(clampw(weight + magnitude, k.gl))
            for lane in range(L):
                learns = row_valid & (cu_lane == lane) & cu_masks[bank][lane]
                if decay:
                    m.d.comb += new_word[lane].eq(Mux(learns, updated, old_word[lane]))
                    continue
                m.d.comb += new_word[lane].eq(Mux(
                    learns, clampw(old_word[lane] + cu_pot[bank], k.gl),
                    old_word[lane]))
            m.d.comb += [w_wp.addr.eq(cu_addr), w_wp.data.eq(new_word), w_wp.en.eq(1)]


def _issue_traces(m, k, brow):
    """Read the pre traces of bank row ``brow`` (for its potentiation, in stage 0)."""
    c = k.config
    for rp, _ in k.xtr:
        m.d.comb += rp.addr.eq(brow)
    if c.inputs:
        for rp, _ in k.xitr:
            m.d.comb += rp.addr.eq(brow - c.neuron_bank_rows)
    m.d.sync += k.cx_src_in.eq(brow >= c.neuron_bank_rows)


def _issue(m, k, *, brow, addr, post):
    """Issue the reads of bank row ``brow`` of the column of neuron ``post``."""
    c = k.config
    if k.c0_post is not None:
        m.d.sync += k.c0_post.eq(post)
    nb_n = c.neuron_bank_rows
    m.d.comb += k.w_req.eq(addr)
    is_input = brow >= nb_n
    m.d.sync += [k.c0_valid.eq(1), k.c0_src_in.eq(is_input), k.c0_addr.eq(addr),
                 k.c0_q0.eq(Mux(is_input, brow - nb_n, brow) * c.banks),
                 k.c0_lane.eq(low(post, ceil_log2(c.lanes)))]


def _next(m, k):
    c_row, c_spike = k.c_brow, k.c_spike
    with m.If(c_row == k.config.neuron_bank_rows + k.config.input_bank_rows - 1):
        m.d.sync += c_spike.eq(c_spike + 1)
        with m.If(c_spike + 1 == k.n_spk):
            m.next = "C_DRAIN"
        with m.Else():
            m.next = "C_FETCH"
    with m.Else():
        m.next = "C_RUN"


def enter(m, k):
    """At the end of phase B: walk the columns of the neurons that fired, when learning."""
    m.d.sync += k.c_spike.eq(0)
    # the last neuron's spike is counted at the end of this cycle
    with m.If(k.learn_r & ((k.n_spk != 0) | k.b4_spike)):
        m.next = "C_FETCH"
    with m.Else():
        m.next = "FINISH"


def states(m, k):
    """The states of phase C, inside the sequencer's FSM; they go on to ``FINISH``."""
    c = k.config
    lg_lanes = ceil_log2(c.lanes)
    cycles, c_brow, c_addr = k.cycles, k.c_brow, k.c_addr
    with m.State("C_FETCH"):
        m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += k.spk_rp.addr.eq(k.c_spike)
        m.d.sync += c_brow.eq(0)
        m.next = "C_START"

    with m.State("C_START"):
        # first row of the column: the spike list entry arrives this cycle
        m.d.sync += cycles.eq(cycles + 1)
        post = k.spk_rp.data
        word = post[lg_lanes:] if lg_lanes else post
        m.d.sync += k.c_post_q.eq(post)
        _issue_traces(m, k, c_brow)
        _issue(m, k, brow=c_brow, addr=word, post=post)
        m.d.sync += [c_brow.eq(c_brow + 1), c_addr.eq(word + c.words_per_row)]
        _next(m, k)

    with m.State("C_RUN"):
        m.d.sync += cycles.eq(cycles + 1)
        _issue_traces(m, k, c_brow)
        _issue(m, k, brow=c_brow, addr=c_addr, post=k.c_post_q)
        m.d.sync += [c_brow.eq(c_brow + 1), c_addr.eq(c_addr + c.words_per_row)]
        _next(m, k)

    # two cycles: the last write lands before the core is idle again
    with m.State("C_DRAIN"):
        m.d.sync += cycles.eq(cycles + 1)
        m.next = "C_DRAIN2"

    with m.State("C_DRAIN2"):
        m.d.sync += cycles.eq(cycles + 1)
        m.next = "FINISH"
