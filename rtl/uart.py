"""A small 8N1 UART with byte streams and FIFOs on both sides.

The receiver synchronises ``rx`` with two flip-flops, detects the falling edge of a start bit,
re-checks it half a bit later (a glitch shorter than half a bit is ignored) and samples every
data bit and the stop bit in the middle of its bit period. Received bytes enter a small FIFO; a
byte that finds the FIFO full is lost and counted as an overrun, a byte whose stop bit is low is
dropped and counted as a framing error.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

__all__ = ["UART"]


#: Bytes of the receive and transmit FIFOs by default.
FIFO_DEPTH = 16


class UART(wiring.Component):
    """8N1 UART.

    Arguments
    ---------
    divisor : int, >= 4
        Clock cycles per bit (``clk_hz / baud``, rounded).
    rx_depth, tx_depth : int, >= 2
        Bytes of the receive and transmit FIFOs.
    counter_width : int
        Width of the error counters (they wrap).

    Ports
    -----
    rx : In(1)
        Serial input, idle high.
    tx : Out(1)
        Serial output, idle high.
    rx_data : Out(stream.Signature(8))
        Received bytes.
    tx_data : In(stream.Signature(8))
        Bytes to send.
    framing_errors, overruns : Out(counter_width)
        Bytes dropped because their stop bit was low, or because the receive FIFO was full.
    rx_active, tx_active : Out(1)
        A byte is being received or sent (for activity LEDs).
    """

    def __init__(self, divisor, *, rx_depth=FIFO_DEPTH, tx_depth=FIFO_DEPTH, counter_width=16):
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"divisor={divisor!r} clock cycles per bit is not allowed: it must "
                             f"be an integer of at least 4 (lower the baud rate or raise the "
                             f"clock)")
        for name, depth in (("rx_depth", rx_depth), ("tx_depth", tx_depth)):
            if not isinstance(depth, int) or depth < 2:
                raise ValueError(f"{name}={depth!r} must be an integer of at least 2")
        self.divisor = divisor
        self.rx_depth = rx_depth
        self.tx_depth = tx_depth
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "rx_data": Out(stream.Signature(8)),
            "tx_data": In(stream.Signature(8)),
            "framing_errors": Out(counter_width),
            "overruns": Out(counter_width),
            "rx_active": Out(1),
            "tx_active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor

        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=self.rx_depth)
        m.submodules.tx_fifo = tx_fifo = SyncFIFOBuffered(width=8, depth=self.tx_depth)
        m.d.comb += [
            self.rx_data.payload.eq(rx_fifo.r_data),
            self.rx_data.valid.eq(rx_fifo.r_rdy),
            rx_fifo.r_en.eq(self.rx_data.ready),
            tx_fifo.w_data.eq(self.tx_data.payload),
            tx_fifo.w_en.eq(self.tx_data.valid),
            self.tx_data.ready.eq(tx_fifo.w_rdy),
        ]

        # -- receiver ----------------------------------------------------------------------------
        sync_0 = Signal(init=1)
        sync_1 = Signal(init=1)
        m.d.sync += [sync_0.eq(self.rx), sync_1.eq(sync_0)]
        rx_timer = Signal(range(div))
        rx_bits = Signal(range(10))
        rx_shift = Signal(9)
        with m.FSM(name="rx_fsm"):
            with m.State("IDLE"):
                with m.If(~sync_1):
                    m.d.sync += rx_timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.rx_active.eq(1)
                with m.If(rx_timer != 0):
                    m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.Elif(sync_1):
                    m.next = "IDLE"          # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [rx_timer.eq(div - 1), rx_bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.rx_active.eq(1)
                with m.If(rx_timer != 0):
                    m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.Else():
                    m.d.sync += [rx_timer.eq(div - 1), rx_bits.eq(rx_bits + 1),
                                 rx_shift.eq(Cat(rx_shift[1:], sync_1))]
                    with m.If(rx_bits == 8):
                        m.next = "STOP"
            with m.State("STOP"):
                # the stop bit was sampled in its middle: wait for the line to be idle (high)
                # before looking for the next start bit
                with m.If(rx_shift[8]):
                    with m.If(rx_fifo.w_rdy):
                        m.d.comb += [rx_fifo.w_data.eq(rx_shift[:8]), rx_fifo.w_en.eq(1)]
                    with m.Else():
                        m.d.sync += self.overruns.eq(self.overruns + 1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                    m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(sync_1):
                    m.next = "IDLE"

        # -- transmitter -------------------------------------------------------------------------
        tx_timer = Signal(range(div))
        tx_bits = Signal(range(11))
        tx_shift = Signal(10, init=0x3FF)
        m.d.comb += self.tx.eq(tx_shift[0])
        with m.FSM(name="tx_fsm"):
            with m.State("IDLE"):
                m.d.comb += tx_fifo.r_en.eq(1)
                with m.If(tx_fifo.r_rdy):
                    m.d.sync += [tx_shift.eq(Cat(0, tx_fifo.r_data, 1)),
                                 tx_timer.eq(div - 1), tx_bits.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += self.tx_active.eq(1)
                with m.If(tx_timer != 0):
                    m.d.sync += tx_timer.eq(tx_timer - 1)
                with m.Elif(tx_bits == 9):
                    # end of the stop bit: start the next byte without an idle cycle
                    m.d.comb += tx_fifo.r_en.eq(1)
                    with m.If(tx_fifo.r_rdy):
                        m.d.sync += [tx_shift.eq(Cat(0, tx_fifo.r_data, 1)),
                                     tx_timer.eq(div - 1), tx_bits.eq(0)]
                    with m.Else():
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += [tx_timer.eq(div - 1), tx_bits.eq(tx_bits + 1),
                                 tx_shift.eq(Cat(tx_shift[1:], 1))]
        return m
