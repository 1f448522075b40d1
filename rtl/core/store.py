"""The core's memories, the host's word access to them over the region bus, and the region CRC.

:func:`inventory` describes every memory the core builds for a configuration (name, shape,
depth, ports, RAM style) as data: :func:`build_memories` builds from it, and
:mod:`spikeforge.boards.resources` reads it to predict block RAM use, so the two cannot drift.

Host access works while the core is idle (the sequencer gates it): a read of WEIGHT and MASK
takes three cycles (address registered, word read, word registered), of the other regions one.
"""

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Mux, Shape, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from ...config import ceil_log2
from ..regions import (Region, addr_bits, crc_parameters, crc_width, late_param_bits,
                       region_depth, region_layout)
from .arith import high, low, select, write_banked

__all__ = ["MemorySpec", "inventory", "build_memories", "build_host_access", "build_crc",
           "build_rescan", "crc_states"]


@dataclass(frozen=True)
class MemorySpec:
    """One memory of the core.

    ``shape`` is the element shape (a width or a layout); ``ports`` is ``"1r1w"`` (one read and
    one write port, simple dual port) or ``"1rw"`` (one address shared by reads and writes, as
    single-ported RAM needs); ``style`` is ``"spram"`` for a memory that can live in
    single-ported RAM, ``"ebr"`` for one that needs block (or LUT) RAM with two ports.
    ``transparent`` reads see a write to the same address in the same cycle.
    """
    name: str
    shape: object
    depth: int
    ports: str = "1r1w"
    style: str = "ebr"
    transparent: bool = False

    @property
    def width(self):
        shape = self.shape
        return shape.size if hasattr(shape, "size") else Shape.cast(shape).width

    @property
    def bits(self):
        return self.width * self.depth


def inventory(config, *, record=True):
    """Every memory of the core built for ``config``, in the order the core builds them;
    without ``record``, no RECORD memory (a core whose engine records no set of neurons)."""
    c = config
    N, M, L, Wr, B = c.neurons, c.inputs, c.lanes, c.words_per_row, c.banks
    trace = unsigned(c.trace_bits)
    word_layout = region_layout(c, Region.WEIGHT)
    late_bits = late_param_bits(c)
    # Weight rows are interleaved over B banks (row q of a section in bank q mod B), so that
    # potentiation reads B rows of one column per clock.
    if c.single_port_weights:
        found = [MemorySpec("weights0", word_layout, c.bank_depth, ports="1rw", style="spram")]
    else:
        found = [MemorySpec(f"weights{bank}", word_layout, c.bank_depth) for bank in range(B)]
    found += [
        # The parameters are split in two memories: the fields of the threshold and the reset
        # (at the bottom of the word) are read two pipeline stages later than the rest, so that
        # they need not be carried through the pipeline in registers.
        MemorySpec("params", unsigned(region_layout(c, Region.PARAM).size - late_bits), N),
        MemorySpec("params_late", unsigned(late_bits), N),
        MemorySpec("state", region_layout(c, Region.STATE), N),
        # Accumulators are banked by lane: lane l of word w is neuron w*L + l. Reads are
        # transparent so that back-to-back updates of one word (N <= L) see the last write.
        *(MemorySpec(f"acc{lane}", signed(c.acc_bits), Wr, transparent=True) for lane in range(L)),
        MemorySpec("spike_list", unsigned(c.neuron_index_bits), N),
    ]
    if record:
        # which neurons a run records (Region.RECORD); read beside the state by the engine
        found.append(MemorySpec("record", unsigned(1), N))
    if M:
        found += [MemorySpec("input_list", unsigned(c.input_index_bits), M),
                  MemorySpec("input_map", unsigned(1), M)]
    if c.stdp:
        found += [MemorySpec(f"mask{bank}", unsigned(L), c.bank_depth) for bank in range(B)]
        # pre traces are banked like the weight rows, post traces like the lanes
        found += [MemorySpec(f"xtrace{bank}", trace, c.neuron_bank_rows) for bank in range(B)]
        found += [MemorySpec(f"ytrace{lane}", trace, Wr) for lane in range(L)]
        if M:
            found += [MemorySpec(f"xintrace{bank}", trace, c.input_bank_rows)
                      for bank in range(B)]
    if c.has_poisson:
        found += [MemorySpec("poisson_rate", unsigned(c.poisson_rate_bits), M),
                  MemorySpec("poisson_state", unsigned(c.poisson_state_bits), M)]
    return found


