"""Learn the first K training samples of a digits recipe on two devices and compare the
weights (and, for the unsupervised recipe, theta and the rounding seed) bit for bit.

    .venv/bin/python scripts/learning_prefix.py --recipe unsupervised --neurons 100 --samples 200
    .venv/bin/python scripts/learning_prefix.py --recipe lines --samples 200

Prints one JSON line per device (wall time, sha256 of the weights) and the verdict; exit code 1
when the devices differ.
"""

import argparse
import dataclasses
import hashlib
import json
import sys
import time

import numpy as np

from spikeforge.host.demos import digits as D
from spikeforge.host.demos import digits_unsupervised as U
from spikeforge.host.device import open_device


def weights_digest(weights):
    return hashlib.sha256(np.ascontiguousarray(weights, dtype="<i2").tobytes()).hexdigest()


def run(url, args):
    if args.recipe == "unsupervised":
        recipe = dataclasses.replace(U.UnsupervisedRecipe(), neurons=args.neurons, seed=args.seed)
        data = D.load_data(recipe)
        with open_device(url, recipe.config()) as device:
            backend = D.DeviceBackend(device)
            start = time.perf_counter()
            trained = U.train(backend, recipe, data, np.random.default_rng(recipe.seed),
                              evaluate_epochs=False, stop_after=args.samples)
            wall = time.perf_counter() - start
            theta = U.read_theta(backend)
        return {"weights": trained["weights"], "theta": theta, "sr_seed": trained["sr_seed"],
                "samples": trained["samples"], "wall_s": wall}
    recipe = dataclasses.replace(D.RECIPES[args.recipe], epochs=1, seed=args.seed)
    data = D.load_data(recipe)
    data.x_train, data.y_train = data.x_train[:args.samples], data.y_train[:args.samples]
    with open_device(url, recipe.config()) as device:
        start = time.perf_counter()
        trained = D.train(D.DeviceBackend(device), recipe, data,
                          np.random.default_rng(recipe.seed))
        wall = time.perf_counter() - start
    return {"weights": trained["weights"], "samples": trained["samples"], "wall_s": wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=["unsupervised", "lines", "relays"],
                        default="unsupervised")
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--devices", default="model://,sim://")
    args = parser.parse_args()
    results = {}
    for url in args.devices.split(","):
        results[url] = run(url, args)
        out = results[url]
        print(json.dumps({"device": url, "recipe": args.recipe, "neurons": args.neurons,
                          "samples": out["samples"], "wall_s": round(out["wall_s"], 1),
                          "weights_sha256": weights_digest(out["weights"])}), flush=True)
    first, *others = results.values()
    same = all(np.array_equal(first["weights"], other["weights"])
               and all(np.array_equal(first[key], other[key]) for key in ("theta", "sr_seed")
                       if key in first)
               for other in others)
    print("identical" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
