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
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training set (default: the recipe's, 2).")
@click.option("--train-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="Train on the first K training samples only (default: all 1,203).")
@click.option("--test-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="Evaluate on the first K test samples only (default: all 594).")
@click.option("--seed", type=int, default=None, help="Seed of the initial weights and the "
                                                      "spike encoding (default: the recipe's).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write results.json, the learned weights and pictures here.")
@json_option
@device_command
def digits_command(device_url, epochs, train_samples, test_samples, seed, out_dir, as_json):
    """Learn scikit-learn's 8x8 digits with the core's own STDP, then classify with learning off.

    The split is fixed (33 % test, random_state 42, stratified); pixels are rate coded onto 64
    input lines, and during training one teacher line per class makes the labelled output
    neuron spike after the image, so STDP potentiates the right class and depresses wrong
    responses (the recipe: spikeforge/host/digits.py). The weights are learned on the device:
    nothing is trained off-chip. Prints the test accuracy, the confusion matrix, spikes and
    synaptic operations per sample, and the wall time.

    \b
    Examples:
      spikeforge demo digits
      spikeforge demo digits --device model:// --out results/digits
      spikeforge demo digits --device /dev/ttyUSB1 --json
      spikeforge demo digits --train-samples 100 --test-samples 50
    """
    from ..demos.digits import DeviceBackend, DigitsRecipe, run_recipe
    from ..runs.plots import plot_confusion, plot_receptive_fields

    if out_dir is not None:     # checked before the run: pictures go with the results
        require("matplotlib", "demos", "the demo's pictures")

    changes = {}
    if epochs is not None:
        changes["epochs"] = epochs
    if seed is not None:
        changes["seed"] = seed
    recipe = dataclasses.replace(DigitsRecipe(), **changes)
    log = None if as_json else (lambda text: click.echo(text, err=True))
    with opened_device(device_url, recipe.config()) as device:
        if log:
            log(f"digits on {device_url} ({device.backend}): {recipe.config().describe()}")
        result = run_recipe(recipe, DeviceBackend(device), log=log,
                            train_samples=train_samples, test_samples=test_samples)
    test, train = result["test"], result["train"]
    summary = {
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
        "wall_s": result["wall_s"], "recipe": result["recipe"],
    }
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
