#!/usr/bin/env python3
"""Reproduce the on-chip-learning digits demo on the numpy twin.

Trains the recipe of ``spikeforge.host.demos.digits`` (``DigitsRecipe``) with the core's own STDP
rule and evaluates it on the held-out third of scikit-learn's 8x8 digits with learning off.

    .venv/bin/python scripts/digits_experiment.py                 # the recipe
    .venv/bin/python scripts/digits_experiment.py --seeds 1 2 3   # several seeds
    .venv/bin/python scripts/digits_experiment.py --set epochs=3 --set rate=0.4

scikit-learn is a dependency of spikeforge (it ships the data set).
"""

import argparse
import dataclasses
import json

import numpy as np

from spikeforge.host.demos.digits import DigitsRecipe, run_recipe


def parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=None,
                        help="recipe seeds to run (default: the recipe's own)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a DigitsRecipe field (JSON value)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per run")
    args = parser.parse_args()

    changes = {}
    for item in args.set:
        name, _, value = item.partition("=")
        changes[name] = parse_value(value)
    base = dataclasses.replace(DigitsRecipe(), **changes)
    seeds = args.seeds if args.seeds else [base.seed]
    accuracies = []
    for seed in seeds:
        recipe = dataclasses.replace(base, seed=seed)
        result = run_recipe(recipe)
        accuracies.append(result["accuracy"])
        train, test = result["train"], result["test"]
        if args.json:
            print(json.dumps({
                "seed": seed, "accuracy": result["accuracy"],
                "confusion": result["confusion"].tolist(), "steps": result["steps"],
                "wall_s": result["wall_s"], "train_wall_s": train["wall_s"],
                "test_wall_s": test["wall_s"],
                "train_steps_per_sample": train["steps_per_sample"],
                "test_steps_per_sample": test["steps_per_sample"],
                "train_spikes_per_sample": train["spikes_per_sample"],
                "test_spikes_per_sample": test["spikes_per_sample"],
                "train_synaptic_ops_per_sample": train["synaptic_ops_per_sample"],
                "test_synaptic_ops_per_sample": test["synaptic_ops_per_sample"],
                "split": result["split"], "encoding": result["encoding"],
                "config": result["config"], "recipe": result["recipe"]}))
            continue
        print(f"seed {seed}: test accuracy {result['accuracy']:.4f} "
              f"({test['samples']} samples, learning off)")
        print(f"  {result['config']}; split: {result['split']['call']}")
        print(f"  encoding: {result['encoding']}")
        print(f"  train: {train['samples']} samples x {train['steps_per_sample']} steps, "
              f"{train['spikes_per_sample']:.1f} spikes/sample "
              f"({train['output_spikes_per_sample']:.1f} from outputs), "
              f"{train['synaptic_ops_per_sample']:.0f} synaptic ops/sample, "
              f"{train['wall_s']:.1f} s")
        print(f"  test:  {test['samples']} samples x {test['steps_per_sample']} steps, "
              f"{test['spikes_per_sample']:.1f} spikes/sample, "
              f"{test['synaptic_ops_per_sample']:.0f} synaptic ops/sample, "
              f"{test['wall_s']:.1f} s")
        print(f"  total {result['steps']} steps in {result['wall_s']:.1f} s on the twin")
        print("  confusion (rows: true class, columns: predicted):")
        for row in result["confusion"]:
            print("   " + " ".join(f"{v:3d}" for v in row))
    if len(seeds) > 1 and not args.json:
        print(f"mean accuracy {np.mean(accuracies):.4f} (min {np.min(accuracies):.4f}, "
              f"max {np.max(accuracies):.4f}) over seeds {seeds}")


if __name__ == "__main__":
    main()
