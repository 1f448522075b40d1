"""Pictures of a run. Each function returns a matplotlib ``Figure`` (a notebook shows it;
:func:`save_figure` writes it); given a ``path`` it writes the picture there and returns the
path instead, as the command line does. No pyplot state: no display needed, nothing global.

* :func:`plot_raster` -- input and neuron spikes over time;
* :func:`plot_traces` -- membrane potential ``v`` and synaptic current ``i`` of probed neurons,
  with each neuron's threshold;
* :func:`plot_weights` -- the weight matrix as a heat map; with learning, before, after and the
  difference;
* :func:`plot_run` -- all of them for a run folder written by :func:`spikeforge.host.runs.results.save_run`.
"""

from pathlib import Path

import numpy as np

from spikeforge.config import ConfigError

__all__ = ["save_figure", "plot_raster", "plot_traces", "plot_weights", "plot_run",
           "plot_receptive_fields", "plot_confusion", "plot_weight_histogram",
           "plot_receptive_field_grid", "plot_learning_curve", "plot_weight_histograms",
           "plot_thresholds"]


def _figure(**options):
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ConfigError("pictures need matplotlib: pip install 'spikeforge[plot]' (or pip "
                          "install matplotlib; in a checkout: scripts/setup)") from None
    return Figure(**options)


def _subplots(nrows=1, ncols=1, figsize=None, **options):
    """``(fig, axes)`` like ``pyplot.subplots``, on a Figure of its own."""
    fig = _figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **options)


