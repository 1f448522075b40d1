"""The neuromorphic core: N LIF neurons with exponential current synapses and on-chip STDP.

The arithmetic is specified in ``docs/model.md``; :class:`spikeforge.host.twin.Twin` executes the
same text in numpy, and the differential tests hold the two bit-identical.

One time step runs three phases (see ``docs/model.md`` for the cycle formula):

* **A, delivery.** For every arriving row (a neuron that spiked last step, an input that spikes
  now) the row's ``ceil(N/L)`` weight words are read, one word of ``L`` weights per clock, and
  added to ``L`` banked accumulators. With learning on, the same pass writes the depressed word
  back, so depression costs no extra cycle.
* **B, update.** One neuron and one input trace per clock: decay, integrate, fire, reset, traces,
  in a pipeline of four stages (products; current; membrane; threshold, reset and write-back).
  Neurons that fire are appended to the spike list, which is the event list of the next step.
* **C, potentiation** (learning on only). For every neuron that fired, its column is walked, one
  synapse per clock.

Host access (``bus_*``) and the region CRC engine work while the core is idle.
"""

from amaranth.hdl import (Array, Cat, Const, Module, Mux, Shape, Signal, signed, unsigned)
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig, ceil_log2
from .regions import (Region, addr_bits, bus_width, crc_parameters, crc_width,
                      late_param_bits, region_depth, region_layout)

__all__ = ["Core", "OVERHEAD_BASE", "OVERHEAD_LEARN"]

#: Fixed cycles of every step: phase A prime and drain, phase B drain (four pipeline stages),
#: finish.
OVERHEAD_BASE = 8
#: Extra fixed cycles when phase C runs (its drain).
OVERHEAD_LEARN = 2


def _sat(value, shape):
    """Clamp ``value`` into the range of ``shape`` (signed or unsigned) and cast to it."""
    shape = Shape.cast(shape)
    if shape.signed:
        low, high = -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    else:
        low, high = 0, (1 << shape.width) - 1
    return Mux(value > high, high, Mux(value < low, low, value))[:shape.width]


def _dec(value, factor, frac_bits):
    """``value * factor / 2**frac_bits`` rounded toward zero (docs/model.md, ``dec``)."""
    product = value * factor
    if Shape.cast(product.shape()).signed:
        bias = (1 << frac_bits) - 1
        return Mux(product < 0, (product + bias) >> frac_bits, product >> frac_bits)
    return product >> frac_bits


def _xorshift32(value):
    """One xorshift32 (13, 17, 5) step of a 32-bit value: XOR gates only."""
    value = value ^ (value << 13)[:32]
    value = value ^ (value >> 17)
    return value ^ (value << 5)[:32]


def _sr_hash(value):
    """The top 16 bits of two xorshift32 steps of a 32-bit value."""
    return _xorshift32(_xorshift32(value))[16:32]


def _sr_uniform(seed_hash, row, col):
    """The 16-bit uniform value of stochastic rounding of synapse (row, col), the top 16 bits
    of two xorshift32 steps of ``seed ^ (row << 11 | col)`` (docs/model.md). xorshift32 is
    linear over GF(2), so that is ``_sr_hash(seed) ^ _sr_hash(row << 11 | col)``: the seed's
    part (``seed_hash``) is computed once per step, and each lane hashes only the 21 bits of
    its synapse's key."""
    key = Cat(col, Const(0, 11 - len(col)), row, Const(0, 32 - 11 - len(row)))
    return seed_hash ^ _sr_hash(key)


def _sr_scaled(product, shift):
    """``(product << 16) >> shift``: the integer part of ``product / 2^shift`` above 16 bits
    of the fraction the shift drops."""
    return Cat(Const(0, 16), product) >> shift


def _sr_round(scaled, uniform):
    """The rounded magnitude: the integer part, plus 1 when the dropped fraction exceeds the
    uniform value."""
    return scaled[16:] + (scaled[:16] > uniform)


def _low(value, bits):
    """The ``bits`` low bits of ``value`` (a zero-width constant when ``bits`` is 0)."""
    return value[:bits] if bits else Const(0, 0)


def _high(value, bits):
    """``value`` shifted right by ``bits``."""
    return value[bits:] if bits else value


def _select(memories, index):
    """Read data of the memory ``index`` of a bank of ``(read, write)`` port pairs."""
    return Array(rp.data.as_value() if hasattr(rp.data, "as_value") else rp.data
                 for rp, _ in memories)[index]


def _write_banked(m, memories, addr, bits, data):
    """Write ``data`` to element ``addr`` of a banked memory: bank ``addr mod 2**bits``,
    bank address ``addr >> bits``."""
    for bank, (_, wp) in enumerate(memories):
        m.d.comb += [wp.addr.eq(_high(addr, bits)), wp.data.eq(data),
                     wp.en.eq(_low(addr, bits) == bank)]


def _NO_RW_CHECK(transparent):
    """Memory attributes telling Yosys that a read colliding with a write needs no bypass
    logic (the design never uses such a read), unless the read port is ``transparent``."""
    return {} if transparent else {"no_rw_check": 1}


class _Port:
    """Signals standing in for a memory port (see :meth:`Core._single_port`)."""

    def __init__(self, addr, data, en=None):
        self.addr, self.data, self.en = addr, data, en


