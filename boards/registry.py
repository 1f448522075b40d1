"""The boards spikeforge builds for, and what each FPGA holds.

``BOARDS`` maps a board name (as typed on the command line) to a :class:`BoardSpec`: how to build
for it (platform class, clock, UART rate, flashing arguments) and what its FPGA offers (the
figures :mod:`spikeforge.boards.resources` checks a configuration against before synthesis).

Importing this module needs neither ``amaranth-boards`` nor a toolchain: platform classes are
named here and imported only when a build asks for them.
"""

import importlib
from dataclasses import dataclass, field

from ..config import ConfigError, CoreConfig

__all__ = ["BoardError", "Device", "BoardSpec", "BOARDS", "ALIASES", "get_board"]


class BoardError(ConfigError):
    """A board cannot do what was asked, or a tool for it is missing.

    ``str(error)`` is one sentence saying what is wrong followed by the fix. It derives from
    :class:`~spikeforge.config.ConfigError`, so the command line prints it as ``error: ...`` and
    exits with code 2.
    """

    def __init__(self, message, fix=None):
        self.reason = message
        self.fix = fix
        super().__init__(f"{message}; {fix}" if fix else message)


@dataclass(frozen=True)
class Device:
    """The resources of one FPGA.

    Arguments
    ---------
    name : str
        Part number as the vendor writes it.
    family : str
        ``"ice40"``, ``"ecp5"``, ``"gowin"`` or ``"xilinx7"``: selects the block RAM shapes of the model.
    luts, ffs : int
        Logic cells (4-input LUTs on Lattice, 6-input LUTs on Xilinx) and flip-flops.
    bram_count, bram_bits : int
        Number of block RAMs and the bits of one (iCE40 EBR 4 Kibit, ECP5 DP16KD 18 Kibit,
        Gowin B-SRAM 18 Kibit, Xilinx RAMB36 36 Kibit).
    spram_count : int
        Single-port 16 K × 16 RAMs (iCE40 UltraPlus only).
    dsps : int
        Hard multipliers (SB_MAC16, MULT18X18D, DSP48E1).
    """
    name: str
    family: str
    luts: int
    ffs: int
    bram_count: int
    bram_bits: int
    spram_count: int = 0
    dsps: int = 0

    @property
    def bram_kind(self):
        return {"ice40": "EBR", "ecp5": "DP16KD", "gowin": "BSRAM",
                "xilinx7": "RAMB36"}[self.family]


UP5K = Device("iCE40UP5K", "ice40", luts=5280, ffs=5280, bram_count=30, bram_bits=4096,
              spram_count=4, dsps=8)
ECP5_85 = Device("LFE5U-85F", "ecp5", luts=83640, ffs=83640, bram_count=208, bram_bits=18432,
                 dsps=156)
ECP5_85_5G = Device("LFE5UM5G-85F", "ecp5", luts=83640, ffs=83640, bram_count=208,
                    bram_bits=18432, dsps=156)
GW1NR_9 = Device("GW1NR-LV9QN88PC6/I5", "gowin", luts=8640, ffs=6480, bram_count=26,
                  bram_bits=18432, dsps=20)
XC7A35T = Device("xc7a35t", "xilinx7", luts=20800, ffs=41600, bram_count=50, bram_bits=36864,
                 dsps=90)


