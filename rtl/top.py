"""A complete device: UART pins in and out, the command engine, and one core."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .core import Core
from .engine import Engine
from .protocol import LinkParams, identify_payload
from .uart import UART

__all__ = ["Top", "baud_divisor"]


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
        m.submodules.core = core = Core(self.config)
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
