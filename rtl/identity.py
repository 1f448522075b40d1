"""The identity of a build: what was built, with which tools, independent of comments.

Two identities, both hashes:

* :func:`rtl_identity` — the *code* of the design: the compiled bytecode of every module of
  ``spikeforge/rtl/`` and of ``spikeforge/config.py``, with source locations, docstrings and
  assertions stripped, plus the Amaranth version. A comment, a docstring or a moved line leaves
  it unchanged; any change of what the code does changes it. It keys the Verilator caches of the
  simulated board and the test benches, and is the build ID a simulated board reports.
* :func:`plan_identity` — the *elaborated design* of a bitstream: every file of the build plan
  (the design in RTLIL and Verilog, constraints, scripts) with source locations removed, plus the
  versions of the tools that build it. :func:`spikeforge.boards.build.build` puts its 32 low
  bits into the design's IDENTIFY response and writes it beside the bitstream.
"""

import hashlib
import importlib.metadata
import json
import marshal
import re
import types
from functools import lru_cache
from pathlib import Path

__all__ = ["code_files", "code_identity", "rtl_identity", "tool_versions", "plan_identity",
           "id32"]

_RTL = Path(__file__).resolve().parent
_CONFIG = _RTL.parent / "spikeforge" / "config.py"
if not _CONFIG.exists():                      # installed: spikeforge/rtl and spikeforge/config.py
    _CONFIG = _RTL.parent / "config.py"


def _normalised(code):
    """``code`` without what does not change its behaviour: file name, line numbers, and the
    order of constant sets (which follows string hashing, randomised per process)."""
    consts = []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            const = _normalised(const)
        elif isinstance(const, frozenset):
            const = ("frozenset",) + tuple(sorted(repr(item) for item in const))
        consts.append(const)
    return code.replace(co_consts=tuple(consts), co_filename="", co_firstlineno=1,
                        co_linetable=b"")


def code_files(paths):
    """The Python files of ``paths`` as ``(name, path)`` pairs, sorted by name.

    A folder is walked and each file in it is named by its path from the folder's parent
    (``rtl/core/__init__.py``), a file given alone by its own name (``config.py``); names use
    ``/`` on every system, so they do not depend on where the tree lies or on the OS.
    """
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += [(file.relative_to(path.parent).as_posix(), file)
                      for file in path.rglob("*.py")]
        else:
            files.append((path.name, path))
    return sorted(files, key=lambda pair: pair[0])


def code_identity(paths):
    """Hex digest of the behaviour of the Python files ``paths`` (folders are walked), each
    entered under its name from :func:`code_files`."""
    digest = hashlib.sha256()
    for name, path in code_files(paths):
        # optimize=2 drops docstrings and asserts; comments never reach the bytecode
        code = compile(path.read_text(encoding="utf-8"), name, "exec", optimize=2,
                       dont_inherit=True)
        digest.update(name.encode() + b"\0")
        digest.update(marshal.dumps(_normalised(code)))
    return digest.hexdigest()


def tool_versions(*distributions):
    """``{name: version}`` of installed distributions (``"absent"`` when not installed)."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@lru_cache(maxsize=1)
def rtl_identity():
    """Hex digest of the design's code (``spikeforge/rtl/``, ``spikeforge/config.py``) and the
    Amaranth version."""
    text = json.dumps({"code": code_identity([_RTL, _CONFIG]),
                       "tools": tool_versions("amaranth")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


#: Source locations in RTLIL (``attribute \src "file.py:12"``) and Verilog (``(* src = ... *)``).
_SRC_RTLIL = re.compile(r'^\s*attribute \\src "[^"]*"\s*$\n?', re.MULTILINE)
_SRC_VERILOG = re.compile(r'\(\*\s*src\s*=\s*"[^"]*"\s*\*\)\s*')


def plan_identity(files, tools):
    """Hex digest of a build plan's ``files`` (``{name: str or bytes}``) without source
    locations, and the ``tools`` that build it (``{name: version}``)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        content = _SRC_VERILOG.sub("", _SRC_RTLIL.sub("", content))
        digest.update(name.encode() + b"\0" + content.encode() + b"\0")
    digest.update(json.dumps(tools, sort_keys=True).encode())
    return digest.hexdigest()


def id32(hexdigest):
    """The 32-bit build ID of an identity (its first four bytes, little-endian)."""
    return int.from_bytes(bytes.fromhex(hexdigest)[:4], "little")
