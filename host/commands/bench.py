"""``spikeforge bench``: measured figures of the core, the twin, the link and the simulated board.

Every subcommand prints a table (or JSON with ``--json``) and writes the same figures as JSON to
``--out`` (default ``bench-results/<name>.json``).
"""

import json
import time
from pathlib import Path

import click

from .common import json_option, print_json, print_table

__all__ = ["bench_group"]

out_option = click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
                          default=None, metavar="FILE.json",
                          help="Where to write the figures (default bench-results/NAME.json).")


def _emit(name, figures, out_path, as_json, rows, **extra):
    out_path = out_path or Path("bench-results") / f"{name}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "results": figures, **extra}
    out_path.write_text(json.dumps(document, indent=2) + "\n")
    if as_json:
        print_json(document)
    else:
        for title, table in rows:
            print_table(table, title=title)
        click.echo(f"figures written to {out_path}", err=True)


@click.group("bench")
def bench_group():
    """Measure the core, the twin, the link and the simulated board.

    \b
    Examples:
      spikeforge bench core
      spikeforge bench core --json --out core.json
      spikeforge bench twin --steps 5000
      spikeforge bench sim
      spikeforge bench link
    """


@bench_group.command("core")
@click.option("--steps-scale", type=click.FloatRange(min=0.01, max=100), default=1.0,
              show_default=True, help="Multiply every workload's number of steps.")
@click.option("--end-to-end/--no-end-to-end", default=True, show_default=True,
              help="Also measure whole steps (core and command engine) on sim://.")
@out_option
@json_option
def bench_core_command(steps_scale, end_to_end, out_path, as_json):
    """Cycles per step and synaptic operations per cycle of the RTL core in Verilator.

    Workloads: a dense worst case (every neuron and every input spikes in every step) and the
    NeuroCoreX-sized digits workload (N=100, M=64, L=8, 10 % input activity), each with STDP
    off and on; plus the dense case at N=256. The core counts its own clock cycles; the twin
    runs alongside and every step's spikes must agree.

    End to end: the digits workload at N=100 and N=256 on the simulated board (sim://), with
    the inputs of many steps buffered ahead; the span of each OUTPUT (clock cycles from one
    step's start to the next) gives the core's and the command engine's cycles per step, and
    the engine's share.

    \b
    Examples:
      spikeforge bench core
      spikeforge bench core --json --out bench-results/core.json
    """
    from ...sim.bench import bench_core

    figures = bench_core(steps_scale=steps_scale,
                         progress=None if as_json else lambda text: click.echo(text, err=True))
    rows = [(f"{f['workload']} N={f['neurons']} M={f['inputs']} L={f['lanes']} "
             f"STDP {'on' if f['stdp'] else 'off'}", [
                 ("cycles per step", f"{f['cycles_per_step']:.1f}"),
                 ("synaptic ops per step", f"{f['synaptic_ops_per_step']:.0f}"),
                 ("synaptic ops per cycle", f"{f['sop_per_cycle']:.2f} "
                                            f"({f['sop_per_cycle_over_lanes']:.3f} x L)"),
                 ("neuron spikes per step", f"{f['neuron_spikes_per_step']:.1f}"),
                 ("input spikes per step", f"{f['input_spikes_per_step']:.1f}"),
                 ("cycles match docs/model.md formula", "yes" if f["formula_exact"] else "NO"),
                 ("fewer cycles than NeuroCoreX (96,000/step)",
                  f"{f['speedup_vs_neurocorex']:.0f}x"),
             ]) for f in figures]
    extra = {}
    if end_to_end:
        from ...sim.bench import bench_end_to_end

        steps = max(10, int(300 * steps_scale))
        extra["end_to_end"] = whole = bench_end_to_end(
            steps=steps, progress=None if as_json else lambda text: click.echo(text, err=True))
        rows += [(f"end to end on sim://: digits N={f['neurons']} M={f['inputs']} "
                  f"L={f['lanes']}, inputs buffered {f['input_slots']} steps ahead", [
                      ("core cycles per step", f"{f['core_cycles_per_step']:.1f}"),
                      ("span per step (core + engine)", f"{f['span_per_step']:.1f}"),
                      ("engine cycles per step (median, min-max)",
                       f"{f['engine_cycles_per_step']:.1f} ({f['engine_cycles_median']:.0f}, "
                       f"{f['engine_cycles_min']}-{f['engine_cycles_max']})"),
                      ("engine's share of the core's cycles", f"{f['engine_share']:.1%}"),
                      ("spikes equal to the twin's", "yes" if f["spikes_equal_twin"] else "NO"),
                  ]) for f in whole]
    _emit("core", figures, out_path, as_json, rows, **extra)