def _no_rw_check(transparent):
    """Memory attributes telling Yosys that a read colliding with a write needs no bypass
    logic (the design never uses such a read), unless the read port is ``transparent``."""
    return {} if transparent else {"no_rw_check": 1}


class _Port:
    """Signals standing in for a memory port (see :func:`_single_port`)."""

    def __init__(self, addr, data, en=None):
        self.addr, self.data, self.en = addr, data, en


def _dual_port(m, name, shape, depth, transparent=False):
    # Only the accumulators read a word in the cycle it is written (transparently). No other
    # memory's read data is used when its read and write addresses coincide, so synthesis need
    # not emulate "read old data" on RAM that lacks it.
    mem = Memory(shape=shape, depth=depth, init=[], attrs=_no_rw_check(transparent))
    m.submodules[name] = mem
    wp = mem.write_port()
    rp = mem.read_port(transparent_for=(wp,) if transparent else ())
    return rp, wp


def _single_port(m, name, shape, depth):
    """A memory whose read and write ports share one address, as single-ported RAM needs.

    Returns ``(read, write)`` stand-ins with the attributes of memory ports (``addr``,
    ``data``, ``en``): the memory reads at the read address in every cycle without a write
    and writes at the write address otherwise (its read data then holds). The core must not
    read and write it in the same cycle; without learning it never does.
    """
    mem = Memory(shape=shape, depth=depth, init=[], attrs=_no_rw_check(False))
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


def build_memories(m, config, *, record=True):
    """Build the memories of :func:`inventory`; return ``{name: (read port, write port)}``."""
    ports = {}
    for spec in inventory(config, record=record):
        if spec.ports == "1rw":
            ports[spec.name] = _single_port(m, spec.name, spec.shape, spec.depth)
        else:
            ports[spec.name] = _dual_port(m, spec.name, spec.shape, spec.depth,
                                          transparent=spec.transparent)
    return ports


def _banked(ports, prefix, count):
    return [ports[f"{prefix}{index}"] for index in range(count)]


def attach_memories(k, ports):
    """Name the ports of :func:`build_memories` on the core's parts ``k``."""
    c = k.config
    B, L = c.banks, c.lanes
    k.wts = _banked(ports, "weights", 1 if c.single_port_weights else B)
    k.p_rp, k.p_wp = ports["params"]
    k.pl_rp, k.pl_wp = ports["params_late"]
    k.s_rp, k.s_wp = ports["state"]
    k.acc = _banked(ports, "acc", L)
    k.spk_rp, k.spk_wp = ports["spike_list"]
    if k.record:
        k.rec_rp, k.rec_wp = ports["record"]
    if c.inputs:
        k.inl_rp, k.inl_wp = ports["input_list"]
        k.inm_rp, k.inm_wp = ports["input_map"]
    if c.stdp:
        k.msk = _banked(ports, "mask", B)
        k.xtr = _banked(ports, "xtrace", B)
        k.ytr = _banked(ports, "ytrace", L)
        if c.inputs:
            k.xitr = _banked(ports, "xintrace", B)
    if c.has_poisson:
        k.pr_rp, k.pr_wp = ports["poisson_rate"]
        k.ps_rp, k.ps_wp = ports["poisson_state"]


