"""The board top: clock, reset, UART pins and LEDs around :class:`spikeforge.rtl.top.Top`.

One :class:`BoardTop` serves every board of :data:`~spikeforge.boards.registry.BOARDS`. It makes
the ``sync`` clock from the board's oscillator (through the FPGA's PLL when the requested clock
differs), holds the design in reset until the PLL locks and while the reset button is pressed,
connects the UART of the board's USB bridge and shows the design's four LED outputs on the board's
LEDs (a spare LED, if any, blinks at about 1 Hz to show the clock runs).
"""

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from ..config import ceil_log2
from .registry import BoardError

__all__ = ["BoardTop", "ice40_pll", "ecp5_pll", "mmcm_pll"]


# -- PLL parameter search ---------------------------------------------------------------------
# Each solver returns the divider settings that give exactly (or nearest to) f_out, inside the
# VCO and phase-detector ranges of the data sheet, and the frequency they give.

def ice40_pll(f_in, f_out):
    """SB_PLL40 (iCE40): f_out = f_in * (DIVF+1) / ((DIVR+1) * 2**DIVQ)."""
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = f_vco / (1 << divq)
                if best is None or abs(f - f_out) < abs(best[0] - f_out):
                    best = (f, dict(DIVR=divr, DIVF=divf, DIVQ=divq,
                                    FILTER_RANGE=_ice40_filter(f_pfd)))
    return best


def _ice40_filter(f_pfd):
    for limit, value in ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5)):
        if f_pfd < limit:
            return value
    return 6


def ecp5_pll(f_in, f_out):
    """EHXPLLL (ECP5) with CLKOP feedback: f_out = f_in / CLKI_DIV * CLKFB_DIV."""
    best = None
    for clki_div in range(1, 129):
        f_pfd = f_in / clki_div
        if f_pfd < 3.125e6:
            break
        for clkfb_div in range(1, 81):
            f = f_pfd * clkfb_div
            for clkop_div in range(1, 129):
                if 400e6 <= f * clkop_div <= 800e6:
                    if best is None or abs(f - f_out) < abs(best[0] - f_out):
                        best = (f, dict(CLKI_DIV=clki_div, CLKFB_DIV=clkfb_div,
                                        CLKOP_DIV=clkop_div))
                    break
    return best


def mmcm_pll(f_in, f_out):
    """MMCME2_BASE (7 series, speed grade 1): f_out = f_in * MULT / (DIVCLK * DIV0)."""
    best = None
    for divclk in range(1, 11):
        f_pfd = f_in / divclk
        if f_pfd < 10e6:
            break
        for mult in range(2, 65):
            f_vco = f_pfd * mult
            if not 600e6 <= f_vco <= 1200e6:
                continue
            for div0 in range(1, 129):
                f = f_vco / div0
                if best is None or abs(f - f_out) < abs(best[0] - f_out):
                    best = (f, dict(DIVCLK_DIVIDE=divclk, CLKFBOUT_MULT_F=float(mult),
                                    CLKOUT0_DIVIDE_F=float(div0)))
    return best


PLL_SOLVERS = {"ice40": ice40_pll, "ecp5": ecp5_pll, "xilinx7": mmcm_pll}


def achievable_clock(spec, clk_hz):
    """The clock the board's PLL really makes when ``clk_hz`` is asked for."""
    if clk_hz == spec.clk_in_hz:
        return float(clk_hz)
    found = PLL_SOLVERS[spec.device.family](spec.clk_in_hz, clk_hz)
    if found is None:
        raise BoardError(f"the PLL of the {spec.title} cannot make {clk_hz / 1e6:g} MHz",
                         "choose another --clock")
    return found[0]


# -- the top ------------------------------------------------------------------------------------

#: reset resources tried in order: (name, number); a board not listed resets only at power-up
#: and PLL lock (the iCESugar has no button, only DIP switches; the Tang Nano 9K's two buttons
#: are not used)
_RESET_RESOURCES = {
    "icebreaker": ("button", 0),
    "ulx3s": ("button_fire", 0),
    "ecpix5": ("rst", 0),
    "cmod_a7": ("button", 0),
}


