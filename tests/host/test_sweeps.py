"""Sweeps: spec files, parameter paths, resumable point folders, and real Dask clusters (a
``dask scheduler`` and ``dask worker`` processes on 127.0.0.1) running points on model:// and
sim://."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spikeforge import CoreConfig
from spikeforge.config import ConfigError
from spikeforge.host.cli import main
from spikeforge.host.formats.netfile import NetworkSpec, save_network_file
from spikeforge.host.model.params import random_network
from spikeforge.host.sweeps import (apply_parameter, board_resource, load_sweep_spec,
                                    read_results, run_sweep, summarize)

distributed = pytest.importorskip("distributed")

CONFIG = CoreConfig(neurons=20, inputs=8, lanes=4)     # the configuration of test_simboard
# the numpy twin: slow enough (about 0.2 s a point here) that a worker can be killed mid-sweep
SLOW_MODEL = "model://?kernel=numpy"
VOLATILE = ("wall_s", "worker")                         # differ between runs of one point


def _spec(folder, network, *, device, steps, thr, a_plus, seeds, name="sweep"):
    path = Path(folder) / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nnetwork = "{network}"\ndevice = "{device}"\nsteps = {steps}\n'
        f'learn = true\nseeds = {list(seeds)}\n\n[grid]\n"neurons.thr" = {list(thr)}\n'
        f'stdp.a_plus = {list(a_plus)}\n')
    return path


def _stable(rows, drop=VOLATILE):
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    folder = tmp_path_factory.mktemp("net")
    net = random_network(CONFIG, np.random.default_rng(0), regime="active")
    spec = NetworkSpec(net, steps=100, learn=True, input_rate=0.2, input_seed=0, name="tiny")
    path, _ = save_network_file(spec, folder / "tiny.toml")
    return path


@pytest.fixture(scope="module")
def spec32(network, tmp_path_factory):
    """32 points: 4 thresholds x 2 a_plus x 4 seeds, 2,000 steps with STDP each."""
    return _spec(tmp_path_factory.mktemp("spec"), network, device=SLOW_MODEL, steps=2000,
                 thr=[100, 200, 400, 800], a_plus=[1, 4], seeds=[0, 1, 2, 3], name="p32")


@pytest.fixture(scope="module")
def sequential(spec32, tmp_path_factory):
    result = run_sweep(spec32, tmp_path_factory.mktemp("seq"), workers=0)
    assert (result.ran, result.failed) == (32, 0)
    return result.rows


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args):
    dask = Path(sys.executable).parent / "dask"
    return subprocess.Popen([str(dask), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _start_worker(address, name):
    return _dask("worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1")


def _wait_for_workers(address, n, timeout=60):
    with distributed.Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    """A real scheduler and two single-thread workers on 127.0.0.1, on free ports."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")]
    try:
        procs += [_start_worker(address, "w1"), _start_worker(address, "w2")]
        _wait_for_workers(address, 2)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _stop(proc):
    """SIGTERM to the process group, SIGKILL after 3 s (a worker's simulated boards are its
    children)."""
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


# -- spec files and parameter paths -------------------------------------------------------------

def test_spec_points_cross_grid_random_draws_and_seeds(network, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'network = "{network}"\nseeds = 3\n[grid]\nneurons.thr = [100, 200]\n'
                    f'[random]\nsamples = 4\nseed = 7\n"globals.w_shift" = {{low = 0, high = 3}}\n'
                    f'"inputs.rate" = {{low = 0.01, high = 0.3, log = true}}\n')
    spec = load_sweep_spec(path)
    points = spec.points()
    assert len(points) == 2 * 4 * 3
    assert spec.parameters == ["neurons.thr", "globals.w_shift", "inputs.rate"]
    assert [p.seed for p in points[:4]] == [0, 1, 2, 0]
    assert {p.params["neurons.thr"] for p in points} == {100, 200}
    shifts = [p.params["globals.w_shift"] for p in points]
    assert all(isinstance(s, int) and 0 <= s <= 3 for s in shifts)
    rates = [p.params["inputs.rate"] for p in points]
    assert all(0.01 <= r <= 0.3 for r in rates)
    assert [p.params for p in load_sweep_spec(path).points()] == [p.params for p in points]