@dataclass(frozen=True)
class BoardSpec:
    """Everything spikeforge needs to know about one board.

    Arguments
    ---------
    name : str
        The name used on the command line.
    title : str
        The board's full name, for messages and documentation.
    platform : str
        ``"module:Class"`` of the Amaranth platform (see :mod:`spikeforge.boards.platforms`).
    device : Device
        The FPGA and its resources.
    clk_in_hz : float
        Frequency of the oscillator on the board.
    clk_hz : float
        Default core clock (made by the PLL when it differs from ``clk_in_hz``).
    baud : int
        UART rate of the board's USB bridge used by default.
    sizes : dict
        Default :class:`~spikeforge.config.CoreConfig` fields for this board.
    toolchain : str
        ``"yowasp"`` (open tools from PyPI) or ``"vivado"`` (needs a Vivado install).
    loader_args : tuple of str
        Arguments of ``openFPGALoader`` naming the board or cable.
    drive_label : str or None
        Set for a board programmed by copying the bitstream onto the USB drive its on-board
        programmer presents (this volume label) instead of through ``openFPGALoader``.
    loader_flash : tuple of str
        Extra arguments that write the configuration flash instead of loading SRAM.
    bitstream_ext : str
        Extension of the file the loader takes.
    spram_sizes : dict
        Default sizes used instead of ``sizes`` when the core can keep its weights in SPRAM
        (a core built with single-ported weights; see :mod:`spikeforge.boards.resources`).
    link : dict
        :class:`~spikeforge.rtl.protocol.LinkParams` arguments other than the defaults (smaller
        frame buffers where block RAM is scarce).
    seed : int or None
        nextpnr's placement seed for this board's builds (``None``: nextpnr's default).
    """
    name: str
    title: str
    platform: str
    device: Device
    clk_in_hz: float
    clk_hz: float
    baud: int
    sizes: dict = field(default_factory=dict)
    toolchain: str = "yowasp"
    loader_args: tuple = ()
    drive_label: str | None = None
    loader_flash: tuple = ("-f",)
    bitstream_ext: str = "bit"
    spram_sizes: dict = field(default_factory=dict)
    link: dict = field(default_factory=dict)
    seed: int | None = None
    notes: str = ""

    def link_params(self, config):
        """The command engine's buffer sizes for ``config`` on this board (``None``: the
        engine's defaults)."""
        if not self.link:
            return None
        from ..rtl.protocol import LinkParams
        return LinkParams(config, **self.link)

    def platform_class(self):
        """Import and return the Amaranth platform class (needs ``amaranth-boards``)."""
        module_name, _, class_name = self.platform.partition(":")
        try:
            module = importlib.import_module(module_name, package=__package__)
        except ImportError as error:
            if "amaranth_boards" in str(error):
                raise BoardError(
                    f"the board {self.name} needs the Python package amaranth-boards",
                    "install the toolchain extra: pip install 'spikeforge[toolchain]' "
                    "(or run scripts/setup --toolchain)") from None
            raise
        return getattr(module, class_name)

    def default_config(self, **changes):
        """The :class:`CoreConfig` this board is built with by default, with ``changes``."""
        from .resources import core_supports_spram
        sizes = dict(self.sizes)
        if self.spram_sizes and core_supports_spram():
            sizes.update(self.spram_sizes)
        sizes.update({key: value for key, value in changes.items() if value is not None})
        return CoreConfig(**sizes)


# The UP5K boards' core: logic cells are the UP5K's limit, so the build leaves out learning,
# the adaptive threshold and the Poisson generators, and keeps 16-bit state. The weights sit in
# the SPRAM, which is single-ported: one address for reading and writing them, which needs
# learning off (docs/boards.md).
_UP5K_SIZES = dict(neurons=256, inputs=64, lanes=1, banks=1, stdp=False,
                   single_port_weights=True, adaptive_threshold=False, poisson=False,
                   v_bits=16, i_bits=16, theta_bits=8, refrac_bits=4)
# a 1 KiB receive ring (2 EBR) instead of the default 4 KiB (8 EBR); 16-bit STATUS counters,
# two input slots, a byte-serial region CRC and no span counter in OUTPUT (logic cells, not
# RAM, are what the UP5K runs out of); neither spike counts nor a recorded set, hence no RECORD
# region (their states do not fit: runs record all spikes or none, and every k-th step's probes,
# k at most 255), paced steps at most 2**24 us (16.7 s) apart, and OUTPUT sent before the next
# step starts (no overlap: its spike-list copy and registers do not fit)
_UP5K_LINK = dict(max_payload=256, counter_bits=16, input_slots=2, crc_serial=True, span=False,
                  record_counts=False, record_set=False, every_bits=8, period_bits=24,
                  overlap=False)


