"""Learn the first K training samples of a digits recipe on two devices and compare what they
learned bit for bit (the weights; for the unsupervised recipe also theta and the rounding
seed).

    .venv/bin/python scripts/learning_prefix.py --recipe unsupervised --neurons 100 --samples 200
    .venv/bin/python scripts/learning_prefix.py --recipe unsupervised-negative-image --inhibitory 20
    .venv/bin/python scripts/learning_prefix.py --recipe lines --samples 200

Prints one JSON line per device (wall time, sha256 of the weights) and the verdict; exit code 1
when the devices differ.
"""

import argparse
import json
import sys

import numpy as np

from spikeforge.host.demos.prefix import RECIPE_NAMES, learn_prefix, weights_digest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=RECIPE_NAMES, default="unsupervised")
    parser.add_argument("--neurons", type=int, default=None,
                        help="neurons of the unsupervised recipe (default: the recipe's)")
    parser.add_argument("--inhibitory", type=int, default=None,
                        help="the unsupervised recipe's inhibitory pool (default: the recipe's)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--devices", default="model://,sim://")
    args = parser.parse_args()
    results = {}
    for url in args.devices.split(","):
        out = results[url] = learn_prefix(url, args.recipe, args.samples,
                                          neurons=args.neurons, seed=args.seed,
                                          inhibitory=args.inhibitory)
        print(json.dumps({"device": url, "recipe": args.recipe, "neurons": args.neurons,
                          "inhibitory": args.inhibitory,
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
