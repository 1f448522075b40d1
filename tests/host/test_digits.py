"""The digits demo recipe: encoding, network, learning confined to the plastic synapses, and
(slow) the whole recipe on the twin."""

import dataclasses
import time

import numpy as np
import pytest

from spikeforge.host.demos.digits import (CLASSES, DigitsData, DigitsRecipe, TwinBackend,
                                    build_network, encode, eval_params, evaluate, input_layout,
                                    load_data, neuron_class, predict, run_recipe, train)

#: the whole demo (train + evaluate) must fit in this on the twin
BUDGET_S = 120


@pytest.fixture(scope="module")
def data():
    pytest.importorskip("sklearn")
    return load_data(DigitsRecipe())


def test_split(data):
    assert len(data.y_train) == 1203 and len(data.y_test) == 594
    assert data.x_train.shape == (1203, 64) and data.x_train.min() >= 0
    assert data.x_train.max() <= 1
    assert "random_state=42" in data.split["call"] and "stratify=y" in data.split["call"]


def test_encoding_shape_and_determinism():
    recipe = DigitsRecipe()
    images = np.random.default_rng(0).random((5, 64))
    labels = np.array([0, 3, 9, 3, 1])
    a = encode(images, recipe, np.random.default_rng(7), labels=labels)
    b = encode(images, recipe, np.random.default_rng(7), labels=labels)
    c = encode(images, recipe, np.random.default_rng(8), labels=labels)
    assert a.dtype == bool
    assert a.shape == (5, recipe.free_steps + recipe.teach_steps, recipe.inputs)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    test = encode(images, recipe, np.random.default_rng(7))
    assert test.shape == (5, recipe.free_steps, recipe.inputs)
    layout = input_layout(recipe)
    # evaluation: the teacher is silent
    assert not test[:, :, layout["teacher"]].any()
    # training: image only in the free phase, the label's teacher lines only in the teaching
    free, teach = slice(0, recipe.free_steps), slice(recipe.free_steps, None)
    assert not a[:, teach, :recipe.image_inputs].any()
    assert not a[:, free, layout["teacher"]].any()
    for k, label in enumerate(labels):
        lines = a[k, teach, layout["teacher"]]
        expected = np.zeros(CLASSES * recipe.teacher_lines, dtype=bool)
        expected[label * recipe.teacher_lines:(label + 1) * recipe.teacher_lines] = True
        assert np.all(lines == expected[None, :])


def test_encoding_rates():
    recipe = DigitsRecipe()
    images = np.tile(np.linspace(0, 1, 64), (400, 1))
    raster = encode(images, recipe, np.random.default_rng(1))
    measured = raster[:, :, :64].mean(axis=(0, 1))
    assert np.allclose(measured, recipe.rate * images[0], atol=0.01)
    assert not raster[:, :, 0].any()                     # a blank pixel never spikes
    on_off = dataclasses.replace(recipe, on_off=True)
    raster = encode(images, on_off, np.random.default_rng(1))
    assert raster.shape[2] == 128 + CLASSES * on_off.teacher_lines
    assert np.allclose(raster[:, :, 64:128].mean(axis=(0, 1)),
                       on_off.rate * (1 - images[0]), atol=0.02)


def test_network_is_valid_and_fits_the_board():
    recipe = DigitsRecipe()
    network = build_network(recipe, np.random.default_rng(0))
    network.validate()
    config = network.config
    assert config.neurons == recipe.neurons <= 256 and config.inputs == recipe.inputs <= 256
    assert (config.weight_bits, config.v_bits, config.i_bits) == (8, 18, 18)
    n, out = recipe.neurons, recipe.outputs
    image = slice(n, n + recipe.image_inputs)
    # only the image synapses onto the outputs learn
    expected = np.zeros(network.W.shape, dtype=bool)
    expected[image, :out] = True
    assert np.array_equal(network.mask, expected)
    assert recipe.init_low <= network.W[image, :out].min()
    assert network.W[image, :out].max() <= recipe.init_high
    assert not network.W[image, out:].any()
    # teacher lines and relays drive their class's outputs and hold the others down
    cls = neuron_class(recipe)
    teacher = network.W[n + recipe.image_inputs:]
    for line in range(teacher.shape[0]):
        own = cls[:out] == line // recipe.teacher_lines
        assert np.all(teacher[line, :out][own] == recipe.teacher_weight)
        assert np.all(teacher[line, :out][~own] == recipe.teacher_inhibit)
    relays = network.W[out:n, :out]
    assert np.all((relays == recipe.teacher_weight) == (cls[out:, None] == cls[None, :out]))
    assert not network.W[:out, :].any()
    # evaluation changes only the output thresholds
    params = eval_params(recipe)
    assert np.all(params.thr[:out] == recipe.eval_thr)
    assert np.array_equal(params.thr[out:], network.neuron_params.thr[out:])


