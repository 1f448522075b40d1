"""Boards: platforms, bitstream builds with the open toolchain, flashing, and the resource model.

:data:`BOARDS` (in :mod:`.registry`) lists the supported boards; :func:`.build.build` makes a
bitstream, :func:`.flash.flash` loads it, :func:`.resources.check` tells before synthesis whether
a configuration fits. Only :mod:`.registry` is imported here: the rest needs the toolchain extra.
"""

from .registry import BOARDS, BoardError, BoardSpec, get_board

__all__ = ["BOARDS", "BoardError", "BoardSpec", "get_board"]
