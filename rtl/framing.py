"""The link's framing as stream components: COBS decoding and encoding, CRC checking and appending.

A frame on the wire is a COBS-encoded block ended by ``0x00`` (:mod:`spikeforge.rtl.protocol`).
Receiving, :class:`COBSDecoder` turns wire bytes into decoded bytes plus one end-of-frame item per
delimiter, and :class:`CRCChecker` adds whether the frame's CRC matched to that end item.
Sending, :class:`CRCAppender` passes a frame's bytes and, at the end item the sender gives it,
appends the CRC; :class:`COBSEncoder` encodes the bytes into 254-byte blocks and ends the frame
with the delimiter.

Each component is combinational between its streams (``i.ready`` follows ``o.ready``) and holds
only the registers its framing needs: no component adds a cycle to the link, and only the
encoder holds a buffer (the block COBS needs before it can send the block's code byte).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .protocol import CRC, CRC_BYTES

__all__ = ["DECODED", "CHECKED", "UNCHECKED", "FRAMED", "COBSDecoder", "CRCChecker",
           "CRCAppender", "COBSEncoder", "COBS_BLOCK"]

#: Longest run of data bytes in one COBS block.
COBS_BLOCK = 254

#: A decoded byte (``end`` clear), or the end of a frame (``end`` set; ``broken``: the COBS
#: structure ended inside a block).
DECODED = data.StructLayout({"data": 8, "end": 1, "broken": 1})
#: :data:`DECODED` with, on the end item, whether the frame's CRC matched.
CHECKED = data.StructLayout({"data": 8, "end": 1, "broken": 1, "crc_ok": 1})
#: A byte of a frame to send (``end`` clear), or the end of the frame (``end`` set, no byte).
UNCHECKED = data.StructLayout({"data": 8, "end": 1})
#: A byte of a frame to send; ``last`` on the frame's last byte.
FRAMED = data.StructLayout({"data": 8, "last": 1})

#: The memories are never read and written at the same address in the same cycle.
_NO_RW = {"no_rw_check": 1}


class COBSDecoder(wiring.Component):
    """Wire bytes in, decoded bytes and end-of-frame items out.

    A delimiter after at least one other byte gives an end item; a lone delimiter (an empty
    frame) gives nothing.

    Ports
    -----
    i : In(stream.Signature(8))
    o : Out(stream.Signature(DECODED))
    """

    i: In(stream.Signature(8))
    o: Out(stream.Signature(DECODED))

    def elaborate(self, platform):
        m = Module()
        code_left = Signal(8)         # data bytes left in the current block
        pending_zero = Signal()       # the current block ends with an encoded zero
        seen = Signal()               # a byte of this frame arrived
        byte = self.i.payload
        m.d.comb += self.i.ready.eq(self.o.ready)
        step = self.i.valid & self.i.ready
        with m.If(byte == 0):
            m.d.comb += [self.o.valid.eq(self.i.valid & seen), self.o.payload.end.eq(1),
                         self.o.payload.broken.eq(code_left != 0)]
            with m.If(step):
                m.d.sync += [code_left.eq(0), pending_zero.eq(0), seen.eq(0)]
        with m.Elif(code_left == 0):
            # a code byte: the zero ending the previous block, if it had one
            m.d.comb += [self.o.valid.eq(self.i.valid & pending_zero), self.o.payload.data.eq(0)]
            with m.If(step):
                m.d.sync += [code_left.eq(byte - 1), pending_zero.eq(byte != 0xFF), seen.eq(1)]
        with m.Else():
            m.d.comb += [self.o.valid.eq(self.i.valid), self.o.payload.data.eq(byte)]
            with m.If(step):
                m.d.sync += [code_left.eq(code_left - 1), seen.eq(1)]
        return m


class CRCChecker(wiring.Component):
    """Passes decoded bytes on, computing :data:`~spikeforge.rtl.protocol.CRC` over each frame
    (its bytes including the CRC at its end); the end item carries ``crc_ok``.

    Ports
    -----
    i : In(stream.Signature(DECODED))
    o : Out(stream.Signature(CHECKED))
    """

    i: In(stream.Signature(DECODED))
    o: Out(stream.Signature(CHECKED))

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC.create()
        m.d.comb += [self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready),
                     self.o.payload.data.eq(self.i.payload.data),
                     self.o.payload.end.eq(self.i.payload.end),
                     self.o.payload.broken.eq(self.i.payload.broken),
                     self.o.payload.crc_ok.eq(crc.match_detected),
                     crc.data.eq(self.i.payload.data)]
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.payload.end):
                m.d.comb += crc.start.eq(1)
            with m.Else():
                m.d.comb += crc.valid.eq(1)
        return m


class CRCAppender(wiring.Component):
    """Passes a frame's bytes on and, in place of its end item, sends the frame's
    :data:`~spikeforge.rtl.protocol.CRC` (little-endian), marking the last byte.

    Ports
    -----
    i : In(stream.Signature(UNCHECKED))
    o : Out(stream.Signature(FRAMED))
    """

    i: In(stream.Signature(UNCHECKED))
    o: Out(stream.Signature(FRAMED))

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC.create()
        index = Signal(range(CRC_BYTES))     # CRC byte being sent
        m.d.comb += [self.o.valid.eq(self.i.valid), crc.data.eq(self.i.payload.data)]
        with m.If(self.i.payload.end):
            m.d.comb += [self.o.payload.data.eq(crc.crc.word_select(index, 8)),
                         self.o.payload.last.eq(index == CRC_BYTES - 1),
                         self.i.ready.eq(self.o.ready & (index == CRC_BYTES - 1))]
            with m.If(self.o.valid & self.o.ready):
                m.d.sync += index.eq(Mux(index == CRC_BYTES - 1, 0, index + 1))
                with m.If(index == CRC_BYTES - 1):
                    m.d.comb += crc.start.eq(1)
        with m.Else():
            m.d.comb += [self.o.payload.data.eq(self.i.payload.data),
                         self.i.ready.eq(self.o.ready),
                         crc.valid.eq(self.i.valid & self.o.ready)]
        return m


class COBSEncoder(wiring.Component):
    """Frame bytes in (``last`` on each frame's last byte), COBS blocks and delimiters out.

    Bytes are gathered in a block buffer of :data:`COBS_BLOCK` bytes; a block is sent, code
    byte first, when a zero or the frame's last byte arrives or the buffer is full. Every block
    is sent, including a final empty one after a full block, as
    :func:`~spikeforge.host.device.codec.cobs_encode` does.


    With ``double`` the buffer holds two blocks: a block is sent from one half while the next
    is gathered in the other, so the encoder takes a byte in every cycle its output is ready
    for (a block's bytes leave as fast as they arrive, plus the code byte); the sender is held
    only when a block ends before the previous one has been sent. Without it (the smallest
    FPGAs), the sender is held while each block is sent: two cycles per byte. Both send the
    same bytes; the double buffer costs no more block RAM where a memory block holds 512
    bytes.

    Arguments
    ---------
    double : bool
        Gather a block while the previous one is sent.

    Ports
    -----
    i : In(stream.Signature(FRAMED))
    o : Out(stream.Signature(8))
    """

    i: In(stream.Signature(FRAMED))
    o: Out(stream.Signature(8))

    def __init__(self, *, double=False):
        self.double = bool(double)
        super().__init__()

    def elaborate(self, platform):
        if self.double:
            return self._elaborate_double()
        m = Module()
        m.submodules.block = block = Memory(shape=8, depth=COBS_BLOCK + 2, init=[],
                                            attrs=_NO_RW)
        wp = block.write_port()
        rp = block.read_port()
        n = Signal(range(COBS_BLOCK + 3))     # bytes in the block buffer
        k = Signal(range(COBS_BLOCK + 3))     # next byte to send when flushing
        code = Signal(8)
        then = Signal(2)                      # after the flush: 0 fill, 1 empty block + delim,
        #                                       2 delim
        byte, last = self.i.payload.data, self.i.payload.last
        m.d.comb += rp.addr.eq(k)

        def after_flush():
            with m.Switch(then):
                with m.Case(0):
                    m.next = "FILL"
                with m.Case(1):
                    m.next = "EMPTY"
                with m.Default():
                    m.next = "DELIM"

        with m.FSM(name="cobs_tx"):
            with m.State("FILL"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    with m.If(byte != 0):
                        m.d.comb += [wp.addr.eq(n), wp.data.eq(byte), wp.en.eq(1)]
                        m.d.sync += [n.eq(n + 1), k.eq(0)]
                        with m.If(n == COBS_BLOCK - 1):
                            m.d.sync += [code.eq(0xFF), then.eq(Mux(last, 1, 0))]
                            m.next = "CODE"
                        with m.Elif(last):
                            m.d.sync += [code.eq(n + 2), then.eq(2)]
                            m.next = "CODE"
                    with m.Else():
                        m.d.sync += [code.eq(n + 1), then.eq(Mux(last, 1, 0)), k.eq(0)]
                        m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(code)]
                with m.If(self.o.ready):
                    with m.If(n != 0):
                        m.next = "DATA"
                    with m.Else():
                        after_flush()
            with m.State("DATA"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(rp.data)]
                with m.If(self.o.ready):
                    m.d.comb += rp.addr.eq(k + 1)
                    m.d.sync += k.eq(k + 1)
                    with m.If(k + 1 == n):
                        m.d.sync += n.eq(0)
                        after_flush()
            with m.State("EMPTY"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(1)]
                with m.If(self.o.ready):
                    m.next = "DELIM"
            with m.State("DELIM"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(0)]
                with m.If(self.o.ready):
                    m.next = "FILL"
        return m

    def _elaborate_double(self):
        m = Module()
        # two halves of 256 bytes: the block being gathered and the block being sent
        half_bits = (COBS_BLOCK + 1).bit_length()
        m.submodules.block = block = Memory(shape=8, depth=2 << half_bits, init=[],
                                            attrs=_NO_RW)
        wp = block.write_port()
        rp = block.read_port()
        # gathering side
        wh = Signal()                           # half being filled
        n = Signal(range(COBS_BLOCK + 1))       # bytes in it
        # sending side: the block handed over, its code, length and what follows it
        rh = Signal()                           # half being sent
        code = Signal(8)
        dn = Signal(range(COBS_BLOCK + 1))      # data bytes of the block being sent
        k = Signal(range(COBS_BLOCK + 1))       # next of them to send
        then = Signal(2)                        # after it: 0 nothing, 1 empty block + delim,
        #                                         2 delim
        byte, last = self.i.payload.data, self.i.payload.last
        m.d.comb += [wp.addr.eq(Cat(n, wh)), wp.data.eq(byte), rp.addr.eq(Cat(k, rh))]

        free = Signal()        # the sending side is free from the next cycle on
        hand = Signal()        # a block is handed over in this cycle

        def finish():
            """The block (and what follows it) is sent: the next one, if handed over now."""
            m.d.comb += free.eq(1)
            with m.If(hand):
                m.next = "CODE"
            with m.Else():
                m.next = "IDLE"

        def after_data():
            with m.Switch(then):
                with m.Case(0):
                    finish()
                with m.Case(1):
                    m.next = "EMPTY"
                with m.Default():
                    m.next = "DELIM"

        with m.FSM(name="cobs_tx"):
            with m.State("IDLE"):
                m.d.comb += free.eq(1)
                with m.If(hand):
                    m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(code)]
                with m.If(self.o.ready):
                    with m.If(dn != 0):
                        m.next = "DATA"
                    with m.Else():
                        after_data()
            with m.State("DATA"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(rp.data)]
                with m.If(self.o.ready):
                    m.d.comb += rp.addr.eq(Cat((k + 1)[:len(k)], rh))
                    m.d.sync += k.eq(k + 1)
                    with m.If(k + 1 == dn):
                        after_data()
            with m.State("EMPTY"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(1)]
                with m.If(self.o.ready):
                    m.next = "DELIM"
            with m.State("DELIM"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(0)]
                with m.If(self.o.ready):
                    finish()
        # gathering (after the sending side: its assignments to k win when a block is
        # handed over as the previous one ends)
        full = n == COBS_BLOCK - 1
        ends = (byte == 0) | last | full        # the byte ends the block being gathered
        m.d.comb += self.i.ready.eq(~ends | free)
        with m.If(self.i.valid & self.i.ready):
            with m.If(byte != 0):
                m.d.comb += wp.en.eq(1)
            with m.If(ends):
                m.d.comb += hand.eq(1)
                m.d.sync += [wh.eq(~wh), n.eq(0), rh.eq(wh), k.eq(0),
                             dn.eq(Mux(byte != 0, n + 1, n))]
                with m.If(byte == 0):
                    m.d.sync += [code.eq(n + 1), then.eq(Mux(last, 1, 0))]
                with m.Elif(full):
                    m.d.sync += [code.eq(0xFF), then.eq(Mux(last, 1, 0))]
                with m.Else():
                    m.d.sync += [code.eq(n + 2), then.eq(2)]
            with m.Else():
                m.d.sync += n.eq(n + 1)

        return m
