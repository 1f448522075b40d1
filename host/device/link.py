"""A board behind a serial link: the :class:`~spikeforge.host.device.Device` API over UART.

:class:`SerialDevice` opens its transport with :func:`serial.serial_for_url`, so the same code
talks to a board (``/dev/ttyUSB1``, ``COM3``), to a loopback (``loop://``) and to a simulated
board over TCP (``socket://host:port``). All framing is in :mod:`spikeforge.host.device.codec`; this
module only moves bytes, keeps requests in flight within the device's receive buffer, retries
idempotent requests after a timeout, and turns failures into :class:`LinkError` messages that
say what to do.
"""

import select
import time
from collections import deque
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ...config import ConfigError
from ...rtl.protocol import (FRAME_OVERHEAD, HEADER, INPUT_RECORD, PROTOCOL_VERSION,
                             REGION_ARGS_BYTES, REGION_CRC_RESULT, RUN_RESULT, STOP_RESULT,
                             ErrorCode, INPUT_ARGS, Opcode, layout_bytes, word_bytes)
from ...rtl.regions import Region, region_depth
from . import codec
from .base import (Device, DeviceError, Identity, Recording, RunResult, as_region,
                   register_scheme)

__all__ = ["SerialDevice", "LinkError", "NackError", "DEFAULT_BAUD"]

DEFAULT_BAUD = 3_000_000

#: Sequence numbers are 8 bits. At most half of them are used by unanswered requests at a time,
#: so an answer can never be taken for the answer of a later request with the same number (a
#: late answer to a timed-out request included).
MAX_INFLIGHT = 128

#: Seconds without an output during a run after which the host asks the device for STATUS: a
#: device that does not answer it is reported at once, one that is still stepping is waited for.
HEARTBEAT = 2.0

#: Times the host resends a streamed run's unconsumed INPUT frames when no output came in time,
#: before it asks the device why (a lost last frame draws no INPUT_GAP NACK).
INPUT_RESENDS = 2


class LinkError(DeviceError):
    """The link does not work; the message names the cause and the fix."""


class DeviceSilent(LinkError):
    """The transport opened but the device never answered: a device failure, not a bad URL."""


