"""``spikeforge demo``: the demonstrations of on-chip learning."""

import dataclasses
import json
from pathlib import Path

import click
import numpy as np

from spikeforge._extras import require

from .common import device_command, device_option, json_option, opened_device, print_json, \
    print_table

__all__ = ["demo_group"]


@click.group("demo")
def demo_group():
    """Demonstrations of on-chip learning.

    \b
    Examples:
      spikeforge demo digits
      spikeforge demo digits --device model:// --out results/digits
    """


@demo_group.command("digits")
@device_option
@click.option("--recipe", "recipe_name", type=click.Choice(["hinge", "lines", "relays"]),
              default="hinge", show_default=True,
              help="hinge: the lines network with a margin-gated teacher (a sample is learned "
                   "from only when its class did not win by a margin), six epochs; lines: "
                   "twelve teacher lines per class, two outputs per class, no relay neurons, "
                   "stochastic rounding and the membrane floor; relays: one teacher line per "
                   "class amplified by relay neurons.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training set (default: the recipe's: hinge 6, the "
                   "others 2).")
@click.option("--train-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="Train on the first K training samples only (default: all 1,203).")
@click.option("--test-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="Evaluate on the first K test samples only (default: all 594).")
@click.option("--seed", type=int, default=None, help="Seed of the initial weights and the "
                                                      "spike encoding (default: the recipe's).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run this many consecutive seeds from --seed; prints mean and range.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes running seeds side by side.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write results.json, the learned weights and pictures here.")
@json_option
@device_command
def digits_command(device_url, recipe_name, epochs, train_samples, test_samples, seed, seeds,
                   workers, out_dir, as_json):
    """Learn scikit-learn's 8x8 digits with the core's own STDP, then classify with learning off.

    The split is fixed (33 % test, random_state 42, stratified); pixels are rate coded onto 64
    input lines, and during training teacher lines make the labelled outputs spike after the
    image, so STDP potentiates the right class and depresses wrong responses (the recipes:
    spikeforge/host/demos/digits.py). The default recipe, hinge, first shows each image with
    learning off and learns only from the samples its class did not win by a margin. The
    weights are learned on the device: nothing is trained off-chip. Prints the test accuracy, the confusion matrix, spikes and
    synaptic operations per sample, and the wall time.

    \b
    Examples:
      spikeforge demo digits
      spikeforge demo digits --device model:// --out results/digits
      spikeforge demo digits --device /dev/ttyUSB1 --json
      spikeforge demo digits --train-samples 100 --test-samples 50
      spikeforge demo digits --recipe lines --device model://
      spikeforge demo digits --device model:// --seeds 5 --workers 2
    """
    from ..demos.digits import RECIPES, DeviceBackend, run_recipe
    from ..runs.plots import (plot_confusion, plot_learning_curve, plot_receptive_fields,
                              plot_weight_histograms)

    if out_dir is not None:     # checked before the run: pictures go with the results
        require("matplotlib", "demos", "the demo's pictures")

    changes = {}
    if epochs is not None:
        changes["epochs"] = epochs
    if seed is not None:
        changes["seed"] = seed
    recipe = dataclasses.replace(RECIPES[recipe_name], **changes)
    if seeds > 1:
        jobs = [{"recipe_name": recipe_name, "changes": dict(changes, seed=s),
                 "device": device_url, "train_samples": train_samples,
                 "test_samples": test_samples} for s in seed_list(recipe.seed, seeds)]
        summaries = run_seeds(_supervised_seed, jobs, workers)
        spread = seeds_summary([s["accuracy"] for s in summaries],
                               [s["recipe"]["seed"] for s in summaries])
        if out_dir is not None:
            for summary in summaries:
                folder = out_dir / f"seed-{summary['recipe']['seed']}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
        if as_json:
            print_json({"runs": summaries, **spread})
            return
        for summary in summaries:
            click.echo(f"seed {summary['recipe']['seed']}: test accuracy "
                       f"{summary['accuracy']:.1%} ({summary['wall_s']:.1f} s)")
        click.echo(f"{seeds} seeds: mean {spread['mean']:.1%}, range {spread['min']:.1%} - "
                   f"{spread['max']:.1%}")
        return
    log = None if as_json else (lambda text: click.echo(text, err=True))
    with opened_device(device_url, recipe.config()) as device:
        if log:
            log(f"digits on {device_url} ({device.backend}): {recipe.config().describe()}")
        result = run_recipe(recipe, DeviceBackend(device), log=log,
                            train_samples=train_samples, test_samples=test_samples,
                            evaluate_epochs=out_dir is not None)
    test, train = result["test"], result["train"]
    summary = _supervised_summary(device_url, result)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
        np.savez_compressed(out_dir / "weights.npz", initial=train["initial_weights"],
                            learned=train["weights"], mask=train["mask"])
        n = recipe.neurons
        plot_receptive_fields(train["weights"][n:n + 64, :recipe.outputs],
                              out_dir / "receptive_fields.png",
                              neurons_per_class=recipe.neurons_per_class,
                              title=f"learned input weights of the output neurons "
                                    f"({result['backend']})")
        plot_confusion(result["confusion"], out_dir / "confusion.png",
                       title=f"test accuracy {result['accuracy']:.1%}")
        epochs = summary["epochs"]
        plot_learning_curve([record["epoch"] for record in epochs],
                            [record["accuracy"] for record in epochs],
                            out_dir / "learning_curve.png")
        plot_weight_histograms(
            [summary["initial_weight_histogram"]]
            + [record["weight_histogram"] for record in epochs],
            summary["weight_histogram_edges"], out_dir / "weight_histograms.png",
            labels=["start"] + [f"epoch {record['epoch']}" for record in epochs])
    if as_json:
        print_json(summary)
        return
    print_table([
        ("device", f"{device_url} ({result['backend']})"),
        ("core", result["config"]),
        ("split", f"{result['split']['call']}: {result['split']['train']} train, "
                  f"{result['split']['test']} test"),
        ("encoding", result["encoding"]),
        ("samples (train / test)", f"{train['samples']} / {test['samples']}"),
        ("steps per sample (train / test)",
         f"{train['steps_per_sample']} / {test['steps_per_sample']}"),
        ("spikes per sample (train / test)",
         f"{train['spikes_per_sample']:.1f} / {test['spikes_per_sample']:.1f}"),
        ("synaptic ops per sample (train / test)",
         f"{train['synaptic_ops_per_sample']:,.0f} / {test['synaptic_ops_per_sample']:,.0f}"),
        ("wall time", f"{result['wall_s']:.1f} s"),
        ("test accuracy (learning off)", f"{result['accuracy']:.1%}"),
    ], title="digits, learned on the device with STDP")
    click.echo("confusion matrix (rows: true class, columns: predicted)")
    for row, counts in enumerate(np.asarray(result["confusion"])):
        click.echo(f"  {row}: " + " ".join(f"{count:3d}" for count in counts))
    if out_dir is not None:
        click.echo(f"results and pictures in {out_dir}/")


def _supervised_summary(device_url, result):
    test, train = result["test"], result["train"]
    recipe = result["recipe"]
    edges = np.arange(recipe["w_min"], recipe["w_max"] + 2) - 0.5
    initial = np.asarray(train["initial_weights"])[np.asarray(train["mask"])]
    return {
        "device": device_url, "backend": result["backend"], "config": result["config"],
        "accuracy": result["accuracy"], "split": result["split"],
        "encoding": result["encoding"],
        "steps_per_sample": {"train": train["steps_per_sample"],
                             "test": test["steps_per_sample"]},
        "train_samples": train["samples"], "test_samples": test["samples"],
        "spikes_per_sample": {"train": train["spikes_per_sample"],
                              "test": test["spikes_per_sample"]},
        "synaptic_ops_per_sample": {"train": train["synaptic_ops_per_sample"],
                                    "test": test["synaptic_ops_per_sample"]},
        "confusion": np.asarray(result["confusion"]).tolist(),
        "weight_histogram_edges": edges.tolist(),
        "initial_weight_histogram": np.histogram(initial, bins=edges)[0].tolist(),
        "epochs": [_epoch_json(record) for record in train["epochs"]],
        "wall_s": result["wall_s"], "recipe": result["recipe"],
    }


def _supervised_seed(job):
    """One seed of the supervised demo (top level: it runs in worker processes too)."""
    from ..demos.digits import RECIPES, DeviceBackend, run_recipe

    recipe = dataclasses.replace(RECIPES[job["recipe_name"]], **job["changes"])
    with opened_device(job["device"], recipe.config()) as device:
        result = run_recipe(recipe, DeviceBackend(device), train_samples=job["train_samples"],
                            test_samples=job["test_samples"])
    return _supervised_summary(job["device"], result)


@demo_group.command("song2000")
@click.option("--device", "-d", "device_url", metavar="URL", default="model://",
              show_default=True,
              help="Device URL; the twin by default (150,000 steps take seconds there).")
@click.option("--steps", type=click.IntRange(min=100), default=150_000, show_default=True,
              help="Time steps of 1 ms with learning on.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write results.json and the weight histogram here.")
@json_option
@device_command
def song2000_command(device_url, steps, seed, out_dir, as_json):
    """Song, Miller & Abbott (2000): additive STDP makes Poisson inputs compete.

    200 Poisson inputs drive one neuron; with depression slightly stronger than potentiation
    the input weights, uniform at the start, end bimodal: most at w_min or w_max.

    \b
    Examples:
      spikeforge demo song2000 --out results/song2000
      spikeforge demo song2000 --device sim:// --steps 20000
    """
    from ..runs.plots import plot_weight_histogram
    from ..demos.song2000 import run_song2000

    if out_dir is not None:     # checked before the run: pictures go with the results
        require("matplotlib", "demos", "the demo's pictures")

    if device_url == "model://":
        result = run_song2000(steps=steps, seed=seed)
    else:
        from ..demos.song2000 import song2000_network
        network = song2000_network(np.random.default_rng(seed))
        with opened_device(device_url, network.config) as device:
            result = run_song2000(steps=steps, seed=seed, device=device)
    summary = {"device": device_url, "steps": steps, "seed": seed,
               "at_ends": result["frac_ends"], "low": result["frac_low"],
               "high": result["frac_high"],
               "histogram": np.asarray(result["histogram"]).tolist(),
               "bimodality_coefficient": result["sarle_b"],
               "initial_bimodality_coefficient": result["initial_bimodality"]["sarle_b"],
               "post_rate_end": result["post_rate_end"],
               "depression_ratio": result["depression_ratio"], "wall_s": result["wall_s"]}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot_weight_histogram(result["initial"], result["final"], out_dir / "histogram.png",
                              limits=(result["params"]["w_min"], result["params"]["w_max"]))
    if as_json:
        print_json(summary)
        return
    print_table([("device", device_url), ("steps", f"{steps:,}"),
                 ("weights in the lowest / highest fifth",
                  f"{result['frac_low']:.1%} / {result['frac_high']:.1%}"),
                 ("histogram (10 bins)", " ".join(map(str, result["histogram"]))),
                 ("bimodality coefficient (start -> end)",
                  f"{result['initial_bimodality']['sarle_b']:.3f} -> "
                  f"{result['sarle_b']:.3f}"),
                 ("output spikes per step (last fifth)", f"{result['post_rate_end']:.3f}"),
                 ("wall time", f"{result['wall_s']:.1f} s")],
                title="Song, Miller & Abbott (2000)")


# -- unsupervised digits --------------------------------------------------------------------------

def _unsupervised_seed(job):
    """One seed of the unsupervised demo (a top-level function: it runs in worker processes
    too). Returns the JSON summary and the arrays the pictures need."""
    from ..demos.digits import DeviceBackend
    from ..demos.digits_unsupervised import RECIPES, run_recipe

    recipe = dataclasses.replace(RECIPES[job["recipe_name"]], **job["recipe"])
    log = job.get("log") and (lambda text: click.echo(f"seed {recipe.seed}: {text}", err=True))
    with opened_device(job["device"], recipe.config()) as device:
        result = run_recipe(recipe, DeviceBackend(device), log=log,
                            train_samples=job.get("train_samples"),
                            test_samples=job.get("test_samples"))
    return result


def _epoch_json(record):
    return {key: (np.asarray(value).tolist() if isinstance(value, np.ndarray) else value)
            for key, value in record.items()}


def _unsupervised_summary(device_url, result):
    train, test = result["train"], result["test"]
    recipe = result["recipe"]
    edges = np.arange(recipe["w_min"], recipe["w_max"] + 2) - 0.5
    return {
        "device": device_url, "backend": result["backend"], "config": result["config"],
        "seed": recipe["seed"], "accuracy": result["accuracy"],
        "train_accuracy": test["train_accuracy"], "split": result["split"],
        "encoding": result["encoding"], "train_samples": train["samples"],
        "test_samples": test["samples"],
        "steps_per_sample": {"train": train["steps_per_sample"],
                             "test": recipe["eval_steps"]},
        "spikes_per_sample": {"train": train["spikes_per_sample"],
                              "test": test["spikes_per_sample"]},
        "labelled_neurons": test["labelled_neurons"],
        "silent_test_samples": test["silent_test_samples"],
        "neuron_label": np.asarray(test["neuron_label"]).tolist(),
        "theta": np.asarray(test["theta"]).tolist(),
        "neuron_spikes": np.asarray(train["neuron_spikes"]).tolist(),
        "weight_histogram_edges": edges.tolist(),
        "initial_weight_histogram": np.histogram(
            np.asarray(train["initial_weights"])[recipe["neurons"]:,
                                                 :recipe["neurons"] - recipe["inhibitory"]],
            bins=edges)[0].tolist(),
        "winners_per_image": [record["winners_per_image"] for record in train["epochs"]],
        "epochs": [_epoch_json(record) for record in train["epochs"]],
        "confusion": np.asarray(result["confusion"]).tolist(),
        "sr_seed": train["sr_seed"], "wall_s": result["wall_s"], "recipe": recipe,
    }


def _unsupervised_pictures(summary, result, out_dir):
    from ..runs.plots import (plot_confusion, plot_learning_curve, plot_receptive_field_grid,
                              plot_thresholds, plot_weight_histograms)

    recipe = result["recipe"]
    n = recipe["neurons"]
    weights = np.asarray(result["train"]["weights"])[n:, :n - recipe["inhibitory"]]
    plot_receptive_field_grid(weights, out_dir / "receptive_fields.png",
                              labels=summary["neuron_label"], on_off=recipe["on_off"],
                              title=f"receptive fields (ON - OFF weights) and labels, "
                                    f"{result['backend']}")
    epochs = [record for record in summary["epochs"] if "accuracy" in record]
    if epochs:
        plot_learning_curve([record["epoch"] for record in epochs],
                            [record["accuracy"] for record in epochs],
                            out_dir / "learning_curve.png",
                            train_accuracies=[record["train_accuracy"] for record in epochs])
        plot_weight_histograms(
            [summary["initial_weight_histogram"]]
            + [record["weight_histogram"] for record in epochs],
            summary["weight_histogram_edges"], out_dir / "weight_histograms.png",
            labels=["start"] + [f"epoch {record['epoch']}" for record in epochs])
    plot_thresholds(recipe["thr"] + np.asarray(summary["theta"]), out_dir / "thresholds.png",
                    title="thr + theta after learning")
    plot_confusion(summary["confusion"], out_dir / "confusion.png",
                   title=f"test accuracy {summary['accuracy']:.1%}")


def seed_list(seed, seeds):
    """``seeds`` consecutive seeds from ``seed``."""
    return [seed + k for k in range(seeds)]


def run_seeds(function, jobs, workers):
    """``function(job)`` for every job, in ``workers`` processes (1: in this one)."""
    if workers <= 1 or len(jobs) <= 1:
        return [function(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, jobs))


def seeds_summary(accuracies, seeds):
    values = np.asarray(accuracies, dtype=float)
    return {"seeds": list(seeds), "accuracies": values.tolist(), "mean": float(values.mean()),
            "min": float(values.min()), "max": float(values.max())}


@demo_group.command("digits-unsupervised")
@device_option
@click.option("--recipe", "recipe_name", type=click.Choice(["wta", "negative-image"]),
              default="wta", show_default=True,
              help="wta: one winner per step and STDP that moves the winner's weights "
                   "towards its input (the core's winner_take_all and weight_decay options); "
                   "negative-image: the earlier recipe, pair STDP with each image followed "
                   "by its negative, lateral inhibition only.")
@click.option("--neurons", type=click.IntRange(min=2, max=1024), default=None,
              help="The core's neurons (default: the recipe's, 100), the inhibitory pool "
                   "included.")
@click.option("--inhibitory", type=click.IntRange(min=0), default=None, metavar="K",
              help="K of the neurons form an inhibitory pool: every excitatory neuron "
                   "drives all of them, each of them inhibits every excitatory neuron "
                   "(default: the recipe's, 0: lateral inhibition only).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training set (default: the recipe's).")
@click.option("--readout", type=click.Choice(["spikes", "drive"]), default=None,
              help="spikes (the recipe's): spike counts with the lateral inhibition on; "
                   "drive: inhibition off, counts that measure each neuron's input drive, "
                   "labels and votes by the top-ranked neuron.")
@click.option("--train-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="Learn from (and label with) the first K training samples only.")
@click.option("--test-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="Evaluate on the first K test samples only.")
@click.option("--seed", type=int, default=None,
              help="Seed of the initial weights, sample order and encoding (default: the "
                   "recipe's, 1).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run this many consecutive seeds from --seed; prints mean and range.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes running seeds side by side.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write results.json, the weights and the pictures here (one "
                                 "folder per seed with --seeds).")
@json_option
@device_command
def digits_unsupervised_command(device_url, recipe_name, neurons, inhibitory, epochs, readout,
                                train_samples, test_samples, seed, seeds, workers, out_dir,
                                as_json):
    """Learn scikit-learn's 8x8 digits without a teacher (after Diehl & Cook, 2015).

    Excitatory neurons compete (the default recipe, wta: one winner per step, and a winner's
    spike restarts every membrane; adaptive thresholds share the wins) and learn with STDP
    whose weight-dependent term moves the winner's weights towards its input (stochastic
    rounding, membrane floor); no label reaches the network while it learns. Afterwards each
    neuron is labelled by the class it responds to most on the training set, and test
    samples are classified by the labelled neurons' votes (learning off). The recipes:
    spikeforge/host/demos/digits_unsupervised.py.

    \b
    Examples:
      spikeforge demo digits-unsupervised --device model://
      spikeforge demo digits-unsupervised --device model:// --neurons 512 --seeds 5 --workers 2
      spikeforge demo digits-unsupervised --device model:// --out results/unsupervised
      spikeforge demo digits-unsupervised --recipe negative-image --inhibitory 20
    """
    from ..demos.digits_unsupervised import RECIPES

    if out_dir is not None:
        require("matplotlib", "demos", "the demo's pictures")
    base = RECIPES[recipe_name]
    changes = {}
    if neurons is not None:
        changes["neurons"] = neurons
    if inhibitory is not None:
        changes["inhibitory"] = inhibitory
    if epochs is not None:
        changes["epochs"] = epochs
    if readout is not None:
        changes["readout"] = readout
    try:
        dataclasses.replace(base, **changes)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    first = base.seed if seed is None else seed
    jobs = [{"recipe_name": recipe_name, "recipe": dict(changes, seed=s), "device": device_url,
             "train_samples": train_samples, "test_samples": test_samples,
             "log": not as_json and workers == 1}
            for s in seed_list(first, seeds)]
    if not as_json:
        click.echo(f"digits-unsupervised on {device_url}: "
                   f"{dataclasses.replace(base, **changes).config().describe()}", err=True)
    results = run_seeds(_unsupervised_seed, jobs, workers)
    summaries = [_unsupervised_summary(device_url, result) for result in results]
    if out_dir is not None:
        for summary, result in zip(summaries, results):
            folder = out_dir / f"seed-{summary['seed']}" if seeds > 1 else out_dir
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
            np.savez_compressed(folder / "weights.npz", initial=result["train"]["initial_weights"],
                                learned=result["train"]["weights"], mask=result["train"]["mask"],
                                theta=result["test"]["theta"])
            _unsupervised_pictures(summary, result, folder)
    spread = seeds_summary([s["accuracy"] for s in summaries], [s["seed"] for s in summaries])
    if as_json:
        print_json(summaries[0] if seeds == 1 else {"runs": summaries, **spread})
        return
    for summary in summaries:
        curve = ", ".join(f"{record['accuracy']:.1%}" for record in summary["epochs"]
                          if "accuracy" in record)
        print_table([
            ("device", f"{device_url} ({summary['backend']})"),
            ("core", summary["config"]),
            ("seed", str(summary["seed"])),
            ("split", f"{summary['split']['call']}: {summary['split']['train']} train, "
                      f"{summary['split']['test']} test"),
            ("encoding", summary["encoding"]),
            ("samples learned (all epochs) / tested",
             f"{summary['train_samples']} / {summary['test_samples']}"),
            ("spikes per sample (train / test)",
             f"{summary['spikes_per_sample']['train']:.1f} / "
             f"{summary['spikes_per_sample']['test']:.1f}"),
            ("distinct excitatory neurons spiking per training sample, by epoch",
             ", ".join(f"{value:.2f}" for value in summary["winners_per_image"])),
            ("labelled neurons", f"{summary['labelled_neurons']} of "
                                 f"{summary['recipe']['neurons'] - summary['recipe']['inhibitory']}"
                                 f" excitatory"),
            ("accuracy after each epoch", curve or "-"),
            ("wall time", f"{summary['wall_s']:.1f} s"),
            ("test accuracy (learning off)", f"{summary['accuracy']:.1%}"),
        ], title="digits without a teacher, learned on the device with STDP")
    if seeds > 1:
        click.echo(f"{seeds} seeds: mean {spread['mean']:.1%}, range {spread['min']:.1%} - "
                   f"{spread['max']:.1%}")
    if out_dir is not None:
        click.echo(f"results and pictures in {out_dir}/")