@bench_group.command("twin")
@click.option("--steps", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Time steps of 1 ms simulated by each contender per run.")
@click.option("--neurons", "neurons", type=click.IntRange(min=2, max=1024), multiple=True,
              help="Network sizes (repeat the option; default 100, 256 and 1000).")
@click.option("--target", "targets", multiple=True,
              type=click.Choice(["numpy", "cython", "cpp_standalone"]),
              help="Brian2 code generation targets (repeat; default all three).")
@click.option("--learning", type=click.Choice(["both", "on", "off"]), default="both",
              show_default=True, help="Run with STDP on, off, or both.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Interleaved runs of every contender; the median is reported.")
@click.option("--batch", "batch", type=click.IntRange(min=1), multiple=True,
              help="Benchmark the batched twin instead, at these batch sizes "
                   "(repeat; e.g. --batch 1 --batch 8 --batch 64).")
@out_option
@json_option
def bench_twin_command(steps, neurons, targets, learning, repeats, batch, out_path, as_json):
    """Steps per CPU-second of the twin (compiled and numpy) against Brian2, rate-matched.

    The Brian2 network is the core's integer model in float64 with the core's STDP, so both
    fire the same spikes (both rates are printed). Brian2 runs its numpy and Cython runtime
    targets and cpp_standalone (build time reported apart). Contenders are interleaved; the
    figures are medians of CPU time, printed with the load average.

    With --batch: B random networks of one configuration (N=100) run together in the
    batched twin, against the same B networks run one after another.

    \b
    Examples:
      spikeforge bench twin --json
      spikeforge bench twin --neurons 100 --target cpp_standalone --learning on
      spikeforge bench twin --batch 1 --batch 8 --batch 64 --json
    """
    from ..model import bench_twin
    from spikeforge.config import ConfigError

    progress = None if as_json else (lambda text: click.echo(text, err=True))
    if batch:
        figures = bench_twin.bench_batch(sizes=batch, steps=min(steps, 500), repeats=repeats,
                                         progress=progress)
        load = figures["load_average"]
        rows = [(f"batched twin, B={f['batch']}, N={f['neurons']}, learning "
                 f"{'on' if f['learning'] else 'off'} (load average {load['median']:.1f})", [
                     *[(f"{key}: network steps per CPU-second", f"{value:,.0f}")
                       for key, value in f["network_steps_per_cpu_s"].items()],
                     ("speed-up over sequential numpy twins",
                      f"{f['speedup_vs_sequential_numpy']:.1f}x"),
                     *([("speed-up over sequential compiled twins",
                         f"{f['speedup_vs_sequential_compiled']:.2f}x")]
                       if "speedup_vs_sequential_compiled" in f else []),
                 ]) for f in figures["results"]]
        _emit("twin-batch", figures, out_path, as_json, rows)
        return
    try:
        figures = bench_twin.bench_twin_vs_brian2(
            steps=steps, neurons=neurons or (100, 256, 1000),
            learn={"both": (True, False), "on": (True,), "off": (False,)}[learning],
            targets=targets or ("numpy", "cython", "cpp_standalone"), repeats=repeats,
            progress=progress)
    except RuntimeError as error:
        raise ConfigError(str(error)) from None
    load = figures["load_average"]
    rows = []
    for case in figures["cases"]:
        table = [(f"{key}: steps per CPU-second", f"{value:,.0f}")
                 for key, value in case["steps_per_cpu_s"].items()]
        table += [(f"spike rate, {key}", f"{value:.5f}")
                  for key, value in case["spike_rate"].items()]
        table.append(("rates matched within 5 %", "yes" if case["rates_matched"] else
                      f"NO ({case['rate_mismatch']:.1%})"))
        table += [(f"{key} build (not counted)", f"{value:.1f} s")
                  for key, value in case["brian2_build_s"].items()]
        table += [(key, f"did not run: {message}")
                  for key, message in case["brian2_failed"].items()]
        table += [(f"{figures['twin_kernel']} twin vs {key}", f"{value:.1f}x")
                  for key, value in case["speedup"].items()]
        if figures["twin_kernel"] == "compiled":
            table += [(f"numpy twin vs {key}", f"{value:.2f}x")
                      for key, value in case["speedup_numpy_twin"].items()]
        rows.append((f"N={case['neurons']} M={case['inputs']}, learning "
                     f"{'on' if case['learning'] else 'off'}, {case['steps']} steps "
                     f"(load average {load['min']:.1f}-{load['max']:.1f})", table))
    _emit("twin", figures, out_path, as_json, rows)
    if not as_json:
        click.echo(f"How the rates were matched: {figures['rate_matching']}")
        click.echo(f"Timing: {figures['timing']}.")


@bench_group.command("sim")
@click.option("--steps", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Steps of the streamed run.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Interleaved runs of every build; the median is reported.")
@click.option("--build", "builds", multiple=True, type=click.Choice(["plain", "fast"]),
              help="Build recipes to compare (repeat; default plain and fast).")
@out_option
@json_option
def bench_sim_command(steps, repeats, builds, out_path, as_json):
    """Time steps per second of the simulated board (sim://), build against build.

    Runs the N=100, M=64, L=8 digits-sized workload through the public Device API, exactly as a
    user's run goes. The plain build (the board top with its reset input, default C++ flags)
    and the fast build (what sim:// uses) run interleaved; the figures are medians of steps
    per second of wall time and per CPU-second of the simulated board's process, printed with
    the load average.

    \b
    Examples:
      spikeforge bench sim
      spikeforge bench sim --steps 5000 --repeats 5 --json
      spikeforge bench sim --build fast
    """
    from ...sim.bench import bench_sim

    figures = bench_sim(steps=steps, repeats=repeats, builds=builds or ("plain", "fast"),
                        progress=None if as_json else lambda text: click.echo(text, err=True))
    load = figures["load_average"]
    rows = []
    for build, f in figures["builds"].items():
        rows.append((f"simulated board, {build} build (load average {load['min']:.1f}-"
                     f"{load['max']:.1f} on {figures['cpus']} CPUs)", [
            ("time steps per second (wall)", f"{f['steps_per_s']:.0f}"),
            ("time steps per CPU-second of the board process",
             f"{f['steps_per_board_cpu_s']:.0f}" if f["steps_per_board_cpu_s"] else "-"),
            ("host CPU per step", f"{f['host_cpu_us_per_step']:.0f} us"),
            ("simulated clock cycles per second", f"{f['simulated_cycles_per_s']:,.0f}"),
            ("core cycles per step", f"{f['core_cycles_per_step']:.0f}"
             if f["core_cycles_per_step"] is not None else "-"),
            ("start of a cached build", f"{f['start_s']:.2f} s"),
            ("spikes equal to the twin's", "yes" if f["spikes_equal_twin"] else "NO"),
        ]))
    if "speedup" in figures:
        rows.append(("fast over plain", [
            (key.replace("_", " "), f"{value:.2f}x" if value else "-")
            for key, value in figures["speedup"].items()]
            + [("core cycles equal across builds",
                "yes" if figures["core_cycles_equal_across_builds"] else "NO")]))
    _emit("sim", [figures], out_path, as_json, rows)


@bench_group.command("link")
@click.option("--steps", type=click.IntRange(min=10), default=50, show_default=True,
              help="Steps of the streamed run of the upload measurement.")
@click.option("--upload/--no-upload", default=True, show_default=True,
              help="Measure the weight upload and a streamed run on the cocotb-driven device.")
@click.option("--streamed/--no-streamed", default=True, show_default=True,
              help="Streamed steps/s per board: computed, and measured on sim://.")
@click.option("--streamed-steps", type=click.IntRange(min=10), default=200, show_default=True,
              help="Steps of the per-board streamed workload.")
@click.option("--board", "boards", multiple=True,
              help="Boards of the per-board figures (repeat; default all).")
@click.option("--measure/--no-measure", default=True, show_default=True,
              help="Run the per-board workload on sim:// at each board's divisor.")
@click.option("--recording/--no-recording", default=True, show_default=True,
              help="Streamed steps/s per board with recording selection (all, a set of 32, "
                   "none, counts of 32 over 10 steps).")
@out_option
@json_option
def bench_link_command(steps, upload, streamed, streamed_steps, boards, measure, recording,
                       out_path, as_json):
    """Payload bytes per second of the link, and streamed steps/s per board.

    The upload figures are measured cycle-accurately on the Verilator-built device at 3 Mbaud
    (12 MHz, 4 clocks per bit): a full weight upload and a streamed run.

    The per-board figures run each board's default configuration on the digits-like workload
    (inputs at rate 0.1, every neuron's spikes returned): steps/s bounded by the core (its cycles
    by the formula the RTL follows, plus the engine's) or by the link (bytes per step from the
    protocol's layouts over the board's baud rate), whichever is slower. The same workload at
    N=100 runs on sim:// with the UART pins at each board's divisor (clk_hz / baud), timed in
    simulated cycles, beside the figure computed for it.

    \b
    Examples:
      spikeforge bench link
      spikeforge bench link --no-upload --json
      spikeforge bench link --no-upload --board ulx3s --board ecpix5
    """
    from ...boards.registry import get_board
    from ...sim.bench_link import bench_link, bench_streamed

    progress = None if as_json else (lambda text: click.echo(text, err=True))
    names = [get_board(name).name for name in boards] or None
    figures, rows = {}, []
    if upload:
        figures["link"] = bench_link(steps=steps)
        rows.append(("link", [(name.replace("_", " "), f"{value:.3f}"
                               if isinstance(value, float) else value)
                              for name, value in figures["link"].items()]))
    if streamed:
        figures["streamed"] = result = bench_streamed(names, steps=streamed_steps,
                                                      measure=measure, progress=progress)
        for row in result["boards"]:
            table = []
            for label in ("default", "n100"):
                f = row[label]
                table += [
                    (f"{f['config'].split(' [')[0]}: bytes per step in / out",
                     f"{f['input_bytes_per_step']:.1f} / {f['output_bytes_per_step']:.1f}"),
                    (f"  core + engine cycles per step",
                     f"{f['core_cycles_per_step']:.0f} + {f['engine_cycles_per_step']:.0f}"),
                    ("  steps/s bound by the core / by the link",
                     f"{f['core_bound_steps_per_s']:,.0f} / {f['link_bound_steps_per_s']:,.0f}"),
                    ("  streamed steps/s computed (bound)",
                     f"{f['computed_steps_per_s']:,.0f} ({f['bound']})"),
                ]
                if "measured_steps_per_s" in f:
                    table.append(("  streamed steps/s measured on sim://",
                                  f"{f['measured_steps_per_s']:,.0f}"))
            rows.append((f"{row['board']}: {row['clk_hz'] / 1e6:g} MHz, {row['baud']:,} baud "
                         f"({row['divisor']:g} clocks per bit)", table))
    if recording:
        from ...sim.bench_link import bench_recording

        figures["recording"] = result = bench_recording(names, steps=streamed_steps,
                                                        measure=measure, progress=progress)
        for row in result["boards"]:
            table = []
            for mode, f in row["modes"].items():
                if not f["built"]:
                    table.append((f"{mode}", "not built on this board"))
                    continue
                rates = ", ".join(f"{r['computed_steps_per_s']:,.0f} at {r['baud']:,} baud "
                                  f"({r['bound']})" for r in f["line_rates"])
                table.append((f"{mode}: bytes out, engine cycles per step",
                              f"{f['output_bytes_per_step']:.1f}, "
                              f"{f['engine_cycles_per_step']:.0f}"))
                table.append((f"  streamed steps/s computed", rates))
            rows.append((f"recording, {row['board']}: {row['config'].split(' [')[0]}", table))
        if result["measured_n100"]:
            rows.append(("recording, N=100 on sim:// (divisor 20)", [
                (mode, f"{f['measured_cycles_per_step']:.0f} cycles/step measured, "
                       f"{f['computed_cycles_per_step']:.0f} computed ({f['bound']})")
                for mode, f in result["measured_n100"].items()]))
    if not figures:
        raise click.UsageError("nothing to measure: drop --no-upload, --no-streamed or "
                               "--no-recording")
    _emit("link", [figures], out_path, as_json, rows)
