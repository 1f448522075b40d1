"""Host-side cost of the link codec: encoding and decoding frames, per KiB of payload.

Compares the frame CRC computed with :func:`zlib.crc32` (what :mod:`spikeforge.host.device.codec`
uses) with the pure-Python ``CRC.compute`` of :data:`spikeforge.rtl.protocol.CRC` (the reference
the RTL is built from, and what the host used before). Prints a table and writes JSON with the
load average, so figures from a busy machine can be recognised as such.

    python -m spikeforge.sim.bench_host --out bench_host.json
"""

import argparse
import json
import os
import platform
import time
from unittest import mock

from ..host.device import codec
from ..rtl.protocol import CRC

__all__ = ["bench_host"]


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    result = bench_host()
    print(f"load average {result['loadavg'][0]:.2f} on {result['cpus']} CPUs")
    print(f"{'variant':<8} {'bytes':>6} {'encode µs/KiB':>14} {'decode µs/KiB':>14}")
    for row in result["rows"]:
        print(f"{row['variant']:<8} {row['payload_bytes']:>6} {row['encode_us_per_kib']:>14.1f} "
              f"{row['decode_us_per_kib']:>14.1f}")
    if args.out:
        with open(args.out, "w") as file:
            json.dump(result, file, indent=2)
        print(f"written {args.out}")


if __name__ == "__main__":  # pragma: no cover
    main()
