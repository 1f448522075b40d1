"""A complete device: UART pins in and out, the command engine, and one core."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .core import Core
from .engine import Engine
from .protocol import LinkParams, identify_payload
from .uart import UART

__all__ = ["Top", "ByteTop", "baud_divisor"]


def baud_divisor(clk_hz, baud):
    """Clock cycles per bit for ``baud`` at ``clk_hz``; refuses rates the UART cannot hit
    within 2 % (a receiver sampling mid-bit tolerates about 4 % over a 10-bit frame)."""
    if not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud={baud!r} must be a positive integer")
    divisor = round(clk_hz / baud)
    if divisor < 4:
        raise ValueError(f"baud={baud} is too fast for clk_hz={clk_hz}: the UART needs at least "
                         f"4 clock cycles per bit (at most {clk_hz // 4} baud)")
    error = abs(clk_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"baud={baud} is {error:.1%} off at clk_hz={clk_hz} (divisor "
                         f"{divisor}): choose a baud rate closer to clk_hz / n")
    return divisor


class Top(wiring.Component):
    """UART, command engine and core: the design loaded into an FPGA (or simulated).

    Arguments
    ---------
    config : CoreConfig
        The core.
    clk_hz : int
        Frequency of the clock domain ``sync``, in Hz.
    baud : int
        Bit rate of the UART; ``clk_hz / baud`` must be close to an integer of at least 4.
    board : str
        Name reported by IDENTIFY (up to 32 ASCII characters).
    link : LinkParams, optional
        Buffer sizes of the engine (defaults of :class:`LinkParams`).

    Ports
    -----
    rx : In(1)
        UART input (from the host), idle high.
    tx : Out(1)
        UART output (to the host), idle high.
    leds : Out(4)
        Activity: 0 receiving, 1 sending, 2 a run in progress, 3 toggles on every bad frame.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    leds: Out(4)

    def __init__(self, config, clk_hz, baud, board="sim", *, link=None, build=None):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        self.config = config
        self.clk_hz = int(clk_hz)
        self.baud = baud
        self.divisor = baud_divisor(self.clk_hz, baud)
        self.board = board
        self.link = link if link is not None else LinkParams(config)
        self.identify = identify_payload(self.link, clk_hz=self.clk_hz, baud=baud, board=board,
                                         build=build)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = uart = UART(self.divisor)
        m.submodules.engine = engine = Engine(self.link, identify=self.identify,
                                              clk_hz=self.clk_hz)
        m.submodules.core = core = Core(self.config, crc_serial=self.link.crc_serial,
                                            record=self.link.record_set)
        wiring.connect(m, engine.core, core)
        wiring.connect(m, uart.rx_data, engine.rx)
        wiring.connect(m, engine.tx, uart.tx_data)
        m.d.comb += [
            uart.rx.eq(self.rx),
            self.tx.eq(uart.tx),
            engine.uart_framing_errors.eq(uart.framing_errors),
            engine.uart_overruns.eq(uart.overruns),
        ]
        bad = Signal()
        with m.If(engine.frame_bad):
            m.d.sync += bad.eq(~bad)
        m.d.comb += self.leds.eq(Cat(uart.rx_active, uart.tx_active, engine.running, bad))
        return m


class ByteTop(wiring.Component):
    """The command engine and core of :class:`Top` behind byte streams instead of UART pins.

    The simulated board uses it as its fast path: the host's bytes enter the engine's receive
    stream directly instead of being shifted in bit by bit, so a step costs its own cycles and
    a few per byte instead of ten bit periods per byte. The bytes are exactly those of the UART
    path (the engine is the same); :class:`Top`, with its UART, stays the design of a board.

    Ports
    -----
    rx : In(stream.Signature(8))
        Bytes from the host.
    tx : Out(stream.Signature(8))
        Bytes to the host.
    leds : Out(4)
        As :class:`Top`'s (bit 0 and 1: a byte is accepted, a byte is sent).
    """

    rx: In(stream.Signature(8))
    tx: Out(stream.Signature(8))
    leds: Out(4)

    def __init__(self, config, clk_hz, board="sim", *, link=None, build=None):
        if not isinstance(config, CoreConfig):
            raise TypeError(f"config must be a CoreConfig, not {config!r}")
        self.config = config
        self.clk_hz = int(clk_hz)
        self.board = board
        self.link = link if link is not None else LinkParams(config)
        # a byte may enter every cycle: report the equivalent 8N1 line rate
        self.identify = identify_payload(self.link, clk_hz=self.clk_hz, baud=self.clk_hz * 10,
                                         board=board, build=build)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = Engine(self.link, identify=self.identify,
                                              clk_hz=self.clk_hz)
        m.submodules.core = core = Core(self.config, crc_serial=self.link.crc_serial,
                                            record=self.link.record_set)
        wiring.connect(m, engine.core, core)
        wiring.connect(m, wiring.flipped(self.rx), engine.rx)
        wiring.connect(m, engine.tx, wiring.flipped(self.tx))
        m.d.comb += [engine.uart_framing_errors.eq(0), engine.uart_overruns.eq(0)]
        bad = Signal()
        with m.If(engine.frame_bad):
            m.d.sync += bad.eq(~bad)
        m.d.comb += self.leds.eq(Cat(self.rx.valid & self.rx.ready,
                                     self.tx.valid & self.tx.ready, engine.running, bad))
        return m
