"""The self-test of a device: does this board compute exactly what the twin computes?

:func:`selftest` takes an open :class:`~spikeforge.host.device.Device` and runs five checks in
order, each recorded as a :class:`Check` (passed or not, a one-line message, figures):

``identity``
    IDENTIFY answers with this host's protocol and the expected configuration hash.
``link``
    A burst of framed requests (IDENTIFY, pipelined as the link allows) all come back intact;
    the board's STATUS error counters (CRC, malformed frames, UART framing and overruns, NACKs)
    and the host's count of corrupted frames do not move.
``regions``
    Every region built in the core is written with random words at its full size, read back and
    compared word for word, and its REGION_CRC checked against the host's CRC; then everything
    is reset.
``networks``
    Several random networks (learning on when the core has STDP) run on the device and on the
    twin (``model://``); spikes, probes of ``v`` and ``i``, the final weights, masks and all
    state must agree bit for bit.
``paced``
    A paced run (four times the measured step time, at least :data:`MIN_PERIOD_US`) keeps its
    period: STATUS
    ``step_overruns`` does not move, and the run still agrees with the twin.

A last check, ``link errors``, compares the board's error counters at the end with those at the
start: an error anywhere in the self-test (a retried request included) fails it.

The :class:`Report` has the verdict, the figures (steps per second, link bytes per second,
mismatches) and :meth:`Report.to_dict` for JSON.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ...rtl.regions import Region, region_crc, region_depth, region_width
from ..model.params import random_inputs, random_network
from .base import DeviceError, ModelDevice, network_regions

__all__ = ["Check", "Report", "selftest", "ERROR_COUNTERS", "MIN_PERIOD_US"]

#: The shortest period of the paced run, in microseconds.
MIN_PERIOD_US = 5000

#: STATUS counters that count link errors; any increase fails the self-test.
ERROR_COUNTERS = ("crc_errors", "frame_errors", "uart_framing_errors", "uart_overruns", "nacks")


@dataclass
class Check:
    name: str
    passed: bool
    message: str
    figures: dict = field(default_factory=dict)

    def to_dict(self):
        return {"name": self.name, "passed": self.passed, "message": self.message,
                "figures": self.figures}


@dataclass
class Report:
    url: str
    identity: dict
    checks: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self):
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self):
        return [check for check in self.checks if not check.passed]

    @property
    def figures(self):
        merged = {}
        for check in self.checks:
            merged.update(check.figures)
        return merged

    @property
    def verdict(self):
        if self.passed:
            return (f"PASS: {self.url} computes exactly what the twin computes "
                    f"({len(self.checks)} checks)")
        failed = "; ".join(f"{check.name}: {check.message}" for check in self.failures)
        return f"FAIL: {failed}"

    def to_dict(self):
        return {"url": self.url, "passed": self.passed, "verdict": self.verdict,
                "identity": self.identity, "seconds": round(self.seconds, 3),
                "figures": self.figures, "checks": [check.to_dict() for check in self.checks]}


def _status(device):
    try:
        return device.status()
    except DeviceError:
        return {}


def _host_errors(device):
    decoder = getattr(device, "decoder", None)
    return decoder.errors if decoder is not None else 0


def _counter_deltas(before, after):
    return {name: after[name] - before[name] for name in ERROR_COUNTERS
            if name in before and name in after and after[name] != before[name]}


def _describe_counts(deltas):
    return ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in deltas.items())


def check_identity(device):
    identity = device.identify()
    from ...rtl.protocol import PROTOCOL_VERSION

    problems = []
    if identity.config_hash != device.config.hash:
        problems.append(f"configuration hash 0x{identity.config_hash:08x} is not the expected "
                        f"0x{device.config.hash:08x}")
    if identity.backend != "model" and identity.protocol != PROTOCOL_VERSION:
        problems.append(f"protocol {identity.protocol}, the host speaks {PROTOCOL_VERSION}")
    figures = {"config_hash": f"0x{identity.config_hash:08x}", "clk_hz": identity.clk_hz}
    if problems:
        return Check("identity", False, "; ".join(problems), figures), identity
    return Check("identity", True, f"{identity.board or identity.backend}, "
                 f"{device.config.describe()}, hash 0x{identity.config_hash:08x}",
                 figures), identity


def check_link(device, requests=64):
    """A burst of ``requests`` IDENTIFY requests; all answers identical, no error counted."""
    from ...rtl.protocol import Opcode

    before, host_before = _status(device), _host_errors(device)
    started = time.perf_counter()
    pipeline = getattr(device, "_pipeline", None)
    if pipeline is not None:
        answers = pipeline([(Opcode.IDENTIFY, b"")] * requests)
    else:
        answers = [device.identify() for _ in range(requests)]
    seconds = time.perf_counter() - started
    after, host_after = _status(device), _host_errors(device)
    figures = {"link_requests": requests,
               "link_requests_per_s": round(requests / seconds, 1) if seconds else None}
    different = sum(answer != answers[0] for answer in answers)
    deltas = _counter_deltas(before, after)
    problems = []
    if different:
        problems.append(f"{different} of {requests} IDENTIFY answers differ from the first")
    if deltas:
        problems.append(f"the board counted {_describe_counts(deltas)}")
    if host_after != host_before:
        problems.append(f"the host received {host_after - host_before} corrupted frames")
    if problems:
        return Check("link", False, "; ".join(problems) + ": check the cable and the baud rate",
                     figures)
    return Check("link", True, f"{requests} framed requests answered intact, no CRC or framing "
                 f"errors", figures)


def check_regions(device, rng):
    """Every region written with random words at its full size, read back and CRC-checked."""
    c = device.config
    written = 0
    bad = []
    seconds = 0.0
    # weights, masks and parameters from a random network over the full legal ranges (a
    # device may check parameters); state and generator words are random bits
    legal = network_regions(random_network(c, rng, regime="extreme"))
    for region in Region:
        depth = region_depth(c, region)
        if not depth or not device.has_region(region):
            continue
        width = region_width(c, region)
        if region in legal:
            words = [int(w) for w in legal[region]]
        else:
            words = [int(w) for w in rng.integers(0, 1 << width, size=depth, dtype=np.uint64)]
        started = time.perf_counter()
        device.write_region(region, words)
        back = [int(w) for w in device.read_region(region)]
        seconds += time.perf_counter() - started
        written += depth * 2 * -(-width // 8)
        differ = [k for k, (got, want) in enumerate(zip(back, words)) if got != want]
        if len(back) != depth:
            bad.append(f"{region.name} read back {len(back)} of {depth} words")
        elif differ:
            first = differ[0]
            bad.append(f"{region.name} word {first} read back 0x{back[first]:x}, written "
                       f"0x{words[first]:x} ({len(differ)} of {depth} words differ)")
        if device.region_crc(region) != region_crc(c, words):
            bad.append(f"{region.name} REGION_CRC differs from the host's CRC of the words "
                       f"written")
    device.reset("all")
    figures = {"region_bytes": written,
               "link_bytes_per_s": round(written / seconds) if seconds else None}
    if bad:
        return Check("regions", False, "; ".join(bad), figures)
    return Check("regions", True, f"every region written and read back in full "
                 f"({written} bytes of words), CRCs agree", figures)


def _compare_run(name, got, want, got_after, want_after, got_state, want_state, stdp):
    """Mismatch descriptions between a device run and the twin's."""
    problems = []
    if not np.array_equal(got.spikes, want.spikes):
        diff = np.argwhere(got.spikes != want.spikes)
        step, neuron = diff[0]
        problems.append(f"{name}: {len(diff)} spikes differ (first at step {step}, neuron "
                        f"{neuron})")
    for key in want.probes:
        if not np.array_equal(got.probes.get(key), want.probes[key]):
            problems.append(f"{name}: probed {key} differs")
    if not np.array_equal(got_after.W, want_after.W):
        count = int(np.count_nonzero(got_after.W != want_after.W))
        problems.append(f"{name}: {count} final weights differ")
    if stdp and not np.array_equal(got_after.mask, want_after.mask):
        problems.append(f"{name}: the plasticity mask differs")
    for key, value in want_state.items():
        if not np.array_equal(got_state[key], value):
            problems.append(f"{name}: state {key} differs")
    return problems


