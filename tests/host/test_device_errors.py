"""Misuse of the Device API and bad device URLs give one clear error, never a bare Python or
numpy exception."""

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
