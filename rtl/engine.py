"""The command engine: COBS frames in, checked and executed, COBS frames out.

Three blocks share the engine:

* the **receiver** decodes COBS byte by byte, computes the frame CRC on the fly and appends the
  decoded header and payload to a receive ring. Only when the delimiter arrives and length and
  CRC check out is the frame committed (made visible to the executor); a bad frame is rolled
  back, so a corrupt request is never acted upon. The CRC bytes are written too but rolled back
  on commit, so the ring holds header and payload of good frames back to back.
* the **executor** is one byte-serial FSM. It parses committed frames, answers each request (an
  ACK carrying the request's opcode ``| 0x80``, or a NACK), and between requests runs the steps
  of a RUN: push the step's input spikes into the core, start it, read the spike bits and the
  probed neurons back over the core's bus, send an OUTPUT frame.
* the **transmitter** computes the CRC of each response and COBS-encodes it through a 254-byte
  block buffer.

The wire format is in :mod:`spikeforge.rtl.protocol`; ``docs/protocol.md`` describes it.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import ceil_log2
from .core import CoreSignature
from .protocol import (ACK, CRC, FRAME_OVERHEAD, INPUT_BITMAP, STATUS_COUNTERS, ErrorCode,
                       LinkParams, Opcode, OutputFlag, ResetFlag, RunFlag, field_bytes,
                       REGION_ARGS, REGION_ARGS_BYTES, reset_regions, word_bytes)
from .regions import Region, region_depth, region_layout

__all__ = ["Engine"]


#: The engine never uses a read that collides with a write to the same word (docs in
#: :mod:`spikeforge.rtl.core`): synthesis needs no bypass logic for it.
_NO_RW = {"no_rw_check": 1}


def _bit(flag):
    """Bit position of a one-bit flag of :mod:`spikeforge.rtl.protocol`."""
    return int(flag).bit_length() - 1


#: Argument bytes each request carries before its variable part.
_ARGS = {
    Opcode.IDENTIFY: 0, Opcode.STATUS: 0, Opcode.RESET: 1, Opcode.WRITE: REGION_ARGS_BYTES,
    Opcode.READ: REGION_ARGS_BYTES,
    Opcode.REGION_CRC: 1, Opcode.RUN: 10, Opcode.INPUT: 0, Opcode.STOP: 0,
}


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
        c = self.config
        lk = self.link
        core = self.core
        N, M = c.neurons, c.inputs
        max_frame = lk.max_payload + FRAME_OVERHEAD
        ring_bits = ceil_log2(lk.rx_buffer)
        regions = [region for region in Region if region_depth(c, region)]
        wb_max = max(word_bytes(c, region) for region in regions)

        counters = {name: Signal(lk.counter_bits, name=f"count_{name}")
                    for name in STATUS_COUNTERS if not name.startswith("uart_")}

        # -- receiver: COBS decode, CRC, ring ----------------------------------------------------
        m.submodules.ring = ring = Memory(shape=8, depth=lk.rx_buffer, init=[], attrs=_NO_RW)
        ring_wp = ring.write_port()
        ring_rp = ring.read_port()
        m.submodules.rx_crc = rx_crc = CRC.create()

        wptr = Signal(ring_bits + 1)
        commit = Signal(ring_bits + 1)
        rptr = Signal(ring_bits + 1)
        count = Signal(range(max_frame + 1))
        length = Signal(16)
        code_left = Signal(8)
        pending_zero = Signal()
        seen = Signal()
        bad = Signal()

        m.d.comb += self.rx.ready.eq((wptr - rptr)[:ring_bits + 1] < lk.rx_buffer - 1)
        m.d.sync += [self.frame_good.eq(0), self.frame_bad.eq(0)]
        byte = self.rx.payload
        out_valid = Signal()
        out_byte = Signal(8)
        with m.If(self.rx.valid & self.rx.ready):
            with m.If(byte == 0):
                good = ((code_left == 0) & ~bad & (count == length + FRAME_OVERHEAD)
                        & rx_crc.match_detected)
                with m.If(good):
                    m.d.sync += [commit.eq(wptr - 4), wptr.eq(wptr - 4),
                                 counters["good_frames"].eq(counters["good_frames"] + 1),
                                 self.frame_good.eq(1)]
                with m.Elif(seen):
                    m.d.sync += [wptr.eq(commit), self.frame_bad.eq(1)]
                    with m.If((code_left == 0) & ~bad & (count == length + FRAME_OVERHEAD)):
                        m.d.sync += counters["crc_errors"].eq(counters["crc_errors"] + 1)
                    with m.Else():
                        m.d.sync += counters["frame_errors"].eq(counters["frame_errors"] + 1)
                m.d.sync += [count.eq(0), length.eq(0), code_left.eq(0), pending_zero.eq(0),
                             seen.eq(0), bad.eq(0)]
                m.d.comb += rx_crc.start.eq(1)
            with m.Else():
                m.d.sync += seen.eq(1)
                with m.If(code_left == 0):
                    m.d.sync += [code_left.eq(byte - 1), pending_zero.eq(byte != 0xFF)]
                    m.d.comb += [out_valid.eq(pending_zero), out_byte.eq(0)]
                with m.Else():
                    m.d.sync += code_left.eq(code_left - 1)
                    m.d.comb += [out_valid.eq(1), out_byte.eq(byte)]
        with m.If(out_valid & ~bad):
            with m.If(count == max_frame):
                m.d.sync += bad.eq(1)
            with m.Else():
                m.d.comb += [ring_wp.addr.eq(wptr[:ring_bits]), ring_wp.data.eq(out_byte),
                             ring_wp.en.eq(1), rx_crc.data.eq(out_byte), rx_crc.valid.eq(1)]
                m.d.sync += [wptr.eq(wptr + 1), count.eq(count + 1)]
                with m.If(count == 2):
                    m.d.sync += length[:8].eq(out_byte)
                with m.If(count == 3):
                    m.d.sync += length[8:].eq(out_byte)

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

        # -- transmitter: CRC and COBS encoder -----------------------------------------------------
        m.submodules.tx_crc = tx_crc = CRC.create()
        m.submodules.block = block = Memory(shape=8, depth=256, init=[], attrs=_NO_RW)
        blk_wp = block.write_port()
        blk_rp = block.read_port()
        e_valid = Signal()
        e_data = Signal(8)
        e_last = Signal()
        e_ready = Signal()
        blk_n = Signal(9)                 # bytes in the block buffer
        blk_k = Signal(9)                 # next byte to send when flushing
        blk_code = Signal(8)
        blk_then = Signal(2)              # after the flush: 0 fill, 1 empty block + delim, 2 delim
        enc_idle = Signal()
        m.d.comb += blk_rp.addr.eq(blk_k)
        with m.FSM(name="cobs_tx"):
            with m.State("FILL"):
                m.d.comb += [e_ready.eq(1), enc_idle.eq(blk_n == 0)]
                with m.If(e_valid):
                    with m.If(e_data != 0):
                        m.d.comb += [blk_wp.addr.eq(blk_n), blk_wp.data.eq(e_data),
                                     blk_wp.en.eq(1)]
                        m.d.sync += [blk_n.eq(blk_n + 1), blk_k.eq(0)]
                        with m.If(blk_n == 253):
                            m.d.sync += [blk_code.eq(0xFF), blk_then.eq(Mux(e_last, 1, 0))]
                            m.next = "CODE"
                        with m.Elif(e_last):
                            m.d.sync += [blk_code.eq(blk_n + 2), blk_then.eq(2)]
                            m.next = "CODE"
                    with m.Else():
                        m.d.sync += [blk_code.eq(blk_n + 1), blk_then.eq(Mux(e_last, 1, 0)),
                                     blk_k.eq(0)]
                        m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(blk_code)]
                with m.If(self.tx.ready):
                    with m.If(blk_n != 0):
                        m.next = "DATA"
                    with m.Else():
                        self._after_flush(m, blk_then)
            with m.State("DATA"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(blk_rp.data)]
                with m.If(self.tx.ready):
                    m.d.comb += blk_rp.addr.eq(blk_k + 1)
                    m.d.sync += blk_k.eq(blk_k + 1)
                    with m.If(blk_k + 1 == blk_n):
                        m.d.sync += blk_n.eq(0)
                        self._after_flush(m, blk_then)
            with m.State("EMPTY"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(1)]
                with m.If(self.tx.ready):
                    m.next = "DELIM"
            with m.State("DELIM"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(0)]
                with m.If(self.tx.ready):
                    m.next = "FILL"

        crc_phase = Signal()
        m.d.comb += [tx_crc.data.eq(e_data), tx_crc.valid.eq(e_valid & e_ready & ~crc_phase)]

        # -- executor ----------------------------------------------------------------------------
        hdr = Signal(16)                  # seq and opcode; the length goes to ``remain``
        seq = Signal(8)
        opcode = Signal(8)
        m.d.comb += [seq.eq(hdr[:8]), opcode.eq(hdr[8:16])]
        # a request's payload is at most max_payload bytes (the receiver refuses longer
        # frames): the byte and word counters need no more bits than that
        remain = Signal(range(lk.max_payload + 1))
        k = Signal(range(max(lk.max_payload, 2 * lk.max_probes) + 2))
        # arguments of every request but RUN
        args_bytes = max(n for op, n in _ARGS.items() if op != Opcode.RUN)
        args = Signal(8 * args_bytes)
        err = Signal(8)
        nargs = Signal(4)

        sh = Signal(max(80, 8 * wb_max))   # bytes to send, least significant first
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
        data_len = Signal(len(wcount) + 5)
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
        # RUN's ten argument bytes are received straight into these registers (not while a run
        # is going on: that RUN is refused)
        run_args = Signal(8 * _ARGS[Opcode.RUN])
        run_steps = run_args[:32]
        run_flags = run_args[32:40]
        run_period = run_args[40:72]
        steps_done = Signal(32)
        n_probes = Signal(8)
        max_probes = max(lk.max_probes, 1)
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
            m.d.comb += stream_inputs.eq(run_flags[_bit(RunFlag.STREAM)])
        else:
            m.d.comb += stream_inputs.eq(0)

        def clear_slots():
            m.d.sync += free_slots.eq(S)
            if M:
                m.d.sync += [wr_slot.eq(0), rd_slot.eq(0), wr_base.eq(0), rd_base.eq(0)]

        # microsecond timer for paced runs: a fractional divider, exact on average
        us_acc = Signal(range(self.clk_hz + 1_000_000))
        us_tick = Signal()
        with m.If(us_acc + 1_000_000 >= self.clk_hz):
            m.d.sync += us_acc.eq(us_acc + 1_000_000 - self.clk_hz)
            m.d.comb += us_tick.eq(1)
        with m.Else():
            m.d.sync += us_acc.eq(us_acc + 1_000_000)
        since_step = Signal(32)
        with m.If(us_tick & (since_step != 0xFFFFFFFF)):
            m.d.sync += since_step.eq(since_step + 1)
        paced = run_flags[_bit(RunFlag.PACED)]
        pace_ok = ~paced | (since_step >= run_period)
        step_ready = (free_slots != S) | ~stream_inputs
        more_steps = (run_steps == 0) | (steps_done != run_steps)

        # step results
        # the core holds step_cycles until its next step ends: no copy is kept here
        step_cycles = core.step_cycles
        n_spikes = Signal(range(N + 1))
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

        # requests are assembled in ``sh`` too: no response is being sent while one is read
        widx = Signal(range(lk.max_payload + 1))

        m.d.comb += [e_data.eq(sh[:8]), e_last.eq(crc_phase & (sh_n == 1))]

        # identify ROM
        ident = self.identify
        m.submodules.ident = ident_rom = Memory(shape=8, depth=len(ident), init=list(ident))
        ident_rp = ident_rom.read_port()

        # reset walk
        zero_lists = {flag: reset_regions(c, all_regions=flag) for flag in (False, True)}
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
        out_list = Signal()

        with m.FSM(name="exec"):
            with m.State("IDLE"):
                m.d.sync += [crc_phase.eq(0), err.eq(0), k.eq(0)]
                with m.If(avail):
                    m.next = "HDR"
                with m.Elif(running & step_ready & pace_ok & more_steps):
                    m.d.sync += k.eq(0)
                    if M:
                        m.d.sync += rec_n.eq(0)
                    with m.If(paced & (steps_done != 0) & (since_step > run_period)):
                        m.d.sync += counters["step_overruns"].eq(
                            counters["step_overruns"] + 1)
                    m.d.sync += since_step.eq(0)
                    m.next = "PUSH" if M else "START"

            with m.State("HDR"):
                m.d.comb += take.eq(1)
                m.d.sync += offset_far.eq(0)
                m.d.sync += k.eq(k + 1)
                with m.If(k < 2):
                    m.d.sync += hdr.word_select(k[:1], 8).eq(in_byte)
                with m.Elif(k == 2):
                    m.d.sync += remain.eq(in_byte)
                with m.Else():
                    # the receiver refused frames longer than max_payload: the length fits
                    m.d.sync += remain.eq(Cat(remain[:8], in_byte))
                with m.If(k == 3):
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
                            m.d.sync += run_args.word_select(
                                k[:ceil_log2(_ARGS[Opcode.RUN])], 8).eq(in_byte)
                    with m.Else():
                        with m.Switch(k[:ceil_log2(args_bytes)]):
                            for byte in range(args_bytes):
                                with m.Case(byte):
                                    arg_bits = range(8 * byte, 8 * byte + 8)
                                    m.d.sync += [args[bit].eq(in_byte[bit - 8 * byte])
                                                 for bit in arg_bits if stored[bit]]
                                    far = [in_byte[bit - 8 * byte] for bit in arg_bits
                                           if not stored[bit]]
                                    if far:
                                        m.d.sync += offset_far.eq(offset_far | Cat(*far).any())
                    m.d.sync += [k.eq(k + 1),
                                 remain.eq(remain - 1)]

            with m.State("SKIP"):
                with m.If(remain != 0):
                    m.d.comb += take.eq(1)
                    m.d.sync += remain.eq(remain - 1)
                with m.Elif(err != 0):
                    m.d.sync += counters["nacks"].eq(counters["nacks"] + 1)
                    respond(Opcode.NACK.value, 2, "NACK_BODY")
                with m.Else():
                    m.next = "IDLE"

            with m.State("NACK_BODY"):
                emit_then(Cat(err, opcode), 2, "CRC")

            with m.State("CHECK"):
                m.d.sync += [rg_ok_q.eq(rg_ok),
                             range_ok_q.eq((wcount != 0) & ~offset_far
                                          & (offset + wcount <= rg_depth)),
                             data_len_q.eq(data_len)]
                m.next = "EXEC"

            with m.State("EXEC"):
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
                            respond(Opcode.STATUS.value | ACK, 4 * len(STATUS_COUNTERS) + 6,
                                    "STATUS_BODY")
                    with m.Case(Opcode.STOP.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += running.eq(0)
                            clear_slots()
                            respond(Opcode.STOP.value | ACK, 4, "STOP_BODY")
                    with m.Case(Opcode.RESET.value):
                        with m.If(remain != 0):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += [running.eq(0), z_all.eq(args[_bit(ResetFlag.ALL)]), z_index.eq(0),
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
                        probes_n = run_args[72:80]
                        with m.If(running):
                            fail(ErrorCode.BUSY)
                        with m.Elif(remain != probes_n * 2):
                            fail(ErrorCode.BAD_LENGTH)
                        with m.Elif((probes_n > lk.max_probes) | learn_refused):
                            fail(ErrorCode.BAD_ARGUMENT)
                        with m.Else():
                            m.d.sync += [k.eq(0), n_probes.eq(probes_n)]
                            m.next = "RUN_PROBE"
                    with m.Case(Opcode.INPUT.value):
                        if M:
                            m.next = "INP_REC"
                        else:
                            fail(ErrorCode.BAD_ARGUMENT)

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
                    emit_then(running, 1, "STATUS_STEPS")
                with m.Else():
                    m.d.sync += k.eq(k + 1)
                    emit_then(Array(status_words)[k[:ceil_log2(len(STATUS_COUNTERS) + 1)]],
                              4, "STATUS_BODY")

            # (the tail of STATUS is sent in short pieces: fewer wide inputs to the shifter)
            with m.State("STATUS_STEPS"):
                emit_then(steps_done, 4, "STATUS_SLOTS")
            with m.State("STATUS_SLOTS"):
                emit_then(free_slots.as_unsigned(), 1, "CRC")

            with m.State("STOP_BODY"):
                emit_then(steps_done, 4, "CRC")

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
                    respond(Opcode.REGION_CRC.value | ACK, 4, "CRC_BODY")
            with m.State("CRC_BODY"):
                emit_then(core.bus.crc_value, 4, "CRC")   # held by the core until the next CRC

            # -- RUN: probe list, then start
            with m.State("RUN_PROBE"):
                with m.If(k == 2 * n_probes):
                    m.d.sync += [running.eq(1), run_seq.eq(seq), since_step.eq(run_period),
                                 steps_done.eq(0)]
                    respond(Opcode.RUN.value | ACK, 1, "RUN_BODY")
                with m.Else():
                    m.d.comb += take.eq(1)
                    m.d.sync += [k.eq(k + 1), remain.eq(remain - 1)]
                    with m.If(~k[0]):
                        m.d.sync += sh[:8].eq(in_byte)
                    with m.Else():
                        index = Cat(sh[:8], in_byte)
                        with m.If(index >= N):
                            fail(ErrorCode.BAD_ARGUMENT)
                        m.d.comb += [probe_wp.addr.eq(k[1:]), probe_wp.data.eq(index),
                                     probe_wp.en.eq(1)]
            with m.State("RUN_BODY"):
                emit_then(free_slots.as_unsigned(), 1, "CRC")

            # -- INPUT: records into the slots
            if M:
                rec_hdr = args[:16]               # INPUT has no arguments: args is free
                with m.State("INP_REC"):
                    m.d.sync += [k.eq(0), rec_n.eq(0)]
                    with m.If(remain == 0):
                        m.next = "IDLE"
                    with m.Elif(remain < 2):
                        fail(ErrorCode.BAD_LENGTH)
                    with m.Elif(free_slots == 0):
                        fail(ErrorCode.NO_CREDIT)
                    with m.Else():
                        m.next = "INP_HDR"
                with m.State("INP_HDR"):
                    m.d.comb += take.eq(1)
                    m.d.sync += [rec_hdr.word_select(k[0], 8).eq(in_byte), k.eq(k + 1),
                                 remain.eq(remain - 1)]
                    with m.If(k[0]):
                        m.d.sync += k.eq(0)
                        m.next = "INP_CHECK"
                with m.State("INP_CHECK"):
                    is_bitmap = rec_hdr[_bit(INPUT_BITMAP)]
                    n_list = rec_hdr[:15]
                    with m.If(is_bitmap):
                        with m.If((rec_hdr[:15] != 0) | (remain < nb_in(M))):
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
                        with m.If(neuron + 1 == rec_hdr[:15]):
                            m.next = "INP_COMMIT"
                        with m.Else():
                            m.next = "INP_INDEX"
                with m.State("INP_COMMIT"):
                    m.d.sync += [slot_count[wr_slot].eq(rec_n), free_slots.eq(free_slots - 1),
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
                    m.d.comb += [core.input.valid.eq(1),
                                 core.input.payload.index.eq(slot_rp.data)]
                    with m.If(core.input.ready):
                        m.d.sync += k.eq(k + 1)
                        m.next = "PUSH"

            with m.State("START"):
                m.d.comb += [core.start.eq(1), core.learn.eq(run_flags[_bit(RunFlag.LEARN)])]
                m.next = "STEP_WAIT"
            with m.State("STEP_WAIT"):
                with m.If(core.done):
                    m.d.sync += [neuron.eq(0),
                                 n_spikes.eq(0)]
                    m.next = "COUNT"
            # pass 1 over the spike bits: count them, to send the shorter encoding
            with m.State("COUNT"):
                m.d.comb += [core.bus.region.eq(Region.STATE), core.bus.addr.eq(neuron),
                             core.bus.re.eq(neuron < N)]
                m.d.sync += neuron.eq(neuron + 1)
                with m.If(core.bus.rvalid & state_view.s):
                    m.d.sync += n_spikes.eq(n_spikes + 1)
                with m.If(neuron == N):
                    m.next = "OUT_HDR"
            with m.State("OUT_HDR"):
                list_bytes = 2 + n_spikes * ib_n
                m.d.comb += use_list.eq(list_bytes < nb_bitmap)
                spike_bytes = Mux(use_list, list_bytes, nb_bitmap)
                last = (run_steps != 0) & (steps_done + 1 == run_steps)
                m.d.sync += [
                    resp_seq.eq(run_seq), resp_op.eq(Opcode.OUTPUT.value),
                    resp_len.eq(9 + spike_bytes + n_probes * (vb + ib)),
                    ret.eq(code_of("OUT_FIXED")),
                    last_step.eq(last), out_list.eq(use_list), neuron.eq(0),
                ]
                with m.If(last):
                    m.d.sync += running.eq(0)
                m.next = "RESP_HDR"
            with m.State("OUT_FIXED"):
                # step, cycles and flags are sent in pieces: fewer wide inputs to the shifter
                m.d.sync += steps_done.eq(steps_done + 1)
                emit_then(steps_done, 4, "OUT_CYCLES")
            with m.State("OUT_CYCLES"):
                emit_then(step_cycles, 4, "OUT_FLAGS")
            with m.State("OUT_FLAGS"):
                flags = Signal(8)
                m.d.comb += [flags[_bit(OutputFlag.LAST)].eq(last_step),
                             flags[_bit(OutputFlag.LIST)].eq(out_list)]
                emit_then(flags, 1, "OUT_SPIKES")
            with m.State("OUT_SPIKES"):
                with m.If(out_list):
                    emit_then(n_spikes, 2, "OUT_LIST")
                with m.Else():
                    m.next = "OUT_MAP"
            with m.State("OUT_MAP"):
                # bitmap: read 8 spike bits, send the byte
                m.d.comb += [core.bus.region.eq(Region.STATE), core.bus.addr.eq(neuron),
                             core.bus.re.eq(1)]
                m.next = "OUT_MAP_BIT"
            with m.State("OUT_MAP_BIT"):
                new_bits = Cat(bits[1:], state_view.s)
                m.d.sync += [bits.eq(new_bits), neuron.eq(neuron + 1)]
                shift = (8 - (N % 8)) % 8
                with m.If(neuron == N - 1):
                    emit_then(new_bits >> shift, 1, "OUT_PROBE")
                    m.d.sync += k.eq(0)
                with m.Elif(neuron[:3] == 7):
                    emit_then(new_bits, 1, "OUT_MAP")
                with m.Else():
                    m.next = "OUT_MAP"
            with m.State("OUT_LIST"):
                with m.If(neuron == N):
                    m.d.sync += k.eq(0)
                    m.next = "OUT_PROBE"
                with m.Else():
                    m.d.comb += [core.bus.region.eq(Region.STATE), core.bus.addr.eq(neuron),
                                 core.bus.re.eq(1)]
                    m.next = "OUT_LIST_BIT"
            with m.State("OUT_LIST_BIT"):
                m.d.sync += neuron.eq(neuron + 1)
                with m.If(state_view.s):
                    emit_then(neuron, ib_n, "OUT_LIST")
                with m.Else():
                    m.next = "OUT_LIST"
            with m.State("OUT_PROBE"):
                with m.If(k == n_probes):
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

            # -- framing of every response
            with m.State("RESP_HDR"):
                m.d.sync += [sh.eq(Cat(resp_seq, resp_op, resp_len)), sh_n.eq(4)]
                m.d.comb += tx_crc.start.eq(1)
                m.next = "EMIT"
            with m.State("CRC"):
                # the last payload byte entered the CRC register at the previous edge
                m.d.sync += crc_phase.eq(1)
                emit_then(tx_crc.crc, 4, "IDLE")

            with m.State("EMIT"):
                m.d.comb += e_valid.eq(1)
                with m.If(e_ready):
                    m.d.sync += [sh.eq(sh >> 8), sh_n.eq(sh_n - 1)]
                    with m.If(sh_n == 1):
                        with m.Switch(ret):
                            for state, code in list(ret_states.items()):
                                with m.Case(code):
                                    m.next = state
        return m

    @staticmethod
    def _after_flush(m, then):
        with m.Switch(then):
            with m.Case(0):
                m.next = "FILL"
            with m.Case(1):
                m.next = "EMPTY"
            with m.Default():
                m.next = "DELIM"


def nb_in(m):
    """Bytes of an input bitmap of ``m`` lines."""
    return -(-m // 8)
