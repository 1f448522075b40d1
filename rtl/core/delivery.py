"""Phase A: delivery (and depression), docs/model.md "Phase A".

For every arriving row (a neuron that spiked last step, then an input that spikes now) the
row's ``ceil(N/L)`` weight words are read, one word of ``L`` weights per clock, and added to
``L`` accumulators banked by lane. With learning on, the same pass writes the depressed word
back, so depression costs no extra cycle.

Phase A is a four-stage pipeline: issue (the weight and mask address is requested, the post
traces are read), stage 0 (the address is registered at the weight memories), stage 1 (the
bank's word is selected and registered, the accumulators are read), stage 2 (accumulate; with
learning, the depressed word is written back). Registering the weight word keeps the block RAM
output and its bank multiplexer off the adder path.
"""

from amaranth.hdl import Mux, Signal

from ...config import ceil_log2
from ..regions import Region, region_layout
from .arith import clampw, high, low, sr_round, sr_scaled, sr_uniform

__all__ = ["build", "prime", "states"]


def build(m, k):
    """The event fetch and the pipeline stages 0 to 2 of phase A.

    Uses the weight, mask, accumulator, post-trace and list memory ports, ``w_word_q`` and
    ``w_mask_q`` of the store, ``n_rec``, ``n_in``, ``learn_r`` and ``gl``; adds the event
    counters and the stage-0 registers that :func:`states` drives.
    """
    c = k.config
    N, M, L, Wr, B = c.neurons, c.inputs, c.lanes, c.words_per_row, c.banks
    stdp, sround = c.stdp, c.stochastic_rounding
    gl, acc = k.gl, k.acc
    word_layout = region_layout(c, Region.WEIGHT)

    k.a_event = Signal(range(N + M + 1))   # event being issued
    k.a_word = Signal(range(Wr))
    k.a_q_reg = Signal(range(max(N, M)))   # index of the row within its section
    k.a_in_reg = Signal()                  # the row is an input row
    k.ev_src_in_q = ev_src_in_q = Signal()  # the fetched list entry is an input event
    k.ev_q = ev_q = Signal(range(max(N, M)))  # its index, fetched in the previous cycle
    k.fetch_index = fetch_index = Signal(range(N + M + 1))
    k.fetch_en = fetch_en = Signal()
    k.n_events = n_events = Signal(range(N + M + 1))
    m.d.comb += n_events.eq(k.n_rec + k.n_in)
    m.d.comb += k.spk_rp.addr.eq(fetch_index)
    if M:
        m.d.comb += k.inl_rp.addr.eq(fetch_index - k.n_rec)
        m.d.comb += ev_q.eq(Mux(ev_src_in_q, k.inl_rp.data, k.spk_rp.data))
    else:
        m.d.comb += ev_q.eq(k.spk_rp.data)
    with m.If(fetch_en):
        m.d.sync += ev_src_in_q.eq(fetch_index >= k.n_rec)

    k.a0_valid = a0_valid = Signal()
    k.a0_word = a0_word = Signal(range(Wr))
    k.a0_addr = a0_addr = Signal(range(c.bank_depth))
    k.a0_bank = a0_bank = Signal(range(B))
    if sround:
        k.a0_row = a0_row = Signal(range(N + M))    # the row, for the synapse's rounding
    a1_valid = Signal()
    a1_word = Signal(range(Wr))
    a1_addr = Signal(range(c.bank_depth))
    a1_bank = Signal(range(B))
    a2_valid = Signal()
    a2_word = Signal(range(Wr))
    a2_addr = Signal(range(c.bank_depth))
    a2_bank = Signal(range(B))
    a2_weights = k.w_word_q              # registered in stage 1 (see w_sel_bank)
    m.d.sync += [a1_valid.eq(a0_valid), a1_word.eq(a0_word), a1_addr.eq(a0_addr),
                 a1_bank.eq(a0_bank)]
    m.d.sync += [a2_valid.eq(a1_valid), a2_word.eq(a1_word), a2_addr.eq(a1_addr),
                 a2_bank.eq(a1_bank)]
    with m.If(a1_valid):
        m.d.comb += k.w_sel_bank.eq(a1_bank)
    if stdp:
        a2_mask = k.w_mask_q
        # The depression of word w, (a_minus * y) >> stdp_shift per lane, is computed in
        # stage 0 from the post traces of word w (read at the issue; y does not change
        # during phase A) and registered twice.
        a_dep = []
        for lane in range(L):
            if sround:
                # stochastic rounding: the product shifted with 16 bits of its fraction
                # and the synapse's uniform value in stage 0, rounded in stage 1
                scaled = sr_scaled(gl.a_minus * k.ytr[lane][0].data, gl.stdp_shift)
                col = a0_word * L + lane
                reg1 = Signal(scaled.shape(), name=f"a_dep1_{lane}")
                reg1_u = Signal(16, name=f"a_dep1_u{lane}")
                m.d.sync += [reg1.eq(scaled),
                             reg1_u.eq(sr_uniform(k.sr_hash_a, a0_row, col[:10]))]
                rounded = sr_round(reg1, reg1_u)
                reg2 = Signal(rounded.shape(), name=f"a_dep2_{lane}")
                m.d.sync += reg2.eq(rounded)
                a_dep.append(reg2)
                continue
            depression = (gl.a_minus * k.ytr[lane][0].data) >> gl.stdp_shift
            reg1 = Signal(depression.shape(), name=f"a_dep1_{lane}")
            reg2 = Signal(depression.shape(), name=f"a_dep2_{lane}")
            m.d.sync += [reg1.eq(depression), reg2.eq(reg1)]
            a_dep.append(reg2)
    with m.If(a1_valid):
        # the accumulators of the word are read here, so that stage 2 adds to them; their
        # reads are transparent, so a word written by stage 2 in this cycle is seen
        for acc_rp, _ in acc:
            m.d.comb += acc_rp.addr.eq(a1_word)
    with m.If(a2_valid):
        weights = a2_weights
        new_word = Signal(word_layout)
        for lane in range(L):
            acc_rp, acc_wp = acc[lane]
            m.d.comb += [
                acc_wp.addr.eq(a2_word),
                acc_wp.data.eq(acc_rp.data + weights[lane]),
                acc_wp.en.eq(1),
            ]
            if stdp:
                lane_valid = (a2_word * L + lane) < N
                learns = lane_valid & a2_mask[lane]
                m.d.comb += new_word[lane].eq(Mux(
                    learns, clampw(weights[lane] - a_dep[lane], gl), weights[lane]))
        if stdp:
            for bank, (_, wp) in enumerate(k.wts):
                m.d.comb += [wp.addr.eq(a2_addr), wp.data.eq(new_word),
                             wp.en.eq(k.learn_r & (a2_bank == bank))]


