"""Sweeps: one experiment over a grid or random search of parameters and seeds, each point a
task on Dask distributed (an in-process cluster by default, or any ``dask scheduler``), on a
pool of devices.

:func:`run_sweep` runs a spec (:mod:`.spec`) and writes one CSV table plus a folder per point;
:mod:`.params` applies dotted parameter paths to a network file before the network is built;
:mod:`.pool` keeps one device per worker; :mod:`.tasks` is what a point does. See
docs/sweeps.md.
"""

from .params import apply_parameter, register_prefix
from .pool import board_resource
from .runner import SweepResult, read_results, run_sweep, summarize
from .spec import Point, SweepSpec, load_sweep_spec

__all__ = ["run_sweep", "SweepResult", "read_results", "summarize", "SweepSpec", "Point", "load_sweep_spec",
           "apply_parameter", "register_prefix", "board_resource"]
