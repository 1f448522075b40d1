"""Phase 0: the Poisson sources (docs/model.md, "Poisson inputs").

Input generator ``k`` keeps a 32-bit xorshift state; every step (with ``poisson_on``) it
advances the state by one xorshift32 (13, 17, 5) step and spikes when the low 16 bits of the
new state are below its rate. One generator per clock: the reads of generator ``k`` are issued
by the sequencer (:func:`issue`), and the state written back and the spike appended to the
input list one cycle later. An input pushed by the host and drawn here arrives once.
"""

from amaranth.hdl import Signal

__all__ = ["build", "issue"]


def build(m, k):
    """The draw stage of the Poisson sources (phase 0).

    Uses the Poisson and input-list memory ports and ``n_in``; adds ``p_index``, ``p1_valid``
    and ``p1_index``, which the sequencer drives.
    """
    M = k.config.inputs
    ps_rp, ps_wp, pr_rp = k.ps_rp, k.ps_wp, k.pr_rp
    inl_wp, inm_wp, inm_rp = k.inl_wp, k.inm_wp, k.inm_rp
    n_in = k.n_in
    k.p_index = Signal(range(M))
    k.p1_valid = p1_valid = Signal()
    k.p1_index = p1_index = Signal(range(M))
    with m.If(p1_valid):
        state = ps_rp.data
        s1 = Signal(32)
        s2 = Signal(32)
        s3 = Signal(32)
        m.d.comb += [
            s1.eq(state ^ (state << 13)[:32]),
            s2.eq(s1 ^ (s1 >> 17)),
            s3.eq(s2 ^ (s2 << 5)[:32]),
            ps_wp.addr.eq(p1_index), ps_wp.data.eq(s3), ps_wp.en.eq(1),
        ]
        # an input pushed by the host and drawn here arrives once
        with m.If((s3[:16] < pr_rp.data) & ~inm_rp.data):
            m.d.comb += [inl_wp.addr.eq(n_in), inl_wp.data.eq(p1_index), inl_wp.en.eq(1),
                         inm_wp.addr.eq(p1_index), inm_wp.data.eq(1), inm_wp.en.eq(1)]
            m.d.sync += n_in.eq(n_in + 1)


def issue(m, k, index):
    """Issue the reads of Poisson generator ``index`` (phase 0)."""
    m.d.comb += [k.pr_rp.addr.eq(index), k.ps_rp.addr.eq(index), k.inm_rp.addr.eq(index)]
