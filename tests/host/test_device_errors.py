"""Misuse of the Device API and bad device URLs give one clear error, never a bare Python or
numpy exception."""

from pathlib import Path

import pytest

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.device.link import LinkError

CONFIG = CoreConfig(neurons=10, inputs=4, lanes=2)


@pytest.mark.parametrize("url, words", [
    ("serial:///dev/null?baud=abc", "baud='abc'"),
    ("serial:///dev/null?baud=-5", "baud='-5'"),
    ("serial:///dev/null?speed=9600", "unknown option"),
    ("socket://127.0.0.1:99999", "port from 1 to 65535"),
    ("socket://127.0.0.1", "port from 1 to 65535"),
    ("socket://:5000", "needs a host"),
])
def test_bad_link_urls_are_link_errors(url, words):
    with pytest.raises(LinkError) as caught:
        open_device(url, CONFIG)
    assert words in str(caught.value)
    assert url in str(caught.value)


def test_run_refuses_negative_and_oversized_step_counts():
    with open_device("model://", CONFIG) as device:
        for steps in (-1, 2**32, 1.5, True):
            with pytest.raises(ConfigError, match="steps=.* must be a whole number from 0"):
                device.run(steps=steps)


def test_load_network_refuses_what_is_not_a_network():
    with open_device("model://", CONFIG) as device:
        for thing in (None, "net.toml", {"W": 1}):
            with pytest.raises(ConfigError, match="load_network needs a Network"):
                device.load_network(thing)


def test_unknown_region_names_the_known_ones():
    with open_device("model://", CONFIG) as device:
        for call in (lambda: device.read_region(99), lambda: device.write_region(99, [0]),
                     lambda: device.region_crc(99)):
            with pytest.raises(ConfigError, match="unknown region 99: choose one of WEIGHT"):
                call()



def test_a_device_that_opens_but_never_answers_is_a_device_failure():
    """A port that opens (here a listening socket that reads and says nothing) but no answer to
    IDENTIFY: exit code 3 with the device named, not the exit code 2 of a bad URL."""
    import socket
    import threading

    from click.testing import CliRunner

    from spikeforge.host.cli import main

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        connection, _ = server.accept()
        accepted.append(connection)         # kept open, never answered

    threading.Thread(target=accept, daemon=True).start()
    url = f"socket://127.0.0.1:{port}"
    try:
        result = CliRunner().invoke(main, ["info", "--device", url])
    finally:
        for connection in accepted:
            connection.close()
        server.close()
    assert result.exit_code == 3, result.output
    assert f"no answer from {url} to IDENTIFY" in result.output
    assert "Traceback" not in result.output


def _identified_link_device(**link_options):
    """A serial device as it stands after IDENTIFY of a board built with ``link_options`` (no
    port is opened: the checks below refuse before anything is sent)."""
    from spikeforge.host.device import codec
    from spikeforge.host.device.link import SerialDevice
    from spikeforge.rtl.protocol import LinkParams, identify_payload

    device = SerialDevice.__new__(SerialDevice)
    device.url, device.config = "serial:///dev/ttyUSB1", CONFIG
    device.info = codec.unpack_identify(identify_payload(
        LinkParams(CONFIG, **link_options), clk_hz=18e6, baud=3e6, board="icebreaker",
        build=0))
    return device


UP5K_LINK = dict(record_counts=False, record_set=False, every_bits=8, period_bits=24)


def test_a_short_run_board_refuses_every_and_period_beyond_its_limits():
    device = _identified_link_device(**UP5K_LINK)
    with pytest.raises(ConfigError) as caught:
        device.run(steps=4, every=256)
    message = str(caught.value)
    assert "every=256" in message and "icebreaker" in message and "every <= 255" in message
    assert "\n" not in message
    with pytest.raises(ConfigError) as caught:
        device.run(steps=4, period_us=1 << 24)
    message = str(caught.value)
    assert f"period_us={1 << 24}" in message and f"period_us <= {(1 << 24) - 1}" in message
    assert "\n" not in message


