"""The simulated board (sim://): the Verilator-built top behind a socket, through the public
Device API, against the twin (model://)."""

import socket
import subprocess

import numpy as np
import pytest

from spikeforge.config import ConfigError, CoreConfig
from spikeforge.host.device import open_device
from spikeforge.host.device.link import LinkError, SerialDevice
from spikeforge.host.model.params import random_inputs, random_network
from spikeforge.sim.simboard import SIM_CLK_HZ, SIM_DIVISOR, build_simboard
from spikeforge.host.device import DeviceError
from spikeforge.host.device import codec
from spikeforge.rtl.protocol import Opcode

pytestmark = [pytest.mark.sim, pytest.mark.slow]

CONFIG = CoreConfig(neurons=20, inputs=8, lanes=4)


def run_on(url, network, raster, learn, probes, seed):
    with open_device(url, CONFIG) as device:
        device.load_network(network)
        device.seed_poisson(seed)
        first = device.run(inputs=raster[:30], learn=learn, probes=probes)
        second = device.run(inputs=raster[30:], learn=not learn, probes=probes)
        return first, second, device.read_network(), device.read_state()


@pytest.mark.parametrize("url, seed", [("sim://", 0), ("sim://", 1), ("sim://", 2),
                                       ("sim://?uart=pins", 0)])
def test_sim_and_model_are_bit_identical(url, seed):
    rng = np.random.default_rng(seed)
    network = random_network(CONFIG, rng, regime="active")
    network.global_params.poisson_on = 1
    raster = random_inputs(CONFIG, rng, 60, 0.2)
    probes = sorted(rng.choice(CONFIG.neurons, size=3, replace=False).tolist())
    model = run_on("model://", network, raster, True, probes, seed)
    sim = run_on(url, network, raster, True, probes, seed)
    for got, want in zip(sim[:2], model[:2]):
        assert np.array_equal(got.spikes, want.spikes)
        assert got.probe_ids == want.probe_ids == tuple(probes)
        for name in ("v", "i"):
            assert np.array_equal(got.probes[name], want.probes[name])
    assert model[0].spikes.any()
    assert np.array_equal(sim[2].W, model[2].W)
    assert not np.array_equal(model[2].W, network.W)          # learning happened
    for name, value in model[3].items():
        assert np.array_equal(sim[3][name], value), name


