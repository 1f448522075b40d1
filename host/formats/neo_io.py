"""Runs as Neo blocks, the exchange format of spiking data (Elephant, PyNN, viewers, NWB).

:func:`run_to_neo` turns the rasters of a run into a :class:`neo.Block` holding one
:class:`neo.Segment`:

* one :class:`neo.SpikeTrain` per recorded neuron (annotated ``source="neuron"``,
  ``channel=i``), then, when the run's inputs are given, one per input line
  (``source="input"``, ``channel=j``);
  times in ms, ``t_start = 0``, ``t_stop = steps * dt``;
* one :class:`neo.AnalogSignal` per probed quantity (``v``, ``i``), one column per probed neuron
  (array annotation ``channel_ids``), sampled every ``dt`` (or every ``every`` steps);
* for a run that recorded spike counts instead of spikes, one :class:`neo.AnalogSignal` named
  ``counts``: a row per window of ``every`` steps, a column per recorded neuron (array
  annotation ``channel_ids``, and annotation ``neuron_ids`` for formats that drop array
  annotations), dimensionless, ``sampling_period = every * dt`` and
  ``t_start = 0``: the sample at ``t`` is the spikes counted in ``[t, t + every * dt)`` (the
  binning of Elephant's ``time_histogram``). Divided by ``sampling_period`` it is the rate
  (``signal / signal.sampling_period`` gives 1/ms; ``.rescale("Hz")``). Those neurons have no
  spike trains: the device sent their counts, not their spikes.

The core's time is discrete: step ``k`` happens at ``t = k * dt`` (as in the Brian2 reference
of :mod:`spikeforge.host.model.brian2_ref`), so a spike of step ``k`` is at ``k * dt`` and the
``k``-th sample of a probe is the value after that step's update. Probe values are the core's
integers; they are dimensionless unless ``units`` gives the quantity of one least significant
bit (e.g. ``{"v": 0.01 * pq.mV}``).
"""

import numpy as np

from spikeforge._extras import require
from spikeforge.config import ConfigError

__all__ = ["run_to_neo"]


def run_to_neo(spikes, *, dt_ms=1.0, inputs=None, probe_ids=(), probes=None, units=None,
               name="", annotations=None, recorded=None, every=1, counts=None):
    """A :class:`neo.Block` of a run (see the module docstring).

    Arguments
    ---------
    spikes : (steps, N) bool array
        Spikes of the neurons.
    dt_ms : float > 0
        Duration of one step, in ms.
    inputs : (steps, M) bool array, optional
        Spikes of the input lines.
    probe_ids : sequence of int
        Neurons whose ``probes`` columns are given.
    probes : dict, optional
        ``"v"`` and/or ``"i"`` -> ``(steps, len(probe_ids))`` integer arrays.
    units : dict, optional
        Quantity of one unit of each probe (a :class:`quantities.Quantity`).
    name : str
        Name of the block and the segment.
    annotations : dict, optional
        Added to the block's annotations (device, configuration, ...).
    recorded : sequence of int, optional
        The neurons whose spikes were recorded (default: all); only theirs become spike trains.
    every : int
        The probes were recorded after every ``every``-th step (the steps s with
        ``(s + 1) % every == 0``): a row of ``probes`` per such step.
    counts : (steps // every, len(recorded)) integer array, optional
        The recorded neurons' spike counts over each window of ``every`` steps (a run recording
        counts); they replace the recorded neurons' spike trains.
    """
    neo = require("neo", "neo")
    pq = require("quantities", "neo")
    spikes = np.asarray(spikes, dtype=bool)
    if spikes.ndim != 2:
        raise ConfigError(f"spikes has shape {spikes.shape}; expected (steps, neurons)")
    dt_ms = float(dt_ms)
    if not dt_ms > 0:
        raise ConfigError(f"dt_ms={dt_ms} is not allowed: a step lasts a positive time")
    steps = spikes.shape[0]
    t_stop = steps * dt_ms * pq.ms

    block = neo.Block(name=name or "spikeforge run", **(annotations or {}))
    segment = neo.Segment(name=name or "run", index=0)
    block.segments.append(segment)
    recorded = (list(range(spikes.shape[1])) if recorded is None
                else [int(n) for n in recorded])
    every = int(every)
    if every < 1:
        raise ConfigError(f"every={every} is not allowed: a window or a probe sample is at "
                          f"least one step")
    # with counts, the recorded neurons' spikes were not sent: no spike trains for them
    channels = {"neuron": recorded if counts is None else []}
    trains = [("neuron", spikes)]
    if inputs is not None:
        inputs = np.asarray(inputs, dtype=bool)
        if inputs.ndim != 2 or inputs.shape[0] != steps:
            raise ConfigError(f"inputs has shape {inputs.shape}; expected ({steps}, inputs)")
        trains.append(("input", inputs))
    for source, raster in trains:
        for channel in channels.get(source, range(raster.shape[1])):
            times = np.flatnonzero(raster[:, channel]) * dt_ms
            segment.spiketrains.append(neo.SpikeTrain(
                times * pq.ms, t_start=0 * pq.ms, t_stop=t_stop, name=f"{source} {channel}",
                source=source, channel=channel))

    probe_ids = [int(index) for index in probe_ids]
    for quantity, values in (probes or {}).items():
        values = np.asarray(values)
        if values.shape != (steps // every, len(probe_ids)):
            raise ConfigError(f"probe {quantity!r} has shape {values.shape}; expected "
                              f"({steps // every}, {len(probe_ids)}): a row per "
                              f"{'step' if every == 1 else f'{every}th step'}, a column per "
                              f"probed neuron")
        unit = (units or {}).get(quantity, pq.dimensionless)
        signal = values.astype(np.float64) * unit
        segment.analogsignals.append(neo.AnalogSignal(
            signal, sampling_period=every * dt_ms * pq.ms, t_start=(every - 1) * dt_ms * pq.ms,
            name=quantity,
            array_annotations={"channel_ids": np.asarray(probe_ids, dtype=np.int64)}))
    if counts is not None:
        counts = np.asarray(counts)
        if counts.shape != (steps // every, len(recorded)):
            raise ConfigError(f"counts has shape {counts.shape}; expected "
                              f"({steps // every}, {len(recorded)}): a row per window of "
                              f"{every} steps, a column per recorded neuron")
        segment.analogsignals.append(neo.AnalogSignal(
            counts.astype(np.float64) * pq.dimensionless, sampling_period=every * dt_ms * pq.ms,
            t_start=0 * pq.ms, name="counts", every=every,
            neuron_ids=np.asarray(recorded, dtype=np.int64),
            description=f"spikes of each recorded neuron in each window of {every} steps "
                        f"({every * dt_ms:g} ms), from the window's start",
            array_annotations={"channel_ids": np.asarray(recorded, dtype=np.int64)}))
    block.check_relationships()
    return block
