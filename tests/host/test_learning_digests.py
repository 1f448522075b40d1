"""Shortened runs of the learning recipes: the exact weights they learn on model:// are held
by a stored digest (sha256 of the weights as little-endian int16), so any change to the twin,
the recipes or the encodings that alters what is learned shows up here. Accuracy is not tested
here (the demo commands measure it)."""

import dataclasses

import numpy as np
import pytest

from spikeforge.host.demos import digits as D
from spikeforge.host.demos import digits_unsupervised as U
from spikeforge.host.demos.prefix import learn_prefix, weights_digest as digest

SAMPLES = 30

#: sha256 of the weights after the first 30 training samples, seed 1, on model://
UNSUPERVISED_DIGEST = "a20ea456a81afc8dc8ea843d1df51191d0fdcde01514ce2f58243fa97532c3af"
#: the same for the negative-image recipe (the default before winner-take-all)
NEGATIVE_IMAGE_DIGEST = "beebb859c54b9ea6efefe358b9444e44d9ad5f04b9ffd6525a24e3bfd5165948"
#: the same with an inhibitory pool of 20 of the 100 neurons
POOL_DIGEST = "0025abfe78ed485c52b772a93b801db3aff3a69bc9f2f679f3951f9a65a7348a"
LINES_DIGEST = "cd70c1338c50bd03b4e5db161632d2b6446c56847f1db8164a09a069d39ebec9"
#: the hinge recipe, three passes over the first 40 training samples, seed 1, on model://
HINGE_DIGEST = "edc621005baad4f2e46a8a07cbcc527501c1ab0233baa1df36b54acfbc85d36e"


def unsupervised_prefix(url, samples=SAMPLES):
    return learn_prefix(url, "unsupervised", samples)


def lines_prefix(url, samples=SAMPLES):
    return learn_prefix(url, "lines", samples)


def test_unsupervised_prefix_weights_match_the_stored_digest():
    trained = unsupervised_prefix("model://")
    assert trained["samples"] == SAMPLES
    changed = trained["weights"] != trained["initial_weights"]
    assert changed.any()
    assert not (changed & ~trained["mask"]).any()       # only plastic synapses learn
    assert digest(trained["weights"]) == UNSUPERVISED_DIGEST


def test_negative_image_prefix_weights_match_the_stored_digest():
    trained = learn_prefix("model://", "unsupervised-negative-image", SAMPLES)
    assert trained["samples"] == SAMPLES
    assert digest(trained["weights"]) == NEGATIVE_IMAGE_DIGEST
    assert digest(trained["weights"]) != UNSUPERVISED_DIGEST


def test_unsupervised_pool_prefix_weights_match_the_stored_digest():
    trained = learn_prefix("model://", "unsupervised-negative-image", SAMPLES, inhibitory=20)
    assert trained["samples"] == SAMPLES
    changed = trained["weights"] != trained["initial_weights"]
    assert changed.any()
    assert not (changed & ~trained["mask"]).any()       # the pool never learns
    assert digest(trained["weights"]) == POOL_DIGEST


def test_lines_recipe_prefix_weights_match_the_stored_digest():
    trained = lines_prefix("model://")
    assert trained["samples"] == SAMPLES
    assert D.RECIPES["lines"].relays_per_class == 0
    changed = trained["weights"] != trained["initial_weights"]
    assert changed.any()
    assert not (changed & ~trained["mask"]).any()
    assert digest(trained["weights"]) == LINES_DIGEST


def test_hinge_recipe_prefix_weights_match_the_stored_digest():
    trained = learn_prefix("model://", "hinge", 40, epochs=3)
    # the third pass runs at half the learning rate, and skips the samples won by the margin
    assert [record["learned_samples"] for record in trained["epochs"]] == [40, 40, 32]
    changed = trained["weights"] != trained["initial_weights"]
    assert changed.any()
    assert not (changed & ~trained["mask"]).any()
    assert digest(trained["weights"]) == HINGE_DIGEST


def test_hinge_recipe_learns_the_same_on_the_twin_and_on_model_and_restores_the_mask():
    from spikeforge.host.device import open_device

    recipe = dataclasses.replace(D.RECIPES["hinge"], epochs=3)
    data = D.load_data(recipe)
    data.x_train, data.y_train = data.x_train[:40], data.y_train[:40]
    twin = D.train(D.TwinBackend(), recipe, data, np.random.default_rng(recipe.seed))
    with open_device("model://", recipe.config()) as device:
        backend = D.DeviceBackend(device)
        on_model = D.train(backend, recipe, data, np.random.default_rng(recipe.seed))
        network = device.read_network()
    assert np.array_equal(twin["weights"], on_model["weights"])
    assert np.array_equal(network.mask, on_model["mask"])   # the whole mask back after training
    assert network.global_params.stdp_shift == 11           # the third pass's learning rate


