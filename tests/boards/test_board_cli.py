"""``spikeforge build`` and ``spikeforge flash`` through click."""

import json

import click
import pytest
from click.testing import CliRunner

from spikeforge.boards.cli import build_command, flash_command
from spikeforge.host.cli import SpikeforgeGroup


@pytest.fixture
def cli():
    @click.group(cls=SpikeforgeGroup)
    def group():
        pass
    group.add_command(build_command)
    group.add_command(flash_command)
    return group


def test_names_and_examples():
    assert build_command.name == "build" and flash_command.name == "flash"
    for command in (build_command, flash_command):
        assert "Examples:" in command.help
        assert command.help.rstrip().splitlines()[-1].strip().startswith("spikeforge ")


def test_build_refuses_a_network_that_does_not_fit(cli, tmp_path):
    result = CliRunner().invoke(cli, ["build", "--board", "ulx3s", "--neurons", "1024",
                                      "--inputs", "128", "--out", str(tmp_path), "--plan-only"])
    assert result.exit_code == 2
    assert result.output.startswith("error: N=1024 M=128 L=8 needs ")
    assert "use at most N=" in result.output


def test_build_refuses_learning_on_the_icebreaker_with_the_reason(cli, tmp_path):
    result = CliRunner().invoke(cli, ["build", "--board", "icebreaker", "--learning",
                                      "--plan-only", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: the 1BitSquared iCEBreaker (iCE40 UP5K) keeps its "
                                    "weights in single-ported SPRAM")
    assert "build without --learning" in result.output
    assert not any(tmp_path.iterdir())          # refused before anything was written


def test_build_bad_lanes_is_a_config_error(cli, tmp_path):
    result = CliRunner().invoke(cli, ["build", "--board", "ecpix5", "--lanes", "3",
                                      "--plan-only", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: lanes=3 is not allowed")


def test_build_plan_json(cli, tmp_path):
    pytest.importorskip("amaranth_boards")
    result = CliRunner().invoke(cli, ["build", "--board", "ecpix5", "-n", "16", "-m", "8",
                                      "-l", "2", "--plan-only", "--json", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["board"] == "ecpix5" and figures["built"] is False
    assert figures["config"]["neurons"] == 16
    assert figures["digits"]["cycles"] > 0


def test_flash_without_bitstream(cli, tmp_path):
    result = CliRunner().invoke(cli, ["flash", "--board", "ulx3s", "--bitstream",
                                      str(tmp_path / "none.bit")])
    assert result.exit_code == 2
    assert result.output == (f"error: there is no bitstream at {tmp_path / 'none.bit'}; "
                             "build one first: spikeforge build --board ulx3s\n")


def test_flash_icesugar_onto_its_drive(cli, tmp_path):
    bitstream = tmp_path / "spikeforge.bin"
    bitstream.write_bytes(b"\x7e\xaa\x99\x7e")
    drive = tmp_path / "iCELink"
    drive.mkdir()
    result = CliRunner().invoke(cli, ["flash", "--board", "icesugar", "--bitstream",
                                      str(bitstream), "--drive", str(drive)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("copied spikeforge.bin (4 bytes) to the iCELink drive")
    assert (drive / "spikeforge.bin").read_bytes() == bitstream.read_bytes()


def test_build_refuses_learning_on_the_icesugar(cli, tmp_path):
    result = CliRunner().invoke(cli, ["build", "--board", "icesugar", "--learning",
                                      "--plan-only", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: the MuseLab iCESugar (iCE40 UP5K) keeps its "
                                    "weights in single-ported SPRAM")
