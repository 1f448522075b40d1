"""The command engine: COBS frames in, checked and executed, COBS frames out.

Three blocks share the engine:

* the **receiver**: the framing components of :mod:`spikeforge.rtl.framing` decode COBS and
  check the CRC; the decoded header and payload are appended to a receive ring. Only when the
  end of the frame arrives and length and CRC check out is the frame committed (made visible to
  the executor); a bad frame is rolled back, so a corrupt request is never acted upon. The CRC
  bytes are written too but rolled back on commit, so the ring holds header and payload of good
  frames back to back.
* the **executor** is one byte-serial FSM. It parses committed frames, answers each request (an
  ACK carrying the request's opcode ``| 0x80``, or a NACK), and between requests runs the steps
  of a RUN: push the step's input spikes into the core, start it, send an OUTPUT frame. The
  core hands over the step's spike count and a read port of its spike list with ``done``
  (:mod:`spikeforge.rtl.core.interface`): the OUTPUT's LIST is read from that list, and so is
  its bitmap (one byte per eight neurons, the list being in ascending order); the probed
  neurons are read over the core's bus. ``span`` counts the cycles between the starts of two
  steps. RUN's ``record`` and ``every`` select what is sent: every neuron's spikes, none, or
  (``LinkParams.record_set``) those whose RECORD bit is set, read over the bus for each entry of
  the list; the probes every ``every``-th step; or (``LinkParams.record_counts``) each recorded
  neuron's spike count over windows of ``every`` steps, kept in a count memory. Its states are
  built by one method per group of requests.
* the **transmitter**: the executor's response bytes and an end item go through a CRC appender
  and a COBS encoder (:mod:`spikeforge.rtl.framing`).

Payloads are read and written through the layouts of :mod:`spikeforge.rtl.protocol`;
``docs/protocol.md`` describes them.
"""

from operator import attrgetter
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import ceil_log2
from .core import CoreSignature
from .framing import COBSDecoder, COBSEncoder, CRCAppender, CRCChecker
from .protocol import (ACK, CRC_BYTES, FRAME_OVERHEAD, HEADER, HEADER_BYTES, INPUT_ARGS,
                       INPUT_RECORD, MAX_COUNT_WINDOW, NACK, OUTPUT_HEADER, PROBE_INDEX,
                       RECORD, REGION_ARGS, REGION_CRC_RESULT, REQUEST_ARGS, RUN_ARGS,
                       RUN_RESULT, SPIKE_COUNT, STATUS, STATUS_COUNTERS, STOP_RESULT, ErrorCode,
                       LinkParams, Opcode, OutputFlag, RecordSelect, ResetFlag, RunFlag,
                       field_bytes, input_index_bits, layout_bytes, link_regions, reset_regions,
                       word_bytes)
from .regions import Region, region_depth, region_layout

__all__ = ["Engine", "OVERLAP_START_CYCLES"]


#: The engine never uses a read that collides with a write to the same word (docs in
#: :mod:`spikeforge.rtl.core`): synthesis needs no bypass logic for it.
_NO_RW = {"no_rw_check": 1}


def _bit(flag):
    """Bit position of a one-bit flag of :mod:`spikeforge.rtl.protocol`."""
    return int(flag).bit_length() - 1


#: Argument bytes each request carries before its variable part.
_ARGS = {op: layout_bytes(layout) if layout else 0 for op, layout in REQUEST_ARGS.items()}


def _fields(namespace, *names):
    """The attributes ``names`` of ``namespace``, as a tuple."""
    return attrgetter(*names)(namespace) if len(names) > 1 else (getattr(namespace, names[0]),)


#: Layouts whose fields the executor sends one by one.
_SENT = (STATUS, OUTPUT_HEADER, SPIKE_COUNT, REGION_CRC_RESULT, RUN_RESULT, STOP_RESULT, NACK)


def _bytes_of(layout, name):
    """Bytes of the field ``name`` of ``layout``."""
    return layout_bytes(layout[name].shape)


def _byte_at(layout, name):
    """Offset in bytes of the field ``name`` of ``layout``."""
    assert layout[name].offset % 8 == 0
    return layout[name].offset // 8


def _run_far_bits(lk):
    """Per bit of RUN's arguments, True for a bit that is not stored: with a short RUN
    (``lk.every_bits``, ``lk.period_bits``), the bits beyond the narrow ``every`` and
    ``period_us``, and the ``record`` bits that must then be 0."""
    far = [False] * RUN_ARGS.size
    if lk.every_bits < RUN_ARGS["every"].width or lk.period_bits < RUN_ARGS["period_us"].width:
        for name, width in (("every", lk.every_bits), ("period_us", lk.period_bits)):
            at = RUN_ARGS[name].offset
            for bit in range(at + width, at + RUN_ARGS[name].width):
                far[bit] = True
        at = RUN_ARGS["record"].offset
        for name, field in RECORD:
            if name == "zero" or (name == "counts" and not lk.record_counts):
                for bit in range(field.offset, field.offset + field.width):
                    far[at + bit] = True
    return far


#: With ``LinkParams.overlap``, clock cycles from the core's ``done`` to the next start when the
#: engine is idle by then and no input is pushed: the decision (which copies the step's
#: results), PUSH and START (each input spike pushed adds two).
OVERLAP_START_CYCLES = 3