def test_predict_votes_and_breaks_ties():
    recipe = DigitsRecipe()
    spikes = np.zeros((10, recipe.neurons), dtype=bool)
    assert predict(spikes, recipe) == 0
    spikes[5, 3] = spikes[2, 7] = True
    assert predict(spikes, recipe) == 7              # tie in count: earliest first spike
    spikes[8, 3] = True
    assert predict(spikes, recipe) == 3              # most spikes
    spikes[:, recipe.outputs:] = True                # relays never vote
    assert predict(spikes, recipe) == 3


def test_short_training_changes_only_plastic_weights(data):
    recipe = dataclasses.replace(DigitsRecipe(), epochs=1)
    small = DigitsData(data.x_train[:30], data.y_train[:30], data.x_test[:20],
                       data.y_test[:20])
    backend = TwinBackend()
    result = train(backend, recipe, small, np.random.default_rng(3))
    changed = result["weights"] != result["initial_weights"]
    assert changed.any()
    assert not changed[~result["mask"]].any()
    plastic = result["weights"][result["mask"]]
    assert recipe.w_min <= plastic.min() and plastic.max() <= recipe.w_max
    assert result["steps"] == 30 * recipe.train_steps_per_sample
    # the same seed learns the same weights
    again = train(TwinBackend(), recipe, small, np.random.default_rng(3))
    assert np.array_equal(again["weights"], result["weights"])
    scored = evaluate(backend, recipe, small.x_test, small.y_test)
    assert scored["confusion"].sum() == 20 and scored["confusion"].shape == (10, 10)
    assert 0.0 <= scored["accuracy"] <= 1.0
    assert scored["steps"] == 20 * recipe.free_steps
    # learning was off: evaluating leaves the weights alone
    assert np.array_equal(backend.weights(), result["weights"])


@pytest.mark.slow
def test_full_recipe_reaches_85_percent(data):
    start = time.perf_counter()
    result = run_recipe(DigitsRecipe())
    wall = time.perf_counter() - start
    if wall > BUDGET_S:
        pytest.skip(f"the recipe took {wall:.0f} s, over the {BUDGET_S} s budget "
                    f"(machine too busy to judge)")
    assert result["accuracy"] >= 0.85, result["confusion"]
    assert result["confusion"].sum() == 594


def test_batched_evaluation_equals_sample_by_sample(data):
    """The evaluation runs its samples as one batch; predictions, counts and the backend's
    final state equal running them one after another on the numpy twin."""
    recipe = dataclasses.replace(DigitsRecipe(), epochs=1)
    small = DigitsData(data.x_train[:150], data.y_train[:150], data.x_test[:25],
                       data.y_test[:25])

    class OneByOne(TwinBackend):
        run_batch = None

    results = []
    for backend in (TwinBackend(), OneByOne("numpy")):
        trained = train(backend, recipe, small, np.random.default_rng(4))
        scored = evaluate(backend, recipe, small.x_test, small.y_test)
        results.append((trained, scored, backend.twin.state_dict()))
    (train_a, test_a, state_a), (train_b, test_b, state_b) = results
    assert np.array_equal(train_a["weights"], train_b["weights"])
    assert np.array_equal(test_a["predictions"], test_b["predictions"])
    assert np.array_equal(test_a["confusion"], test_b["confusion"])
    assert test_a["spikes_per_sample"] == test_b["spikes_per_sample"] > 0
    assert test_a["synaptic_ops_per_sample"] == test_b["synaptic_ops_per_sample"]
    for name in ("v", "i", "r", "s", "x", "y", "xin", "W"):
        assert np.array_equal(np.asarray(state_a[name], dtype=np.int64),
                              np.asarray(state_b[name], dtype=np.int64)), name
