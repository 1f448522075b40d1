"""A signal to the host during a first Verilator build stops the whole build (Verilator, make,
the compiler) and empties its cache folder before the build lock is released."""

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from spikeforge.sim.toolchain import descendants

pytestmark = [pytest.mark.sim, pytest.mark.slow]

_BUILD = """
from spikeforge.config import CoreConfig
from spikeforge.sim.simboard import build_simboard
build_simboard(CoreConfig(neurons=6, inputs=2, lanes=2))
"""

_TOOLS = ("verilator", "make", "cc1plus", "g++", "c++", "gcc", "ld", "as")


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_during_a_first_build_leaves_no_process_and_no_half_build(tmp_path, signum):
    env = dict(os.environ, SPIKEFORGE_CACHE=str(tmp_path))
    host = subprocess.Popen([sys.executable, "-c", _BUILD], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = set()
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and host.poll() is None:
            tools = [pid for pid in descendants(host.pid) if _comm(pid).startswith(_TOOLS)]
            seen.update(tools)
            if any(_comm(pid) in ("cc1plus", "make") for pid in tools):
                break
            time.sleep(0.05)
        assert host.poll() is None, host.stderr.read()
        seen.update(descendants(host.pid))
        assert seen, "the build started no process"
        os.kill(host.pid, signum)
        host.wait(timeout=30)
    finally:
        if host.poll() is None:
            host.kill()
    assert host.returncode != 0
    time.sleep(0.2)
    assert [pid for pid in seen if _alive(pid)] == []
    (folder,) = (tmp_path / "simboard").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "build.log"]
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)      # released
