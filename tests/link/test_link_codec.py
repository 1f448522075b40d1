"""The host codec: COBS, frames, CRC and payloads, with plain bytes (no device)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.config import CoreConfig
from spikeforge.host.device import codec
from spikeforge.rtl.protocol import CRC, Opcode
from spikeforge.rtl.regions import Region

CONFIG = CoreConfig(neurons=10, inputs=20, lanes=4)


@given(st.binary(max_size=1200))
def test_cobs_round_trip_has_no_zero(data):
    encoded = codec.cobs_encode(data)
    assert 0 not in encoded
    assert codec.cobs_decode(encoded) == data
    assert len(encoded) <= len(data) + len(data) // 254 + 2


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_frame_round_trip(seq, opcode, payload):
    wire = codec.encode_frame(seq, opcode, payload)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert codec.FrameDecoder().feed(wire) == [codec.Frame(seq, opcode, payload)]


def test_crc_is_the_rtl_parameter_set():
    assert codec.crc32(b"123456789") == CRC.compute(b"123456789") == 0xCBF43926


@settings(max_examples=80)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=700))
def test_host_crc_agrees_with_the_rtl_crc_on_random_frames(seq, opcode, payload):
    body = bytes((seq, opcode)) + len(payload).to_bytes(2, "little") + payload
    assert codec.crc32(body) == CRC.compute(body)
    # a frame sealed with the RTL's CRC is accepted by the host decoder, and vice versa
    sealed = codec.cobs_encode(body + CRC.compute(body).to_bytes(4, "little"))
    assert codec.decode_frame(sealed) == codec.Frame(seq, opcode, payload)
    wire = codec.encode_frame(seq, opcode, payload)
    decoded = codec.cobs_decode(wire[:-1])
    assert int.from_bytes(decoded[-4:], "little") == CRC.compute(decoded[:-4])


@settings(max_examples=60)
@given(st.integers(0, 255), st.binary(min_size=0, max_size=40), st.data())
def test_every_single_bit_flip_is_rejected(seq, payload, data):
    wire = codec.encode_frame(seq, Opcode.WRITE, payload)
    original = codec.Frame(seq, Opcode.WRITE.value, payload)
    for position in range(len(wire)):
        for bit in range(8):
            corrupt = bytearray(wire)
            corrupt[position] ^= 1 << bit
            frames = codec.FrameDecoder().feed(bytes(corrupt) + b"\x00")
            # a flip may split the frame or hide its delimiter; it never yields a frame
            assert frames == [] or frames == [original] and position == len(wire) - 1, \
                (position, bit, frames)


@given(st.integers(0, 255), st.binary(max_size=100), st.data())
def test_truncated_frames_are_rejected_and_decoding_resumes(seq, payload, data):
    wire = codec.encode_frame(seq, Opcode.READ, payload)
    cut = data.draw(st.integers(1, len(wire) - 2))   # at least one byte besides the 0x00
    decoder = codec.FrameDecoder()
    assert decoder.feed(wire[:cut] + b"\x00") == []
    assert decoder.errors == 1
    assert decoder.feed(wire) == [codec.Frame(seq, Opcode.READ.value, payload)]


@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_junk_is_never_a_frame_and_chunking_does_not_matter(junk, cuts):
    wire = junk + b"\x00" + codec.encode_frame(9, Opcode.STATUS)
    decoder = codec.FrameDecoder()
    frames = []
    position = 0
    for cut in cuts:
        frames += decoder.feed(wire[position:position + cut])
        position += cut
    frames += decoder.feed(wire[position:])
    # junk passes the CRC-32 with probability 2**-32; hypothesis would not find it
    assert frames[-1] == codec.Frame(9, Opcode.STATUS.value, b"")
    assert len(frames) == 1


def test_frame_errors_name_the_defect():
    with pytest.raises(codec.FramingError, match="announces"):
        codec.decode_frame(b"\x05\x01")
    with pytest.raises(codec.FramingError, match="shorter than header"):
        codec.decode_frame(codec.cobs_encode(b"\x01\x02"))
    body = b"\x01\x02\x05\x00abc"
    with pytest.raises(codec.FramingError, match="5-byte payload"):
        codec.decode_frame(codec.cobs_encode(body + codec.crc32(body).to_bytes(4, "little")))
    body = b"\x01\x02\x03\x00abc"
    with pytest.raises(codec.ChecksumError):
        codec.decode_frame(codec.cobs_encode(body + b"\x00\x00\x00\x00"))
    with pytest.raises(codec.PayloadError, match="PARAM holds 10 words"):
        codec.pack_read(CONFIG, Region.PARAM, 8, 3)
    with pytest.raises(codec.PayloadError, match="unknown region"):
        codec.pack_read(CONFIG, 14, 0, 1)


@given(st.lists(st.booleans(), min_size=20, max_size=20))
def test_input_record_picks_the_shorter_encoding(spikes):
    record = codec.input_record(CONFIG, spikes)
    count = sum(spikes)
    assert len(record) == 2 + min(count, 3)      # list of 1-byte indices, or a 3-byte bitmap


def test_output_round_trip():
    c = CONFIG
    spikes = np.zeros(c.neurons, dtype=bool)
    spikes[[1, 9]] = True
    payload = ((7).to_bytes(4, "little") + (123).to_bytes(4, "little")
               + (456).to_bytes(4, "little") + bytes([3 | 4])
               + (2).to_bytes(2, "little") + bytes([1, 9])
               + (-5 & 0xFFFFFF).to_bytes(3, "little") + (77).to_bytes(3, "little"))
    out = codec.unpack_output(c, payload, 1)
    assert out.step == 7 and out.cycles == 123 and out.span == 456 and out.last
    assert np.array_equal(out.spikes, spikes)
    assert out.v.tolist() == [-5] and out.i.tolist() == [77]
    assert out.counts is None


def test_output_without_probes_carries_none_and_counts_follow_the_spikes():
    c = CONFIG                                          # N=10
    header = (8).to_bytes(4, "little") + (50).to_bytes(4, "little") + (60).to_bytes(4, "little")
    # a step inside a window: empty list, no probes
    out = codec.unpack_output(c, header + bytes([2]) + bytes([0, 0]), 2, recorded=[1, 4])
    assert out.v is None and out.i is None and out.counts is None and not out.spikes.any()
    # the window's last step: counts of the 2 recorded neurons, then 2 probes
    probes = ((-5 & 0xFFFFFF).to_bytes(3, "little") + (7).to_bytes(3, "little")) * 2
    out = codec.unpack_output(c, header + bytes([2 | 4 | 8]) + bytes([0, 0]) + bytes([3, 250])
                              + probes, 2, recorded=[1, 4])
    assert out.counts.dtype == np.uint8 and out.counts.tolist() == [3, 250]
    assert out.v.tolist() == [-5, -5] and out.i.tolist() == [7, 7]
    # a bitmap of a recorded set: a spike of a neuron not recorded is a protocol error
    with pytest.raises(codec.PayloadError, match="not recorded"):
        codec.unpack_output(c, header + bytes([0]) + bytes([0b100, 0]), 0, recorded=[1, 4])
    with pytest.raises(codec.PayloadError, match="counts of 1 bytes, expected 2"):
        codec.unpack_output(c, header + bytes([2 | 8]) + bytes([0, 0]) + bytes([3]), 0,
                            recorded=[1, 4])


@pytest.mark.parametrize("record, counts, byte", [("all", False, 0), ("set", False, 1),
                                                  ("none", False, 2), ("set", True, 5),
                                                  ("all", True, 4)])
def test_run_record_byte_and_every(record, counts, byte):
    payload = codec.pack_run(9, record=record, every=300 if not counts else 255, counts=counts)
    every = 300 if not counts else 255
    assert payload[10] == byte and payload[11:13] == every.to_bytes(2, "little")
    assert len(payload) == 13


def test_run_refuses_bad_record_arguments():
    with pytest.raises(codec.PayloadError, match="every=0"):
        codec.pack_run(1, every=0)
    with pytest.raises(codec.PayloadError, match="at most 255"):
        codec.pack_run(1, every=256, counts=True)
    with pytest.raises(codec.PayloadError, match="choose 'all', 'set' or 'none'"):
        codec.pack_run(1, record="some")


@pytest.mark.parametrize("flags", [{}, {"stochastic_rounding": True}, {"v_floor": True},
                                   {"stochastic_rounding": True, "v_floor": True}])
def test_identify_reports_the_model_features(flags):
    from spikeforge.rtl.protocol import LinkParams, identify_payload

    config = CoreConfig(neurons=8, inputs=4, lanes=2, **flags)
    info = codec.unpack_identify(identify_payload(LinkParams(config), clk_hz=1e6, baud=1e5,
                                                  board="sim", build=0))
    assert info["stdp"] and info["config_hash"] == config.hash
    for name in ("stochastic_rounding", "v_floor"):
        assert info[name] == flags.get(name, False)
    assert info["record_counts"]
    info = codec.unpack_identify(identify_payload(LinkParams(config, record_counts=False),
                                                  clk_hz=1e6, baud=1e5, board="sim", build=0))
    assert not info["record_counts"]


PAYLOAD_LAYOUTS = ("HEADER", "REGION_ARGS", "RESET_ARGS", "REGION_CRC_ARGS", "REGION_CRC_RESULT",
                   "RUN_ARGS", "PROBE_INDEX", "RUN_RESULT", "STOP_RESULT", "NACK", "STATUS",
                   "OUTPUT_HEADER", "SPIKE_COUNT", "INPUT_ARGS", "INPUT_RECORD", "IDENTIFY")


def test_payload_layouts_keep_the_bytes_of_protocol_4():
    from spikeforge.rtl import protocol

    sizes = {name: protocol.layout_bytes(getattr(protocol, name)) for name in PAYLOAD_LAYOUTS}
    assert protocol.PROTOCOL_VERSION == 4
    assert sizes == {"HEADER": 4, "REGION_ARGS": 7, "RESET_ARGS": 1, "REGION_CRC_ARGS": 1,
                     "REGION_CRC_RESULT": 4, "RUN_ARGS": 13, "PROBE_INDEX": 2, "RUN_RESULT": 1,
                     "STOP_RESULT": 4, "NACK": 4, "STATUS": 34, "OUTPUT_HEADER": 13,
                     "SPIKE_COUNT": 2, "INPUT_ARGS": 2, "INPUT_RECORD": 2, "IDENTIFY": 37}


@settings(max_examples=50)
@given(st.sampled_from(PAYLOAD_LAYOUTS), st.data())
def test_unpack_layout_inverts_pack_layout(name, data):
    from spikeforge.rtl import protocol

    layout = getattr(protocol, name)
    values = {name: data.draw(st.integers(0, (1 << field.width) - 1)) for name, field in layout}
    payload = protocol.pack_layout(layout, **values)
    assert len(payload) == protocol.layout_bytes(layout)
    assert protocol.unpack_layout(layout, payload + b"tail") == values


def test_run_payload_is_the_protocol_4_byte_order():
    payload = codec.pack_run(0x01020304, stream=True, period_us=0x0A0B0C0D, probes=[5, 0x102],
                             record="set", every=0x0102)
    assert payload == bytes([4, 3, 2, 1, 2 | 4, 0x0D, 0x0C, 0x0B, 0x0A, 2, 1, 2, 1,
                             5, 0, 2, 1])


def test_status_and_nack_unpack_the_protocol_2_bytes():
    counters = b"".join((k + 1).to_bytes(4, "little") for k in range(7))
    status = codec.unpack_status(counters + bytes([1]) + (99).to_bytes(4, "little") + bytes([3]))
    assert status["good_frames"] == 1 and status["step_overruns"] == 7
    assert status["running"] is True and status["steps_done"] == 99 and status["free_slots"] == 3
    assert codec.unpack_nack(bytes([4, 0x11, 0, 0])) == (codec.ErrorCode.BAD_RANGE, 0x11)
    with pytest.raises(codec.PayloadError, match="expected 34"):
        codec.unpack_status(counters)


def test_input_payload_starts_with_the_first_step_index():
    config = CoreConfig(neurons=8, inputs=4, lanes=2)
    rows = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    payload = codec.pack_input(config, rows, 0x10203)          # modulo 2**16 on the wire
    assert payload[:2] == bytes([0x03, 0x02])
    assert payload[2:] == codec.input_record(config, rows[0]) + codec.input_record(config, rows[1])


@pytest.mark.parametrize("slots", [1, 2, 4, 8, 64])
def test_a_gap_nack_decodes_to_the_expected_step(slots):
    from spikeforge.rtl.protocol import NACK, input_index_bits, pack_layout

    bits = input_index_bits(slots)
    assert (1 << bits) >= 2 * slots
    for received in (0, 5, 65530, 70000):
        for expected in range(received, received + slots + 1):
            payload = pack_layout(NACK, error=codec.ErrorCode.INPUT_GAP.value,
                                  opcode=Opcode.INPUT.value,
                                  expected=expected & ((1 << bits) - 1))
            assert codec.unpack_nack(payload) == (codec.ErrorCode.INPUT_GAP, Opcode.INPUT.value)
            assert codec.nack_expected(payload, received, slots) == expected
    assert "lost" in codec.describe_nack(payload)
