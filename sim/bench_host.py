"""Host-side cost of the link codec: encoding and decoding frames, per KiB of payload.

Compares the frame CRC computed with :func:`zlib.crc32` (what :mod:`spikeforge.host.device.codec`
uses) with the pure-Python ``CRC.compute`` of :data:`spikeforge.rtl.protocol.CRC` (the reference
the RTL is built from, and what the host used before). Prints a table and writes JSON with the
load average, so figures from a busy machine can be recognised as such.

    python -m spikeforge.sim.bench_host --out bench_host.json
    python -m spikeforge.sim.bench_host --reads --out bench_reads.json

``--reads`` measures the receive path instead: host CPU time and wall time per step of a run on
the simulated board (N=100, M=64, L=8, a random active network), reading everything the socket
holds at once against pyserial's one byte per call, interleaved, medians.
"""

import argparse
import json
import os
import platform
import time
from unittest import mock

from ..host.device import codec
from ..rtl.protocol import CRC

__all__ = ["bench_host", "bench_reads"]


def _reference_crc(data):
    return CRC.compute(bytes(data))


def _time_per_call(function, repeat):
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def bench_host(sizes=(64, 256, 1024, 4096), repeat=None):
    """Time :func:`~codec.encode_frame` and :func:`~codec.decode_frame` for payloads of
    ``sizes`` bytes, with the zlib CRC (``after``) and the Amaranth CRC (``before``). Returns a
    dict: per size and variant, microseconds per frame and per KiB of payload."""
    payload_of = {size: bytes((k * 37 + 11) % 256 for k in range(size)) for size in sizes}
    rows = []
    for variant in ("before", "after"):
        patch = (mock.patch.object(codec, "crc32", _reference_crc) if variant == "before"
                 else mock.patch.object(codec, "crc32", codec.crc32))
        with patch:
            for size in sizes:
                payload = payload_of[size]
                wire = codec.encode_frame(1, 0x10, payload)
                count = repeat or max(3, 20000 // size if variant == "after" else 600 // size + 2)
                encode = _time_per_call(lambda: codec.encode_frame(1, 0x10, payload), count)
                decode = _time_per_call(lambda: codec.decode_frame(wire[:-1]), count)
                rows.append({"variant": variant, "payload_bytes": size,
                             "encode_us": round(encode * 1e6, 2),
                             "decode_us": round(decode * 1e6, 2),
                             "encode_us_per_kib": round(encode * 1e6 * 1024 / size, 2),
                             "decode_us_per_kib": round(decode * 1e6 * 1024 / size, 2)})
    return {"rows": rows, "loadavg": os.getloadavg(), "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "before = amaranth CRC.compute, after = zlib.crc32; COBS is the same in both"}


def bench_reads(steps=1000, repeats=4, neurons=100):
    """Host CPU and wall time per step on ``sim://`` with bulk and byte-wise socket reads,
    interleaved (``repeats`` runs of ``steps`` steps each); medians."""
    import statistics

    import numpy as np

    from ..config import CoreConfig
    from ..host.device import open_device
    from ..host.device.link import SerialDevice
    from ..host.model.params import random_inputs, random_network

    config = CoreConfig(neurons=neurons, inputs=64, lanes=8)
    network = random_network(config, np.random.default_rng(3), regime="active")
    raster = random_inputs(config, np.random.default_rng(4), steps, 0.1)
    runs = {"bulk": [], "bytewise": []}
    try:
        with open_device("sim://", config) as device:
            device.load_network(network)
            for _ in range(repeats):
                for variant in runs:
                    SerialDevice.bulk_read = variant == "bulk"
                    device.reset("state")
                    cpu, wall = time.process_time(), time.perf_counter()
                    result = device.run(inputs=raster)
                    runs[variant].append((time.process_time() - cpu,
                                          time.perf_counter() - wall,
                                          int(result.spikes.sum())))
    finally:
        SerialDevice.bulk_read = True
    rows = []
    for variant, samples in runs.items():
        rows.append({"variant": variant, "steps": steps, "spikes": samples[0][2],
                     "host_cpu_us_per_step": round(
                         statistics.median(x[0] for x in samples) / steps * 1e6, 1),
                     "steps_per_s": round(steps / statistics.median(x[1] for x in samples))})
    if rows[0]["spikes"] != rows[1]["spikes"]:
        raise RuntimeError("bulk and byte-wise reads gave different runs: not comparable")
    return {"rows": rows, "config": config.describe(), "loadavg": os.getloadavg(),
            "cpus": os.cpu_count(), "python": platform.python_version()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--reads", action="store_true",
                        help="measure the receive path on sim:// instead of the codec")
    args = parser.parse_args(argv)
    if args.reads:
        result = bench_reads()
        print(f"load average {result['loadavg'][0]:.2f} on {result['cpus']} CPUs; "
              f"{result['config']}")
        print(f"{'variant':<9} {'host CPU µs/step':>17} {'steps/s':>8} {'spikes':>7}")
        for row in result["rows"]:
            print(f"{row['variant']:<9} {row['host_cpu_us_per_step']:>17.1f} "
                  f"{row['steps_per_s']:>8} {row['spikes']:>7}")
    else:
        result = bench_host()
        print(f"load average {result['loadavg'][0]:.2f} on {result['cpus']} CPUs")
        print(f"{'variant':<8} {'bytes':>6} {'encode µs/KiB':>14} {'decode µs/KiB':>14}")
        for row in result["rows"]:
            print(f"{row['variant']:<8} {row['payload_bytes']:>6} "
                  f"{row['encode_us_per_kib']:>14.1f} {row['decode_us_per_kib']:>14.1f}")
    if args.out:
        with open(args.out, "w") as file:
            json.dump(result, file, indent=2)
        print(f"written {args.out}")


if __name__ == "__main__":  # pragma: no cover
    main()