def build_host_access(m, k):
    """The host's reads (also used by the CRC engine) and writes over the region bus."""
    c = k.config
    bus = k.bus
    M, L, B = c.inputs, c.lanes, c.banks
    lg_lanes, lg_banks = ceil_log2(L), ceil_log2(B)
    stdp, poisson = c.stdp, c.has_poisson
    wts, gl = k.wts, k.gl
    p_rp, pl_rp, s_rp = k.p_rp, k.pl_rp, k.s_rp
    word_layout = region_layout(c, Region.WEIGHT)
    param_layout = region_layout(c, Region.PARAM)
    late_bits = late_param_bits(c)

    # -- host bus: read issue (also used by the CRC engine) -------------------------------
    k.rd_issue = rd_issue = Signal()
    k.rd_region = rd_region = Signal(Region)
    k.rd_addr = rd_addr = Signal(addr_bits(c))
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
        rd_q_lane.eq(low(rd_addr, lg_lanes)),
        rd_q_bank.eq(low(rd_addr, lg_banks)),
        rd_w1_valid.eq(rd_issue & is_weight),
        rd_w2_valid.eq(rd_w1_valid),
        rd_w3_valid.eq(rd_w2_valid),
        rd_w2_bank.eq(rd_q_bank),
        rd_w2_region.eq(rd_q_region),
        rd_w3_region.eq(rd_w2_region),
    ]
    # The word read from the weight (and mask) memories of one bank is registered: for
    # phase A (stage 1, its bank) and for the host path (the bank of the read) alike.
    k.w_sel_bank = w_sel_bank = Signal(range(B))
    k.w_word_q = w_word_q = Signal(word_layout)
    m.d.comb += w_sel_bank.eq(rd_w2_bank)
    m.d.sync += w_word_q.eq(select(wts, w_sel_bank))
    if stdp:
        k.w_mask_q = w_mask_q = Signal(L)
        m.d.sync += w_mask_q.eq(select(k.msk, w_sel_bank))
    k.rd_in_flight = rd_q_valid | rd_w1_valid | rd_w2_valid | rd_w3_valid

    # The weight and mask memories (the largest: on the biggest boards, one address net
    # reaches 160 block RAMs) take their read address from a register, loaded with the
    # requested address ``w_req``: their read data comes two cycles after the request (the
    # host path registers it once more); the phases allow for it.
    k.w_req = w_req = Signal(range(c.bank_depth))
    w_raddr = Signal(range(c.bank_depth))
    m.d.sync += w_raddr.eq(w_req)
    for rp, _ in wts + (k.msk if stdp else []):
        m.d.comb += rp.addr.eq(w_raddr)

    # Default read addresses come from the host path; the phases override them below.
    m.d.comb += [p_rp.addr.eq(rd_addr), pl_rp.addr.eq(rd_addr), s_rp.addr.eq(rd_addr)]
    if k.record:
        m.d.comb += k.rec_rp.addr.eq(rd_addr)
    m.d.comb += w_req.eq(high(rd_addr, lg_banks))
    if poisson:
        m.d.comb += [k.pr_rp.addr.eq(rd_addr), k.ps_rp.addr.eq(rd_addr)]
    if stdp:
        for rp, _ in k.xtr + (k.xitr if M else []):
            m.d.comb += rp.addr.eq(high(rd_addr, lg_banks))
        for y_rp, _ in k.ytr:
            m.d.comb += y_rp.addr.eq(high(rd_addr, lg_lanes))

    k.rdata = rdata = Signal(k.bus_width)
    with m.Switch(rd_q_region):
        with m.Case(Region.PARAM):
            m.d.comb += rdata.eq(Cat(pl_rp.data, p_rp.data))
        with m.Case(Region.STATE):
            m.d.comb += rdata.eq(s_rp.data.as_value())
        with m.Case(Region.GLOBAL):
            m.d.comb += rdata.eq(gl.as_value())
        if k.record:
            with m.Case(Region.RECORD):
                m.d.comb += rdata.eq(k.rec_rp.data)
        if poisson:
            with m.Case(Region.POISSON_RATE):
                m.d.comb += rdata.eq(k.pr_rp.data)
            with m.Case(Region.POISSON_STATE):
                m.d.comb += rdata.eq(k.ps_rp.data)
        if stdp:
            with m.Case(Region.XTRACE):
                m.d.comb += rdata.eq(select(k.xtr, rd_q_bank))
            with m.Case(Region.YTRACE):
                m.d.comb += rdata.eq(Array(y_rp.data for y_rp, _ in k.ytr)[rd_q_lane])
            if M:
                with m.Case(Region.XINTRACE):
                    m.d.comb += rdata.eq(select(k.xitr, rd_q_bank))
    # a read of another region takes precedence (it can follow a weight read closely)
    with m.If(~rd_q_valid & (rd_w3_region == Region.WEIGHT)):
        m.d.comb += rdata.eq(w_word_q.as_value())
    if stdp:
        with m.If(~rd_q_valid & (rd_w3_region == Region.MASK)):
            m.d.comb += rdata.eq(w_mask_q)
    m.d.comb += [bus.rdata.eq(rdata), bus.rvalid.eq(rd_q_valid | rd_w3_valid)]
    if k.record:
        m.d.comb += bus.record.eq(k.rec_rp.data)

    # -- host bus: writes (idle only; gated by the sequencer) -----------------------------
    k.host_we = host_we = Signal()
    with m.If(host_we):
        with m.Switch(bus.region):
            with m.Case(Region.WEIGHT):
                write_banked(m, wts, bus.addr, lg_banks, bus.wdata)
            with m.Case(Region.PARAM):
                m.d.comb += [k.p_wp.addr.eq(bus.addr),
                             k.p_wp.data.eq(bus.wdata[late_bits:param_layout.size]),
                             k.p_wp.en.eq(1),
                             k.pl_wp.addr.eq(bus.addr),
                             k.pl_wp.data.eq(bus.wdata[:late_bits]), k.pl_wp.en.eq(1)]
            with m.Case(Region.STATE):
                m.d.comb += [k.s_wp.addr.eq(bus.addr), k.s_wp.data.eq(bus.wdata),
                             k.s_wp.en.eq(1)]
                # the spike bits may have changed: rebuild the spike list before the next step
                m.d.sync += k.list_dirty.eq(1)
            with m.Case(Region.GLOBAL):
                m.d.sync += gl.eq(bus.wdata)
            if k.record:
                with m.Case(Region.RECORD):
                    m.d.comb += [k.rec_wp.addr.eq(bus.addr), k.rec_wp.data.eq(bus.wdata[0]),
                                 k.rec_wp.en.eq(1)]
            if poisson:
                with m.Case(Region.POISSON_RATE):
                    m.d.comb += [k.pr_wp.addr.eq(bus.addr), k.pr_wp.data.eq(bus.wdata),
                                 k.pr_wp.en.eq(1)]
                with m.Case(Region.POISSON_STATE):
                    m.d.comb += [k.ps_wp.addr.eq(bus.addr), k.ps_wp.data.eq(bus.wdata),
                                 k.ps_wp.en.eq(1)]
            if stdp:
                with m.Case(Region.MASK):
                    write_banked(m, k.msk, bus.addr, lg_banks, bus.wdata)
                with m.Case(Region.XTRACE):
                    write_banked(m, k.xtr, bus.addr, lg_banks, bus.wdata)
                with m.Case(Region.YTRACE):
                    write_banked(m, k.ytr, bus.addr, lg_lanes, bus.wdata)
                if M:
                    with m.Case(Region.XINTRACE):
                        write_banked(m, k.xitr, bus.addr, lg_banks, bus.wdata)