class NackError(DeviceError):
    """The device refused a request; :attr:`code` is the :class:`ErrorCode`."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class SerialDevice(Device):
    """A spikeforge board (or simulated board) over a serial link.

    Arguments
    ---------
    url : str
        Anything :func:`serial.serial_for_url` opens: a port (``/dev/ttyUSB1``), ``loop://``,
        ``socket://host:port``; ``serial://PATH?baud=N`` is accepted too.
    config : CoreConfig
        The configuration the host expects; IDENTIFY must report the same hash.
    baudrate : int
        Bits per second of the UART (ignored by ``socket://``).
    timeout : float
        Seconds to wait for any response before retrying.
    retries : int
        Extra attempts of an idempotent request (IDENTIFY, STATUS, READ, WRITE, REGION_CRC,
        RESET) after a timeout.
    port : serial-like object, optional
        An open transport (``read``, ``write``, ``in_waiting``) to use instead of ``url``.
    check : bool
        Identify the device on opening and refuse a configuration-hash mismatch.
    target : str, optional
        The transport URL to open when it is not ``url`` itself (``sim://`` opens a local
        socket); messages always name ``url``, the device as the user wrote it.
    """

    backend = "board"
    #: What to try when the device stops answering (a subclass names its own remedy).
    recovery = "check the cable and the power, then reset the board"

    #: read everything a socket transport holds at once (False: the byte-wise reads of
    #: pyserial's socket://, kept for comparison in the link benchmark)
    bulk_read = True

    def __init__(self, url, config, *, baudrate=DEFAULT_BAUD, timeout=1.0, retries=2,
                 port=None, check=True, target=None):
        super().__init__(config)
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        if port is None:
            port = self._open(target or url, baudrate, name=url)
        self.port = port
        self.decoder = codec.FrameDecoder()
        self._frames = deque()
        self._seq = 0
        self._closed = False
        # conservative sizes until IDENTIFY says more
        self.max_payload = 64
        self.window = 128
        self.input_slots = 1
        self.info = None
        if check:
            self.identify()

    @staticmethod
    def _open(url, baudrate, name=None):
        import serial

        name = name or url
        target = url
        if url.startswith("serial://"):
            parts = urlsplit(url)
            target = parts.netloc + parts.path
            query = parse_qs(parts.query)
            unknown = sorted(set(query) - {"baud"})
            if unknown:
                raise LinkError(f"{name}: unknown option(s) {', '.join(unknown)}; the only "
                                f"option is baud, e.g. serial:///dev/ttyUSB1?baud=3000000")
            if "baud" in query:
                text = query["baud"][-1]
                if not text.isdigit() or int(text) <= 0:
                    raise LinkError(f"{name}: baud={text!r} is not a positive whole number of "
                                    f"bits per second; use e.g. ?baud={DEFAULT_BAUD}")
                baudrate = int(text)
        if url.startswith("socket://"):
            parts = urlsplit(url)
            try:
                port = parts.port
            except ValueError:
                port = -1
            if not parts.hostname or port is None or not 0 < port < 65536:
                raise LinkError(f"{name}: a socket URL needs a host and a port from 1 to 65535, "
                                f"e.g. socket://127.0.0.1:5000")
        try:
            # a short read timeout: the link layer keeps its own deadlines
            return serial.serial_for_url(target, baudrate=baudrate, timeout=0.01,
                                         write_timeout=5)
        except (serial.SerialException, ValueError, OSError) as error:
            hint = ("check the host and port, and that the simulator or server is running"
                    if url.startswith("socket://") else
                    "check the port name (ls /dev/ttyUSB* /dev/ttyACM*), that no other program "
                    "holds it, and that you may open it (group dialout)")
            raise LinkError(f"cannot open {name}: {error}; {hint}") from None

    # -- frames -------------------------------------------------------------------------------

    def _next_seq(self):
        self._seq = (self._seq + 1) % (1 << HEADER["seq"].width)
        # a late answer to an earlier request with this number must not answer the new one
        for frame in [f for f in self._frames if f.seq == self._seq and not f.is_output]:
            self._frames.remove(frame)
        return self._seq

    def _send(self, seq, opcode, payload=b""):
        if self._closed:
            raise DeviceError("the device is closed")
        frame = codec.encode_frame(seq, opcode, payload)
        try:
            self.port.write(frame)
        except Exception as error:
            raise self._transport_error("sending", error) from None

    def _transport_error(self, doing, error):
        """A :class:`LinkError` for an exception of the transport (the port vanished, the
        socket closed, the write timed out)."""
        detail = str(error).strip() or type(error).__name__
        return LinkError(f"the link to {self.url} failed while {doing} ({detail}): the device "
                         f"went away; {self.recovery}")

    def _read(self):
        try:
            waiting = getattr(self.port, "in_waiting", 0)
            chunk = self.port.read(max(1, waiting))
            # pyserial's socket:// reports at most one byte waiting: take the rest of what has
            # arrived in one call instead of one byte per call
            sock = getattr(self.port, "_socket", None) if self.bulk_read else None
            if chunk and sock is not None:
                chunk += _drain(sock)
            return chunk
        except Exception as error:
            raise self._transport_error("receiving", error) from None

    def _poll(self, deadline):
        """Read what has arrived (waiting at most until ``deadline``) into the frame queue;
        return False on timeout."""
        while True:
            chunk = self._read()
            if chunk:
                self._frames.extend(self.decoder.feed(chunk))
                return True
            if time.monotonic() >= deadline:
                return False

    def _wait(self, match, timeout=None):
        """The first received frame for which ``match(frame)`` holds (others stay queued);
        None on timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for frame in list(self._frames):
                if match(frame):
                    self._frames.remove(frame)
                    return frame
            if not self._poll(deadline):
                return None

    def _check(self, frame, opcode):
        if frame.is_nack:
            code, _ = codec.unpack_nack(frame.payload)
            raise NackError(f"{self.url}: {codec.describe_nack(frame.payload)}", code)
        if not frame.acks(opcode):
            raise LinkError(f"{self.url}: response opcode 0x{frame.opcode:02x} to "
                            f"{Opcode(opcode).name} (sequence {frame.seq}) is not its "
                            f"acknowledgement: a protocol mismatch; rebuild the bitstream")
        return frame.payload

    def _answer(self, seq):
        return lambda frame: frame.seq == seq and not frame.is_output

    def request(self, opcode, payload=b"", *, idempotent=True, timeout=None):
        """Send one request and return the payload of its acknowledgement."""
        attempts = 1 + (self.retries if idempotent else 0)
        for _ in range(attempts):
            seq = self._next_seq()
            self._send(seq, opcode, payload)
            frame = self._wait(self._answer(seq), timeout)
            if frame is not None:
                return self._check(frame, opcode)
        raise self._silence(Opcode(opcode).name, attempts)

    def _silence(self, what, attempts):
        bad = self.decoder.errors
        detail = (f"; {bad} corrupted frames were received (last: {self.decoder.last_error}): "
                  f"check the baud rate and the cable" if bad else "")
        return DeviceSilent(f"no answer from {self.url} to {what} after {attempts} attempt(s) of "
                         f"{self.timeout:g} s{detail}: {self.silence_hint}")

    #: What to check when the device never answers.
    silence_hint = ("is the board powered, programmed with a spikeforge bitstream, and is the "
                    "baud rate the bitstream's?")

    def _pipeline(self, requests):
        """Send ``(opcode, payload)`` requests keeping at most :attr:`window` bytes and
        :data:`MAX_INFLIGHT` requests in flight; return their acknowledgement payloads in
        order. Requests that time out are re-sent one by one (all pipelined requests are
        idempotent)."""
        results = [None] * len(requests)
        inflight = {}
        index = 0
        used = 0
        while index < len(requests) or inflight:
            while index < len(requests):
                opcode, payload = requests[index]
                size = len(payload) + FRAME_OVERHEAD
                if inflight and (used + size > self.window or len(inflight) >= MAX_INFLIGHT):
                    break
                seq = self._next_seq()
                self._send(seq, opcode, payload)
                inflight[seq] = (index, size)
                used += size
                index += 1
            frame = self._wait(lambda f: f.seq in inflight and not f.is_output)
            if frame is None:
                for seq, (position, size) in sorted(inflight.items(), key=lambda x: x[1]):
                    results[position] = self.request(*requests[position])
                inflight.clear()
                used = 0
                continue
            position, size = inflight.pop(frame.seq)
            used -= size
            results[position] = self._check(frame, requests[position][0])
        return results

    # -- the Device primitives ----------------------------------------------------------------

    def identify(self):
        payload = self.request(Opcode.IDENTIFY)
        info = codec.unpack_identify(payload)
        if info["protocol"] != PROTOCOL_VERSION:
            raise LinkError(f"{self.url} speaks protocol version {info['protocol']}, this host "
                            f"speaks {PROTOCOL_VERSION}: update the host software or rebuild "
                            f"the bitstream from the same spikeforge version")
        if info["config_hash"] != self.config.hash:
            remote = (f"N={info['neurons']} M={info['inputs']} L={info['lanes']} "
                      f"w{info['weight_bits']} v{info['v_bits']} i{info['i_bits']}")
            raise LinkError(f"{self.url} ({info['board']}) runs a bitstream for {remote} "
                            f"(configuration hash 0x{info['config_hash']:08x}); the host expects "
                            f"{self.config.describe()} (hash 0x{self.config.hash:08x}): build "
                            f"and flash the bitstream for this configuration, or open the "
                            f"device with the board's configuration")
        self.info = info
        self.max_payload = info["max_payload"]
        self.window = info["rx_buffer"] - 2 * FRAME_OVERHEAD
        self.input_slots = info["input_slots"]
        return Identity(backend=self.backend, config=self.config, protocol=info["protocol"],
                        clk_hz=info["clk_hz"], board=info["board"],
                        build_id=f"{info['build_id']:08x}")

    @property
    def has_span(self):
        """Whether the device counts ``span`` (IDENTIFY's ``Feature.SPAN``)."""
        return bool(self.info and self.info["span"])

    @property
    def max_probes(self):
        return self.info["max_probes"] if self.info else 0

    def read_region(self, region, offset=0, count=None):
        c = self.config
        region = as_region(region)
        depth = region_depth(c, region)
        if count is None:
            count = depth - offset
        if offset < 0 or count < 0 or offset + count > depth:
            raise ConfigError(f"{region.name} holds {depth} words; cannot read {count} words "
                              f"at offset {offset}")
        per = max(1, self.max_payload // word_bytes(c, region))
        chunks = [(start, min(per, offset + count - start))
                  for start in range(offset, offset + count, per)]
        payloads = self._pipeline([(Opcode.READ, codec.pack_read(c, region, start, n))
                                   for start, n in chunks])
        words = []
        for (start, n), payload in zip(chunks, payloads):
            words += codec.unpack_words(c, region, payload, n)
        return words

    def write_region(self, region, words, offset=0):
        c = self.config
        region = as_region(region)
        words = [int(word) for word in words]
        self._check_region_words(region, words, offset)
        per = max(1, (self.max_payload - REGION_ARGS_BYTES) // word_bytes(c, region))
        self._pipeline([(Opcode.WRITE, codec.pack_write(c, region, offset + start,
                                                        words[start:start + per]))
                        for start in range(0, len(words), per)])

    def region_crc(self, region):
        payload = self.request(Opcode.REGION_CRC, codec.pack_region_crc(self.config, region))
        return codec.unpack_result(REGION_CRC_RESULT, payload)["crc"]

    def reset(self, what="state"):
        """Zero the state (``"state"``) or every region but the Poisson generator state
        (``"all"``) on the device, stop a run, drop buffered inputs."""
        if what not in ("state", "all"):
            raise ConfigError(f"reset what={what!r}: choose 'state' or 'all'")
        self.request(Opcode.RESET, codec.pack_reset(all_regions=what == "all"),
                     timeout=max(self.timeout, 5.0))

    def status(self):
        return codec.unpack_status(self.request(Opcode.STATUS))

    def stop(self):
        """End a run; return the number of steps it completed."""
        payload = self.request(Opcode.STOP, idempotent=False)
        return codec.unpack_result(STOP_RESULT, payload)["steps_done"]

    def _check_counts(self):
        if self.info is not None and not self.info.get("record_counts"):
            raise ConfigError(f"{self.url} ({self.info['board']}) was built without spike "
                              f"counts (LinkParams record_counts=False): record spikes "
                              f"instead of counts, or build the bitstream with "
                              f"record_counts=True")

    def _check_short_run(self, every, period_us):
        if self.info is None:
            return
        top = self.info["max_every"]
        if every > top:
            raise ConfigError(f"every={every}: {self.url} ({self.info['board']}) takes every at "
                              f"most {top} (LinkParams every_bits={top.bit_length()}); use "
                              f"every <= {top}")
        top = self.info["max_period_us"]
        if period_us > top:
            raise ConfigError(f"period_us={period_us}: {self.url} ({self.info['board']}) paces "
                              f"steps at most {top} us apart (LinkParams "
                              f"period_bits={top.bit_length()}); use "
                              f"period_us <= {top}")

    def has_region(self, region):
        region = as_region(region)
        if region == Region.RECORD and self.info is not None and not self.info.get("record_set"):
            return False
        return super().has_region(region)

    def _check_set(self):
        if self.info is not None and not self.info.get("record_set"):
            raise ConfigError(f"{self.url} ({self.info['board']}) was built without recording "
                              f"a set of neurons (LinkParams record_set=False): record all "
                              f"neurons or none, or build the bitstream with record_set=True")

    def _run(self, steps, inputs, learn, probes, period_us=0, recording=None):
        c = self.config
        recording = recording or Recording()
        recorded = recording.indices(c.neurons)
        probe_steps = recording.probe_steps(steps)
        result = RunResult(spikes=np.zeros((steps, c.neurons), dtype=bool),
                           probe_ids=tuple(probes),
                           probes={"v": np.zeros((len(probe_steps), len(probes)),
                                                 dtype=np.int64),
                                   "i": np.zeros((len(probe_steps), len(probes)),
                                                 dtype=np.int64)}
                           if probes else {},
                           cycles=np.zeros(steps, dtype=np.int64), recorded=recorded,
                           counts=(np.zeros((len(probe_steps), len(recorded)), dtype=np.uint8)
                                   if recording.counts else None),
                           probe_steps=probe_steps, every=recording.every,
                           span=np.zeros(steps, dtype=np.int64) if self.has_span else None)
        if steps == 0:
            return result
        stream = bool(c.inputs) and bool(np.asarray(inputs).any())
        seq = self._next_seq()
        self._send(seq, Opcode.RUN, codec.pack_run(steps, learn=learn, stream=stream,
                                                   period_us=period_us, probes=probes,
                                                   record=recording.select,
                                                   every=recording.every,
                                                   counts=recording.counts))
        frame = self._wait(self._answer(seq))
        if frame is None:
            raise self._silence("RUN", 1)
        credits = codec.unpack_result(RUN_RESULT, self._check(frame, Opcode.RUN))["free_slots"]
        # NACKs of INPUT frames of an earlier run (repeats the device dropped) came before the
        # RUN's acknowledgement: none of them is about this run
        for stale in [f for f in self._frames
                      if f.is_nack and _nacked_opcode(f) == Opcode.INPUT.value]:
            self._frames.remove(stale)
        slots = credits
        self._received = 0
        try:
            self._receive(result, seq, steps, inputs, probes, stream, credits, slots,
                          recording)
        except (DeviceError, KeyboardInterrupt) as error:
            # what arrived before the fault, for the caller to keep
            done = self._received
            at = int(np.searchsorted(probe_steps, done))
            error.partial = RunResult(
                spikes=result.spikes[:done], probe_ids=result.probe_ids,
                probes={name: values[:at] for name, values in result.probes.items()},
                cycles=result.cycles[:done], recorded=recorded,
                counts=None if result.counts is None else result.counts[:at],
                probe_steps=probe_steps[:at], every=recording.every,
                span=result.span[:done] if result.span is not None else None)
            raise
        return result

    def _receive(self, result, seq, steps, inputs, probes, stream, credits, slots, recording):
        c = self.config
        sent = 0
        received = self._received = 0
        # the INPUT frames not yet consumed, as (first step, steps, payload), kept as sent: a
        # resend has the same grouping, so the step the device expects is always a frame's first
        pending = deque()
        sends = 0               # INPUT frames written (first sends and resends)
        sent_at = {}            # sequence number -> value of ``sends`` when written
        gap = None              # (expected step, ``sends`` after the resend) of the last gap
        resends = 0

        def send_input(first, payload):
            nonlocal sends
            frame_seq = self._next_seq()
            self._send(frame_seq, Opcode.INPUT, payload)
            sends += 1
            sent_at[frame_seq] = sends

        def resend_from(step):
            for first, count, payload in pending:
                if first >= step:
                    send_input(first, payload)

        # an OUTPUT frame frees one input slot: credits return with the outputs
        while received < steps:
            if stream and sent < steps and credits:
                count = min(credits, steps - sent,
                            max(1, (self.max_payload - layout_bytes(INPUT_ARGS))
                                   // (layout_bytes(INPUT_RECORD) + -(-c.inputs // 8))))
                payload = codec.pack_input(c, inputs[sent:sent + count], sent)
                pending.append((sent, count, payload))
                send_input(sent, payload)
                sent += count
                credits -= count
            frame = self._next_output(seq, received, steps)
            if frame is None:
                if stream and pending and resends < INPUT_RESENDS:
                    # the last frames may be lost (no later frame draws a gap NACK): send the
                    # unconsumed ones again; the device drops the steps it has
                    resends += 1
                    resend_from(0)
                    continue
                raise self._stalled(received, steps, sent if stream else None, slots)
            if frame.is_nack:
                code, opcode = codec.unpack_nack(frame.payload)
                if opcode == Opcode.INPUT.value and code == ErrorCode.INPUT_REPEAT:
                    continue
                if opcode == Opcode.INPUT.value and code == ErrorCode.INPUT_GAP:
                    expected = codec.nack_expected(frame.payload, received, slots)
                    if not received <= expected <= sent:
                        raise LinkError(f"{self.url}: the device expects input step "
                                        f"{expected} while {sent} were sent and {received} "
                                        f"outputs received: a protocol mismatch; rebuild the "
                                        f"bitstream")
                    # later frames sent before the resend draw the same NACK: ignore those
                    if gap is None or gap[0] != expected or sent_at.get(frame.seq, 0) > gap[1]:
                        resend_from(expected)
                        gap = (expected, sends)
                    continue
                self._check(frame, Opcode.INPUT)
            out = codec.unpack_output(c, frame.payload, len(probes),
                                      None if recording.select == "all" else result.recorded)
            if out.step != received:
                raise LinkError(f"{self.url}: output of step {out.step} arrived where step "
                                f"{received} was expected: outputs were lost on the link")
            result.spikes[received] = out.spikes
            result.cycles[received] = out.cycles
            if result.span is not None:
                result.span[received] = out.span
            at, into_window = divmod(received + 1, recording.every)
            if (out.v is not None) != bool(probes and not into_window) \
                    or (out.counts is not None) != (recording.counts and not into_window):
                raise LinkError(f"{self.url}: the output of step {received} does not carry the "
                                f"probes and counts asked for: a protocol mismatch; rebuild the "
                                f"bitstream")
            if out.v is not None:
                result.probes["v"][at - 1] = out.v
                result.probes["i"][at - 1] = out.i
            if out.counts is not None:
                result.counts[at - 1] = out.counts
            received += 1
            self._received = received
            resends = 0
            if stream:
                credits += 1
                while pending and pending[0][0] + pending[0][1] <= received:
                    pending.popleft()

    def _next_output(self, seq, received, steps):
        """The next OUTPUT (or NACK) of the run ``seq``; None when none came for
        :attr:`timeout` seconds while the device kept answering. Every :data:`HEARTBEAT`
        seconds without output the device is asked for STATUS, so a device that stopped
        answering is reported within seconds, not after the full timeout and its retries."""
        started = time.monotonic()
        while True:
            left = self.timeout - (time.monotonic() - started)
            if left <= 0:
                return None
            frame = self._wait(lambda f: f.is_output and f.seq == seq or f.is_nack,
                               timeout=min(HEARTBEAT, left))
            if frame is not None:
                return frame
            if time.monotonic() - started >= self.timeout:
                return None
            try:
                self._heartbeat()
            except LinkError:
                raise LinkError(f"{self.url} stopped answering during a {steps}-step run: no "
                                f"output for step {received} and no answer to STATUS within "
                                f"{time.monotonic() - started:.0f} s; {self.recovery}") from None

    def _heartbeat(self):
        """One STATUS request with a short deadline and no retry."""
        seq = self._next_seq()
        self._send(seq, Opcode.STATUS)
        frame = self._wait(self._answer(seq), timeout=HEARTBEAT)
        if frame is None:
            raise self._silence("STATUS", 1)
        return codec.unpack_status(self._check(frame, Opcode.STATUS))

    def _stalled(self, received, steps, sent, slots):
        """The error for a run whose next output did not come: ask the board why (STATUS),
        stop the run so that the board takes requests again, and say what was lost."""
        where = f"{self.url}: no output for step {received} of the {steps}-step run within " \
                f"{self.timeout:g} s"
        try:
            status = self.status()
            done = self.stop() if status["running"] else status["steps_done"]
        except LinkError:
            return LinkError(f"{where}, and no answer to STATUS: the device stopped answering; "
                             f"{self.recovery}")
        if sent is not None:
            # records the board holds or has used; a stalled streamed run has none in a step
            arrived = status["steps_done"] + slots - status["free_slots"]
            if arrived < sent:
                return LinkError(
                    f"{where}: {sent - arrived} of the {sent} input steps sent never reached "
                    f"the board ({status['crc_errors']} frames failed their CRC and "
                    f"{status['frame_errors']} were malformed there so far), though the host sent "
                    f"them {1 + INPUT_RESENDS} times: the link lost INPUT frames, and the board "
                    f"waited for inputs that did not come. The run "
                    f"was stopped after {done} steps and its outputs are discarded: rerun it "
                    f"(if this repeats, lower the baud rate or check the cable)")
        return LinkError(f"{where}; the board reports {status['steps_done']} steps done and "
                         f"running={status['running']} (stopped after {done} steps): outputs "
                         f"were lost on the link; rerun it")

    def close(self):
        if not self._closed:
            self._closed = True
            try:
                self.port.close()
            except Exception:  # pragma: no cover - closing a broken transport
                pass


def _open(url, config, **options):
    return SerialDevice(url, config, **options)


for _scheme in ("serial", "socket", "loop", "rfc2217"):
    register_scheme(_scheme, _open)


def _drain(sock):
    """Every byte ``sock`` holds now, without waiting."""
    parts = []
    while select.select([sock], [], [], 0)[0]:
        part = sock.recv(1 << 16)
        if not part:                # closed: the next read reports it
            break
        parts.append(part)
    return b"".join(parts)


def _nacked_opcode(frame):
    """The request opcode a NACK frame refuses (None if its payload does not decode)."""
    try:
        return codec.unpack_nack(frame.payload)[1]
    except codec.CodecError:
        return None
