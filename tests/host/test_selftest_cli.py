"""``spikeforge selftest`` as a command: verdict, JSON, exit codes, option errors (on the twin,
which needs no build)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge.config import CoreConfig
from spikeforge.host.cli import main
from spikeforge.host.device import ModelDevice
from spikeforge.host.device.selftest import selftest


def invoke(*args):
    return CliRunner().invoke(main, ["selftest", *args])


def test_selftest_on_the_twin_passes_and_prints_the_verdict():
    result = invoke("--device", "model://", "--networks", "1", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "PASS: model:// computes exactly what the twin computes" in result.output
    assert "mismatches" in result.output


def test_selftest_json_has_the_checks_and_figures():
    result = invoke("--device", "model://", "--board", "ecpix5", "--networks", "1", "--steps",
                    "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["passed"] is True
    assert data["identity"]["config"]["neurons"] == 256
    assert [check["name"] for check in data["checks"]] == ["identity", "link", "regions",
                                                           "networks", "paced"]
    assert data["figures"]["mismatches"] == 0


@pytest.mark.parametrize("args,words", [
    (["--board", "nosuchboard"], ["nosuchboard"]),
    (["--board", "icebreaker", "--network", "x.toml"], ["--board or --network"]),
    (["--device", "nosuch://"], ["unknown device URL scheme"]),
])
def test_selftest_option_errors_are_one_line(args, words):
    result = invoke(*args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and "Traceback" not in result.output
    for word in words:
        assert word in result.output


class ShiftsProbes(ModelDevice):
    """A twin whose probed v reads one too high."""

    def _run(self, *args, **kwargs):
        result = super()._run(*args, **kwargs)
        if "v" in result.probes:
            result.probes["v"] = result.probes["v"] + 1
        return result


def test_a_wrong_probe_fails_the_selftest_with_its_name():
    config = CoreConfig(neurons=12, inputs=4, lanes=2)
    report = selftest(ShiftsProbes(config), networks=1, steps=4, paced_steps=2)
    assert not report.passed
    assert [check.name for check in report.failures] == ["networks"]
    assert "probed v differs" in report.verdict
    assert report.to_dict()["figures"]["mismatches"] == 1