def test_erring_outputs_by_neuron_and_by_class():
    recipe = dataclasses.replace(D.RECIPES["hinge"], gate="neuron", count_high=2, count_low=0)
    spikes = np.zeros((48, recipe.neurons), dtype=bool)
    spikes[:3, 0] = True            # class 0, neuron 0: 3 spikes
    spikes[:1, 1] = True            # class 0, neuron 1: 1 spike
    spikes[:2, 2] = True            # class 1, neuron 2: 2 spikes
    erring = D.erring_outputs(spikes, 0, recipe)
    assert erring[:4].tolist() == [False, True, True, False] and not erring[4:].any()
    # by class: class 0 scores 4, class 1 scores 2; a margin of 3 is not met
    recipe = dataclasses.replace(recipe, gate="class", count_high=3)
    erring = D.erring_outputs(spikes, 0, recipe)
    assert erring[:4].tolist() == [True, True, True, False] and not erring[4:].any()
    # a margin of 2 is met: nothing errs, the sample is not learned from
    recipe = dataclasses.replace(recipe, count_high=2)
    assert not D.erring_outputs(spikes, 0, recipe).any()


def test_learning_runs_split_the_phases_between_wrong_and_labelled_neurons():
    recipe = D.RECIPES["hinge"]
    erring = np.zeros(recipe.outputs, dtype=bool)
    erring[[0, 1, 4]] = True                  # class 0 (labelled) and one neuron of class 2
    (free, wrong), (teach, right) = D.learning_runs(recipe, erring, 0)
    assert (free, teach) == (slice(0, recipe.free_steps), slice(recipe.free_steps, None))
    assert np.flatnonzero(wrong).tolist() == [4] and np.flatnonzero(right).tolist() == [0, 1]
    whole = dataclasses.replace(recipe, split_phases=False)
    ((steps, columns),) = D.learning_runs(whole, erring, 0)
    assert steps == slice(None) and np.flatnonzero(columns).tolist() == [0, 1, 4]
    sample = dataclasses.replace(recipe, gate="sample")
    assert D.learning_runs(sample, erring, 0) == ((slice(None), None),)


def test_bad_gate_and_shift_schedule_are_refused():
    with pytest.raises(ValueError, match="gate 'margin' is unknown"):
        D.DigitsRecipe(gate="margin")
    with pytest.raises(ValueError, match="stdp_shifts"):
        D.DigitsRecipe(stdp_shifts=(10, 40))


def test_unsupervised_network_has_fixed_inhibition_and_no_label_input():
    recipe = U.UnsupervisedRecipe()
    network = U.build_network(recipe, np.random.default_rng(0))
    n = recipe.neurons
    recurrent = network.W[:n, :n]
    assert (np.diag(recurrent) == 0).all()
    assert (recurrent[~np.eye(n, dtype=bool)] == recipe.inhibit).all()
    assert not network.mask[:n].any() and network.mask[n:].all()
    assert recipe.inputs == 128 and network.config.stochastic_rounding
    assert network.config.v_floor and network.global_params.v_min == recipe.v_min


def test_inhibitory_pool_is_driven_by_every_excitatory_neuron_and_inhibits_them_all():
    recipe = dataclasses.replace(U.RECIPES["negative-image"], neurons=30, inhibitory=6)
    network = U.build_network(recipe, np.random.default_rng(0))
    e, n = recipe.excitatory, recipe.neurons
    assert e == 24
    W, mask = network.W, network.mask
    assert (W[:e, e:n] == recipe.pool_drive).all()
    assert (W[e:n, :e] == recipe.pool_inhibit).all()
    assert (W[e:n, e:n] == 0).all()
    lateral = W[:e, :e]
    assert (lateral[~np.eye(e, dtype=bool)] == recipe.inhibit).all()
    # no input reaches the pool, and only the input synapses of excitatory neurons learn
    assert (W[n:, e:] == 0).all() and not mask[:, e:].any() and not mask[:n].any()
    assert mask[n:, :e].all()
    params = network.neuron_params
    assert (params.thr[e:] == recipe.pool_thr).all() and (params.thr[:e] == recipe.thr).all()
    assert (params.refrac[e:] == 0).all() and (params.theta_inc[e:] == 0).all()
    assert (params.theta_inc[:e] == recipe.theta_inc).all()
    # evaluation keeps the pool's threshold and folds theta into the excitatory ones
    theta = np.arange(n) * 10
    evaluated = U.eval_params(recipe, theta)
    assert (evaluated.thr[e:] == recipe.pool_thr).all()
    expected = np.round((recipe.thr + theta[:e]) * recipe.eval_thr_scale)
    assert np.array_equal(evaluated.thr[:e], expected)


