#!/usr/bin/env python3
"""Measure the unsupervised digits readouts and the references they are compared with.

For each size (``--neurons``) and seed: the recipe learns on the twin, and the same learned
weights are read out with ``readout="spikes"`` and ``readout="drive"``; then the weights are
replaced by ideal prototypes (``N`` training images drawn with the seed: ON weight
``63 * pixel``, OFF weight ``63 * (1 - pixel)``) and read out both ways. Off-chip references on
the same split (floating point, no spikes): class means and k-means centres as ON/OFF
prototypes (nearest by dot product), and linear classifiers on the pixels.

    .venv/bin/python scripts/digits_readouts.py --neurons 100 512 --seeds 1 2
    .venv/bin/python scripts/digits_readouts.py --references
"""

import argparse
import dataclasses
import json
import time

import numpy as np

from spikeforge.host.demos import digits as D
from spikeforge.host.demos import digits_unsupervised as U


def prototype_weights(recipe, images):
    """The recipe's network with the input weights set to ``images`` as ON/OFF prototypes."""
    network = U.build_network(recipe, np.random.default_rng(0))
    n = recipe.neurons
    network.W[n:n + 64] = np.round(recipe.w_max * images.T)
    network.W[n + 64:] = np.round(recipe.w_max * (1 - images.T))
    return network


def read_out(network, recipe, data):
    """Accuracy of both readouts on ``network`` (weights as they are, theta 0)."""
    accuracies = {}
    for readout in ("spikes", "drive"):
        chosen = dataclasses.replace(recipe, readout=readout)
        backend = D.TwinBackend()
        backend.load(network)
        backend.reset()
        accuracies[readout] = U.evaluate(backend, chosen, data)["accuracy"]
    return accuracies


def learned(recipe, data):
    """Accuracy of both readouts on the weights and theta the recipe learns."""
    backend = D.TwinBackend()
    U.train(backend, recipe, data, np.random.default_rng(recipe.seed), evaluate_epochs=False)
    accuracies = {}
    for readout in ("spikes", "drive"):
        chosen = dataclasses.replace(recipe, readout=readout)
        accuracies[readout] = U.evaluate(backend, chosen, data)["accuracy"]
    return accuracies


def references(data):
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.svm import LinearSVC

    def onoff(x):
        return np.hstack([x, 1 - x])

    def nearest(prototypes, labels):
        scores = onoff(data.x_test) @ onoff(prototypes).T
        return float(np.mean(labels[scores.argmax(axis=1)] == data.y_test))

    out = {}
    means = np.stack([data.x_train[data.y_train == c].mean(axis=0) for c in range(10)])
    out["class means (1 per class)"] = nearest(means, np.arange(10))
    for k in (5, 10, 20):
        centres, labels = [], []
        for c in range(10):
            km = KMeans(k, n_init=3, random_state=0).fit(data.x_train[data.y_train == c])
            centres.append(km.cluster_centers_)
            labels += [c] * k
        out[f"k-means per class ({k} per class)"] = nearest(np.vstack(centres), np.array(labels))
    for n in (100, 512):
        km = KMeans(n, n_init=1, random_state=0).fit(data.x_train)
        winner = (onoff(data.x_train) @ onoff(km.cluster_centers_).T).argmax(axis=1)
        labels = np.array([np.bincount(data.y_train[winner == j], minlength=10).argmax()
                           if np.any(winner == j) else 0 for j in range(n)])
        out[f"k-means without labels ({n} centres, labelled by their samples)"] = \
            nearest(km.cluster_centers_, labels)
    x, y = data.x_train, data.y_train
    out["ridge one-vs-rest (least squares)"] = float(
        RidgeClassifier().fit(x, y).score(data.x_test, data.y_test))
    out["linear SVM one-vs-rest (hinge)"] = float(
        LinearSVC(max_iter=20000).fit(x, y).score(data.x_test, data.y_test))
    out["logistic regression"] = float(
        LogisticRegression(max_iter=5000).fit(x, y).score(data.x_test, data.y_test))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, nargs="*", default=[100])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1])
    parser.add_argument("--references", action="store_true",
                        help="print the off-chip references only")
    args = parser.parse_args()
    data = D.load_data(U.UnsupervisedRecipe())
    if args.references:
        for name, value in references(data).items():
            print(f"{name}: {value:.1%}")
        return
    for neurons in args.neurons:
        for seed in args.seeds:
            recipe = dataclasses.replace(U.UnsupervisedRecipe(), neurons=neurons, seed=seed)
            start = time.perf_counter()
            pick = np.random.default_rng(seed).choice(len(data.y_train), neurons,
                                                      replace=False)
            ideal = read_out(prototype_weights(recipe, data.x_train[pick]), recipe, data)
            row = {"neurons": neurons, "seed": seed, "learned": learned(recipe, data),
                   "ideal_prototypes": ideal, "wall_s": round(time.perf_counter() - start, 1)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