def port_is_closed(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_simboard_reuses_its_build_and_leaves_nothing_running():
    binary = build_simboard(CONFIG)
    built = binary.stat().st_mtime_ns
    for _ in range(3):
        device = open_device("sim://", CONFIG)
        process, port = device.process, device.sim_port
        assert device.identify().board == "sim"
        device.close()
        assert process.poll() is not None                      # the simulator has exited
        assert port_is_closed(port)
        assert device.sim_cycles > 0
    assert build_simboard(CONFIG).stat().st_mtime_ns == built   # no rebuild


def test_a_board_for_another_configuration_is_refused_with_the_fix():
    binary = build_simboard(CONFIG)
    process = subprocess.Popen([str(binary), "--divisor", str(SIM_DIVISOR), "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline().split()[1])
        other = CONFIG.replace(neurons=21)
        with pytest.raises(LinkError) as error:
            SerialDevice(f"socket://127.0.0.1:{port}", other, timeout=10)
        message = str(error.value)
        assert f"0x{CONFIG.hash:08x}" in message and f"0x{other.hash:08x}" in message
        assert "build and flash the bitstream" in message
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_cli_compare_model_and_sim_identical(tmp_path):
    from click.testing import CliRunner

    from spikeforge.host.cli import main
    from spikeforge.host.formats.netfile import NetworkSpec, save_network_file

    network = random_network(CONFIG, np.random.default_rng(21), regime="active")
    spec = NetworkSpec(network, steps=40, learn=True, probes=(0, 5), input_rate=0.3,
                       input_seed=2, name="compare")
    path, _ = save_network_file(spec, tmp_path / "compare.toml")
    result = CliRunner().invoke(main, ["compare", str(path), "--backends", "model,sim",
                                       "--steps", "40"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("identical: model://, sim:// agree on 40 steps")


def test_cli_info_on_the_simulated_board(tmp_path):
    import json

    from click.testing import CliRunner

    from spikeforge.host.cli import main
    from spikeforge.host.formats.netfile import NetworkSpec, save_network_file

    path, _ = save_network_file(NetworkSpec(random_network(CONFIG, np.random.default_rng(1))),
                                tmp_path / "net.toml")
    result = CliRunner().invoke(main, ["info", "--device", "sim://", "--network", str(path),
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["backend"] == "sim" and data["board"] == "sim"
    assert data["config_hash"] == f"0x{CONFIG.hash:08x}"


def test_sim_url_options_are_checked():
    for url, words in (("sim://?uart=fast", "uart='fast' is not one of bytes, pins"),
                       ("sim://board7", "takes no address"),
                       ("sim://?speed=9", "only the options uart=bytes|pins, divisor=D"),
                       ("sim://?clk_hz=999999", "clk_hz='999999' must be a whole number of Hz "
                                                "from 1000000 to 4294967295"),
                       ("sim://?clk_hz=12.288e6", "clk_hz='12.288e6' must be a whole number"),
                       ("sim://?clk_hz=4294967296", "from 1000000 to 4294967295"),
                       ("sim://?divisor=20", "divisor applies to the UART pins only"),
                       ("sim://?uart=pins&divisor=2", "4 to 65535"),
                       ("sim://?uart=pins&divisor=99999999", "4 to 65535"),
                       ("sim://?uart=pins&divisor=%C2%B2", "must be a whole number"),
                       ("sim://?uart=pins&divisor=x", "divisor='x' must be a whole number")):
        with pytest.raises(DeviceError) as error:
            open_device(url, CONFIG)
        assert words in str(error.value)


def test_paced_runs_keep_their_period_and_count_late_steps():
    rng = np.random.default_rng(5)
    network = random_network(CONFIG, rng, regime="active")
    raster = random_inputs(CONFIG, rng, 8, 0.3)
    with open_device("model://", CONFIG) as model:
        model.load_network(network)
        want = model.run(inputs=raster)
    with open_device("sim://", CONFIG) as device:
        device.load_network(network)
        # 2 ms per step: far longer than a step takes, so no step starts late
        slow = device.run(inputs=raster, period_us=2000)
        assert device.status()["step_overruns"] == 0
        device.reset("state")
        # 1 us per step: about as long as a step with its OUTPUT sent while the next runs
        fast = device.run(inputs=raster, period_us=1)
        overruns = device.status()["step_overruns"]
    # pacing changes when steps start, never what they compute
    assert np.array_equal(slow.spikes, want.spikes) and np.array_equal(fast.spikes, want.spikes)
    # span: a step starts period_us after the last one, give or take the two cycles per input
    # the engine pushed into the core before the start; the first step starts at once, out of
    # the timer's phase, so the second starts within a microsecond (a tick) of the period, and
    # from then on every start is exactly period_us of the timer's ticks after the last
    per_us = SIM_CLK_HZ // 1_000_000
    period = 2000 * per_us
    pushed = 2 * raster.sum(axis=1)
    late = slow.span[1:] - (pushed[1:] - pushed[:-1])
    assert slow.span[0] == 0 and abs(late[0] - period) < per_us, slow.span
    assert (late[1:] == period).all(), slow.span
    assert (fast.span[1:] > fast.cycles[:-1]).all()
    # the timer counts whole microseconds (50 cycles): a step is late when two or more ticks
    # passed since the last start (counted from the engine's decision, before it pushed the
    # step's inputs): surely when that took 2 us and the decision's cycles or more, never when
    # it took at most 1 us
    spans = fast.span[1:] - (pushed[1:] - pushed[:-1])
    assert (spans >= 2 * per_us + 2).sum() <= overruns <= (spans > per_us).sum(), (
        overruns, fast.span)
    assert overruns > 0
    assert want.span is None
    with pytest.raises(ConfigError, match="period_us"):
        open_device("model://", CONFIG).run(steps=1, period_us=-1)


def test_paced_runs_keep_their_period_on_a_clock_of_no_whole_mhz():
    """At 12.288 MHz a microsecond is 12.288 cycles: the engine's fractional divider ticks every
    12 or 13 cycles, so a period of 300 us is 3,686 or 3,687 cycles, 3,686.4 on average."""
    clk_hz, period_us, steps = 12_288_000, 300, 12
    exact = period_us * clk_hz / 1_000_000
    rng = np.random.default_rng(5)
    network = random_network(CONFIG, rng, regime="active")
    network.global_params.poisson_on = 1
    # the core's own Poisson inputs, no streamed ones: nothing the host does can make a step late
    with open_device("model://", CONFIG) as model:
        model.load_network(network)
        model.seed_poisson(3)
        want = model.run(steps=steps)
    assert want.spikes.any()
    with open_device(f"sim://?clk_hz={clk_hz}", CONFIG) as device:
        assert device.identify().clk_hz == clk_hz
        device.load_network(network)
        device.seed_poisson(3)
        paced = device.run(steps=steps, period_us=period_us)
        assert device.status()["step_overruns"] == 0
        device.reset("state")
        device.seed_poisson(3)
        # 1 us (12.288 cycles) per step: every step after the first starts late
        fast = device.run(steps=steps, period_us=1)
        assert device.status()["step_overruns"] == steps - 1
    assert np.array_equal(paced.spikes, want.spikes) and np.array_equal(fast.spikes, want.spikes)
    late = paced.span[1:]
    # the first step starts at once, out of the timer's phase: the second within a tick (12 or
    # 13 cycles) of the period; from then on each start is period_us of the timer's ticks after
    # the last one
    assert abs(late[0] - exact) < clk_hz / 1_000_000, late
    assert set(late[1:].tolist()) <= {int(exact), int(exact) + 1}, late
    assert abs(late[1:].sum() - (len(late) - 1) * exact) < 1, late
    assert (fast.span[1:] > fast.cycles[:-1]).all()
    assert (fast.span[1:] < exact / 4).all(), fast.span


def _model_run(network, raster, seed):
    with open_device("model://", CONFIG) as model:
        model.load_network(network)
        model.seed_poisson(seed)
        return model.run(inputs=raster, probes=[0, 3])


@pytest.mark.parametrize("pattern", [0, 1, 2, 3])
def test_lost_and_repeated_input_frames_are_resent_and_the_run_is_exact(pattern):
    """INPUT frames dropped, repeated and corrupted on the way to the board: the board refuses
    a gap and drops a repeat, the host resends from the step the board expects, and the run
    goes on to outputs identical to the twin's."""
    rng = np.random.default_rng(10 + pattern)
    network = random_network(CONFIG, rng, regime="active")
    raster = random_inputs(CONFIG, rng, 80, 0.3)
    want = _model_run(network, raster, 5)
    faults = np.random.default_rng(pattern)
    seen = {"drop": 0, "repeat": 0, "corrupt": 0, "inputs": 0}
    # a 2 s answer timeout: a lost last frame is resent after it
    with open_device("sim://", CONFIG, timeout=2.0) as device:
        device.load_network(network)
        device.seed_poisson(5)
        send = device._send

        def faulty_send(seq, opcode, payload=b""):
            if opcode == Opcode.INPUT:
                seen["inputs"] += 1
                draw = faults.random()
                if draw < 0.15:
                    seen["drop"] += 1
                    return
                if draw < 0.3:
                    seen["repeat"] += 1
                    send(seq, opcode, payload)
                elif draw < 0.35:
                    seen["corrupt"] += 1
                    wire = bytearray(codec.encode_frame(seq, opcode, payload))
                    wire[len(wire) // 2] ^= 0x04
                    device.port.write(bytes(wire))
                    return
            send(seq, opcode, payload)

        device._send = faulty_send
        got = device.run(inputs=raster, probes=[0, 3])
        device._send = send
        status = device.status()
    assert seen["drop"] and seen["repeat"], seen
    assert np.array_equal(got.spikes, want.spikes) and want.spikes.any()
    for name in ("v", "i"):
        assert np.array_equal(got.probes[name], want.probes[name])
    assert status["steps_done"] == len(raster) and not status["running"]
    # each lost frame drew a gap NACK or a resend; each repeat was refused
    assert status["nacks"] >= seen["repeat"]


def test_inputs_lost_for_good_stop_the_run_with_the_reason():
    """When every INPUT frame from the second on is lost, resends included, the host stops
    resending after INPUT_RESENDS timeouts, says why, and stops the run; a rerun is exact."""
    rng = np.random.default_rng(3)
    network = random_network(CONFIG, rng, regime="active")
    raster = random_inputs(CONFIG, rng, 40, 0.3)
    with open_device("model://", CONFIG) as model:
        model.load_network(network)
        model.seed_poisson(5)
        want = model.run(inputs=raster)
    with open_device("sim://", CONFIG, timeout=1.0) as device:
        device.load_network(network)
        device.seed_poisson(5)
        send = device._send
        inputs = []

        def losing_send(seq, opcode, payload=b""):
            if opcode == Opcode.INPUT:
                inputs.append(seq)
                if len(inputs) >= 2:
                    return
            send(seq, opcode, payload)

        device._send = losing_send
        with pytest.raises(LinkError, match=r"input steps sent never reached the board .*"
                                            r"sent them 3 times.* run was stopped"):
            device.run(inputs=raster)
        device._send = send
        assert not device.status()["running"]
        device.reset("state")                          # what the failed run changed
        device.load_network(network)
        device.seed_poisson(5)
        got = device.run(inputs=raster)
    assert len(inputs) > 2                             # the lost frames were resent
    assert np.array_equal(got.spikes, want.spikes) and want.spikes.any()


def test_span_covers_the_run_on_the_simulated_board():
    """Every step's span covers the core's cycles of the step before, and the spans add up to
    no more than the simulated cycles from the RUN frame's first byte to the last OUTPUT
    byte."""
    rng = np.random.default_rng(12)
    network = random_network(CONFIG, rng, regime="active")
    raster = random_inputs(CONFIG, rng, 40, 0.3)
    with open_device("sim://", CONFIG) as device:
        device.load_network(network)
        device.mark()
        result = device.run(inputs=raster)
        mark = device.mark()
    span, cycles = np.asarray(result.span), np.asarray(result.cycles)
    assert span[0] == 0 and (span[1:] > cycles[:-1]).all()
    assert span.sum() + cycles[-1] <= mark["last_out"] - mark["first_in"] + 1