def test_one_excitatory_spike_makes_the_pool_fire_and_inhibit_everyone():
    from spikeforge.host.device import open_device

    def run(pool_inhibit):
        recipe = dataclasses.replace(U.RECIPES["negative-image"], neurons=12, inhibitory=4,
                                     inhibit=0, thr=1000, pool_inhibit=pool_inhibit)
        network = U.build_network(recipe, np.random.default_rng(0))
        network.W[recipe.neurons:, :recipe.excitatory] = 0
        network.W[recipe.neurons, 0] = 127        # input line 0 drives excitatory neuron 0,
        network.W[recipe.neurons, 1] = 100        # and neuron 1 a little less
        network.mask[:] = False
        with open_device("model://", recipe.config()) as device:
            backend = D.DeviceBackend(device)
            backend.load(network)
            backend.reset()
            raster = np.zeros((40, recipe.inputs), dtype=bool)
            raster[:, 0] = True
            return recipe.excitatory, backend.run(raster, False)

    e, out = run(-127)
    first = int(np.flatnonzero(out[:, 0])[0])
    assert not out[:first + 1, e:].any()
    assert out[first + 1, e:].all()               # the whole pool fires the step after
    _, free = run(0)
    assert np.array_equal(free[:first + 1], out[:first + 1])
    assert out[:, 1].sum() < free[:, 1].sum()     # its inhibition holds back the runner-up


def test_pool_size_must_leave_an_excitatory_neuron():
    with pytest.raises(ValueError, match="inhibitory"):
        U.UnsupervisedRecipe(neurons=10, inhibitory=10, wta=False)


def test_the_pool_needs_the_recipe_without_winner_take_all():
    with pytest.raises(ValueError, match="--recipe negative-image"):
        U.UnsupervisedRecipe(inhibitory=20)
    assert dataclasses.replace(U.RECIPES["negative-image"], inhibitory=20).excitatory == 80


def test_unsupervised_encoding_presents_image_then_negative_then_silence():
    recipe = U.RECIPES["negative-image"]
    image = np.zeros((1, 64))
    image[0, :32] = 1.0
    raster = U.encode(image, recipe, 3, train=True)[0]
    present, negative = recipe.present_steps, recipe.negative_steps
    assert raster.shape == (recipe.train_steps_per_sample, recipe.inputs)
    on, off = raster[:, :64], raster[:, 64:]
    assert on[:present, :32].any() and not on[:present, 32:].any()
    assert off[:present, 32:].any() and not off[:present, :32].any()
    # the negative swaps the roles of the lines
    assert on[present:present + negative, 32:].any()
    assert not on[present:present + negative, :32].any()
    assert not raster[present + negative:].any()
    assert U.encode(image, recipe, 3).shape == (1, recipe.eval_steps, recipe.inputs)


def test_labelling_and_votes():
    counts = np.array([[5, 0, 1], [4, 0, 0], [0, 3, 0], [0, 6, 2]])
    labels = np.array([0, 0, 1, 1])
    neuron_label = U.label_neurons(counts, labels)
    assert neuron_label.tolist() == [0, 1, 1]
    assert U.label_neurons(np.zeros((2, 2)), np.array([0, 1])).tolist() == [-1, -1]
    assert U.classify(np.array([[0, 2, 0], [3, 0, 0]]), neuron_label).tolist() == [1, 0]


def test_wins_rank_the_top_neurons_of_each_sample():
    counts = np.array([[5, 7, 1], [2, 2, 0], [0, 0, 0]])
    assert U.wins(counts, 1).tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert U.wins(counts, 2).tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]


def test_labelling_by_rank_and_top_k_votes():
    # neuron 0 is the top neuron of the class-0 samples, neuron 2 of the class-1 samples;
    # neuron 1 responds most on average to class 1 but is never the top neuron
    counts = np.array([[9, 5, 0], [8, 6, 1], [1, 7, 9], [0, 8, 9]])
    labels = np.array([0, 0, 1, 1])
    assert U.label_neurons(counts, labels).tolist() == [0, 1, 1]
    by_rank = U.label_neurons(counts, labels, top=1)
    assert by_rank.tolist() == [0, -1, 1]
    # the unlabelled neuron 1 has the highest count here but does not vote
    assert U.classify(np.array([[3, 9, 1], [1, 9, 3]]), by_rank, top=1).tolist() == [0, 1]
    labels3 = np.array([0, 1, 1, -1])
    votes = np.array([[9, 8, 7, 10], [9, 1, 2, 10]])
    assert U.classify(votes, labels3, top=1).tolist() == [0, 0]
    assert U.classify(votes, labels3, top=3).tolist() == [1, 1]     # two votes for class 1
    # a tie of votes goes to the class of the better-ranked neuron
    assert U.classify(np.array([[1, 5, 0, 0]]), np.array([0, 1, 2, 3]), top=2).tolist() == [1]