def _one_network(device, model, network, raster, probes, seed, period_us=0):
    c = device.config
    results = []
    for target in (device, model):
        target.reset("state")
        target.load_network(network)
        if c.has_poisson:
            target.seed_poisson(seed)
        started = time.perf_counter()
        run = target.run(inputs=raster, learn=c.stdp, probes=probes,
                         period_us=period_us if target is device else 0)
        seconds = time.perf_counter() - started
        results.append((run, target.read_network(), target.read_state(), seconds))
    return results


def check_networks(device, model, rng, networks, steps):
    c = device.config
    problems = []
    total_steps = 0
    total_seconds = 0.0
    spiking = 0
    cycles = 0
    probes = tuple(sorted(rng.choice(c.neurons, size=min(4, c.neurons, device.max_probes),
                                     replace=False).tolist()))
    for k in range(networks):
        network = random_network(c, rng, regime="active")
        raster = random_inputs(c, rng, steps, 0.2)
        (got, got_net, got_state, seconds), (want, want_net, want_state, _) = _one_network(
            device, model, network, raster, probes, seed=int(rng.integers(1, 1 << 31)))
        total_steps += steps
        total_seconds += seconds
        spiking += int(want.spikes.any())
        if got.cycles is not None and len(got.cycles):
            cycles = max(cycles, int(np.max(got.cycles)))
        problems += _compare_run(f"network {k}", got, want, got_net, want_net, got_state,
                                 want_state, c.stdp)
    figures = {"networks": networks, "steps_per_network": steps,
               "steps_per_s": round(total_steps / total_seconds, 1) if total_seconds else None,
               "max_step_cycles": cycles or None, "mismatches": len(problems)}
    learning = "learning on" if c.stdp else "no STDP in this core"
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more"
                                           if len(problems) > 4 else "")
        return Check("networks", False, f"the device and the twin disagree ({learning}): "
                     f"{shown}", figures)
    return Check("networks", True, f"{networks} random networks × {steps} steps ({learning}, "
                 f"{spiking} with spikes) agree with the twin bit for bit: spikes, probes, "
                 f"final weights, state", figures)


