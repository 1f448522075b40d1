"""Throughput of the host link, measured cycle-accurately on the simulated device.

:func:`bench_link` builds the whole device (:class:`~spikeforge.rtl.top.Top`) with Verilator,
uploads a full WEIGHT region with pipelined WRITE frames and runs a streamed run, and reports
payload bytes per second computed from simulated clock cycles (not wall time) as a fraction of
the line rate (``baud / 10`` bytes per second for 8N1).
"""

import json
import tempfile
from pathlib import Path

from ..config import CoreConfig

__all__ = ["bench_link"]


def bench_link(config=None, *, clk_hz=12_000_000, divisor=4, steps=50):
    """Measure the link on the simulated device.

    Arguments
    ---------
    config : CoreConfig
        The core (default: N=100, M=64, L=8).
    clk_hz : int
        Clock frequency the figures in bytes/s and steps/s refer to.
    divisor : int
        Clock cycles per UART bit (``baud = clk_hz / divisor``).
    steps : int
        Steps of the streamed run (inputs at rate 0.2, one probe).

    Returns a dict: ``upload_efficiency`` (payload bytes/s of the upload over the line rate),
    ``upload_bytes_per_s``, ``run_steps_per_s``, ``run_input_efficiency``,
    ``run_output_efficiency`` and the raw byte and cycle counts.
    """
    from ..rtl.top import Top
    from .verilator import build_core, run_cocotb

    config = config or CoreConfig()
    baud = clk_hz // divisor
    top_name = f"top_d{divisor}"
    build_dir = build_core(config, top=Top(config, clk_hz, baud), top_name=top_name)
    with tempfile.TemporaryDirectory() as folder:
        result_path = Path(folder) / "bench.json"
        env = {"SPIKEFORGE_TB_LINK": json.dumps({"clk_hz": clk_hz, "baud": baud}),
               "COCOTB_TEST_FILTER": "top_bench", "SPIKEFORGE_TB_STEPS": str(steps),
               "SPIKEFORGE_TB_RESULT": str(result_path)}
        tests, failures = run_cocotb(config, build_dir, "spikeforge.sim.tb_top",
                                     top_name=top_name, extra_env=env, results_dir=folder)
        if failures or not result_path.exists():
            raise RuntimeError(f"the link benchmark failed ({failures} of {tests} tests); see "
                               f"the cocotb log above")
        return json.loads(result_path.read_text())


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(bench_link(), indent=2))
