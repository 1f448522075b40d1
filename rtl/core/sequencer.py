"""The step sequencer: the core's control registers and the state machine that runs one time
step through its phases (docs/model.md, "One time step"), and host access while idle.

A step goes IDLE -> [SCAN: rebuild the spike list after host writes to STATE] -> INPUTS ->
[P_RUN, P_DRAIN: phase 0] -> A_PRIME .. A_DRAIN2 (phase A) -> B_RUN, B_DRAIN (phase B) ->
[C_FETCH .. C_DRAIN2: phase C] -> FINISH -> IDLE. A region CRC runs from IDLE through CRC.
"""

from amaranth.hdl import Signal

from . import delivery, neuron, poisson, potentiation, store
from .arith import sr_hash, xorshift32

__all__ = ["build_registers", "build"]


def build_registers(m, k):
    """The step's counters and flags, shared by the phases."""
    c = k.config
    N, M = c.neurons, c.inputs
    k.n_rec = Signal(range(N + 1))       # spikes in spike_list (this step's arrivals)
    k.n_in = n_in = Signal(range(M + 1))  # input events pushed for the next step
    k.n_spk = Signal(range(N + 1))       # spikes produced by the running phase B
    k.learn_r = Signal()
    if c.stochastic_rounding:
        # the seeds' parts of the uniform values of phases A and C (see arith.sr_uniform)
        k.sr_hash_a = Signal(16)
        k.sr_hash_c = Signal(16)
    k.list_dirty = Signal()              # STATE was written by the host since the last step
    k.cycles = Signal(32)
    m.d.comb += k.step.in_count.eq(n_in)


def _idle(m, k):
    """Idle: host access over the region bus, input pushes, and the start of a step or CRC."""
    c = k.config
    M = c.inputs
    step, bus, inp = k.step, k.bus, k.input
    n_in, gl = k.n_in, k.gl
    m.d.comb += [
        bus.ready.eq(1),
        inp.ready.eq(n_in < M),
        k.host_we.eq(bus.we),
        k.rd_issue.eq(bus.re),
        k.rd_region.eq(bus.region),
        k.rd_addr.eq(bus.addr),
        # the spike list is the engine's while idle (phase A primes its own read in INPUTS)
        k.spk_rp.addr.eq(step.spike_addr),
    ]
    if M:
        index = inp.payload.index
        with m.If(inp.valid & (n_in < M) & (index < M)):
            m.d.comb += [k.inl_wp.addr.eq(n_in), k.inl_wp.data.eq(index),
                         k.inl_wp.en.eq(1),
                         k.inm_wp.addr.eq(index), k.inm_wp.data.eq(1),
                         k.inm_wp.en.eq(1)]
            m.d.sync += n_in.eq(n_in + 1)
    with m.If(step.start):
        m.d.sync += [k.learn_r.eq(step.learn if c.stdp else 0), k.cycles.eq(1),
                     k.scan_index.eq(0), k.n_spk.eq(0)]
        if c.stochastic_rounding:
            # a learning step advances the seed twice: phase A, then phase C
            with m.If(step.learn):
                seed_a = xorshift32(gl.sr_seed)
                seed_c = xorshift32(seed_a)
                m.d.sync += [k.sr_hash_a.eq(sr_hash(seed_a)),
                             k.sr_hash_c.eq(sr_hash(seed_c)),
                             gl.sr_seed.eq(seed_c)]
        with m.If(k.list_dirty):
            m.next = "SCAN"
        with m.Else():
            m.next = "INPUTS"
    with m.Elif(bus.crc_start):
        store.crc_start(m, k)


def _inputs(m, k):
    """The first cycle after the optional rebuild: it issues the first Poisson draw of phase
    0, or, without phase 0, primes phase A."""
    c = k.config
    M = c.inputs
    cycles = k.cycles
    with m.State("INPUTS"):
        if c.has_poisson:
            with m.If(k.gl.poisson_on):
                m.d.sync += [cycles.eq(cycles + 1), k.p_index.eq(1), k.p1_valid.eq(1),
                             k.p1_index.eq(0)]
                poisson.issue(m, k, 0)
                m.next = "P_RUN" if M > 1 else "P_DRAIN"
            with m.Else():
                delivery.prime(m, k)
        else:
            delivery.prime(m, k)

    if c.has_poisson:
        p_index = k.p_index
        with m.State("P_RUN"):
            m.d.sync += [cycles.eq(cycles + 1), p_index.eq(p_index + 1),
                         k.p1_valid.eq(1), k.p1_index.eq(p_index)]
            poisson.issue(m, k, p_index)
            with m.If(p_index == M - 1):
                m.next = "P_DRAIN"

        with m.State("P_DRAIN"):
            m.d.sync += cycles.eq(cycles + 1)
            m.next = "A_PRIME"


def build(m, k):
    """The state machine of a step."""
    c = k.config
    step = k.step

    def after_update(m):
        if c.stdp:
            potentiation.enter(m, k)
        else:
            m.next = "FINISH"

    m.d.sync += [k.a0_valid.eq(0), k.b1_valid.eq(0), k.scan1_valid.eq(0), step.done.eq(0),
                 k.bus.crc_done.eq(0)]
    if c.has_poisson:
        m.d.sync += k.p1_valid.eq(0)
    if c.stdp:
        m.d.sync += k.c0_valid.eq(0)
    with m.FSM():
        with m.State("IDLE"):
            _idle(m, k)
        store.crc_states(m, k)
        store.rescan_states(m, k)
        _inputs(m, k)
        delivery.states(m, k)
        neuron.states(m, k, after_update)
        if c.stdp:
            potentiation.states(m, k)

        with m.State("FINISH"):
            m.d.sync += [
                step.step_count.eq(step.step_count + 1),
                step.done.eq(1),
                k.n_in.eq(0),
                k.n_rec.eq(k.n_spk),
            ]
            m.next = "IDLE"

    m.d.comb += [step.busy.eq(~k.bus.ready), step.step_cycles.eq(k.cycles),
                 step.spike_count.eq(k.n_rec), step.spike_index.eq(k.spk_rp.data),
                 step.spike_we.eq(k.spk_wp.en), step.spike_waddr.eq(k.spk_wp.addr),
                 step.spike_wdata.eq(k.spk_wp.data)]
