"""Learn the first samples of a digits recipe on a device and fingerprint what was learned: the
shortened runs that the tests hold to stored digests and that compare ``model://`` with
``sim://`` bit for bit."""

import dataclasses
import hashlib
import time

import numpy as np

from . import digits as D
from . import digits_unsupervised as U
from ..device import open_device

__all__ = ["RECIPE_NAMES", "weights_digest", "learn_prefix"]

#: the unsupervised recipes (``unsupervised``: the default, ``unsupervised-NAME``: the others
#: of :data:`.digits_unsupervised.RECIPES`) and the named supervised recipes of
#: :data:`.digits.RECIPES`.
UNSUPERVISED = {"unsupervised": U.RECIPES["wta"]} | {
    f"unsupervised-{name}": recipe for name, recipe in U.RECIPES.items() if name != "wta"}
RECIPE_NAMES = tuple(UNSUPERVISED) + tuple(D.RECIPES)


def weights_digest(weights):
    """sha256 (hex) of a weight matrix as little-endian int16 bytes, row by row."""
    return hashlib.sha256(np.ascontiguousarray(weights, dtype="<i2").tobytes()).hexdigest()


def learn_prefix(url, recipe="unsupervised", samples=200, *, neurons=None, seed=1,
                 inhibitory=None, epochs=1):
    """Learn the first ``samples`` training samples (seed ``seed``) on the device at ``url``;
    a supervised recipe passes over them ``epochs`` times (with the recipe's ``stdp_shifts``).

    Returns the initial and learned weights, the mask, the samples learned and the wall time;
    for the unsupervised recipe also ``theta`` and the rounding seed ``sr_seed`` after the
    last sample. ``neurons`` sets the unsupervised recipe's size, ``inhibitory`` its
    inhibitory pool."""
    if recipe in UNSUPERVISED:
        changes = {"seed": seed} | ({"neurons": neurons} if neurons else {})
        if inhibitory is not None:
            changes["inhibitory"] = inhibitory
        chosen = dataclasses.replace(UNSUPERVISED[recipe], **changes)
        data = D.load_data(chosen)
        with open_device(url, chosen.config()) as device:
            backend = D.DeviceBackend(device)
            start = time.perf_counter()
            trained = U.train(backend, chosen, data, np.random.default_rng(chosen.seed),
                              evaluate_epochs=False, stop_after=samples)
            trained["wall_s"] = time.perf_counter() - start
            trained["theta"] = U.read_theta(backend)
        return trained
    if recipe not in D.RECIPES:
        raise ValueError(f"recipe {recipe!r} is unknown: choose one of "
                         f"{', '.join(RECIPE_NAMES)}")
    chosen = dataclasses.replace(D.RECIPES[recipe], epochs=epochs, seed=seed)
    data = D.load_data(chosen)
    data.x_train, data.y_train = data.x_train[:samples], data.y_train[:samples]
    with open_device(url, chosen.config()) as device:
        return D.train(D.DeviceBackend(device), chosen, data,
                       np.random.default_rng(chosen.seed))