class Core(wiring.Component):
    """A time-multiplexed core of ``config.neurons`` LIF neurons.

    Ports
    -----
    start : In(1)
        Pulse while ``busy`` is low to run one time step.
    learn : In(1)
        Sampled with ``start``: apply STDP during this step.
    busy : Out(1)
        High from ``start`` until the step (or a region CRC) is finished.
    done : Out(1)
        One-cycle pulse at the end of a step.
    step_cycles : Out(32)
        Clock cycles taken by the last step, from ``start`` to ``done`` (read it while idle:
        during a step it counts up).
    step_count : Out(32)
        Steps run since reset.
    in_valid, in_index, in_ready
        Push one input spike (input line ``in_index``) for the next step while idle. The events of
        one step must be distinct; they are consumed (and the list emptied) by the step.
    in_count : Out
        Input spikes pushed for the next step.
    bus_region, bus_addr, bus_wdata, bus_we, bus_re, bus_rdata, bus_rvalid, bus_ready
        Word access to the regions of :class:`~spikeforge.rtl.regions.Region` while idle.
        ``bus_rdata`` is valid (``bus_rvalid``) one cycle after ``bus_re``, three cycles for the
        WEIGHT and MASK regions (their read address and the word read are registered).
    crc_start, crc_value, crc_done
        ``crc_start`` with ``bus_region`` computes the CRC-32 of all the region's words (zero
        extended to the bus width); ``crc_value`` holds it when ``crc_done`` pulses.

    Arguments
    ---------
    config : CoreConfig
    crc_serial : bool
        Feed the region CRC one byte per clock (a tenth of the logic, for small FPGAs) instead
        of one word per clock. The value is the same.
    """

    def __init__(self, config, *, crc_serial=False):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        self.config = config
        self.crc_serial = bool(crc_serial)
        c = config
        self._bus_width = bus_width(c)
        super().__init__({
            "start": In(1),
            "learn": In(1),
            "busy": Out(1),
            "done": Out(1),
            "step_cycles": Out(32),
            "step_count": Out(32),
            "in_valid": In(1),
            "in_index": In(c.input_index_bits),
            "in_ready": Out(1),
            "in_count": Out(range(c.inputs + 1)),
            "bus_region": In(Region),
            "bus_addr": In(addr_bits(c)),
            "bus_wdata": In(self._bus_width),
            "bus_we": In(1),
            "bus_re": In(1),
            "bus_rdata": Out(self._bus_width),
            "bus_rvalid": Out(1),
            "bus_ready": Out(1),
            "crc_start": In(1),
            "crc_value": Out(32),
            "crc_done": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        N, M, L, Wr, R = c.neurons, c.inputs, c.lanes, c.words_per_row, c.rows
        lg_lanes = ceil_log2(L)
        B = c.banks
        lg_banks = ceil_log2(B)
        nb_n, nb_m = c.neuron_bank_rows, c.input_bank_rows
        stdp = c.stdp
        adaptive = c.adaptive_threshold

        weight_shape = signed(c.weight_bits)
        trace_shape = unsigned(c.trace_bits)
        acc_shape = signed(c.acc_bits)
        param_layout = region_layout(c, Region.PARAM)
        state_layout = region_layout(c, Region.STATE)
        global_layout = region_layout(c, Region.GLOBAL)
        word_layout = region_layout(c, Region.WEIGHT)

        # -- memories -------------------------------------------------------------------------
        def memory(name, shape, depth, transparent=False):
            # Only the accumulators read a word in the cycle it is written (transparently). No
            # other memory's read data is used when its read and write addresses coincide, so
            # synthesis need not emulate "read old data" on RAM that lacks it.
            mem = Memory(shape=shape, depth=depth, init=[], attrs=_NO_RW_CHECK(transparent))
            m.submodules[name] = mem
            wp = mem.write_port()
            rp = mem.read_port(transparent_for=(wp,) if transparent else ())
            return rp, wp

        # Weight rows are interleaved over B banks (row q of a section in bank q mod B), so that
        # potentiation reads B rows of one column per clock.
        if c.single_port_weights:
            wts = [self._single_port(m, "weights0", word_layout, c.bank_depth)]
        else:
            wts = [memory(f"weights{bank}", word_layout, c.bank_depth) for bank in range(B)]
        # The parameters are split in two memories: the fields of the threshold and the reset
        # (at the bottom of the word) are read two pipeline stages later than the rest, so that
        # they need not be carried through the pipeline in registers.
        late_bits = late_param_bits(c)
        p_rp, p_wp = memory("params", unsigned(param_layout.size - late_bits), N)
        pl_rp, pl_wp = memory("params_late", unsigned(late_bits), N)
        s_rp, s_wp = memory("state", state_layout, N)
        # Accumulators are banked by lane: lane l of word w is neuron w*L + l. Reads are
        # transparent so that back-to-back updates of one word (N <= L) see the last write.
        acc = [memory(f"acc{lane}", acc_shape, Wr, transparent=True) for lane in range(L)]
        spk_rp, spk_wp = memory("spike_list", unsigned(c.neuron_index_bits), N)
        if M:
            inl_rp, inl_wp = memory("input_list", unsigned(c.input_index_bits), M)
            inm_rp, inm_wp = memory("input_map", 1, M)
        if stdp:
            msk = [memory(f"mask{bank}", unsigned(L), c.bank_depth) for bank in range(B)]
            # pre traces are banked like the weight rows, post traces like the lanes
            xtr = [memory(f"xtrace{bank}", trace_shape, nb_n) for bank in range(B)]
            ytr = [memory(f"ytrace{lane}", trace_shape, Wr) for lane in range(L)]
            if M:
                xitr = [memory(f"xintrace{bank}", trace_shape, nb_m) for bank in range(B)]

        poisson = c.has_poisson
        if poisson:
            pr_rp, pr_wp = memory("poisson_rate", unsigned(c.poisson_rate_bits), M)
            ps_rp, ps_wp = memory("poisson_state", unsigned(c.poisson_state_bits), M)

        gl = Signal(global_layout, init={
            "w_shift": 0,
            **({"w_min": c.weight_range[0], "w_max": c.weight_range[1]} if stdp else {}),
        })

        # -- control registers ----------------------------------------------------------------
        n_rec = Signal(range(N + 1))        # spikes in spike_list (this step's arrivals)
        n_in = Signal(range(M + 1))          # input events pushed for the next step
        n_spk = Signal(range(N + 1))         # spikes produced by the running phase B
        learn_r = Signal()
        sround = c.stochastic_rounding
        if sround:
            # the seeds' parts of the uniform values of phases A and C (see _sr_uniform)
            sr_hash_a = Signal(16)
            sr_hash_c = Signal(16)
        list_dirty = Signal()                # STATE was written by the host since the last step
        cycles = Signal(32)
        m.d.comb += self.in_count.eq(n_in)

        # -- host bus: read issue (also used by the CRC engine) -------------------------------
        rd_issue = Signal()
        rd_region = Signal(Region)
        rd_addr = Signal(addr_bits(c))
        rd_q_valid = Signal()                # read data of a region other than WEIGHT and MASK
        rd_q_region = Signal(Region)
        rd_q_lane = Signal(range(L))
        rd_q_bank = Signal(range(B))
        # a WEIGHT or MASK read: its address is registered (1), the word read (2), the word
        # registered (3); the region flags follow the host path's region also while no read is
        # issued, so that a held address keeps its data (the serial CRC)
        rd_w1_valid = Signal()
        rd_w2_valid = Signal()
        rd_w3_valid = Signal()
        rd_w2_bank = Signal(range(B))
        rd_w2_region = Signal(Region)
        rd_w3_region = Signal(Region)
        is_weight = rd_region == Region.WEIGHT
        if stdp:
            is_weight |= rd_region == Region.MASK
        m.d.sync += [
            rd_q_valid.eq(rd_issue & ~is_weight),
            rd_q_region.eq(rd_region),
            rd_q_lane.eq(_low(rd_addr, lg_lanes)),
            rd_q_bank.eq(_low(rd_addr, lg_banks)),
            rd_w1_valid.eq(rd_issue & is_weight),
            rd_w2_valid.eq(rd_w1_valid),
            rd_w3_valid.eq(rd_w2_valid),
            rd_w2_bank.eq(rd_q_bank),
            rd_w2_region.eq(rd_q_region),
            rd_w3_region.eq(rd_w2_region),
        ]
        # The word read from the weight (and mask) memories of one bank is registered: for
        # phase A (stage 1, its bank) and for the host path (the bank of the read) alike.
        w_sel_bank = Signal(range(B))
        w_word_q = Signal(word_layout)
        m.d.comb += w_sel_bank.eq(rd_w2_bank)
        m.d.sync += w_word_q.eq(_select(wts, w_sel_bank))
        if stdp:
            w_mask_q = Signal(L)
            m.d.sync += w_mask_q.eq(_select(msk, w_sel_bank))
        rd_in_flight = rd_q_valid | rd_w1_valid | rd_w2_valid | rd_w3_valid

        # The weight and mask memories (the largest: on the biggest boards, one address net
        # reaches 160 block RAMs) take their read address from a register, loaded with the
        # requested address ``w_req``: their read data comes two cycles after the request (the
        # host path registers it once more); the phases allow for it.
        w_req = Signal(range(c.bank_depth))
        w_raddr = Signal(range(c.bank_depth))
        m.d.sync += w_raddr.eq(w_req)
        for rp, _ in wts + (msk if stdp else []):
            m.d.comb += rp.addr.eq(w_raddr)

        # Default read addresses come from the host path; the phases override them below.
        m.d.comb += [p_rp.addr.eq(rd_addr), pl_rp.addr.eq(rd_addr), s_rp.addr.eq(rd_addr)]
        m.d.comb += w_req.eq(_high(rd_addr, lg_banks))
        if poisson:
            m.d.comb += [pr_rp.addr.eq(rd_addr), ps_rp.addr.eq(rd_addr)]
        if stdp:
            for rp, _ in xtr + (xitr if M else []):
                m.d.comb += rp.addr.eq(_high(rd_addr, lg_banks))
            for y_rp, _ in ytr:
                m.d.comb += y_rp.addr.eq(_high(rd_addr, lg_lanes))

        rdata = Signal(self._bus_width)
        with m.Switch(rd_q_region):
            with m.Case(Region.PARAM):
                m.d.comb += rdata.eq(Cat(pl_rp.data, p_rp.data))
            with m.Case(Region.STATE):
                m.d.comb += rdata.eq(s_rp.data.as_value())
            with m.Case(Region.GLOBAL):
                m.d.comb += rdata.eq(gl.as_value())
            if poisson:
                with m.Case(Region.POISSON_RATE):
                    m.d.comb += rdata.eq(pr_rp.data)
                with m.Case(Region.POISSON_STATE):
                    m.d.comb += rdata.eq(ps_rp.data)
            if stdp:
                with m.Case(Region.XTRACE):
                    m.d.comb += rdata.eq(_select(xtr, rd_q_bank))
                with m.Case(Region.YTRACE):
                    m.d.comb += rdata.eq(Array(y_rp.data for y_rp, _ in ytr)[rd_q_lane])
                if M:
                    with m.Case(Region.XINTRACE):
                        m.d.comb += rdata.eq(_select(xitr, rd_q_bank))
        # a read of another region takes precedence (it can follow a weight read closely)
        with m.If(~rd_q_valid & (rd_w3_region == Region.WEIGHT)):
            m.d.comb += rdata.eq(w_word_q.as_value())
        if stdp:
            with m.If(~rd_q_valid & (rd_w3_region == Region.MASK)):
                m.d.comb += rdata.eq(w_mask_q)
        m.d.comb += [self.bus_rdata.eq(rdata), self.bus_rvalid.eq(rd_q_valid | rd_w3_valid)]

        # -- host bus: writes (idle only; gated below) ----------------------------------------
        host_we = Signal()
        with m.If(host_we):
            with m.Switch(self.bus_region):
                with m.Case(Region.WEIGHT):
                    _write_banked(m, wts, self.bus_addr, lg_banks, self.bus_wdata)
                with m.Case(Region.PARAM):
                    m.d.comb += [p_wp.addr.eq(self.bus_addr),
                                 p_wp.data.eq(self.bus_wdata[late_bits:param_layout.size]),
                                 p_wp.en.eq(1),
                                 pl_wp.addr.eq(self.bus_addr),
                                 pl_wp.data.eq(self.bus_wdata[:late_bits]), pl_wp.en.eq(1)]
                with m.Case(Region.STATE):
                    m.d.comb += [s_wp.addr.eq(self.bus_addr), s_wp.data.eq(self.bus_wdata),
                                 s_wp.en.eq(1)]
                    # the spike bits may have changed: rebuild the spike list before the next step
                    m.d.sync += list_dirty.eq(1)
                with m.Case(Region.GLOBAL):
                    m.d.sync += gl.eq(self.bus_wdata)
                if poisson:
                    with m.Case(Region.POISSON_RATE):
                        m.d.comb += [pr_wp.addr.eq(self.bus_addr), pr_wp.data.eq(self.bus_wdata),
                                     pr_wp.en.eq(1)]
                    with m.Case(Region.POISSON_STATE):
                        m.d.comb += [ps_wp.addr.eq(self.bus_addr), ps_wp.data.eq(self.bus_wdata),
                                     ps_wp.en.eq(1)]
                if stdp:
                    with m.Case(Region.MASK):
                        _write_banked(m, msk, self.bus_addr, lg_banks, self.bus_wdata)
                    with m.Case(Region.XTRACE):
                        _write_banked(m, xtr, self.bus_addr, lg_banks, self.bus_wdata)
                    with m.Case(Region.YTRACE):
                        _write_banked(m, ytr, self.bus_addr, lg_lanes, self.bus_wdata)
                    if M:
                        with m.Case(Region.XINTRACE):
                            _write_banked(m, xitr, self.bus_addr, lg_banks, self.bus_wdata)

        # -- region CRC engine ------------------------------------------------------------------
        serial = self.crc_serial
        crc = crc_parameters(c, serial=serial).create()
        m.submodules.crc = crc
        crc_region = Signal(Region)
        crc_issue_addr = Signal(addr_bits(c) + 1)
        crc_depth = Signal(addr_bits(c) + 1)  # words of the region being checked
        crc_bytes = crc_width(c) // 8
        m.d.comb += self.crc_value.eq(crc.crc)
        if serial:
            crc_byte = Signal(range(crc_bytes))   # byte of the word being fed to the CRC
            crc_have = Signal()                   # the word being fed has been read
            m.d.comb += crc.data.eq(rdata.word_select(crc_byte, 8))
        else:
            crc_active = Signal()
            m.d.comb += [crc.data.eq(rdata), crc.valid.eq(self.bus_rvalid & crc_active)]
        with m.Switch(crc_region):
            for region in Region:
                with m.Case(region):
                    m.d.comb += crc_depth.eq(region_depth(c, region))

        # -- spike list rebuild (after host writes to STATE) ------------------------------------
        scan_index = Signal(range(N))
        scan1_valid = Signal()
        scan1_index = Signal(range(N))
        with m.If(scan1_valid & s_rp.data.s):
            m.d.comb += [spk_wp.addr.eq(n_spk), spk_wp.data.eq(scan1_index), spk_wp.en.eq(1)]
            m.d.sync += n_spk.eq(n_spk + 1)

        # -- phase 0: Poisson inputs -----------------------------------------------------------
        if poisson:
            p_index = Signal(range(M))
            p1_valid = Signal()
            p1_index = Signal(range(M))
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

        # -- phase A: delivery ------------------------------------------------------------------
        a_event = Signal(range(N + M + 1))   # event being issued
        a_word = Signal(range(Wr))
        a_q_reg = Signal(range(max(N, M)))   # index of the row within its section
        a_in_reg = Signal()                  # the row is an input row
        ev_src_in_q = Signal()               # the fetched list entry is an input event
        ev_q = Signal(range(max(N, M)))      # its index, fetched in the previous cycle
        fetch_index = Signal(range(N + M + 1))
        fetch_en = Signal()
        n_events = Signal(range(N + M + 1))
        m.d.comb += n_events.eq(n_rec + n_in)
        m.d.comb += spk_rp.addr.eq(fetch_index)
        if M:
            m.d.comb += inl_rp.addr.eq(fetch_index - n_rec)
            m.d.comb += ev_q.eq(Mux(ev_src_in_q, inl_rp.data, spk_rp.data))
        else:
            m.d.comb += ev_q.eq(spk_rp.data)
        with m.If(fetch_en):
            m.d.sync += ev_src_in_q.eq(fetch_index >= n_rec)

        # Phase A is a four-stage pipeline: issue (the weight and mask address is requested, the
        # post traces are read), stage 0 (the address is registered at the weight memories),
        # stage 1 (the bank's word is selected and registered, the accumulators are read),
        # stage 2 (accumulate; with learning, the depressed word is written back). Registering
        # the weight word keeps the block RAM output and its bank multiplexer off the adder path.
        a0_valid = Signal()
        a0_word = Signal(range(Wr))
        a0_addr = Signal(range(c.bank_depth))
        a0_bank = Signal(range(B))
        if sround:
            a0_row = Signal(range(N + M))    # the row, for the synapse's rounding
        a1_valid = Signal()
        a1_word = Signal(range(Wr))
        a1_addr = Signal(range(c.bank_depth))
        a1_bank = Signal(range(B))
        a2_valid = Signal()
        a2_word = Signal(range(Wr))
        a2_addr = Signal(range(c.bank_depth))
        a2_bank = Signal(range(B))
        a2_weights = w_word_q                # registered in stage 1 (see w_sel_bank)
        m.d.sync += [a1_valid.eq(a0_valid), a1_word.eq(a0_word), a1_addr.eq(a0_addr),
                     a1_bank.eq(a0_bank)]
        m.d.sync += [a2_valid.eq(a1_valid), a2_word.eq(a1_word), a2_addr.eq(a1_addr),
                     a2_bank.eq(a1_bank)]
        with m.If(a1_valid):
            m.d.comb += w_sel_bank.eq(a1_bank)
        if stdp:
            a2_mask = w_mask_q
            # The depression of word w, (a_minus * y) >> stdp_shift per lane, is computed in
            # stage 0 from the post traces of word w (read at the issue; y does not change
            # during phase A) and registered twice.
            a_dep = []
            for lane in range(L):
                if sround:
                    # stochastic rounding: the product shifted with 16 bits of its fraction
                    # and the synapse's uniform value in stage 0, rounded in stage 1
                    scaled = _sr_scaled(gl.a_minus * ytr[lane][0].data, gl.stdp_shift)
                    col = a0_word * L + lane
                    reg1 = Signal(scaled.shape(), name=f"a_dep1_{lane}")
                    reg1_u = Signal(16, name=f"a_dep1_u{lane}")
                    m.d.sync += [reg1.eq(scaled),
                                 reg1_u.eq(_sr_uniform(sr_hash_a, a0_row, col[:10]))]
                    rounded = _sr_round(reg1, reg1_u)
                    reg2 = Signal(rounded.shape(), name=f"a_dep2_{lane}")
                    m.d.sync += reg2.eq(rounded)
                    a_dep.append(reg2)
                    continue
                depression = (gl.a_minus * ytr[lane][0].data) >> gl.stdp_shift
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
                        learns, self._clampw(weights[lane] - a_dep[lane], gl), weights[lane]))
            if stdp:
                for bank, (_, wp) in enumerate(wts):
                    m.d.comb += [wp.addr.eq(a2_addr), wp.data.eq(new_word),
                                 wp.en.eq(learn_r & (a2_bank == bank))]

        # -- phase B: neuron update -------------------------------------------------------------
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
        b_index = Signal(range(max(N, M) + 1))
        b_drain = Signal(range(4))
        b1_valid = Signal()
        b1_index = Signal(range(max(N, M) + 1))
        b1_lane = Signal(range(L))
        b1_xbank = Signal(range(B))          # pre-trace bank of the neuron and input in stage 1

        b2_valid, b3_valid, b4_valid = Signal(), Signal(), Signal()
        b2_index = Signal(range(max(N, M) + 1))
        b3_index = Signal(range(max(N, M) + 1))
        b4_index = Signal(range(max(N, M) + 1))
        b2_lane, b3_lane, b4_lane = Signal(range(L)), Signal(range(L)), Signal(range(L))
        b2_xbank = Signal(range(B))
        b4_spike = Signal()                  # the neuron in stage 4 fires

        st = s_rp.data
        # the early fields are valid in stage 1, the late ones in stage 3
        pr = data.View(param_layout, Cat(pl_rp.data, p_rp.data))
        acc_value = Array(acc_rp.data for acc_rp, _ in acc)[b1_lane]
        b1_bank = b1_index[lg_lanes:] if lg_lanes else b1_index
        # theta (read in stage 1) is carried to stage 3, where the threshold thr + theta is
        # formed from the late parameters
        b2_theta = Signal(c.theta_bits if adaptive else 0)
        b3_theta = Signal(c.theta_bits if adaptive else 0)
        if adaptive:
            m.d.sync += [b2_theta.eq(st.theta), b3_theta.eq(b2_theta)]

        # stage 1 -> 2 registers
        prod_i = st.i * pr.alpha_i
        prod_v = st.v * pr.alpha_v
        acc_sh = acc_value << gl.w_shift
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
            b2_bias.eq(pr.bias), b2_v.eq(st.v), b2_r.eq(st.r),
        ]
        if adaptive:
            prod_th = st.theta * pr.alpha_th
            b2_prod_th = Signal(prod_th.shape(), reset_less=True)
            b2_theta_inc = Signal(c.theta_bits)
            m.d.sync += [b2_prod_th.eq(prod_th), b2_theta_inc.eq(pr.theta_inc)]
        if stdp:
            y_old = Array(y_rp.data for y_rp, _ in ytr)[b1_lane]
            prod_y = y_old * gl.alpha_y
            prod_x = _select(xtr, b1_xbank) * gl.alpha_x
            b2_prod_y = Signal(prod_y.shape(), reset_less=True)
            b2_prod_x = Signal(prod_x.shape(), reset_less=True)
            b2_s = Signal()
            m.d.sync += [b2_prod_y.eq(prod_y), b2_prod_x.eq(prod_x), b2_s.eq(st.s)]
            if M:
                prod_xi = _select(xitr, b1_xbank) * gl.alpha_x
                b2_prod_xi = Signal(prod_xi.shape(), reset_less=True)
                b2_inm = Signal()
                m.d.sync += [b2_prod_xi.eq(prod_xi), b2_inm.eq(inm_rp.data)]

        with m.If(b1_valid):
            with m.If(b1_index < N):
                # the accumulator is consumed: clear it for the next step
                for lane, (_, acc_wp) in enumerate(acc):
                    m.d.comb += [acc_wp.addr.eq(b1_bank), acc_wp.data.eq(0),
                                 acc_wp.en.eq(b1_lane == lane)]
            if M:
                with m.If(b1_index < M):
                    m.d.comb += [inm_wp.addr.eq(b1_index), inm_wp.data.eq(0), inm_wp.en.eq(1)]

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
            b3_i.eq(_sat(i_sum, signed(c.i_bits))),
            b3_v.eq(Mux(b2_r != 0, b2_v, rtz(b2_prod_v))),   # |dec(v)| <= |v|: fits
            b3_r.eq(b2_r),
        ]
        # the decayed theta and y with and without this step's increment (chosen in stage 4)
        if adaptive:
            dec_th = b2_prod_th >> F
            b3_theta_no = Signal(c.theta_bits)
            b3_theta_yes = Signal(c.theta_bits)
            m.d.sync += [b3_theta_no.eq(dec_th),
                         b3_theta_yes.eq(_sat(dec_th + b2_theta_inc, unsigned(c.theta_bits)))]
        if stdp:
            dec_y = b2_prod_y >> F
            b3_y_no = Signal(trace_shape)
            b3_y_yes = Signal(trace_shape)
            m.d.sync += [b3_y_no.eq(dec_y), b3_y_yes.eq(_sat(dec_y + gl.y_inc, trace_shape))]
        with m.If(b2_valid):
            m.d.comb += pl_rp.addr.eq(b2_index)      # late parameters, used in stage 3
            if stdp:
                with m.If(b2_index < N):
                    x_new = _sat((b2_prod_x >> F) + Mux(b2_s, gl.x_inc, 0), trace_shape)
                    _write_banked(m, xtr, b2_index, lg_banks, x_new)
                if M:
                    with m.If(b2_index < M):
                        xi_new = _sat((b2_prod_xi >> F) + Mux(b2_inm, gl.x_inc, 0), trace_shape)
                        _write_banked(m, xitr, b2_index, lg_banks, xi_new)

        # stage 3 -> 4 registers
        refractory3 = b3_r != 0
        b4_i = Signal(signed(c.i_bits))
        b4_v1 = Signal(vb_shape)
        b4_th = Signal(vb_shape)
        b4_r = Signal(c.refrac_bits)
        b4_refrac = Signal(c.refrac_bits)
        b4_reset_sub = Signal()
        b4_v_reset = Signal(vb_shape)
        v_integrated = _sat(b3_v + b3_i, vb_shape)
        if c.v_floor:
            # the membrane floor bounds v after integration
            v_integrated = Mux(v_integrated.as_signed() < gl.v_min, gl.v_min, v_integrated)
        m.d.sync += [
            b4_valid.eq(b3_valid), b4_index.eq(b3_index), b4_lane.eq(b3_lane),
            b4_i.eq(b3_i),
            b4_v1.eq(Mux(refractory3, b3_v, v_integrated)),
            # the late parameters of the neuron in stage 3 arrive now
            b4_th.eq(_sat(pr.thr + b3_theta, vb_shape)), b4_r.eq(b3_r),
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

        # stage 4: fire, reset, write
        with m.If(b4_valid):
            b4_bank = b4_index[lg_lanes:] if lg_lanes else b4_index
            with m.If(b4_index < N):
                refractory = b4_r != 0
                diff = Signal(signed(c.v_bits + 1))
                spike = Signal()
                m.d.comb += [
                    diff.eq(b4_v1 - b4_th),
                    spike.eq(~refractory & ~diff[-1]),     # v1 >= th
                    b4_spike.eq(spike),
                ]
                new_state = Signal(state_layout)
                m.d.comb += [
                    new_state.i.eq(b4_i),
                    new_state.v.eq(Mux(spike,
                                       Mux(b4_reset_sub, _sat(diff, vb_shape), b4_v_reset),
                                       b4_v1)),
                    new_state.r.eq(Mux(refractory, b4_r - 1, Mux(spike, b4_refrac, 0))),
                    new_state.s.eq(spike),
                ]
                if adaptive:
                    m.d.comb += new_state.theta.eq(Mux(spike, b4_theta_yes, b4_theta_no))
                m.d.comb += [s_wp.addr.eq(b4_index), s_wp.data.eq(new_state), s_wp.en.eq(1)]
                with m.If(spike):
                    m.d.comb += [spk_wp.addr.eq(n_spk), spk_wp.data.eq(b4_index),
                                 spk_wp.en.eq(1)]
                    m.d.sync += n_spk.eq(n_spk + 1)
                if stdp:
                    y_new = Mux(spike, b4_y_yes, b4_y_no)
                    for lane, (_, y_wp) in enumerate(ytr):
                        m.d.comb += [y_wp.addr.eq(b4_bank), y_wp.data.eq(y_new),
                                     y_wp.en.eq(b4_lane == lane)]

        # -- phase C: potentiation ----------------------------------------------------------------
        if stdp:
            # The column of a neuron that spiked is walked one bank row at a time: B rows (one
            # per bank) per clock, in bank row order — neuron rows, then input rows.
            c_spike = Signal(range(N + 1))
            c_brow = Signal(range(nb_n + nb_m))  # bank row being issued
            c_addr = Signal(range(c.bank_depth + Wr))
            c_post_q = Signal(range(N))
            # stage 0: the weight and mask address is registered at the memories
            c0_valid = Signal()
            c0_src_in = Signal()
            c0_q0 = Signal(range(max(N, M) + B))
            c0_addr = Signal(range(c.bank_depth))
            c0_lane = Signal(range(L))
            c0_post = Signal(range(N)) if sround else None
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
            cx_src_in = Signal()                 # the traces being read are input traces
            c_pot = []
            for bank in range(B):
                x_value = (Mux(cx_src_in, xitr[bank][0].data, xtr[bank][0].data) if M
                           else xtr[bank][0].data)
                if sround:
                    # stochastic rounding: shifted with 16 bits of fraction and the synapse's
                    # uniform value in stage 0, rounded in stage 1
                    scaled = _sr_scaled(gl.a_plus * x_value, gl.stdp_shift)
                    row = c0_q0 + bank + Mux(c0_src_in, N, 0)
                    reg = Signal(scaled.shape(), name=f"c_pot{bank}")
                    reg_u = Signal(16, name=f"c_pot_u{bank}")
                    m.d.sync += [reg.eq(scaled),
                                 reg_u.eq(_sr_uniform(sr_hash_c, row[:11], c0_post))]
                    rounded = Signal(_sr_round(reg, reg_u).shape(), name=f"c_potr{bank}")
                    m.d.comb += rounded.eq(_sr_round(reg, reg_u))
                    c_pot.append(rounded)
                    continue
                potentiation = (gl.a_plus * x_value) >> gl.stdp_shift
                reg = Signal(potentiation.shape(), name=f"c_pot{bank}")
                m.d.sync += reg.eq(potentiation)
                c_pot.append(reg)

            def c_issue_traces(brow):
                for rp, _ in xtr:
                    m.d.comb += rp.addr.eq(brow)
                if M:
                    for rp, _ in xitr:
                        m.d.comb += rp.addr.eq(brow - nb_n)
                m.d.sync += cx_src_in.eq(brow >= nb_n)

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
                cu_words = [Signal(word_layout, name=f"c2_old{bank}") for bank in range(B)]
                cu_masks = [Signal(L, name=f"c2_mask{bank}") for bank in range(B)]
                m.d.sync += [cu_valid.eq(c1_valid), cu_src_in.eq(c1_src_in), cu_q0.eq(c1_q0),
                             cu_addr.eq(c1_addr), cu_lane.eq(c1_lane)]
                for bank in range(B):
                    m.d.sync += [cu_pot[bank].eq(c_pot[bank]),
                                 cu_words[bank].eq(wts[bank][0].data),
                                 cu_masks[bank].eq(msk[bank][0].data)]
            else:
                cu_valid, cu_src_in, cu_q0, cu_addr, cu_lane = (c1_valid, c1_src_in, c1_q0,
                                                                c1_addr, c1_lane)
                cu_pot = c_pot
                cu_words = [wts[bank][0].data for bank in range(B)]
                cu_masks = [msk[bank][0].data for bank in range(B)]
            with m.If(cu_valid):
                for bank in range(B):
                    w_wp = wts[bank][1]
                    old_word = cu_words[bank]
                    row_valid = cu_q0 + bank < Mux(cu_src_in, M, N)
                    new_word = Signal(word_layout, name=f"c_word{bank}")
                    for lane in range(L):
                        learns = row_valid & (cu_lane == lane) & cu_masks[bank][lane]
                        m.d.comb += new_word[lane].eq(Mux(
                            learns, self._clampw(old_word[lane] + cu_pot[bank], gl),
                            old_word[lane]))
                    m.d.comb += [w_wp.addr.eq(cu_addr), w_wp.data.eq(new_word), w_wp.en.eq(1)]

        # -- sequencing -------------------------------------------------------------------------
        def a_prime():
            self._a_prime(m, cycles, fetch_index, fetch_en, a_event, a_word, n_events)

        m.d.sync += [a0_valid.eq(0), b1_valid.eq(0), scan1_valid.eq(0), self.done.eq(0),
                     self.crc_done.eq(0)]
        if poisson:
            m.d.sync += p1_valid.eq(0)
        if stdp:
            m.d.sync += c0_valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [
                    self.bus_ready.eq(1),
                    self.in_ready.eq(n_in < M),
                    host_we.eq(self.bus_we),
                    rd_issue.eq(self.bus_re),
                    rd_region.eq(self.bus_region),
                    rd_addr.eq(self.bus_addr),
                ]
                if M:
                    with m.If(self.in_valid & (n_in < M) & (self.in_index < M)):
                        m.d.comb += [inl_wp.addr.eq(n_in), inl_wp.data.eq(self.in_index),
                                     inl_wp.en.eq(1),
                                     inm_wp.addr.eq(self.in_index), inm_wp.data.eq(1),
                                     inm_wp.en.eq(1)]
                        m.d.sync += n_in.eq(n_in + 1)
                with m.If(self.start):
                    m.d.sync += [learn_r.eq(self.learn if stdp else 0), cycles.eq(1),
                                 scan_index.eq(0), n_spk.eq(0)]
                    if sround:
                        # a learning step advances the seed twice: phase A, then phase C
                        with m.If(self.learn):
                            seed_a = _xorshift32(gl.sr_seed)
                            seed_c = _xorshift32(seed_a)
                            m.d.sync += [sr_hash_a.eq(_sr_hash(seed_a)),
                                         sr_hash_c.eq(_sr_hash(seed_c)),
                                         gl.sr_seed.eq(seed_c)]
                    with m.If(list_dirty):
                        m.next = "SCAN"
                    with m.Else():
                        m.next = "INPUTS"
                with m.Elif(self.crc_start):
                    m.d.sync += [crc_region.eq(self.bus_region), crc_issue_addr.eq(0)]
                    if not serial:
                        m.d.sync += crc_active.eq(1)
                    m.d.comb += crc.start.eq(1)
                    m.next = "CRC"

            if serial:
                # region CRC: read a word, then feed its bytes to the CRC one per clock while
                # the read address is held (so the read data stays)
                with m.State("CRC"):
                    m.d.comb += [rd_region.eq(crc_region), rd_addr.eq(crc_issue_addr)]
                    m.d.sync += [crc_byte.eq(0), crc_have.eq(0)]
                    with m.If(crc_issue_addr < crc_depth):
                        m.d.comb += rd_issue.eq(1)
                        m.d.sync += crc_issue_addr.eq(crc_issue_addr + 1)
                        m.next = "CRC_BYTES"
                    with m.Else():
                        # the last byte entered the CRC register at the previous edge
                        m.d.sync += self.crc_done.eq(1)
                        m.next = "IDLE"

                with m.State("CRC_BYTES"):
                    # the bytes are fed from the cycle the read data arrives (bus_rvalid)
                    have = crc_have | self.bus_rvalid
                    m.d.comb += [rd_region.eq(crc_region), rd_addr.eq(crc_issue_addr - 1),
                                 crc.valid.eq(have)]
                    m.d.sync += crc_have.eq(have)
                    with m.If(have):
                        m.d.sync += crc_byte.eq(crc_byte + 1)
                        with m.If(crc_byte == crc_bytes - 1):
                            m.next = "CRC"
            else:
                # region CRC: one word per clock, the reads pipelined
                with m.State("CRC"):
                    m.d.comb += [rd_region.eq(crc_region), rd_addr.eq(crc_issue_addr)]
                    with m.If(crc_issue_addr < crc_depth):
                        m.d.comb += rd_issue.eq(1)
                        m.d.sync += crc_issue_addr.eq(crc_issue_addr + 1)
                    with m.Elif(~rd_in_flight):
                        # the last word entered the CRC register at the previous edge
                        m.d.sync += [self.crc_done.eq(1), crc_active.eq(0)]
                        m.next = "IDLE"

            with m.State("SCAN"):
                # rebuild the spike list from the spike bits written by the host
                m.d.sync += [cycles.eq(cycles + 1), scan_index.eq(scan_index + 1),
                             scan1_valid.eq(1), scan1_index.eq(scan_index)]
                m.d.comb += s_rp.addr.eq(scan_index)
                with m.If(scan_index == N - 1):
                    m.next = "SCAN_DRAIN"

            with m.State("SCAN_DRAIN"):
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "SCAN_END"

            with m.State("SCAN_END"):
                m.d.sync += [cycles.eq(cycles + 1), n_rec.eq(n_spk), list_dirty.eq(0)]
                m.next = "INPUTS"

            # the first cycle after the optional rebuild: it issues the first Poisson draw of
            # phase 0, or, without phase 0, primes phase A
            with m.State("INPUTS"):
                if poisson:
                    with m.If(gl.poisson_on):
                        m.d.sync += [cycles.eq(cycles + 1), p_index.eq(1), p1_valid.eq(1),
                                     p1_index.eq(0)]
                        self._p_issue(m, pr_rp, ps_rp, inm_rp, 0)
                        m.next = "P_RUN" if M > 1 else "P_DRAIN"
                    with m.Else():
                        a_prime()
                else:
                    a_prime()

            if poisson:
                with m.State("P_RUN"):
                    m.d.sync += [cycles.eq(cycles + 1), p_index.eq(p_index + 1),
                                 p1_valid.eq(1), p1_index.eq(p_index)]
                    self._p_issue(m, pr_rp, ps_rp, inm_rp, p_index)
                    with m.If(p_index == M - 1):
                        m.next = "P_DRAIN"

                with m.State("P_DRAIN"):
                    m.d.sync += cycles.eq(cycles + 1)
                    m.next = "A_PRIME"

            with m.State("A_PRIME"):
                a_prime()

            with m.State("A_RUN"):
                m.d.sync += cycles.eq(cycles + 1)
                q = Signal(range(max(N, M)))
                is_input = Signal()
                m.d.comb += [q.eq(Mux(a_word == 0, ev_q, a_q_reg)),
                             is_input.eq(Mux(a_word == 0, ev_src_in_q, a_in_reg))]
                with m.If(a_word == 0):
                    m.d.sync += [a_q_reg.eq(ev_q), a_in_reg.eq(ev_src_in_q)]
                bank_row = Signal(range(nb_n + nb_m))
                address = Signal(range(c.bank_depth))
                m.d.comb += [bank_row.eq(_high(q, lg_banks) + Mux(is_input, nb_n, 0)),
                             address.eq(bank_row * Wr + a_word)]
                m.d.comb += [fetch_index.eq(a_event + 1), fetch_en.eq(1), w_req.eq(address)]
                if stdp:
                    # post traces of the word (see a_dep)
                    for y_rp, _ in ytr:
                        m.d.comb += y_rp.addr.eq(a_word)
                m.d.sync += [a0_valid.eq(1), a0_word.eq(a_word), a0_addr.eq(address),
                             a0_bank.eq(_low(q, lg_banks))]
                if sround:
                    m.d.sync += a0_row.eq(q + Mux(is_input, N, 0))
                with m.If(a_word == Wr - 1):
                    m.d.sync += [a_word.eq(0), a_event.eq(a_event + 1)]
                    with m.If(a_event + 1 == n_events):
                        m.next = "A_DRAIN"
                with m.Else():
                    m.d.sync += a_word.eq(a_word + 1)

            # two cycles: phase B's first accumulator read comes in the cycle of the last
            # accumulation (the reads are transparent)
            with m.State("A_DRAIN"):
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "A_DRAIN2"

            with m.State("A_DRAIN2"):
                m.d.sync += [cycles.eq(cycles + 1), b_index.eq(0), n_spk.eq(0)]
                m.next = "B_RUN"

            with m.State("B_RUN"):
                m.d.sync += cycles.eq(cycles + 1)
                bank = b_index[lg_lanes:] if lg_lanes else b_index
                m.d.comb += [s_rp.addr.eq(b_index), p_rp.addr.eq(b_index)]
                for acc_rp, _ in acc:
                    m.d.comb += acc_rp.addr.eq(bank)
                if M:
                    m.d.comb += inm_rp.addr.eq(b_index)
                if stdp:
                    for rp, _ in xtr + (xitr if M else []):
                        m.d.comb += rp.addr.eq(_high(b_index, lg_banks))
                    for y_rp, _ in ytr:
                        m.d.comb += y_rp.addr.eq(bank)
                m.d.sync += [b1_valid.eq(1), b1_index.eq(b_index),
                             b1_lane.eq(_low(b_index, lg_lanes)),
                             b1_xbank.eq(_low(b_index, lg_banks)),
                             b_index.eq(b_index + 1)]
                with m.If(b_index == max(N, M) - 1):
                    m.d.sync += b_drain.eq(0)
                    m.next = "B_DRAIN"

            with m.State("B_DRAIN"):
                # four cycles: the last element issued is in stage 1, 2, 3 and then 4
                m.d.sync += [cycles.eq(cycles + 1), b_drain.eq(b_drain + 1)]
                with m.If(b_drain == 3):
                    if stdp:
                        m.d.sync += c_spike.eq(0)
                        # the last neuron's spike is counted at the end of this cycle
                        with m.If(learn_r & ((n_spk != 0) | b4_spike)):
                            m.next = "C_FETCH"
                        with m.Else():
                            m.next = "FINISH"
                    else:
                        m.next = "FINISH"

            if stdp:
                with m.State("C_FETCH"):
                    m.d.sync += cycles.eq(cycles + 1)
                    m.d.comb += spk_rp.addr.eq(c_spike)
                    m.d.sync += c_brow.eq(0)
                    m.next = "C_START"

                with m.State("C_START"):
                    # first row of the column: the spike list entry arrives this cycle
                    m.d.sync += cycles.eq(cycles + 1)
                    post = spk_rp.data
                    word = post[lg_lanes:] if lg_lanes else post
                    m.d.sync += c_post_q.eq(post)
                    c_issue_traces(c_brow)
                    self._c_issue(m, c, w_req, brow=c_brow, addr=word, post=post,
                                  c0=(c0_valid, c0_src_in, c0_q0, c0_addr, c0_lane),
                                  c0_post=c0_post)
                    m.d.sync += [c_brow.eq(c_brow + 1), c_addr.eq(word + Wr)]
                    self._c_next(m, c_brow, nb_n + nb_m, c_spike, n_spk)

                with m.State("C_RUN"):
                    m.d.sync += cycles.eq(cycles + 1)
                    c_issue_traces(c_brow)
                    self._c_issue(m, c, w_req, brow=c_brow, addr=c_addr, post=c_post_q,
                                  c0=(c0_valid, c0_src_in, c0_q0, c0_addr, c0_lane),
                                  c0_post=c0_post)
                    m.d.sync += [c_brow.eq(c_brow + 1), c_addr.eq(c_addr + Wr)]
                    self._c_next(m, c_brow, nb_n + nb_m, c_spike, n_spk)

                # two cycles: the last write lands before the core is idle again
                with m.State("C_DRAIN"):
                    m.d.sync += cycles.eq(cycles + 1)
                    m.next = "C_DRAIN2"

                with m.State("C_DRAIN2"):
                    m.d.sync += cycles.eq(cycles + 1)
                    m.next = "FINISH"

            with m.State("FINISH"):
                m.d.sync += [
                    self.step_count.eq(self.step_count + 1),
                    self.done.eq(1),
                    n_in.eq(0),
                    n_rec.eq(n_spk),
                ]
                m.next = "IDLE"

        m.d.comb += [self.busy.eq(~self.bus_ready), self.step_cycles.eq(cycles)]
        return m

    @staticmethod
    def _single_port(m, name, shape, depth):
        """A memory whose read and write ports share one address, as single-ported RAM needs.

        Returns ``(read, write)`` stand-ins with the attributes of memory ports (``addr``,
        ``data``, ``en``): the memory reads at the read address in every cycle without a write
        and writes at the write address otherwise (its read data then holds). The core must not
        read and write it in the same cycle; without learning it never does.
        """
        mem = Memory(shape=shape, depth=depth, init=[], attrs=_NO_RW_CHECK(False))
        m.submodules[name] = mem
        wp = mem.write_port()
        rp = mem.read_port()
        read = _Port(addr=Signal.like(rp.addr, name=f"{name}_raddr"), data=rp.data)
        write = _Port(addr=Signal.like(wp.addr, name=f"{name}_waddr"),
                      data=Signal(shape, name=f"{name}_wdata"),
                      en=Signal(name=f"{name}_we"))
        m.d.comb += [
            wp.addr.eq(Mux(write.en, write.addr, read.addr)),
            rp.addr.eq(wp.addr),
            wp.data.eq(write.data),
            wp.en.eq(write.en),
            rp.en.eq(~write.en),
        ]
        return read, write

    @staticmethod
    def _a_prime(m, cycles, fetch_index, fetch_en, a_event, a_word, n_events):
        """Fetch the first arriving row; phase A starts next cycle."""
        m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += [fetch_index.eq(0), fetch_en.eq(1)]
        m.d.sync += [a_event.eq(0), a_word.eq(0)]
        with m.If(n_events == 0):
            m.next = "A_DRAIN"
        with m.Else():
            m.next = "A_RUN"

    @staticmethod
    def _p_issue(m, pr_rp, ps_rp, inm_rp, index):
        """Issue the reads of Poisson generator ``index`` (phase 0)."""
        m.d.comb += [pr_rp.addr.eq(index), ps_rp.addr.eq(index), inm_rp.addr.eq(index)]

    @staticmethod
    def _clampw(value, gl):
        return Mux(value > gl.w_max, gl.w_max, Mux(value < gl.w_min, gl.w_min, value))

    @staticmethod
    def _c_issue(m, c, w_req, *, brow, addr, post, c0, c0_post=None):
        """Issue the reads of bank row ``brow`` of the column of neuron ``post`` (phase C)."""
        c0_valid, c0_src_in, c0_q0, c0_addr, c0_lane = c0
        if c0_post is not None:
            m.d.sync += c0_post.eq(post)
        nb_n = c.neuron_bank_rows
        m.d.comb += w_req.eq(addr)
        is_input = brow >= nb_n
        m.d.sync += [c0_valid.eq(1), c0_src_in.eq(is_input), c0_addr.eq(addr),
                     c0_q0.eq(Mux(is_input, brow - nb_n, brow) * c.banks),
                     c0_lane.eq(_low(post, ceil_log2(c.lanes)))]

    @staticmethod
    def _c_next(m, c_row, rows, c_spike, n_spk):
        with m.If(c_row == rows - 1):
            m.d.sync += c_spike.eq(c_spike + 1)
            with m.If(c_spike + 1 == n_spk):
                m.next = "C_DRAIN"
            with m.Else():
                m.next = "C_FETCH"
        with m.Else():
            m.next = "C_RUN"