def build_crc(m, k):
    """The region CRC engine: the CRC of every word of one region, read over the host path."""
    c = k.config
    bus = k.bus
    serial = k.crc_serial
    k.crc = crc = crc_parameters(c, serial=serial).create()
    m.submodules.crc = crc
    k.crc_region = crc_region = Signal(Region)
    k.crc_issue_addr = Signal(addr_bits(c) + 1)
    k.crc_depth = crc_depth = Signal(addr_bits(c) + 1)  # words of the region being checked
    k.crc_bytes = crc_bytes = crc_width(c) // 8
    m.d.comb += bus.crc_value.eq(crc.crc)
    if serial:
        k.crc_byte = crc_byte = Signal(range(crc_bytes))   # byte of the word being fed
        k.crc_have = Signal()                             # the word being fed has been read
        m.d.comb += crc.data.eq(k.rdata.word_select(crc_byte, 8))
    else:
        k.crc_active = crc_active = Signal()
        m.d.comb += [crc.data.eq(k.rdata), crc.valid.eq(bus.rvalid & crc_active)]
    with m.Switch(crc_region):
        for region in Region:
            if region == Region.RECORD and not k.record:
                continue
            with m.Case(region):
                m.d.comb += crc_depth.eq(region_depth(c, region))


def crc_start(m, k):
    """In the idle state: start a CRC of the bus's region (``crc_start``)."""
    m.d.sync += [k.crc_region.eq(k.bus.region), k.crc_issue_addr.eq(0)]
    if not k.crc_serial:
        m.d.sync += k.crc_active.eq(1)
    m.d.comb += k.crc.start.eq(1)
    m.next = "CRC"