BOARDS = {spec.name: spec for spec in [
    BoardSpec(
        name="icebreaker",
        title="1BitSquared iCEBreaker (iCE40 UP5K)",
        platform=".platforms:ICEBreakerPlatform",
        device=UP5K,
        clk_in_hz=12e6,
        # PLL 12 -> 18 MHz (3 Mbaud = 18 MHz / 6); N=256 M=64 measured 22.7 MHz (docs/boards.md)
        clk_hz=18e6,
        baud=3_000_000,
        sizes=_UP5K_SIZES,
        link=_UP5K_LINK,
        loader_args=("-b", "ice40_generic"),
        bitstream_ext="bin",
    ),
    BoardSpec(
        name="icesugar",
        title="MuseLab iCESugar (iCE40 UP5K)",
        platform=".platforms:ICESugarPlatform",
        device=UP5K,
        clk_in_hz=12e6,
        # the iCEBreaker's FPGA, package and clock pin (35, a PLL pad): the same PLL to 18 MHz
        clk_hz=18e6,
        # through the iCELink (an STM32F1 running DAPLink) as a USB CDC serial port;
        # 1 Mbaud = 18 MHz / 18
        baud=1_000_000,
        # the iCEBreaker's configuration: the same device, and logic cells are its limit
        sizes=_UP5K_SIZES,
        link=_UP5K_LINK,
        # programmed by copying the .bin onto the iCELink's USB drive (spikeforge.boards.flash):
        # openFPGALoader has no iCESugar target and cannot reach its SPI flash
        drive_label="iCELink",
        bitstream_ext="bin",
    ),
    BoardSpec(
        name="ulx3s",
        title="Radiona ULX3S 85F (ECP5 LFE5U-85F)",
        platform=".platforms:ULX3S85FPlatform",
        device=ECP5_85,
        clk_in_hz=25e6,
        # N=512 M=128 L=8 routed at 44.6 MHz with the weight address registered (docs/boards.md)
        clk_hz=40e6,
        baud=2_000_000,                   # 40 MHz / 20: an exact divisor (the FT231X takes 2 Mbaud)
        sizes=dict(neurons=512, inputs=128, lanes=8),
        # the byte-serial region CRC, as measured (docs/boards.md); 4 KiB receive ring
        link=dict(crc_serial=True),
        # 197 of the 208 block RAMs: with nextpnr's default seed the placement of this design
        # left router2 with thousands of congested wires after 15 iterations (not finished in
        # 25 minutes); seed 7 routes in 6 minutes (docs/boards.md)
        seed=7,
        loader_args=("-b", "ulx3s"),
    ),
    BoardSpec(
        name="ecpix5",
        title="LambdaConcept ECPIX-5 85F (ECP5-5G LFE5UM5G-85F, speed grade 8)",
        platform=".platforms:ECPIX585Platform",
        device=ECP5_85_5G,
        clk_in_hz=100e6,
        # N=256 M=64 L=8 with the pipelined core: 67.3 MHz measured (docs/boards.md)
        clk_hz=60e6,                      # 3 Mbaud = 60 MHz / 20
        baud=3_000_000,
        sizes=dict(neurons=256, inputs=64, lanes=8),
        loader_args=("-b", "ecpix5"),
    ),
    BoardSpec(
        name="cmod_a7",
        title="Digilent Cmod A7-35T (Artix-7 xc7a35tcpg236-1)",
        platform=".platforms:CmodA735Platform",
        device=XC7A35T,
        clk_in_hz=12e6,
        clk_hz=96e6,                      # MMCM 12 MHz x 64 / 8; 3 Mbaud = 96 MHz / 32
        baud=3_000_000,
        sizes=dict(neurons=256, inputs=64, lanes=8),
        toolchain="vivado",
        loader_args=("-b", "cmoda7_35t"),
        notes="built with Vivado; the open toolchain has no Artix-7 flow on PyPI",
    ),
    BoardSpec(
        name="tang_nano_9k",
        title="Sipeed Tang Nano 9K (Gowin GW1NR-9)",
        platform=".platforms:TangNano9kPlatform",
        device=GW1NR_9,
        clk_in_hz=27e6,
        # the core runs from the 27 MHz oscillator (no PLL); 1 Mbaud = 27 MHz / 27 through the
        # on-board BL702 USB bridge
        clk_hz=27e6,
        baud=1_000_000,
        # with learning on; the iCEBreaker's trims of logic (no adaptive threshold or Poisson
        # generators, 16-bit state, the lean engine): 8,898 of 8,640 LUT4 without them at
        # N=128. N=160 M=32: 6,166 LUT4, all 26 B-SRAM, 55.6 MHz routed (docs/boards.md)
        sizes=dict(neurons=160, inputs=32, lanes=1, banks=1, stdp=True,
                   adaptive_threshold=False, poisson=False, v_bits=16, i_bits=16,
                   theta_bits=8, refrac_bits=4),
        # neither spike counts nor a recorded set: with their memories (in LUT RAM) and logic
        # the design (7,760 of 8,640 LUT4, 114 RAM16SDP4) did not place; no overlap of OUTPUT
        # with the next step (all 26 B-SRAM are in use)
        link=dict(max_payload=256, counter_bits=16, input_slots=2, crc_serial=True,
                  record_counts=False, record_set=False, overlap=False),
        loader_args=("-b", "tangnano9k"),
        bitstream_ext="fs",
    ),
]}


#: Other names accepted for a board (the name of its exact variant).
ALIASES = {"ulx3s-85f": "ulx3s", "ecpix5-85": "ecpix5", "cmod-a7": "cmod_a7",
           "cmod-a7-35t": "cmod_a7", "ice-sugar": "icesugar",
           "tangnano9k": "tang_nano_9k", "tang-nano-9k": "tang_nano_9k"}


def get_board(name):
    """The :class:`BoardSpec` called ``name`` (or one of its :data:`ALIASES`);
    :class:`BoardError` naming the known boards."""
    if isinstance(name, BoardSpec):
        return name
    try:
        return BOARDS[ALIASES.get(name, name)]
    except KeyError:
        raise BoardError(f"unknown board {name!r}",
                         f"choose one of {', '.join(sorted(BOARDS))}") from None