def prime(m, k):
    """Fetch the first arriving row; phase A starts next cycle."""
    m.d.sync += k.cycles.eq(k.cycles + 1)
    m.d.comb += [k.fetch_index.eq(0), k.fetch_en.eq(1)]
    m.d.sync += [k.a_event.eq(0), k.a_word.eq(0)]
    with m.If(k.n_events == 0):
        m.next = "A_DRAIN"
    with m.Else():
        m.next = "A_RUN"


def states(m, k):
    """The states of phase A, inside the sequencer's FSM: ``A_PRIME`` (entered from phase 0)
    to ``A_DRAIN2``, which goes on to phase B."""
    c = k.config
    N, M, Wr = c.neurons, c.inputs, c.words_per_row
    lg_banks = ceil_log2(c.banks)
    nb_n, nb_m = c.neuron_bank_rows, c.input_bank_rows
    cycles, a_word, a_event = k.cycles, k.a_word, k.a_event
    ev_q, ev_src_in_q = k.ev_q, k.ev_src_in_q

    with m.State("A_PRIME"):
        prime(m, k)

    with m.State("A_RUN"):
        m.d.sync += cycles.eq(cycles + 1)
        q = Signal(range(max(N, M)))
        is_input = Signal()
        m.d.comb += [q.eq(Mux(a_word == 0, ev_q, k.a_q_reg)),
                     is_input.eq(Mux(a_word == 0, ev_src_in_q, k.a_in_reg))]
        with m.If(a_word == 0):
            m.d.sync += [k.a_q_reg.eq(ev_q), k.a_in_reg.eq(ev_src_in_q)]
        bank_row = Signal(range(nb_n + nb_m))
        address = Signal(range(c.bank_depth))
        m.d.comb += [bank_row.eq(high(q, lg_banks) + Mux(is_input, nb_n, 0)),
                     address.eq(bank_row * Wr + a_word)]
        m.d.comb += [k.fetch_index.eq(a_event + 1), k.fetch_en.eq(1), k.w_req.eq(address)]
        if c.stdp:
            # post traces of the word (see a_dep)
            for y_rp, _ in k.ytr:
                m.d.comb += y_rp.addr.eq(a_word)
        m.d.sync += [k.a0_valid.eq(1), k.a0_word.eq(a_word), k.a0_addr.eq(address),
                     k.a0_bank.eq(low(q, lg_banks))]
        if c.stochastic_rounding:
            m.d.sync += k.a0_row.eq(q + Mux(is_input, N, 0))
        with m.If(a_word == Wr - 1):
            m.d.sync += [a_word.eq(0), a_event.eq(a_event + 1)]
            with m.If(a_event + 1 == k.n_events):
                m.next = "A_DRAIN"
        with m.Else():
            m.d.sync += a_word.eq(a_word + 1)

    # two cycles: phase B's first accumulator read comes in the cycle of the last
    # accumulation (the reads are transparent)
    with m.State("A_DRAIN"):
        m.d.sync += cycles.eq(cycles + 1)
        m.next = "A_DRAIN2"

    with m.State("A_DRAIN2"):
        m.d.sync += [cycles.eq(cycles + 1), k.b_index.eq(0), k.n_spk.eq(0)]
        m.next = "B_RUN"