def test_parameter_paths_change_the_parsed_network_file():
    data = {"neurons": {"thr": 5}, "globals": {}}
    apply_parameter(data, "neuron.thr", 700)
    apply_parameter(data, "stdp.a_plus", 3)
    apply_parameter(data, "inputs.rate", 0.1)
    assert data == {"neurons": {"thr": 700}, "globals": {"a_plus": 3}, "inputs": {"rate": 0.1}}
    with pytest.raises(ConfigError, match="stdp.w_shift does not exist"):
        apply_parameter(data, "stdp.w_shift", 1)
    with pytest.raises(ConfigError, match="unknown section 'neuronz'"):
        apply_parameter(data, "neuronz.thr", 1)


@pytest.mark.parametrize("text, message", [
    ('[grid]\n"neurons.tau" = [1]\n', "parameter neurons.tau does not exist"),
    ('[grid]\n"neurons.thr" = 5\n', "must be a non-empty list of values"),
    ('[random]\nsamples = 2\n"neurons.thr" = {low = 5}\n', "needs numbers low <= high"),
    ('metrics = ["accuracy"]\n', "unknown metric(s) accuracy"),
    ('kind = "film"\n', "kind='film' is unknown"),
    ('device = "smi://"\n', "device 'smi://' has an unknown scheme"),
])
def test_bad_spec_is_one_line_error_naming_the_field(network, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'network = "{network}"\n' + text)
    result = CliRunner().invoke(main, ["sweep", str(path), "--workers", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_board_resources_name_the_port():
    assert board_resource("serial:///dev/ttyUSB1") == "board_ttyUSB1"
    assert board_resource("/dev/ttyUSB0?baud=3000000") == "board_ttyUSB0"
    assert board_resource("socket://lab-pc:5000") == "board_lab_pc_5000"
    assert board_resource("sim://") is None and board_resource("model://") is None


def test_a_pooled_device_starts_every_point_with_fresh_poisson_generators():
    from spikeforge.host.sweeps.pool import pooled_device
    from spikeforge.rtl.regions import Region

    network = random_network(CONFIG, np.random.default_rng(5), regime="active")
    network.global_params.poisson_on = 1
    network.poisson_rate = np.full(CONFIG.inputs, 1 << 14)
    with pooled_device("model://", CONFIG) as device:
        fresh = device.read_region(Region.POISSON_STATE)
        device.load_network(network)
        device.seed_poisson(9)
        device.run(30)
        assert device.read_region(Region.POISSON_STATE) != fresh    # the generators moved
    with pooled_device("model://", CONFIG) as again:
        assert again is device
        assert again.read_region(Region.POISSON_STATE) == fresh


# -- points, failures, resuming (in-process) ----------------------------------------------------

def test_failing_point_is_recorded_and_the_sweep_goes_on(network, tmp_path):
    spec = _spec(tmp_path, network, device="model://", steps=50, thr=[100, 10 ** 9],
                 a_plus=[1], seeds=[0, 1])
    result = run_sweep(spec, tmp_path / "out", workers=0)
    assert [row["status"] for row in result.rows] == ["ok", "ok", "error", "error"]
    assert result.failed == 2 and "thr=1000000000 does not fit" in result.rows[2]["error"]
    folder = tmp_path / "out" / "points" / result.rows[2]["hash"]
    stored = json.loads((folder / "result.json").read_text())
    assert stored["status"] == "error" and "Traceback" in stored["traceback"]
    ok = tmp_path / "out" / "points" / result.rows[0]["hash"]
    assert {"network.toml", "matrices.npz", "spikes.npz", "summary.json"} <= {
        p.name for p in ok.iterdir()}
    # the point's folder holds a network file that `spikeforge run` reproduces
    run = CliRunner().invoke(main, ["run", str(ok / "network.toml"), "--device", "model://",
                                    "--steps", "50", "--learn", "--json", "--no-plots",
                                    "--out", str(tmp_path / "again")])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["spikes"] == result.rows[0]["spikes"]
    # failed points run again by default; --keep-failed keeps their error
    kept = run_sweep(spec, tmp_path / "out", workers=0, retry_failed=False)
    assert (kept.ran, kept.skipped) == (0, 4)
    again = run_sweep(spec, tmp_path / "out", workers=0)
    assert (again.ran, again.skipped, again.failed) == (2, 2, 2)


def test_batched_twin_points_equal_one_task_per_point(network, tmp_path):
    """batch = 8 runs model:// points together in the batched twin: same table, same files,
    same hashes (a batched sweep resumes an unbatched one), a bad point fails alone."""
    spec = _spec(tmp_path, network, device="model://", steps=300, thr=[100, 400, 10 ** 9],
                 a_plus=[1, 4], seeds=[0, 1, 2])
    text = spec.read_text().replace("learn = true", "learn = true\nbatch = 8")
    (tmp_path / "batched.toml").write_text(text + '"run.probes" = [[0, 3]]\n')
    (tmp_path / "plain.toml").write_text(spec.read_text() + '"run.probes" = [[0, 3]]\n')
    single = run_sweep(tmp_path / "plain.toml", tmp_path / "single", workers=0)
    batched = run_sweep(tmp_path / "batched.toml", tmp_path / "batched", workers=0)
    assert (batched.ran, batched.failed) == (18, 6)
    assert _stable(batched.rows) == _stable(single.rows)
    assert "thr=1000000000 does not fit" in batched.rows[-1]["error"]
    for row in batched.rows[:12]:
        for name in ("spikes.npz", "probes.npz", "weights.npz", "state.npz"):
            with np.load(tmp_path / "batched" / "points" / row["hash"] / name) as a, \
                    np.load(tmp_path / "single" / "points" / row["hash"] / name) as b:
                assert a.files == b.files
                assert all(np.array_equal(a[k], b[k]) for k in a.files), \
                    (row["index"], name, [k for k in a.files if not np.array_equal(a[k], b[k])])
    again = run_sweep(tmp_path / "batched.toml", tmp_path / "single", workers=0,
                      retry_failed=False)
    assert (again.ran, again.skipped) == (0, 18)


def test_table_holds_every_point_with_parameters_and_metrics(sequential, spec32):
    assert len(sequential) == 32
    assert {(r["neurons.thr"], r["stdp.a_plus"], r["seed"]) for r in sequential} == {
        (t, a, s) for t in (100, 200, 400, 800) for a in (1, 4) for s in range(4)}
    # the swept values change the runs: more spikes at the lower threshold
    low = sum(r["spikes"] for r in sequential if r["neurons.thr"] == 100)
    high = sum(r["spikes"] for r in sequential if r["neurons.thr"] == 800)
    assert low > high > 0
    assert all(r["weights_changed"] > 0 for r in sequential)


# -- a real Dask cluster --------------------------------------------------------------------------

@pytest.mark.slow
def test_two_dask_workers_match_sequential_and_a_second_run_resumes(cluster, spec32,
                                                                    sequential, tmp_path):
    out = tmp_path / "out"
    result = run_sweep(spec32, out, scheduler=cluster)
    assert (result.ran, result.skipped, result.failed) == (32, 0, 0)
    assert _stable(result.rows) == _stable(sequential)
    assert {row["worker"] for row in result.rows} == {"w1", "w2"}
    with (out / "results.csv").open(newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [row["hash"] for row in table] == [row["hash"] for row in sequential]
    before = {p: p.stat().st_mtime_ns for p in out.glob("points/*/result.json")}
    # the command line, same folder: nothing new runs, the table is the same
    cli = CliRunner().invoke(main, ["sweep", str(spec32), "--scheduler", cluster, "--out",
                                    str(out), "--json"])
    assert cli.exit_code == 0, cli.output
    summary = json.loads(cli.output)
    assert (summary["ran"], summary["skipped"], summary["failed"]) == (0, 32, 0)
    assert summary["rows"] == result.rows
    assert {p: p.stat().st_mtime_ns for p in out.glob("points/*/result.json")} == before
    assert read_results(out / "results.csv") == table


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_loses_no_point(cluster, spec32, sequential, tmp_path):
    out = tmp_path / "out"
    doomed = _start_worker(cluster, "w3")
    try:
        _wait_for_workers(cluster, 3)
        done = [0]
        outcome = {}

        def sweep():
            outcome["result"] = run_sweep(spec32, out, scheduler=cluster,
                                          progress=lambda d, total: done.__setitem__(0, d))

        def finished_by_w3():
            return sum('"worker": "w3"' in p.read_text() for p in out.glob("points/*/result.json"))

        with distributed.Client(cluster) as client:
            address = next(addr for addr, info in client.scheduler_info()["workers"].items()
                           if info["name"] == "w3")
            thread = threading.Thread(target=sweep)
            thread.start()
            # kill w3 once it has finished a point and holds another one
            deadline = time.monotonic() + 60
            running = []
            while time.monotonic() < deadline and done[0] < 32:
                if finished_by_w3():
                    running = client.processing(workers=[address]).get(address, [])
                    if running:
                        break
                time.sleep(0.02)
            killed_at = done[0]
            os.killpg(doomed.pid, signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive()
    finally:
        _stop(doomed)
    result = outcome["result"]
    assert running and killed_at < 32
    assert (result.ran, result.failed) == (32, 0)
    assert _stable(result.rows) == _stable(sequential)
    # what w3 held when it died was run again by the two others
    lost = {key.removeprefix("sweep-point-") for key in map(str, running)}
    rerun = [row for row in result.rows if row["hash"] in lost]
    assert rerun and all(row["worker"] in ("w1", "w2") for row in rerun)
    assert "w3" in {row["worker"] for row in result.rows}


@pytest.mark.slow
def test_board_points_go_to_the_worker_owning_the_board(cluster, network, tmp_path):
    # nothing listens on port 9 of 127.0.0.1: the point fails, but on the board's worker
    spec = _spec(tmp_path, network, device="socket://127.0.0.1:9", steps=10, thr=[100],
                 a_plus=[1], seeds=[0, 1])
    with pytest.raises(ConfigError, match='resource.s. board_127_0_0_1_9: start one .* '
                                          '--resources "board_127_0_0_1_9=1"'):
        run_sweep(spec, tmp_path / "none", scheduler=cluster)
    owner = _dask("worker", cluster, "--name", "lab", "--nthreads", "1", "--no-nanny",
                  "--no-dashboard", "--host", "127.0.0.1", "--resources",
                  "board_127_0_0_1_9=1")
    try:
        _wait_for_workers(cluster, 3)
        result = run_sweep(spec, tmp_path / "out", scheduler=cluster)
    finally:
        _stop(owner)
    assert [row["worker"] for row in result.rows] == ["lab", "lab"]
    assert all("cannot open device 'socket://127.0.0.1:9'" in row["error"]
               for row in result.rows)


@pytest.mark.slow
@pytest.mark.sim
def test_sim_points_on_two_workers_match_model_point_for_point(cluster, network, tmp_path):
    grid = dict(steps=40, thr=[100, 400], a_plus=[2], seeds=[0, 1])
    model = run_sweep(_spec(tmp_path, network, device="model://", name="m", **grid),
                      tmp_path / "model", workers=0)
    sim = run_sweep(_spec(tmp_path, network, device="sim://", name="s", **grid),
                    tmp_path / "sim", scheduler=cluster)
    assert (sim.ran, sim.failed) == (4, 0), sim.errors
    drop = VOLATILE + ("hash", "device", "cycles")
    assert _stable(sim.rows, drop) == _stable(model.rows, drop)
    assert all(row["cycles"] > 0 for row in sim.rows)       # the simulated board counted them
    # one simulated board per worker, reused by its points
    from spikeforge.host.sweeps.pool import pooled_urls

    with distributed.Client(cluster) as client:
        boards = client.run(pooled_urls)
    sims = [urls.count("sim://") for urls in boards.values()]
    assert sum(sims) >= 1 and max(sims) == 1


def test_summary_gives_mean_and_spread_over_seeds(sequential, spec32):
    spec = load_sweep_spec(spec32)
    stats = summarize(sequential, spec.parameters, ["spikes", "cycles"])
    assert len(stats) == 8 and all(entry["n"] == 4 for entry in stats)
    first = [row["spikes"] for row in sequential[:4]]
    assert stats[0]["neurons.thr"] == 100 and stats[0]["stdp.a_plus"] == 1
    assert stats[0]["spikes_mean"] == pytest.approx(np.mean(first))
    assert stats[0]["spikes_std"] == pytest.approx(np.std(first, ddof=1))
    assert stats[0]["cycles_mean"] is None          # the twin counts no cycles


def test_digits_points_run_the_demo_with_the_point_seed(tmp_path):
    pytest.importorskip("sklearn")
    from spikeforge.host.demos.digits import DigitsRecipe, TwinBackend, run_recipe

    path = tmp_path / "digits.toml"
    path.write_text('kind = "digits"\ndevice = "model://"\nseeds = [3, 4]\n'
                    '[grid]\n"recipe.epochs" = [1]\n'
                    '[options]\ntrain_samples = 30\ntest_samples = 20\n')
    result = CliRunner().invoke(main, ["sweep", str(path), "--workers", "0", "--json",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    for row in rows:
        alone = run_recipe(DigitsRecipe(seed=row["seed"], epochs=1), TwinBackend(),
                           train_samples=30, test_samples=20)
        assert row["accuracy"] == alone["accuracy"] and row["test_samples"] == 20
        assert (tmp_path / "out" / "points" / row["hash"] / "weights.npz").is_file()