def test_a_default_board_takes_every_and_period_of_the_full_width():
    device = _identified_link_device()
    assert device.info["max_every"] == 65535 and device.info["max_period_us"] == 2**32 - 1
    device._check_short_run(65535, 2**32 - 1)           # refuses nothing


def test_a_board_without_record_sets_holds_no_record_region():
    from spikeforge.rtl.regions import Region

    device = _identified_link_device(**UP5K_LINK)
    assert not device.has_region(Region.RECORD) and device.has_region(Region.STATE)
    with pytest.raises(ConfigError, match="record_set=False"):
        device.run(steps=4, record=[0, 1])
    assert _identified_link_device().has_region(Region.RECORD)


def test_a_run_folder_is_refused_before_the_upload_on_a_short_run_board(tmp_path):
    """The board's limits are checked before anything is sent: this device has no port, so
    an upload would fail otherwise."""
    import numpy as np

    from spikeforge.host.device.base import Recording
    from spikeforge.host.formats.netfile import NetworkSpec
    from spikeforge.host.model.params import random_network
    from spikeforge.host.runs.results import run_to_folder

    device = _identified_link_device(**UP5K_LINK)
    spec = NetworkSpec(random_network(CONFIG, np.random.default_rng(0)), steps=10)
    for recording, words in ((Recording(every=300), "every <= 255"),
                             (Recording(every=5, counts=True), "record_counts=False"),
                             (Recording("set", (0, 1)), "record_set=False")):
        with pytest.raises(ConfigError) as caught:
            run_to_folder(device, spec, tmp_path / "run", recording=recording)
        assert words in str(caught.value) and "\n" not in str(caught.value)
        assert not (tmp_path / "run").exists()


def test_run_limits_follow_the_protocol_fields():
    from spikeforge.host.device.base import MAX_EVERY, MAX_PERIOD_US, MAX_RUN_STEPS
    from spikeforge.rtl.protocol import RUN_ARGS

    for limit, name in ((MAX_EVERY, "every"), (MAX_PERIOD_US, "period_us"),
                        (MAX_RUN_STEPS, "steps")):
        assert limit == 2 ** RUN_ARGS[name].width - 1
    device = _identified_link_device()
    assert device.info["max_every"] == MAX_EVERY
    assert device.info["max_period_us"] == MAX_PERIOD_US


@pytest.mark.parametrize("args, words", [
    (["--every", "70000"], "70000 is out of range: RUN's every is 16 bits, 1 to 65535 steps; "
                           "use --every from 1 to 65535"),
    (["--every", "0"], "use --every from 1 to 65535"),
    (["--every", "300", "--counts"], "at most 255 steps per window (8-bit counts); use --every "
                                     "255 or less"),
    (["--steps", "4294967296"], "4294967296 is not in the range 0<=x<=4294967295"),
])
def test_run_options_beyond_the_protocol_name_the_limit(tmp_path, args, words):
    from click.testing import CliRunner

    from spikeforge.host.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "synfire.toml"
    result = CliRunner().invoke(main, ["run", str(example), "-d", "model://",
                                       "--no-plots", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_period_and_every_beyond_the_protocol_are_one_line_errors():
    from spikeforge.host.device.base import MAX_EVERY, MAX_PERIOD_US

    with open_device("model://", CONFIG) as device:
        with pytest.raises(ConfigError) as caught:
            device.run(steps=2, period_us=MAX_PERIOD_US + 1)
        assert str(caught.value) == (f"period_us={MAX_PERIOD_US + 1} must be a whole number of "
                                     f"microseconds from 0 (unpaced) to {MAX_PERIOD_US} (RUN's "
                                     f"32-bit period); use a period in that range")
        with pytest.raises(ConfigError) as caught:
            device.run(steps=2, every=MAX_EVERY + 1)
        assert str(caught.value) == (f"every={MAX_EVERY + 1} must be a whole number of steps "
                                     f"from 1 to {MAX_EVERY} (RUN's 16-bit every); use every in "
                                     f"that range")