def test_unknown_readout_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="spikes, drive"):
        U.UnsupervisedRecipe(readout="membrane")
    with pytest.raises(ValueError, match="at least 1"):
        U.UnsupervisedRecipe(vote_top=0)


def test_drive_readout_parameters_and_a_silent_recurrent_matrix_while_evaluating():
    recipe = U.UnsupervisedRecipe(readout="drive", eval_steps=16)
    config = recipe.config()
    params = U.eval_params(recipe, np.full(recipe.neurons, 500))
    assert (params.thr == recipe.eval_thr).all() and (params.reset_sub == 1).all()
    assert (params.refrac == 0).all() and (params.theta_inc == 0).all()
    assert (params.alpha_v == (1 << config.decay_bits) - 1).all()

    class Recording(D.TwinBackend):
        recurrent_during_runs = []

        def run_batch(self, rasters):
            self.recurrent_during_runs.append(np.abs(self.twin.W[:recipe.neurons]).max())
            return super().run_batch(rasters)

    data = D.load_data(recipe)
    data.x_train, data.y_train = data.x_train[:20], data.y_train[:20]
    data.x_test, data.y_test = data.x_test[:8], data.y_test[:8]
    backend = Recording()
    U.train(backend, recipe, data, np.random.default_rng(recipe.seed), evaluate_epochs=False)
    weights, state = backend.weights(), U.read_state(backend)
    result = U.evaluate(backend, recipe, data)
    assert Recording.recurrent_during_runs == [0, 0]
    assert np.array_equal(backend.weights(), weights)          # inhibition restored
    for name, value in U.read_state(backend).items():
        assert np.array_equal(value, state[name]), name
    assert result["samples"] == 8 and 0.0 <= result["accuracy"] <= 1.0


def test_supervised_learning_curve_does_not_change_what_is_learned():
    recipe = D.RECIPES["lines"]
    runs = [D.run_recipe(recipe, D.TwinBackend(), train_samples=20, test_samples=10,
                         evaluate_epochs=curve) for curve in (False, True)]
    plain, curve = (run["train"] for run in runs)
    assert np.array_equal(plain["weights"], curve["weights"])
    assert runs[0]["accuracy"] == runs[1]["accuracy"]
    assert "accuracy" not in plain["epochs"][0]
    assert [0.0 <= record["accuracy"] <= 1.0 for record in curve["epochs"]] == [True, True]
    assert curve["epochs"][-1]["accuracy"] == runs[1]["accuracy"]
    assert sum(curve["epochs"][0]["weight_histogram"]) == int(curve["mask"].sum())


@pytest.mark.parametrize("readout", ["spikes", "drive"])
def test_unsupervised_learning_curve_does_not_change_what_is_learned(readout):
    recipe = U.UnsupervisedRecipe(epochs=2, readout=readout, eval_steps=64)
    data = D.load_data(recipe)
    data.x_train, data.y_train = data.x_train[:25], data.y_train[:25]
    data.x_test, data.y_test = data.x_test[:10], data.y_test[:10]
    runs = []
    for curve in (False, True):
        backend = D.TwinBackend()
        trained = U.train(backend, recipe, data, np.random.default_rng(recipe.seed),
                          evaluate_epochs=curve)
        runs.append((trained, U.read_state(backend)))
    (plain, plain_state), (curve, curve_state) = runs
    assert [("accuracy" in record) for record in curve["epochs"]] == [True, True]
    assert np.array_equal(plain["weights"], curve["weights"])
    assert plain["sr_seed"] == curve["sr_seed"]
    for name, value in plain_state.items():
        assert np.array_equal(value, curve_state[name]), name


def test_device_backend_writes_the_weight_matrix():
    from spikeforge.host.device import open_device

    recipe = U.UnsupervisedRecipe(neurons=12)
    network = U.build_network(recipe, np.random.default_rng(4))
    with open_device("model://", recipe.config()) as device:
        backend = D.DeviceBackend(device)
        backend.load(network)
        changed = network.W.copy()
        changed[:recipe.neurons] = 0
        changed[recipe.neurons:, 3] = 7
        backend.set_weights(changed)
        assert np.array_equal(backend.weights(), changed)
        assert np.array_equal(device.read_network().mask, network.mask)