def save_figure(fig, path, dpi=100):
    """Write ``fig`` to ``path`` (the format from the suffix); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_raster(spikes, path=None, inputs=None, title="spikes"):
    """Raster of ``spikes`` (``(steps, N)`` bool) and, if given, ``inputs`` (``(steps, M)``)
    above it."""
    spikes = np.asarray(spikes, dtype=bool)
    has_inputs = inputs is not None and np.asarray(inputs).size > 0
    rows = 2 if has_inputs else 1
    fig, axes = _subplots(rows, 1, figsize=(9, 5 if has_inputs else 3.5), sharex=True,
                             squeeze=False, height_ratios=[1, 2] if has_inputs else [1])
    panels = ([("inputs", np.asarray(inputs, dtype=bool), "input")] if has_inputs else []) \
        + [("neurons", spikes, "neuron")]
    for axis, (label, raster, ylabel) in zip(axes[:, 0], panels):
        steps, index = np.nonzero(raster)
        axis.scatter(steps, index, s=4, marker="|", color="black", linewidths=0.8)
        axis.set_ylabel(ylabel)
        axis.set_ylim(-0.5, max(raster.shape[1], 1) - 0.5)
        axis.set_title(f"{label}: {int(raster.sum())} spikes", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time step")
    axes[-1, 0].set_xlim(-0.5, max(spikes.shape[0], 1) - 0.5)
    fig.suptitle(title)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)


def plot_traces(probe_ids, v, i, path=None, thr=None, spikes=None, title="probed neurons",
                probe_steps=None):
    """``v`` and ``i`` (``(steps, P)``, or a row per step of ``probe_steps``) of the probed
    neurons ``probe_ids``; ``thr`` (length N) draws each neuron's threshold, ``spikes``
    (``(steps, N)``) marks its spikes (in the steps whose probes are there)."""
    probe_ids = [int(p) for p in probe_ids]
    v, i = np.asarray(v), np.asarray(i)
    fig, (axis_v, axis_i) = _subplots(2, 1, figsize=(9, 5.5), sharex=True)
    steps = np.arange(v.shape[0]) if probe_steps is None else np.asarray(probe_steps)
    for k, neuron in enumerate(probe_ids):
        line, = axis_v.plot(steps, v[:, k], linewidth=0.9, label=f"neuron {neuron}")
        if thr is not None:
            axis_v.axhline(int(np.asarray(thr)[neuron]), color=line.get_color(), linestyle=":",
                           linewidth=0.8)
        if spikes is not None:
            rows = np.flatnonzero(np.asarray(spikes)[steps, neuron])
            axis_v.plot(steps[rows], v[rows, k], linestyle="none", marker="o", markersize=2.5,
                        color=line.get_color())
        axis_i.plot(steps, i[:, k], linewidth=0.9, color=line.get_color())
    axis_v.set_ylabel("v (state units)")
    axis_i.set_ylabel("i (state units)")
    axis_i.set_xlabel("time step")
    if probe_ids:
        axis_v.legend(fontsize=7, loc="upper right", ncol=min(4, len(probe_ids)))
    fig.suptitle(title)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)


def _heat(fig, axis, matrix, n, title, limit, cmap="RdBu_r"):
    image = axis.imshow(matrix, aspect="auto", interpolation="nearest", cmap=cmap,
                        vmin=-limit, vmax=limit)
    if 0 < n < matrix.shape[0]:
        axis.axhline(n - 0.5, color="black", linewidth=0.8)
    axis.set_title(title, fontsize=9)
    axis.set_xlabel("post-synaptic neuron")
    fig.colorbar(image, ax=axis, fraction=0.046, pad=0.03)


def plot_weights(W_before, path=None, W_after=None, neurons=None, title="weights"):
    """Heat map of the weights ``W[row=pre, col=post]`` (rows ``0..N-1`` recurrent, below the
    line the inputs). With ``W_after``, three panels: before, after and after - before."""
    before = np.asarray(W_before)
    n = before.shape[1] if neurons is None else int(neurons)
    if W_after is None:
        fig, axis = _subplots(1, 1, figsize=(6, 5))
        limit = max(1, int(np.abs(before).max()) if before.size else 1)
        _heat(fig, axis, before, n, "W", limit)
        axis.set_ylabel("pre-synaptic row (neurons, then inputs)")
    else:
        after = np.asarray(W_after)
        diff = after - before
        fig, axes = _subplots(1, 3, figsize=(14, 4.8))
        limit = max(1, int(max(np.abs(before).max(), np.abs(after).max())) if before.size
                    else 1)
        _heat(fig, axes[0], before, n, "before", limit)
        _heat(fig, axes[1], after, n, "after", limit)
        dlimit = max(1, int(np.abs(diff).max()) if diff.size else 1)
        _heat(fig, axes[2], diff, n, f"after - before ({int(np.count_nonzero(diff))} changed)",
              dlimit, cmap="PiYG")
        axes[0].set_ylabel("pre-synaptic row (neurons, then inputs)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)


def plot_run(run_dir, out_dir=None):
    """Draw every picture of a run folder into ``out_dir`` (default: the run folder); returns
    the written paths."""
    from .results import load_run

    data = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    name = data["summary"].get("name") or Path(run_dir).name
    written = [plot_raster(data["spikes"], out / "raster.png", inputs=data.get("inputs"),
                           title=f"{name}: spikes")]
    probe_ids = data.get("probe_ids", np.zeros(0))
    if len(probe_ids):
        written.append(plot_traces(probe_ids, data["v"], data["i"], out / "traces.png",
                                   thr=data.get("thr"), spikes=data["spikes"],
                                   title=f"{name}: probed neurons",
                                   probe_steps=data.get("probe_steps")))
    if "W_before" in data:
        changed = (not np.array_equal(data["W_before"], data["W_after"])
                   or bool(data["summary"].get("learn")))
        written.append(plot_weights(data["W_before"], out / "weights.png",
                                    W_after=data["W_after"] if changed else None,
                                    neurons=int(data.get("neurons", data["W_before"].shape[1])),
                                    title=f"{name}: weights"
                                          + (" before and after learning" if changed else "")))
    return written


def plot_receptive_fields(weights, path=None, classes=10, neurons_per_class=1, pixels=64,
                          title="learned input weights of the output neurons"):
    """The image-to-output weights of each output neuron as an 8x8 picture."""
    side = int(round(pixels ** 0.5))
    outputs = classes * neurons_per_class
    fig, axes = _subplots(neurons_per_class, classes, squeeze=False,
                             figsize=(1.3 * classes, 1.5 * neurons_per_class + 0.6))
    limit = max(1, int(np.abs(weights).max()))
    for k in range(outputs):
        axis = axes[k % neurons_per_class][k // neurons_per_class]
        image = axis.imshow(np.asarray(weights)[:pixels, k].reshape(side, side), cmap="RdBu_r",
                            vmin=-limit, vmax=limit)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(str(k // neurons_per_class), fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.7, label="weight")
    fig.suptitle(title)
    return fig if path is None else save_figure(fig, path)


def plot_confusion(confusion, path=None,
                   title="confusion matrix (rows: true, columns: predicted)"):
    """A confusion matrix with its counts written in the cells."""
    confusion = np.asarray(confusion)
    fig, axis = _subplots(figsize=(5.5, 5))
    axis.imshow(confusion, cmap="Blues")
    top = confusion.max() or 1
    for (row, col), count in np.ndenumerate(confusion):
        axis.text(col, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if count > top / 2 else "black")
    axis.set_xticks(range(confusion.shape[1]))
    axis.set_yticks(range(confusion.shape[0]))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    return fig if path is None else save_figure(fig, path)


def plot_weight_histogram(initial, final, path=None, limits=None, bins=20,
                          title="input weights before and after learning"):
    """Histograms of a weight vector at the start and at the end of learning (``limits``:
    the range of the bins, default that of the data)."""
    if limits is None:
        both = np.concatenate([np.ravel(initial), np.ravel(final)])
        limits = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    fig, axis = _subplots(figsize=(6, 3.5))
    edges = np.linspace(limits[0], limits[1], bins + 1)
    axis.hist(initial, bins=edges, alpha=0.5, label="start")
    axis.hist(final, bins=edges, alpha=0.7, label="end")
    axis.set_xlabel("weight")
    axis.set_ylabel("synapses")
    axis.legend()
    axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)


def plot_receptive_field_grid(weights, path=None, labels=None, on_off=False, pixels=64,
                              title="receptive fields"):
    """The input weights of every neuron as an 8x8 picture, in a grid (``weights``:
    ``(lines, neurons)``; with ``on_off`` the picture is the ON weights minus the OFF weights);
    ``labels``: a class per neuron (-1: none) written above its picture."""
    weights = np.asarray(weights, dtype=float)
    image = weights[:pixels] - weights[pixels:2 * pixels] if on_off else weights[:pixels]
    side = int(round(pixels ** 0.5))
    neurons = image.shape[1]
    cols = int(np.ceil(np.sqrt(neurons)))
    rows = int(np.ceil(neurons / cols))
    fig, axes = _subplots(rows, cols, squeeze=False, figsize=(0.55 * cols + 1, 0.6 * rows + 0.8))
    limit = max(1.0, float(np.abs(image).max()))
    for k, axis in enumerate(axes.ravel()):
        axis.set_xticks([])
        axis.set_yticks([])
        if k >= neurons:
            axis.set_axis_off()
            continue
        axis.imshow(image[:, k].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
        if labels is not None:
            axis.set_title("-" if labels[k] < 0 else str(labels[k]), fontsize=6, pad=1)
    fig.suptitle(title, fontsize=9)
    return fig if path is None else save_figure(fig, path)


def plot_learning_curve(epochs, accuracies, path=None, train_accuracies=None,
                        title="accuracy after each epoch"):
    """Held-out (and optionally training) accuracy after each epoch."""
    fig, axis = _subplots(figsize=(5, 3.5))
    axis.plot(epochs, np.asarray(accuracies) * 100, "o-", label="test")
    if train_accuracies is not None:
        axis.plot(epochs, np.asarray(train_accuracies) * 100, "s--", label="train")
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy (%)")
    axis.set_xticks(list(epochs))
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)


def plot_weight_histograms(histograms, edges, path=None, labels=None,
                           title="plastic weights after each epoch"):
    """One line per histogram (``histograms``: counts per bin, one row per epoch)."""
    histograms = np.asarray(histograms)
    edges = np.asarray(edges, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, axis = _subplots(figsize=(6, 3.5))
    for k, counts in enumerate(histograms):
        label = labels[k] if labels is not None else f"epoch {k}"
        axis.step(centres, counts, where="mid", label=label)
    axis.set_xlabel("weight")
    axis.set_ylabel("synapses")
    axis.legend(fontsize=7)
    axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)


def plot_thresholds(thresholds, path=None, bins=30, title="effective thresholds"):
    """Histogram of per-neuron thresholds (e.g. ``thr + theta`` after learning)."""
    fig, axis = _subplots(figsize=(5, 3.5))
    axis.hist(np.asarray(thresholds), bins=bins)
    axis.set_xlabel("threshold")
    axis.set_ylabel("neurons")
    axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig if path is None else save_figure(fig, path)