def crc_states(m, k):
    """The states of the CRC engine, inside the sequencer's FSM; they return to ``IDLE``."""
    bus = k.bus
    crc, crc_region, crc_issue_addr, crc_depth = k.crc, k.crc_region, k.crc_issue_addr, k.crc_depth
    rd_region, rd_addr, rd_issue = k.rd_region, k.rd_addr, k.rd_issue
    if k.crc_serial:
        crc_byte, crc_have = k.crc_byte, k.crc_have
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
                m.d.sync += bus.crc_done.eq(1)
                m.next = "IDLE"

        with m.State("CRC_BYTES"):
            # the bytes are fed from the cycle the read data arrives (bus.rvalid)
            have = crc_have | bus.rvalid
            m.d.comb += [rd_region.eq(crc_region), rd_addr.eq(crc_issue_addr - 1),
                         crc.valid.eq(have)]
            m.d.sync += crc_have.eq(have)
            with m.If(have):
                m.d.sync += crc_byte.eq(crc_byte + 1)
                with m.If(crc_byte == k.crc_bytes - 1):
                    m.next = "CRC"
    else:
        # region CRC: one word per clock, the reads pipelined
        with m.State("CRC"):
            m.d.comb += [rd_region.eq(crc_region), rd_addr.eq(crc_issue_addr)]
            with m.If(crc_issue_addr < crc_depth):
                m.d.comb += rd_issue.eq(1)
                m.d.sync += crc_issue_addr.eq(crc_issue_addr + 1)
            with m.Elif(~k.rd_in_flight):
                # the last word entered the CRC register at the previous edge
                m.d.sync += [bus.crc_done.eq(1), k.crc_active.eq(0)]
                m.next = "IDLE"


def build_rescan(m, k):
    """The spike list rebuilt from the spike bits of STATE (after host writes to it)."""
    N = k.config.neurons
    k.scan_index = Signal(range(N))
    k.scan1_valid = scan1_valid = Signal()
    k.scan1_index = scan1_index = Signal(range(N))
    with m.If(scan1_valid & k.s_rp.data.s):
        m.d.comb += [k.spk_wp.addr.eq(k.n_spk), k.spk_wp.data.eq(scan1_index),
                     k.spk_wp.en.eq(1)]
        m.d.sync += k.n_spk.eq(k.n_spk + 1)


def rescan_states(m, k):
    """The states of the spike list rebuild, inside the sequencer's FSM; they go on to
    ``INPUTS``."""
    N = k.config.neurons
    cycles, scan_index = k.cycles, k.scan_index
    with m.State("SCAN"):
        # rebuild the spike list from the spike bits written by the host
        m.d.sync += [cycles.eq(cycles + 1), scan_index.eq(scan_index + 1),
                     k.scan1_valid.eq(1), k.scan1_index.eq(scan_index)]
        m.d.comb += k.s_rp.addr.eq(scan_index)
        with m.If(scan_index == N - 1):
            m.next = "SCAN_DRAIN"

    with m.State("SCAN_DRAIN"):
        m.d.sync += cycles.eq(cycles + 1)
        m.next = "SCAN_END"

    with m.State("SCAN_END"):
        m.d.sync += [cycles.eq(cycles + 1), k.n_rec.eq(k.n_spk), k.list_dirty.eq(0)]
        m.next = "INPUTS"