class Engine(wiring.Component):
    """The link's command engine for one :class:`~spikeforge.rtl.core.Core`.

    Arguments
    ---------
    link : LinkParams
        Configuration of the core, buffer sizes (receive ring, input slots, probes).
    identify : bytes
        The IDENTIFY response payload (see :func:`~spikeforge.rtl.protocol.identify_payload`).
    clk_hz : int
        Clock frequency, for paced runs (step periods are given in microseconds).

    Ports
    -----
    rx : In(stream.Signature(8))
        Bytes received from the host.
    tx : Out(stream.Signature(8))
        Bytes to send to the host.
    uart_framing_errors, uart_overruns : In(16)
        The UART's error counters, reported by STATUS.
    core : Out(CoreSignature, flipped)
        Connected to the core's ports.
    running : Out(1)
        A run is in progress.
    frame_good, frame_bad : Out(1)
        One-cycle pulses when a frame is accepted or discarded.
    """

    def __init__(self, link, *, identify, clk_hz):
        if not isinstance(link, LinkParams):
            raise TypeError(f"link must be a LinkParams, not {link!r}")
        if not isinstance(clk_hz, int) or clk_hz < 1_000_000:
            raise ValueError(f"clk_hz={clk_hz!r} must be an integer of at least 1 MHz")
        self.link = link
        self.config = link.config
        self.identify = bytes(identify)
        self.clk_hz = clk_hz
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "uart_framing_errors": In(16),
            "uart_overruns": In(16),
            "core": Out(CoreSignature(self.config).flip()),
            "running": Out(1),
            "frame_good": Out(1),
            "frame_bad": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        x = self._declare(m)
        self._receiver(m, x)
        with m.FSM(name="exec"):
            self._parse_states(m, x)
            self._exec_state(m, x)
            self._body_states(m, x)
            if self.config.inputs:
                self._input_states(m, x)
            self._step_states(m, x)
            # last: the return states of EMIT are all known by then
            self._framing_states(m, x)
        return m

    def _declare(self, m):
        """The executor's signals, memories and helpers, shared by the states."""
        c = self.config
        lk = self.link
        core = self.core
        N, M = c.neurons, c.inputs
        max_frame = lk.max_payload + FRAME_OVERHEAD
        ring_bits = ceil_log2(lk.rx_buffer)
        regions = link_regions(lk)
        wb_max = max(word_bytes(c, region) for region in regions)

        counters = {name: Signal(lk.counter_bits, name=f"count_{name}")
                    for name in STATUS_COUNTERS if not name.startswith("uart_")}

        # -- the receive ring (filled by _receiver) ------------------------------------------------
        m.submodules.ring = ring = Memory(shape=8, depth=lk.rx_buffer, init=[], attrs=_NO_RW)
        ring_wp = ring.write_port()
        ring_rp = ring.read_port()
        wptr = Signal(ring_bits + 1)
        commit = Signal(ring_bits + 1)
        rptr = Signal(ring_bits + 1)
        count = Signal(range(max_frame + 1))
        length = Signal(HEADER["length"].shape)
        bad = Signal()

        # -- executor's view of the ring ---------------------------------------------------------
        take = Signal()
        avail = Signal()
        in_byte = Signal(8)
        # The read port always reads the byte at the next read pointer, so ``ring_rp.data``
        # holds the byte at ``rptr``. A byte is committed at least one cycle after it was
        # written, so the read that fetched it saw the write.
        m.d.comb += [ring_rp.addr.eq((rptr + take)[:ring_bits]), avail.eq(rptr != commit),
                     in_byte.eq(ring_rp.data)]
        with m.If(take):
            m.d.sync += rptr.eq(rptr + 1)

        # -- transmitter: the executor's bytes, CRC, COBS ------------------------------------------
        m.submodules.tx_crc = tx_crc = CRCAppender()
        m.submodules.tx_cobs = tx_cobs = COBSEncoder(double=lk.cobs_double)
        wiring.connect(m, tx_crc.o, tx_cobs.i)
        wiring.connect(m, tx_cobs.o, wiring.flipped(self.tx))

        # -- executor ----------------------------------------------------------------------------
        # the header's bytes before the length (seq and opcode); the length goes to ``remain``
        len_at = _byte_at(HEADER, "length")
        hdr = Signal(8 * len_at)
        hdr_view = data.View(HEADER, Cat(hdr, Const(0, HEADER.size - len(hdr))))
        seq = Signal(8)
        opcode = Signal(8)
        m.d.comb += [seq.eq(hdr_view.seq), opcode.eq(hdr_view.opcode)]
        # a request's payload is at most max_payload bytes (the receiver refuses longer
        # frames): the byte and word counters need no more bits than that
        remain = Signal(range(lk.max_payload + 1))
        k = Signal(range(max(lk.max_payload, layout_bytes(PROBE_INDEX) * lk.max_probes) + 2))
        # arguments of every request but RUN
        args_bytes = max(n for op, n in _ARGS.items() if op != Opcode.RUN)
        args = Signal(8 * args_bytes)
        err = Signal(8)
        nargs = Signal(range(max(_ARGS.values()) + 1))

        # bytes to send, least significant first: the widest of a region word, a probe, a
        # response field, the header and the arguments of a request
        probe_bytes = field_bytes(c.v_bits) + field_bytes(c.i_bits)
        field_max = max(layout_bytes(field.shape) for layout in _SENT for _, field in layout)
        # (RUN's arguments go to their own register, not through ``sh``)
        sh = Signal(8 * max(wb_max, probe_bytes, field_max, HEADER_BYTES,
                            *(n for op, n in _ARGS.items() if op != Opcode.RUN)))
        sh_n = Signal(range(sh.shape().width // 8 + 1))
        ret = Signal(8)
        ret_states = {}

        def code_of(state):
            return ret_states.setdefault(state, len(ret_states))

        def emit_then(value, nbytes, state):
            """Send ``nbytes`` bytes of ``value`` (nbytes >= 1), then go to ``state``."""
            m.d.sync += [sh.eq(value), sh_n.eq(nbytes), ret.eq(code_of(state))]
            m.next = "EMIT"

        resp_seq = Signal(8)
        resp_op = Signal(8)
        resp_len = Signal(range(lk.max_payload + 1))

        def respond(op, payload_len, body):
            """Send the header of a response to the current request, then ``body``."""
            m.d.sync += [resp_seq.eq(seq), resp_op.eq(op), resp_len.eq(payload_len),
                         ret.eq(code_of(body if body is not None else "CRC"))]
            m.next = "RESP_HDR"

        def fail(code):
            m.d.sync += err.eq(code)
            m.next = "SKIP"

        # region lookup
        region = Signal(8)
        rg_ok = Signal()
        # the deepest region sets the width of addresses; an offset with a bit above it set
        # is out of range in every region
        depth_max = max(region_depth(c, rg) for rg in regions)
        rg_depth = Signal(range(depth_max + 1))
        rg_wb = Signal(range(wb_max + 1))
        offset = Signal(len(rg_depth))
        # set while the arguments arrive when an offset bit above ``offset``'s is set: those
        # bits are not stored (a 32-bit offset would cost the smallest FPGAs their last cells)
        offset_far = Signal()
        wcount = Signal(REGION_ARGS["count"].shape)
        data_len = Signal(range((2 ** len(wcount) - 1) * wb_max + 1))
        for rg in regions:
            with m.If(region == rg.value):
                m.d.comb += [rg_ok.eq(1), rg_depth.eq(region_depth(c, rg)),
                             rg_wb.eq(word_bytes(c, rg)),
                             data_len.eq(wcount * word_bytes(c, rg))]
        # registered in the CHECK state, one cycle before EXEC uses them: the lookup, the
        # multiply and the comparisons stay off the paths of the executor's decisions
        rg_ok_q = Signal()
        range_ok_q = Signal()
        data_len_q = Signal.like(data_len)

        # run state
        running = Signal()
        m.d.comb += self.running.eq(running)
        run_seq = Signal(8)
        # RUN's argument bytes are received straight into these registers (not while a run
        # is going on: that RUN is refused)
        run_args = Signal(RUN_ARGS)
        run_steps = run_args.steps
        run_flags = run_args.flags
        run_period = run_args.period_us
        if lk.period_bits < len(run_period):
            run_period = run_period[:lk.period_bits]
        steps_done = Signal(32)
        n_probes = Signal(8)
        # recording: whose spikes are sent, counts, and the step's place in its window of
        # ``every`` steps (probes and counts are sent in a window's last step)
        record = data.View(RECORD, run_args.record)
        counts_mode = Signal()
        if lk.record_counts:
            m.d.comb += counts_mode.eq(record.counts)
        # steps left in the window, this one included (a count down: no subtraction of
        # ``every`` to compare with)
        # (``every_bits`` wide: a larger ``every`` is refused)
        every = run_args.every
        if lk.every_bits < len(every):
            every = every[:lk.every_bits]
        phase = Signal.like(every, name="phase")
        win_end = Signal()
        m.d.comb += win_end.eq(phase == 1)
        send_probes = Signal()
        send_counts = Signal()
        # the neuron whose word the bus read last is recorded (its spikes, its count)
        selected = Signal()
        if lk.record_set:
            m.d.comb += selected.eq((record.select == RecordSelect.ALL)
                                    | ((record.select == RecordSelect.SET) & core.bus.record))
        else:
            m.d.comb += selected.eq(record.select == RecordSelect.ALL)
        # its spike is sent (counts are sent instead of spikes)
        sent_bit = Signal()
        m.d.comb += sent_bit.eq(selected & ~counts_mode)
        # recorded neurons (counted at RUN), spikes sent in the step
        n_sel = Signal(range(N + 1))
        n_sent = Signal(range(N + 1))
        # the place in its byte of a bitmap entry whose RECORD bit is being read
        bit_at = Signal(3)
        # a spike-list entry on its way to the region bus: registered first, so that the list
        # memory's read is not on one path with the bus's address decoding
        list_q = Signal(c.neuron_index_bits)
        if lk.record_counts:
            m.submodules.counts = counts_mem = Memory(shape=8, depth=N, init=[], attrs=_NO_RW)
            cnt_wp = counts_mem.write_port()
            cnt_rp = counts_mem.read_port()
        max_probes = max(lk.max_probes, 1)
        pb = layout_bytes(PROBE_INDEX)
        pb_bits = ceil_log2(pb)
        m.submodules.probes = probes = Memory(shape=c.neuron_index_bits, depth=max_probes,
                                                    init=[], attrs=_NO_RW)
        probe_wp = probes.write_port()
        probe_rp = probes.read_port()

        # input slots: S lists of input indices
        S = lk.input_slots
        stream_inputs = Signal()
        free_slots = Signal(range(S + 1), init=S)
        if M:
            m.submodules.slots = slots = Memory(shape=c.input_index_bits, depth=S * M, init=[],
                                                attrs=_NO_RW)
            slot_wp = slots.write_port()
            slot_rp = slots.read_port()
            slot_count = Array(Signal(range(M + 1), name=f"slot_count{s}") for s in range(S))
            wr_slot = Signal(range(S))
            rd_slot = Signal(range(S))
            wr_base = Signal(range(S * M))
            rd_base = Signal(range(S * M))
            rec_n = Signal(range(M + 1))
            # low bits of the index of the next input step expected (protocol.input_index_bits)
            rec_index = Signal(input_index_bits(S))
            m.d.comb += stream_inputs.eq(run_flags[_bit(RunFlag.STREAM)])
        else:
            m.d.comb += stream_inputs.eq(0)
            rec_index = Const(0, 1)

        def clear_slots():
            m.d.sync += free_slots.eq(S)
            if M:
                m.d.sync += [wr_slot.eq(0), rd_slot.eq(0), wr_base.eq(0), rd_base.eq(0)]

        # microsecond timer for paced runs: a fractional divider, exact on average; with a
        # whole number of MHz a counter of that many cycles, which ticks in the same cycles
        # (and costs a tenth of the logic)
        us_tick = Signal()
        if self.clk_hz % 1_000_000 == 0:
            per_us = self.clk_hz // 1_000_000
            us_count = Signal(range(per_us))
            with m.If(us_count == per_us - 1):
                m.d.sync += us_count.eq(0)
                m.d.comb += us_tick.eq(1)
            with m.Else():
                m.d.sync += us_count.eq(us_count + 1)
        else:
            us_acc = Signal(range(self.clk_hz + 1_000_000))
            with m.If(us_acc + 1_000_000 >= self.clk_hz):
                m.d.sync += us_acc.eq(us_acc + 1_000_000 - self.clk_hz)
                m.d.comb += us_tick.eq(1)
            with m.Else():
                m.d.sync += us_acc.eq(us_acc + 1_000_000)
        # (``period_bits`` wide, like ``run_period``: a longer ``period_us`` is refused)
        since_step = Signal(lk.period_bits)
        with m.If(us_tick & (since_step != (1 << lk.period_bits) - 1)):
            m.d.sync += since_step.eq(since_step + 1)
        paced = run_flags[_bit(RunFlag.PACED)]
        pace_ok = ~paced | (since_step >= run_period)
        step_ready = (free_slots != S) | ~stream_inputs
        more_steps = (run_steps == 0) | (steps_done != run_steps)

        # step results
        # the core holds step_cycles until its next step starts: without overlap no copy is
        # kept here
        step_cycles = core.step_cycles
        # the core keeps the step's spikes as a list (its next step's events): the engine sends
        # OUTPUT from it (CoreSignature) instead of counting spike bits
        n_spikes = core.spike_count
        list_index = core.spike_index
        # steps started whose OUTPUT has not begun (0 to 2 with overlap: one owed while the
        # next runs); a step is owed from its start, its OUTPUT begins in ``step_end``
        owed = Const(0, 2)
        pend = Const(0)
        # cycles from the start of the previous step of the run (``span`` of OUTPUT_HEADER):
        # ``span_count`` counts from the start of a step and is stopped at 0 until the run's
        # first start; ``span`` holds its value of the last start until OUTPUT has sent it.
        # ``counter_bits`` wide, like the STATUS counters, but it saturates instead of wrapping.
        # Without ``link.span`` the three are constants and OUTPUT sends 0.
        if lk.span:
            span_count = Signal(lk.counter_bits)
            span = Signal.like(span_count)
            span_on = Signal()
            with m.If(span_on & ~span_count.all()):
                m.d.sync += span_count.eq(span_count + 1)
        else:
            span_count, span, span_on = Signal(1), Const(0, 1), Signal(1)
        span_reg = span
        # the spike list's read address (used by OUT_LIST; the core ignores it while busy)
        m.d.comb += core.spike_addr.eq(k)
        if lk.overlap:
            # OUTPUT of step t is sent while step t + 1 runs: the step's results are copied
            # before step t + 1 starts (``results``), and its spike list as the core writes it,
            # into the half of a two-step memory given by the step's parity (``wpar``, flipped
            # at each start)
            ib_bits = c.neuron_index_bits
            m.submodules.spike_copy = spike_copy = Memory(
                shape=ib_bits, depth=2 << ib_bits, init=[], attrs=_NO_RW)
            copy_wp = spike_copy.write_port()
            copy_rp = spike_copy.read_port()
            wpar = Signal()
            rpar = Signal()                  # half of the step whose OUTPUT is sent
            owed = Signal(2)
            # the core's writes, registered with the parity of the step that made them
            m.d.sync += [copy_wp.en.eq(core.spike_we),
                         copy_wp.addr.eq(Cat(core.spike_waddr, wpar)),
                         copy_wp.data.eq(core.spike_wdata)]
            copy_addr = Signal(ib_bits)
            m.d.comb += [copy_addr.eq(k), copy_rp.addr.eq(Cat(copy_addr, rpar))]
            list_index = copy_rp.data
            # the results of the step whose OUTPUT is sent, copied (``results``) while the
            # core is idle after it, before the next step starts: the core holds its cycles and
            # count until then, the engine its span
            step_cycles = Signal.like(core.step_cycles)
            n_spikes = Signal.like(core.spike_count)
            results = [step_cycles.eq(core.step_cycles), n_spikes.eq(core.spike_count),
                       rpar.eq(wpar)]
            if lk.span:
                out_span = Signal.like(span)
                results.append(out_span.eq(span))
                span = out_span
            # the oldest owed step is done
            pend = Signal()
            m.d.comb += pend.eq((owed == 2) | ((owed == 1) & ~core.busy))
            # a request other than INPUT waits until every started step's OUTPUT is sent
            # (DRAIN); ``hold``: the OUTPUT being sent returns to DRAIN
            hold = Signal()
            # a step counts from its start
            more_steps = (run_steps == 0) | ((steps_done + owed)[:len(steps_done)] != run_steps)
        if not lk.record_set:
            # all or none: no pass over the list counts them
            m.d.comb += n_sent.eq(Mux((record.select == RecordSelect.ALL) & ~counts_mode,
                                      n_spikes, 0))
        neuron = Signal(range(max(N, M) + 9))   # neuron or input line
        bits = Signal(8)
        nb_bitmap = -(-N // 8)
        ib_n = field_bytes(c.neuron_index_bits)
        ib_m = field_bytes(c.input_index_bits)
        vb, ib = field_bytes(c.v_bits), field_bytes(c.i_bits)
        use_list = Signal()
        last_step = Signal()
        state_layout = region_layout(c, Region.STATE)
        state_view = data.View(state_layout, core.bus.rdata[:state_layout.size])
        if lk.record_counts:
            m.d.comb += cnt_rp.addr.eq(neuron)

        # requests are assembled in ``sh`` too: no response is being sent while one is read
        widx = Signal(range(lk.max_payload + 1))

        m.d.comb += tx_crc.i.payload.data.eq(sh[:8])

        # identify ROM
        ident = self.identify
        m.submodules.ident = ident_rom = Memory(shape=8, depth=len(ident), init=list(ident))
        ident_rp = ident_rom.read_port()

        # reset walk
        zero_lists = {flag: reset_regions(c, all_regions=flag, record=lk.record_set)
                      for flag in (False, True)}
        z_all = Signal()
        z_index = Signal(range(len(Region) + 1))
        z_addr = Signal.like(rg_depth)

        status_words = [counters[name] if name in counters else
                        (self.uart_framing_errors if name == "uart_framing_errors"
                         else self.uart_overruns) for name in STATUS_COUNTERS]

        region_args = data.View(REGION_ARGS, args[:REGION_ARGS.size])
        m.d.comb += [region.eq(region_args.region), offset.eq(region_args.offset),
                     wcount.eq(region_args.count)]
        offset_at = REGION_ARGS["offset"].offset
        # bits of ``args`` that are stored: all but the offset's beyond len(offset)
        stored = [not offset_at + len(offset) <= bit < offset_at + REGION_ARGS["offset"].width
                  for bit in range(len(args))]
        learn_refused = Const(0) if c.stdp else run_flags[_bit(RunFlag.LEARN)]
        # select 3, bits that must be 0, every 0 or above ``every_bits``; counts without the
        # count memory or over windows a u8 count could overflow
        # bits of RUN's arguments that are not stored (a narrow ``every`` or ``period_us``, and
        # then the ``record`` bits that must be 0): set, they refuse the RUN (``offset_far``)
        run_far = _run_far_bits(lk)
        record_refused = ((record.select == 3) | (record.zero != 0) | (every == 0)
                          | (record.counts & ((run_args.every > MAX_COUNT_WINDOW)
                                              | (not lk.record_counts)))
                          | ((record.select == RecordSelect.SET) & (not lk.record_set)))
        out_list = Signal()

        return SimpleNamespace(**locals())

    @staticmethod
    def _store_bytes(m, target, k, in_byte, far_bits, far):
        """Store byte ``k`` of a request's arguments in ``target``; the bits marked in
        ``far_bits`` are not stored but set ``far`` when one of them is 1."""
        nbytes = -(-len(target) // 8)
        with m.Switch(k[:ceil_log2(nbytes)]):
            for byte in range(nbytes):
                with m.Case(byte):
                    arg_bits = range(8 * byte, min(8 * byte + 8, len(target)))
                    m.d.sync += [target[bit].eq(in_byte[bit - 8 * byte])
                                 for bit in arg_bits if not far_bits[bit]]
                    ones = [in_byte[bit - 8 * byte] for bit in arg_bits if far_bits[bit]]
                    if ones:
                        m.d.sync += far.eq(far | Cat(*ones).any())

    def _receiver(self, m, x):
        """Append good frames from the framing components to the receive ring; count and drop
        bad ones."""
        bad, commit, count, counters, length = x.bad, x.commit, x.count, x.counters, x.length
        lk, max_frame, ring_bits, ring_wp, rptr = x.lk, x.max_frame, x.ring_bits, x.ring_wp, x.rptr
        wptr = x.wptr
        m.submodules.rx_cobs = rx_cobs = COBSDecoder()
        m.submodules.rx_crc = rx_crc = CRCChecker()
        wiring.connect(m, wiring.flipped(self.rx), rx_cobs.i)
        wiring.connect(m, rx_cobs.o, rx_crc.i)
        item = rx_crc.o.payload
        m.d.comb += rx_crc.o.ready.eq((wptr - rptr)[:ring_bits + 1] < lk.rx_buffer - 1)
        m.d.sync += [self.frame_good.eq(0), self.frame_bad.eq(0)]
        with m.If(rx_crc.o.valid & rx_crc.o.ready):
            with m.If(item.end):
                whole = ~item.broken & ~bad & (count == length + FRAME_OVERHEAD)
                with m.If(whole & item.crc_ok):
                    m.d.sync += [commit.eq(wptr - CRC_BYTES), wptr.eq(wptr - CRC_BYTES),
                                 counters["good_frames"].eq(counters["good_frames"] + 1),
                                 self.frame_good.eq(1)]
                with m.Else():
                    m.d.sync += [wptr.eq(commit), self.frame_bad.eq(1)]
                    with m.If(whole):
                        m.d.sync += counters["crc_errors"].eq(counters["crc_errors"] + 1)
                    with m.Else():
                        m.d.sync += counters["frame_errors"].eq(counters["frame_errors"] + 1)
                m.d.sync += [count.eq(0), length.eq(0), bad.eq(0)]
            with m.Elif(~bad):
                with m.If(count == max_frame):
                    m.d.sync += bad.eq(1)
                with m.Else():
                    m.d.comb += [ring_wp.addr.eq(wptr[:ring_bits]), ring_wp.data.eq(item.data),
                                 ring_wp.en.eq(1)]
                    m.d.sync += [wptr.eq(wptr + 1), count.eq(count + 1)]
                    for index in range(_bytes_of(HEADER, "length")):
                        with m.If(count == _byte_at(HEADER, "length") + index):
                            m.d.sync += length.word_select(index, 8).eq(item.data)

    def _parse_states(self, m, x):
        """States that read a request's header and arguments, and refuse or answer it."""
        M, args, args_bytes, avail, counters = x.M, x.args, x.args_bytes, x.avail, x.counters
        data_len, data_len_q, emit_then, err = x.data_len, x.data_len_q, x.emit_then, x.err
        fail, hdr, in_byte, k, len_at = x.fail, x.hdr, x.in_byte, x.k, x.len_at
        more_steps, nargs, offset, offset_far = x.more_steps, x.nargs, x.offset, x.offset_far
        opcode, pace_ok, paced, range_ok_q = x.opcode, x.pace_ok, x.paced, x.range_ok_q
        rec_n, remain, respond, rg_depth, rg_ok = x.rec_n, x.remain, x.respond, x.rg_depth, x.rg_ok
        rg_ok_q, run_args, run_period, running = x.rg_ok_q, x.run_args, x.run_period, x.running
        since_step, step_ready, steps_done = x.since_step, x.step_ready, x.steps_done
        rec_index = x.rec_index
        stored, take, wcount = x.stored, x.take, x.wcount
        # with overlap a step starts while the previous one's OUTPUT is owed, if that OUTPUT
        # reads no region (a recorded set, counts or probes: the core must be idle)
        may_start = Const(1)
        if x.lk.overlap:
            bus_out = x.counts_mode | (x.win_end & (x.n_probes != 0))
            if x.lk.record_set:
                bus_out |= x.record.select == RecordSelect.SET
            may_start = (x.owed == 0) | ((x.owed == 1) & x.pend & ~bus_out)
        with m.State("IDLE"):
            m.d.sync += [err.eq(0), k.eq(0)]
            with m.If(avail):
                m.next = "HDR"
            with m.Elif(running & step_ready & pace_ok & more_steps & may_start):
                m.d.sync += k.eq(0)
                if M:
                    m.d.sync += rec_n.eq(0)
                # pace_ok holds here: since_step >= run_period, so "later" is "not equal"
                with m.If(paced & ((steps_done != 0) | (x.owed != 0))
                          & (since_step != run_period)):
                    m.d.sync += counters["step_overruns"].eq(
                        counters["step_overruns"] + 1)
                m.d.sync += since_step.eq(0)
                m.next = "PUSH" if M else "START"
                if x.lk.overlap:
                    # the owed step's results, before the next step replaces them
                    with m.If(x.owed == 1):
                        m.d.sync += x.results
            if x.lk.overlap:
                with m.Elif(x.pend):
                    self._step_end(m, x)

        with m.State("HDR"):
            m.d.comb += take.eq(1)
            m.d.sync += offset_far.eq(0)
            m.d.sync += k.eq(k + 1)
            with m.If(k < len_at):
                m.d.sync += hdr.word_select(k[:ceil_log2(len_at)], 8).eq(in_byte)
            with m.Elif(k == len_at):
                m.d.sync += remain.eq(in_byte)
            with m.Else():
                # the receiver refused frames longer than max_payload: the length fits
                m.d.sync += remain.eq(Cat(remain[:8], in_byte))
            with m.If(k == HEADER_BYTES - 1):
                m.d.sync += k.eq(0)
                m.next = "DECODE"

        with m.State("DECODE"):
            with m.Switch(opcode):
                for op, n in _ARGS.items():
                    with m.Case(op.value):
                        m.d.comb += nargs.eq(n)
                        with m.If(remain < n):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            m.next = "ARGS"
                with m.Default():
                    fail(ErrorCode.UNKNOWN_OPCODE)

        with m.State("ARGS"):
            with m.Switch(opcode):
                for op, n in _ARGS.items():
                    with m.Case(op.value):
                        m.d.comb += nargs.eq(n)
            with m.If(k == nargs):
                m.d.sync += k.eq(0)
                m.next = "CHECK"
            with m.Else():
                m.d.comb += take.eq(1)
                with m.If(opcode == Opcode.RUN.value):
                    with m.If(~running):
                        if not any(x.run_far):
                            m.d.sync += run_args.as_value().word_select(
                                k[:ceil_log2(_ARGS[Opcode.RUN])], 8).eq(in_byte)
                        else:
                            # bits that must be 0 are not stored: one is set, RUN is refused
                            self._store_bytes(m, run_args.as_value(), k, in_byte, x.run_far,
                                              offset_far)
                with m.Else():
                    self._store_bytes(m, args, k, in_byte, [not bit for bit in stored],
                                      offset_far)
                m.d.sync += [k.eq(k + 1),
                             remain.eq(remain - 1)]

        with m.State("SKIP"):
            with m.If(remain != 0):
                m.d.comb += take.eq(1)
                m.d.sync += remain.eq(remain - 1)
            with m.Elif(err != 0):
                m.d.sync += counters["nacks"].eq(counters["nacks"] + 1)
                respond(Opcode.NACK.value, layout_bytes(NACK), "NACK_BODY")
            with m.Else():
                m.next = "IDLE"

        with m.State("NACK_BODY"):
            nack = Signal(NACK)
            m.d.comb += [nack.error.eq(err), nack.opcode.eq(opcode),
                         nack.expected.eq(rec_index)]
            emit_then(nack, layout_bytes(NACK), "CRC")

        with m.State("CHECK"):
            m.d.sync += [rg_ok_q.eq(rg_ok),
                         range_ok_q.eq((wcount != 0) & ~offset_far
                                      & (offset + wcount <= rg_depth)),
                         data_len_q.eq(data_len)]
            m.next = "EXEC"

    def _exec_state(self, m, x):
        """The state that checks a parsed request and starts executing it."""
        M, args, clear_slots, core, counters = x.M, x.args, x.clear_slots, x.core, x.counters
        data_len_q, fail, ident, k = x.data_len_q, x.fail, x.ident, x.k
        learn_refused, lk, n_probes, opcode = x.learn_refused, x.lk, x.n_probes, x.opcode
        range_ok_q, region, remain, respond = x.range_ok_q, x.region, x.remain, x.respond
        rg_ok_q, run_args, running, sh, widx = x.rg_ok_q, x.run_args, x.running, x.sh, x.widx
        z_addr, z_all, z_index = x.z_addr, x.z_all, x.z_index
        with m.State("EXEC"):
            drain = Const(0)
            if lk.overlap:
                # any request but INPUT waits for the steps started to be done and sent
                drain = (x.owed != 0) & (opcode != Opcode.INPUT.value)
                with m.If(drain):
                    m.next = "DRAIN"
            with m.If(~drain):
                with m.Switch(opcode):
                    with m.Case(Opcode.IDENTIFY.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            respond(Opcode.IDENTIFY.value | ACK, len(ident), "IDENT_BODY")
                    with m.Case(Opcode.STATUS.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            respond(Opcode.STATUS.value | ACK, layout_bytes(STATUS),
                                    "STATUS_BODY")
                    with m.Case(Opcode.STOP.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += running.eq(0)
                            clear_slots()
                            respond(Opcode.STOP.value | ACK, layout_bytes(STOP_RESULT),
                                    "STOP_BODY")
                    with m.Case(Opcode.RESET.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += [running.eq(0), z_all.eq(args[_bit(ResetFlag.ALL)]),
                                         z_index.eq(0),
                                         z_addr.eq(0)]
                            clear_slots()
                            with m.If(args[_bit(ResetFlag.COUNTERS)]):
                                for counter in counters.values():
                                    m.d.sync += counter.eq(0)
                            m.next = "ZERO"
                    with m.Case(Opcode.WRITE.value):
                        with m.If(running):
                            fail(ErrorCode.BUSY)
                        with m.Elif(~rg_ok_q):
                            fail(ErrorCode.BAD_REGION)
                        with m.Elif(~range_ok_q):
                            fail(ErrorCode.BAD_RANGE)
                        with m.Elif(data_len_q != remain):     # the words follow the args
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += [k.eq(0), sh.eq(0), widx.eq(0)]
                            m.next = "WR_BYTE"
                    with m.Case(Opcode.READ.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Elif(running):
                            fail(ErrorCode.BUSY)
                        with m.Elif(~rg_ok_q):
                            fail(ErrorCode.BAD_REGION)
                        with m.Elif(~range_ok_q | (data_len_q > lk.max_payload)):
                            fail(ErrorCode.BAD_RANGE)
                        with m.Else():
                            m.d.sync += k.eq(0)
                            respond(Opcode.READ.value | ACK, data_len_q, "RD_ISSUE")
                    with m.Case(Opcode.REGION_CRC.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Elif(running):
                            fail(ErrorCode.BUSY)
                        with m.Elif(~rg_ok_q):
                            fail(ErrorCode.BAD_REGION)
                        with m.Else():
                            m.d.comb += [core.bus.region.eq(region), core.bus.crc_start.eq(1)]
                            m.next = "CRC_WAIT"
                    with m.Case(Opcode.RUN.value):
                        probes_n = run_args.probes
                        with m.If(running):
                            fail(ErrorCode.BUSY)
                        with m.Elif(remain != probes_n * layout_bytes(PROBE_INDEX)):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Elif((probes_n > lk.max_probes) | learn_refused):
                            fail(ErrorCode.BAD_ARGUMENT)
                        with m.Elif(x.record_refused | x.offset_far if any(x.run_far)
                                    else x.record_refused):
                            fail(ErrorCode.BAD_ARGUMENT)
                        with m.Else():
                            m.d.sync += [k.eq(0), n_probes.eq(probes_n)]
                            m.next = "RUN_PROBE"
                    with m.Case(Opcode.INPUT.value):
                        if M:
                            # accepted whole if its first step is the one expected; a repeat
                            # (behind) and a gap (ahead: an earlier frame was lost) are refused
                            # whole. The low bits compared make the difference exact
                            # (protocol.input_index_bits).
                            rec_index = x.rec_index
                            ahead = Signal(len(rec_index))
                            first = data.View(INPUT_ARGS, args[:INPUT_ARGS.size]).first_step
                            m.d.comb += ahead.eq(first[:len(rec_index)] - rec_index)
                            with m.If(ahead == 0):
                                m.next = "INP_REC"
                            with m.Elif(ahead[-1]):
                                fail(ErrorCode.INPUT_REPEAT)
                            with m.Else():
                                fail(ErrorCode.INPUT_GAP)
                        else:
                            fail(ErrorCode.BAD_ARGUMENT)

        if lk.overlap:
            with m.State("DRAIN"):
                with m.If(x.owed == 0):
                    m.d.sync += [x.hold.eq(0), k.eq(0)]
                    m.next = "EXEC"
                with m.Elif(x.pend):
                    m.d.sync += x.hold.eq(1)
                    self._step_end(m, x)

    def _body_states(self, m, x):
        """States that answer IDENTIFY, STATUS, STOP, RESET, WRITE, READ, REGION_CRC and RUN."""
        N, c, core, emit_then, fail = x.N, x.c, x.core, x.emit_then, x.fail
        free_slots, ident, ident_rp, in_byte, k = x.free_slots, x.ident, x.ident_rp, x.in_byte, x.k
        n_probes, offset, pb, pb_bits, probe_wp = x.n_probes, x.offset, x.pb, x.pb_bits, x.probe_wp
        region, remain, respond, rg, rg_wb = x.region, x.remain, x.respond, x.rg, x.rg_wb
        run_period, run_seq, running, seq, sh = x.run_period, x.run_seq, x.running, x.seq, x.sh
        since_step, status_words, steps_done = x.since_step, x.status_words, x.steps_done
        take, wb_max, wcount, widx, z_addr = x.take, x.wb_max, x.wcount, x.widx, x.z_addr
        z_all, z_index, zero_lists = x.z_all, x.z_index, x.zero_lists
        # -- IDENTIFY, STATUS, STOP bodies
        with m.State("IDENT_BODY"):
            m.d.comb += ident_rp.addr.eq(k)
            m.next = "IDENT_BYTE"
        with m.State("IDENT_BYTE"):
            with m.If(k + 1 == len(ident)):
                emit_then(ident_rp.data, 1, "CRC")
            with m.Else():
                m.d.sync += k.eq(k + 1)
                emit_then(ident_rp.data, 1, "IDENT_BODY")

        with m.State("STATUS_BODY"):
            with m.If(k == len(STATUS_COUNTERS)):
                emit_then(running, _bytes_of(STATUS, "running"), "STATUS_STEPS")
            with m.Else():
                m.d.sync += k.eq(k + 1)
                emit_then(Array(status_words)[k[:ceil_log2(len(STATUS_COUNTERS) + 1)]],
                          _bytes_of(STATUS, STATUS_COUNTERS[0]), "STATUS_BODY")

        # (the tail of STATUS is sent in short pieces: fewer wide inputs to the shifter)
        with m.State("STATUS_STEPS"):
            emit_then(steps_done, _bytes_of(STATUS, "steps_done"), "STATUS_SLOTS")
        with m.State("STATUS_SLOTS"):
            emit_then(free_slots.as_unsigned(), _bytes_of(STATUS, "free_slots"), "CRC")

        with m.State("STOP_BODY"):
            emit_then(steps_done, layout_bytes(STOP_RESULT), "CRC")

        # -- RESET: zero the regions word by word
        with m.State("ZERO"):
            for flag, listing in zero_lists.items():
                with m.If(z_all == flag):
                    with m.If(z_index == len(listing)):
                        respond(Opcode.RESET.value | ACK, 0, None)
                    for index, rg in enumerate(listing):
                        with m.If(z_index == index):
                            m.d.comb += [core.bus.region.eq(rg), core.bus.addr.eq(z_addr),
                                         core.bus.wdata.eq(0), core.bus.we.eq(1)]
                            with m.If(z_addr == region_depth(c, rg) - 1):
                                m.d.sync += [z_addr.eq(0), z_index.eq(z_index + 1)]
                            with m.Else():
                                m.d.sync += z_addr.eq(z_addr + 1)

        # -- WRITE: assemble words, write them through the bus
        with m.State("WR_BYTE"):
            m.d.comb += take.eq(1)
            m.d.sync += [sh.word_select(k[:ceil_log2(wb_max + 1)], 8).eq(in_byte),
                         k.eq(k + 1), remain.eq(remain - 1)]
            with m.If(k + 1 == rg_wb):
                m.next = "WR_WORD"
        with m.State("WR_WORD"):
            m.d.comb += [core.bus.region.eq(region), core.bus.addr.eq(offset + widx),
                         core.bus.wdata.eq(sh), core.bus.we.eq(1)]
            m.d.sync += [sh.eq(0), k.eq(0), widx.eq(widx + 1)]
            with m.If(remain == 0):
                respond(Opcode.WRITE.value | ACK, 0, None)
            with m.Else():
                m.next = "WR_BYTE"

        # -- READ: words from the bus into the response
        with m.State("RD_ISSUE"):
            m.d.comb += [core.bus.region.eq(region), core.bus.addr.eq(offset + k),
                         core.bus.re.eq(1)]
            m.next = "RD_DATA"
        with m.State("RD_DATA"):
            # one cycle after the issue, two for weights
            with m.If(core.bus.rvalid):
                m.d.sync += k.eq(k + 1)
                with m.If(k + 1 == wcount):
                    emit_then(core.bus.rdata, rg_wb, "CRC")
                with m.Else():
                    emit_then(core.bus.rdata, rg_wb, "RD_ISSUE")

        # -- REGION_CRC
        with m.State("CRC_WAIT"):
            with m.If(core.bus.crc_done):
                respond(Opcode.REGION_CRC.value | ACK, layout_bytes(REGION_CRC_RESULT),
                        "CRC_BODY")
        with m.State("CRC_BODY"):
            # held by the core until the next CRC
            emit_then(core.bus.crc_value, layout_bytes(REGION_CRC_RESULT), "CRC")

        # -- RUN: probe list, then start
        with m.State("RUN_PROBE"):
            with m.If(k == pb * n_probes):
                m.d.sync += [running.eq(1), run_seq.eq(seq), since_step.eq(run_period),
                             steps_done.eq(0), x.phase.eq(x.every), x.neuron.eq(0),
                             x.n_sel.eq(0)]
                if self.link.span:
                    m.d.sync += [x.span_count.eq(0), x.span_on.eq(0)]
                if self.config.inputs:
                    m.d.sync += x.rec_index.eq(0)
                if self.link.record_counts:
                    m.next = "RUN_SCAN"
                else:
                    respond(Opcode.RUN.value | ACK, layout_bytes(RUN_RESULT), "RUN_BODY")
            with m.Else():
                m.d.comb += take.eq(1)
                m.d.sync += [k.eq(k + 1), remain.eq(remain - 1)]
                with m.If(k[:pb_bits] != pb - 1):
                    m.d.sync += sh[:8 * (pb - 1)].eq(Cat(sh[8:8 * (pb - 1)], in_byte))
                with m.Else():
                    index = Cat(sh[:8 * (pb - 1)], in_byte)
                    with m.If(index >= N):
                        fail(ErrorCode.BAD_ARGUMENT)
                    m.d.comb += [probe_wp.addr.eq(k[pb_bits:]), probe_wp.data.eq(index),
                                 probe_wp.en.eq(1)]
        if self.link.record_counts:
            # with counts: count the recorded neurons (their counts' bytes), zero the counts
            # of the last run
            with m.State("RUN_SCAN"):
                m.d.comb += [core.bus.region.eq(Region.RECORD), core.bus.addr.eq(x.neuron),
                             core.bus.re.eq(x.neuron < N)]
                m.d.comb += [x.cnt_wp.addr.eq(x.neuron), x.cnt_wp.data.eq(0),
                             x.cnt_wp.en.eq(x.neuron < N)]
                m.d.sync += x.neuron.eq(x.neuron + 1)
                with m.If(core.bus.rvalid & x.selected):
                    m.d.sync += x.n_sel.eq(x.n_sel + 1)
                with m.If(x.neuron == N):
                    respond(Opcode.RUN.value | ACK, layout_bytes(RUN_RESULT), "RUN_BODY")
        with m.State("RUN_BODY"):
            emit_then(free_slots.as_unsigned(), layout_bytes(RUN_RESULT), "CRC")

    def _input_states(self, m, x):
        """States that store INPUT records in the input slots and push a step's inputs."""
        M, S, args, bits, core, fail = x.M, x.S, x.args, x.bits, x.core, x.fail
        free_slots, ib_m, in_byte, k, neuron = x.free_slots, x.ib_m, x.in_byte, x.k, x.neuron
        rd_base, rd_slot, rec_n, remain, sh = x.rd_base, x.rd_slot, x.rec_n, x.remain, x.sh
        slot_count, slot_rp, slot_wp = x.slot_count, x.slot_rp, x.slot_wp
        stream_inputs, take, wr_base, wr_slot = x.stream_inputs, x.take, x.wr_base, x.wr_slot
        # the frame's first step was checked in EXEC: args is free for the record header
        rec_hdr = args[:INPUT_RECORD.size]
        record = data.View(INPUT_RECORD, rec_hdr)
        rb = layout_bytes(INPUT_RECORD)
        rb_bits = ceil_log2(rb)
        with m.State("INP_REC"):
            m.d.sync += [k.eq(0), rec_n.eq(0)]
            with m.If(remain == 0):
                m.next = "IDLE"
            with m.Elif(remain < rb):
                fail(ErrorCode.BAD_LENGTH)
            with m.Elif(free_slots == 0):
                fail(ErrorCode.NO_CREDIT)
            with m.Else():
                m.next = "INP_HDR"
        with m.State("INP_HDR"):
            m.d.comb += take.eq(1)
            m.d.sync += [rec_hdr.word_select(k[:rb_bits], 8).eq(in_byte), k.eq(k + 1),
                         remain.eq(remain - 1)]
            with m.If(k[:rb_bits] == rb - 1):
                m.d.sync += k.eq(0)
                m.next = "INP_CHECK"
        with m.State("INP_CHECK"):
            is_bitmap = record.bitmap
            n_list = record.count
            with m.If(is_bitmap):
                with m.If((n_list != 0) | (remain < nb_in(M))):
                    fail(ErrorCode.BAD_LENGTH)
                with m.Else():
                    m.d.sync += neuron.eq(0)
                    m.next = "INP_BYTE"
            with m.Elif(n_list > M):
                fail(ErrorCode.BAD_ARGUMENT)
            with m.Elif(remain < n_list * ib_m):
                fail(ErrorCode.BAD_LENGTH)
            with m.Elif(n_list == 0):
                m.next = "INP_COMMIT"
            with m.Else():
                m.d.sync += [k.eq(0), neuron.eq(0), sh.eq(0)]
                m.next = "INP_INDEX"
        # bitmap: one byte, then its eight bits
        with m.State("INP_BYTE"):
            m.d.comb += take.eq(1)
            m.d.sync += [bits.eq(in_byte), remain.eq(remain - 1), k.eq(0)]
            m.next = "INP_BITS"
        with m.State("INP_BITS"):
            with m.If(bits[0] & (neuron < M)):
                m.d.comb += [slot_wp.addr.eq(wr_base + rec_n), slot_wp.data.eq(neuron),
                             slot_wp.en.eq(1)]
                m.d.sync += rec_n.eq(rec_n + 1)
            m.d.sync += [bits.eq(bits >> 1), neuron.eq(neuron + 1), k.eq(k + 1)]
            with m.If(k == 7):
                with m.If(neuron + 1 >= M):
                    m.next = "INP_COMMIT"
                with m.Else():
                    m.next = "INP_BYTE"
        # list: ib_m bytes per index
        with m.State("INP_INDEX"):
            m.d.comb += take.eq(1)
            m.d.sync += [sh.word_select(k[:1], 8).eq(in_byte), k.eq(k + 1),
                         remain.eq(remain - 1)]
            with m.If(k + 1 == ib_m):
                m.next = "INP_STORE"
        with m.State("INP_STORE"):
            m.d.sync += [k.eq(0), sh.eq(0), neuron.eq(neuron + 1)]
            with m.If(sh[:16] >= M):
                fail(ErrorCode.BAD_ARGUMENT)
            with m.Else():
                m.d.comb += [slot_wp.addr.eq(wr_base + rec_n),
                             slot_wp.data.eq(sh[:16]), slot_wp.en.eq(1)]
                m.d.sync += rec_n.eq(rec_n + 1)
                with m.If(neuron + 1 == record.count):
                    m.next = "INP_COMMIT"
                with m.Else():
                    m.next = "INP_INDEX"
        with m.State("INP_COMMIT"):
            m.d.sync += [slot_count[wr_slot].eq(rec_n), free_slots.eq(free_slots - 1),
                         x.rec_index.eq(x.rec_index + 1),
                         wr_slot.eq(Mux(wr_slot == S - 1, 0, wr_slot + 1)),
                         wr_base.eq(Mux(wr_slot == S - 1, 0, wr_base + M))]
            m.next = "INP_REC"

        # -- a step: push the slot's inputs into the core
        with m.State("PUSH"):
            with m.If(~stream_inputs | (k == slot_count[rd_slot])):
                with m.If(stream_inputs):
                    m.d.sync += [free_slots.eq(free_slots + 1),
                                 rd_slot.eq(Mux(rd_slot == S - 1, 0, rd_slot + 1)),
                                 rd_base.eq(Mux(rd_slot == S - 1, 0, rd_base + M))]
                m.next = "START"
            with m.Else():
                m.d.comb += slot_rp.addr.eq(rd_base + k)
                m.next = "PUSH_DATA"
        with m.State("PUSH_DATA"):
            m.d.comb += [core.input.valid.eq(1), core.input.payload.index.eq(slot_rp.data)]
            with m.If(core.input.ready):
                m.d.sync += k.eq(k + 1)
                m.next = "PUSH"

    def _step_end(self, m, x):
        """In the state that sees a step done (or, with overlap, its OUTPUT due): go on to
        its OUTPUT, through a pass over its spike list for a recorded set or counts."""
        lk, record, counts_mode = x.lk, x.record, x.counts_mode
        m.d.sync += x.k.eq(0)
        if lk.record_set:
            # (with one step owed its count is taken from the core in this cycle)
            count = (Mux(x.owed == 1, x.core.spike_count, x.n_spikes) if lk.overlap
                     else x.n_spikes)
            m.d.sync += x.n_sent.eq(Mux((record.select == RecordSelect.ALL) & ~counts_mode,
                                        count, 0))
        if lk.overlap:
            # with two owed, the results were taken when the second one started
            m.d.sync += x.owed.eq(x.owed - 1)
            with m.If(x.owed == 1):
                m.d.sync += x.results
        m.next = "OUT_HDR"
        if lk.record_set:
            with m.If((record.select == RecordSelect.SET) & ~counts_mode):
                m.next = "SEL_LIST"
        if lk.record_counts:
            with m.If(counts_mode):
                m.next = "CNT_LIST"

    def _step_states(self, m, x):
        """States of a step of a run: start the core, read the spikes and probes, send OUTPUT."""
        N, bits, c, code_of, core, emit_then = x.N, x.bits, x.c, x.code_of, x.core, x.emit_then
        ib, ib_n, k, last_step, n_probes = x.ib, x.ib_n, x.k, x.last_step, x.n_probes
        n_spikes, nb_bitmap, neuron, out_list = x.n_spikes, x.nb_bitmap, x.neuron, x.out_list
        probe_rp, resp_len, resp_op, resp_seq = x.probe_rp, x.resp_len, x.resp_op, x.resp_seq
        ret, run_flags, run_seq, run_steps = x.ret, x.run_flags, x.run_seq, x.run_steps
        running, state_view, step_cycles = x.running, x.state_view, x.step_cycles
        steps_done, use_list, vb = x.steps_done, x.use_list, x.vb
        counts_mode, lk, n_sel, n_sent = x.counts_mode, x.lk, x.n_sel, x.n_sent
        phase, record, selected = x.phase, x.record, x.selected
        send_counts, send_probes, sent_bit, win_end = (x.send_counts, x.send_probes, x.sent_bit,
                                                        x.win_end)
        select_all = record.select == RecordSelect.ALL

        def then_counts(value, nbytes):
            """Send ``value``, the spikes' last bytes, then the counts (if the step sends them)
            or the probes; ``k`` and ``neuron`` are 0 by then."""
            m.d.sync += [k.eq(0), neuron.eq(0)]
            if lk.record_counts:
                with m.If(send_counts):
                    emit_then(value, nbytes, "OUT_CNT")
                with m.Else():
                    emit_then(value, nbytes, "OUT_PROBE")
            else:
                emit_then(value, nbytes, "OUT_PROBE")

        select_set = ((record.select == RecordSelect.SET) & ~counts_mode if lk.record_set
                      else Const(0))
        with m.State("START"):
            m.d.comb += [core.start.eq(1), core.learn.eq(run_flags[_bit(RunFlag.LEARN)])]
            if self.link.span:
                m.d.sync += [x.span_reg.eq(x.span_count), x.span_count.eq(1),
                             x.span_on.eq(1)]
            if lk.overlap:
                # back to IDLE while the core runs: it sends the previous step's OUTPUT and
                # parses INPUT frames meanwhile
                m.d.sync += [x.wpar.eq(~x.wpar), x.owed.eq(x.owed + 1)]
                m.next = "IDLE"
            else:
                m.next = "STEP_WAIT"
        if not lk.overlap:
            with m.State("STEP_WAIT"):
                # the core hands over the step's spike count and list with ``done``
                with m.If(core.done):
                    self._step_end(m, x)
        def list_pass(head, read):
            """The head of a pass over the step's spike list: entry ``k`` is read in ``read``
            (the list's read port gives it one cycle after its address), then OUTPUT."""
            with m.State(head):
                with m.If(k == n_spikes):
                    m.next = "OUT_HDR"
                with m.Else():
                    m.next = read

        # a recorded set: count the spikes of recorded neurons in the list (a bus read at an
        # entry gives its RECORD bit)
        if lk.record_set:
            list_pass("SEL_LIST", "SEL_READ")
            with m.State("SEL_READ"):
                m.d.sync += [k.eq(k + 1), x.list_q.eq(x.list_index)]
                m.next = "SEL_ADDR"
            with m.State("SEL_ADDR"):
                m.d.comb += [core.bus.region.eq(Region.RECORD), core.bus.addr.eq(x.list_q),
                             core.bus.re.eq(1)]
                m.next = "SEL_BIT"
            with m.State("SEL_BIT"):
                with m.If(core.bus.record):
                    m.d.sync += n_sent.eq(n_sent + 1)
                m.next = "SEL_LIST"
        if lk.record_counts:
            # counts: add the step's spikes to their neurons' counts (zeroed when sent)
            cnt_rp, cnt_wp = x.cnt_rp, x.cnt_wp
            list_pass("CNT_LIST", "CNT_READ")
            with m.State("CNT_READ"):
                m.d.comb += cnt_rp.addr.eq(x.list_index)
                m.next = "CNT_WRITE"
            with m.State("CNT_WRITE"):
                m.d.comb += [cnt_wp.addr.eq(x.list_index), cnt_wp.data.eq(cnt_rp.data + 1),
                             cnt_wp.en.eq(1)]
                m.d.sync += k.eq(k + 1)
                m.next = "CNT_LIST"
        with m.State("OUT_HDR"):
            list_bytes = layout_bytes(SPIKE_COUNT) + n_sent * ib_n
            # nothing selected, or counts instead of spikes: an empty list
            m.d.comb += use_list.eq((list_bytes < nb_bitmap) | counts_mode
                                    | (record.select == RecordSelect.NONE))
            spike_bytes = Mux(use_list, list_bytes, nb_bitmap)
            last = (run_steps != 0) & (steps_done + 1 == run_steps)
            probes_now = win_end & (n_probes != 0)
            counts_now = win_end & counts_mode
            m.d.sync += [
                resp_seq.eq(run_seq), resp_op.eq(Opcode.OUTPUT.value),
                resp_len.eq(layout_bytes(OUTPUT_HEADER) + spike_bytes
                            + Mux(counts_now, n_sel, 0)
                            + Mux(probes_now, n_probes * (vb + ib), 0)),
                ret.eq(code_of("OUT_FIXED")),
                last_step.eq(last), out_list.eq(use_list), neuron.eq(0), k.eq(0), bits.eq(0),
                send_probes.eq(probes_now), send_counts.eq(counts_now),
            ]
            with m.If(last):
                m.d.sync += running.eq(0)
            m.next = "RESP_HDR"
        with m.State("OUT_FIXED"):
            # step, cycles and flags are sent in pieces: fewer wide inputs to the shifter
            m.d.sync += [steps_done.eq(steps_done + 1),
                         phase.eq(Mux(win_end, x.every, phase - 1))]
            emit_then(steps_done, _bytes_of(OUTPUT_HEADER, "step"), "OUT_CYCLES")
        with m.State("OUT_CYCLES"):
            emit_then(step_cycles, _bytes_of(OUTPUT_HEADER, "cycles"), "OUT_SPAN")
        with m.State("OUT_SPAN"):
            emit_then(x.span, _bytes_of(OUTPUT_HEADER, "span"), "OUT_FLAGS")
        with m.State("OUT_FLAGS"):
            flags = Signal(OUTPUT_HEADER["flags"].shape)
            m.d.comb += [flags[_bit(OutputFlag.LAST)].eq(last_step),
                         flags[_bit(OutputFlag.LIST)].eq(out_list),
                         flags[_bit(OutputFlag.PROBES)].eq(send_probes),
                         flags[_bit(OutputFlag.COUNTS)].eq(send_counts)]
            emit_then(flags, _bytes_of(OUTPUT_HEADER, "flags"), "OUT_SPIKES")
        with m.State("OUT_SPIKES"):
            with m.If(out_list):
                with m.If(n_sent == 0):
                    then_counts(n_sent, layout_bytes(SPIKE_COUNT))
                with m.Else():
                    emit_then(n_sent, layout_bytes(SPIKE_COUNT), "OUT_LIST")
            with m.Else():
                m.next = "OUT_MAP"
        with m.State("OUT_MAP"):
            # bitmap: byte ``neuron`` collects the list's entries of its eight neurons (the
            # list is in ascending order); the entry at ``k`` is read. A recorded set: each
            # entry's RECORD bit is read first
            index = x.list_index
            with m.If((k != n_spikes) & (index[3:] == neuron)):
                m.d.sync += k.eq(k + 1)
                m.next = "OUT_MAP_READ"
                if lk.record_set:
                    with m.If(select_set):
                        m.d.sync += [x.bit_at.eq(index[:3]), x.list_q.eq(index)]
                        m.next = "OUT_MAP_ADDR"
                    with m.Else():
                        m.d.sync += bits.bit_select(index[:3], 1).eq(1)
                else:
                    m.d.sync += bits.bit_select(index[:3], 1).eq(1)
            with m.Else():
                m.d.sync += [bits.eq(0), neuron.eq(neuron + 1)]
                with m.If(neuron == nb_bitmap - 1):
                    then_counts(bits, 1)
                with m.Else():
                    emit_then(bits, 1, "OUT_MAP")
        with m.State("OUT_MAP_READ"):
            # the read of the list's next entry
            m.next = "OUT_MAP"
        if lk.record_set:
            with m.State("OUT_MAP_ADDR"):
                # the entry's RECORD bit is read (the list's next entry meanwhile)
                m.d.comb += [core.bus.region.eq(Region.RECORD), core.bus.addr.eq(x.list_q),
                             core.bus.re.eq(1)]
                m.next = "OUT_MAP_SEL"
            with m.State("OUT_MAP_SEL"):
                # the entry's RECORD bit (the list's next entry is read meanwhile)
                with m.If(core.bus.record):
                    m.d.sync += bits.bit_select(x.bit_at, 1).eq(1)
                m.next = "OUT_MAP"
        with m.State("OUT_LIST"):
            # the list's entries from the core's read port: entry k is there one cycle after
            # its address, and every EMIT takes at least one cycle
            with m.If(k == n_spikes):
                m.d.sync += [k.eq(0), neuron.eq(0)]
                m.next = "OUT_PROBE"
                if lk.record_counts:
                    with m.If(send_counts):
                        m.next = "OUT_CNT"
            with m.Elif(select_set):
                m.next = "OUT_LIST_READ" if lk.record_set else "OUT_LIST"
            with m.Else():
                m.d.sync += k.eq(k + 1)
                emit_then(x.list_index, ib_n, "OUT_LIST")
        if lk.record_set:
            # a recorded set: only the entries whose RECORD bit is set
            with m.State("OUT_LIST_READ"):
                m.d.sync += [k.eq(k + 1), neuron.eq(x.list_index)]
                m.next = "OUT_LIST_ADDR"
            with m.State("OUT_LIST_ADDR"):
                m.d.comb += [core.bus.region.eq(Region.RECORD), core.bus.addr.eq(neuron),
                             core.bus.re.eq(1)]
                m.next = "OUT_LIST_BIT"
            with m.State("OUT_LIST_BIT"):
                with m.If(core.bus.record):
                    emit_then(neuron, ib_n, "OUT_LIST")
                with m.Else():
                    m.next = "OUT_LIST"
        # the window's counts of the recorded neurons, each zeroed for the next window
        if lk.record_counts:
            with m.State("OUT_CNT"):
                with m.If(~send_counts | (neuron == N)):
                    m.next = "OUT_PROBE"
                with m.Else():
                    # the read gives the RECORD bit; the count is read at ``neuron``
                    m.d.comb += [core.bus.region.eq(Region.RECORD), core.bus.addr.eq(neuron),
                                 core.bus.re.eq(1)]
                    m.next = "OUT_CNT_BIT"
            with m.State("OUT_CNT_BIT"):
                m.d.comb += [x.cnt_wp.addr.eq(neuron), x.cnt_wp.data.eq(0),
                             x.cnt_wp.en.eq(1)]
                m.d.sync += neuron.eq(neuron + 1)
                with m.If(selected):
                    emit_then(x.cnt_rp.data, 1, "OUT_CNT")
                with m.Else():
                    m.next = "OUT_CNT"
        with m.State("OUT_PROBE"):
            with m.If(~send_probes | (k == n_probes)):
                m.next = "CRC"
            with m.Else():
                m.d.comb += probe_rp.addr.eq(k)
                m.next = "OUT_PROBE_ADDR"
        with m.State("OUT_PROBE_ADDR"):
            m.d.comb += [core.bus.region.eq(Region.STATE), core.bus.addr.eq(probe_rp.data),
                         core.bus.re.eq(1)]
            m.next = "OUT_PROBE_DATA"
        with m.State("OUT_PROBE_DATA"):
            m.d.sync += k.eq(k + 1)
            emit_then(Cat(state_view.v.as_unsigned(), Const(0, 8 * vb - c.v_bits),
                          state_view.i.as_unsigned(), Const(0, 8 * ib - c.i_bits)),
                      vb + ib, "OUT_PROBE")

    def _framing_states(self, m, x):
        """States that send a response's header, bytes and end (the CRC follows)."""
        resp_len, resp_op, resp_seq, ret = x.resp_len, x.resp_op, x.resp_seq, x.ret
        ret_states, sh, sh_n, tx_crc = x.ret_states, x.sh, x.sh_n, x.tx_crc
        # -- framing of every response
        with m.State("RESP_HDR"):
            header = Signal(HEADER)
            m.d.comb += [header.seq.eq(resp_seq), header.opcode.eq(resp_op),
                         header.length.eq(resp_len)]
            m.d.sync += [sh.eq(header), sh_n.eq(HEADER_BYTES)]
            m.next = "EMIT"
        with m.State("CRC"):
            # the end of the response: the appender sends the CRC
            m.d.comb += [tx_crc.i.valid.eq(1), tx_crc.i.payload.end.eq(1)]
            with m.If(tx_crc.i.ready):
                m.next = "IDLE"
                if x.lk.overlap:
                    with m.If(x.hold):
                        m.next = "DRAIN"

        with m.State("EMIT"):
            m.d.comb += tx_crc.i.valid.eq(1)
            with m.If(tx_crc.i.ready):
                m.d.sync += [sh.eq(sh >> 8), sh_n.eq(sh_n - 1)]
                with m.If(sh_n == 1):
                    with m.Switch(ret):
                        for state, code in list(ret_states.items()):
                            with m.Case(code):
                                m.next = state



def nb_in(m):
    """Bytes of an input bitmap of ``m`` lines."""
    return -(-m // 8)