def check_paced(device, model, rng, steps, step_cycles, clk_hz):
    c = device.config
    step_us = step_cycles * 1e6 / clk_hz if step_cycles and clk_hz else 0
    # at least 5 ms: a USB serial bridge may hold bytes back for a millisecond or two, and
    # inputs return credits only with outputs
    period_us = max(MIN_PERIOD_US, int(math.ceil(4 * step_us)))
    network = random_network(c, rng, regime="active")
    raster = random_inputs(c, rng, steps, 0.2)
    before = _status(device).get("step_overruns")
    started = time.perf_counter()
    (got, got_net, got_state, _), (want, want_net, want_state, _) = _one_network(
        device, model, network, raster, (), seed=int(rng.integers(1, 1 << 31)),
        period_us=period_us)
    seconds = time.perf_counter() - started
    after = _status(device).get("step_overruns")
    late = None if before is None or after is None else after - before
    figures = {"paced_period_us": period_us, "paced_steps": steps, "late_steps": late}
    problems = _compare_run("paced run", got, want, got_net, want_net, got_state, want_state,
                            c.stdp)
    if late:
        problems.insert(0, f"{late} of {steps} steps started late at a period of "
                        f"{period_us} µs (STATUS step_overruns)")
    if problems:
        return Check("paced", False, "; ".join(problems), figures)
    if late is None:
        return Check("paced", True, f"{steps} steps at {period_us} µs agree with the twin "
                     f"(this backend does not pace or count late steps)", figures)
    return Check("paced", True, f"{steps} steps at {period_us} µs per step, none late, agree "
                 f"with the twin ({seconds:.2f} s)", figures)


def selftest(device, *, url="", networks=3, steps=32, paced_steps=16, seed=0, progress=None):
    """Run the self-test on the open ``device``; return a :class:`Report`.

    ``networks`` random networks of ``steps`` steps are compared with the twin; the paced run
    has ``paced_steps`` steps; ``seed`` makes the test repeatable; ``progress(name)`` is called
    before each check."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    report = Report(url=url or device.backend, identity={})
    say = progress or (lambda name: None)
    first = _status(device)
    first_host = _host_errors(device)
    model = ModelDevice(device.config)
    try:
        say("identity")
        try:
            check, identity = check_identity(device)
            report.identity = identity.to_dict()
        except DeviceError as error:
            report.checks.append(Check("identity", False, str(error)))
            return report
        report.checks.append(check)
        clk_hz = identity.clk_hz
        steps_checks = (
            ("link", lambda: check_link(device)),
            ("regions", lambda: check_regions(device, rng)),
            ("networks", lambda: check_networks(device, model, rng, networks, steps)),
            ("paced", lambda: check_paced(device, model, rng, paced_steps,
                                          report.figures.get("max_step_cycles"), clk_hz)),
        )
        for name, run in steps_checks:
            say(name)
            try:
                report.checks.append(run())
            except DeviceError as error:
                report.checks.append(Check(name, False, f"device failure: {error}"))
        last = _status(device)
        deltas = _counter_deltas(first, last)
        host = _host_errors(device) - first_host
        if first or host:
            problems = []
            if deltas:
                problems.append(f"the board counted {_describe_counts(deltas)} during the "
                                f"self-test")
            if host:
                problems.append(f"the host received {host} corrupted frames")
            report.checks.append(
                Check("link errors", not problems,
                      "; ".join(problems) + ": requests were retried; check the cable and the "
                      "baud rate" if problems else "no link errors during the whole self-test",
                      {"link_errors": sum(deltas.values()) + host}))
    finally:
        model.close()
        report.seconds = time.perf_counter() - started
    return report