class BoardTop(Elaboratable):
    """The top of a bitstream for one board.

    Arguments
    ---------
    spec : BoardSpec
        The board.
    config : CoreConfig
        The core configuration; the design reports its hash to the host.
    clk_hz : float
        Core clock in Hz. The PLL makes the nearest frequency it can; :attr:`clk_hz` holds it.
    baud : int
        UART rate in bit/s.
    design : callable, optional
        ``design(config, clk_hz, baud, board)`` returning a component with ports ``rx: In(1)``,
        ``tx: Out(1)``, ``leds: Out(4)``. Defaults to :class:`spikeforge.rtl.top.Top`.
    build : int, optional
        The 32-bit build ID the default design reports to IDENTIFY.
    """

    def __init__(self, spec, config, clk_hz, baud, design=None, build=None):
        self.spec = spec
        self.config = config
        self.clk_hz = achievable_clock(spec, clk_hz)
        self.baud = baud
        if design is None:
            try:
                from ..rtl.top import Top
            except ImportError as error:
                raise BoardError(f"the board top cannot find the core's top ({error})",
                                 "update spikeforge: spikeforge.rtl.top is part of it") from None
        try:
            if design is None:
                self.design = Top(config, self.clk_hz, baud, board=spec.name,
                                  link=spec.link_params(config), build=build)
            else:
                self.design = design(config, self.clk_hz, baud, board=spec.name)
        except ValueError as error:
            raise BoardError(f"the {spec.title} cannot run this design: {error}",
                             "choose another --clock or --baud") from None

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        family = spec.device.family

        # -- clock and reset -------------------------------------------------------------------
        m.domains.sync = ClockDomain("sync")
        locked = Signal(init=1)
        if self.clk_hz == spec.clk_in_hz:
            clk_in = platform.request(platform.default_clk, 0).i
            m.d.comb += ClockSignal("sync").eq(clk_in)
        elif family == "ice40":
            # the iCE40 PLL takes its reference straight from the clock pad (SB_PLL40_PAD): the
            # pad gets no input buffer of its own
            clk_in = platform.request(platform.default_clk, 0, dir="-")
            clk_out = Signal()
            locked = Signal()
            self._pll(m, family, clk_in.io, clk_out, locked)
            m.d.comb += ClockSignal("sync").eq(clk_out)
            platform.add_clock_constraint(clk_out, self.clk_hz)
        else:
            clk_in = platform.request(platform.default_clk, 0).i
            clk_out = Signal()
            locked = Signal()
            self._pll(m, family, clk_in, clk_out, locked)
            m.d.comb += ClockSignal("sync").eq(clk_out)
            platform.add_clock_constraint(clk_out, self.clk_hz)

        button = Signal()
        name, number = _RESET_RESOURCES.get(spec.name, (None, 0))
        if name is not None:
            try:
                button = platform.request(name, number).i
            except ResourceError:
                pass
        m.submodules.reset_sync = ResetSynchronizer(button | ~locked, domain="sync")

        # -- design, UART, LEDs ----------------------------------------------------------------
        m.submodules.design = design = self.design
        uart = platform.request("uart", 0)
        m.d.comb += [design.rx.eq(uart.rx.i), uart.tx.o.eq(design.tx)]

        leds = self._leds(platform)
        outputs = list(design.leds)
        heartbeat_bits = ceil_log2(int(self.clk_hz))
        heartbeat = Signal(heartbeat_bits)
        m.d.sync += heartbeat.eq(heartbeat + 1)
        if len(leds) > len(outputs):
            outputs.append(heartbeat[-1])
        for led, value in zip(leds, outputs):
            m.d.comb += led.eq(value)
        return m

    def _leds(self, platform):
        leds = []
        for number in range(5):
            try:
                leds.append(platform.request("led", number).o)
            except ResourceError:
                break
        for number in range(5 - len(leds)):
            try:
                leds.append(platform.request("rgb_led", number).g.o)
            except ResourceError:
                break
        return leds

    def _pll(self, m, family, clk_in, clk_out, locked):
        f_in = self.spec.clk_in_hz
        _, p = PLL_SOLVERS[family](f_in, self.clk_hz)
        if family == "ice40":
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
                p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=clk_in, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)
        elif family == "ecp5":
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{f_in / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{self.clk_hz / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                i_CLKI=clk_in, i_CLKFB=clk_out, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0, i_PHASELOADREG=0,
                i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_CLKOP=clk_out, o_LOCK=locked)
        elif family == "xilinx7":
            feedback = Signal()
            unbuffered = Signal()
            m.submodules.pll = Instance(
                "MMCME2_BASE",
                p_CLKIN1_PERIOD=round(1e9 / f_in, 3),
                p_DIVCLK_DIVIDE=p["DIVCLK_DIVIDE"], p_CLKFBOUT_MULT_F=p["CLKFBOUT_MULT_F"],
                p_CLKOUT0_DIVIDE_F=p["CLKOUT0_DIVIDE_F"],
                i_CLKIN1=clk_in, i_CLKFBIN=feedback, o_CLKFBOUT=feedback,
                i_RST=0, i_PWRDWN=0, o_CLKOUT0=unbuffered, o_LOCKED=locked)
            m.submodules.bufg = Instance("BUFG", i_I=unbuffered, o_O=clk_out)
        else:  # pragma: no cover
            raise AssertionError(family)
