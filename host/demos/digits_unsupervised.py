"""Unsupervised digits: excitatory neurons that compete learn prototypes of scikit-learn's 8x8
digits with the core's own STDP (after Diehl & Cook, 2015). No label reaches the network while
it learns. Two recipes (:data:`RECIPES`):

``wta`` (the default)
---------------------

* ``neurons`` excitatory neurons, each with a plastic synapse from every image line (ON and OFF
  line per pixel; the input matrix, mask 1, weights in ``[w_min, w_max]``), and the fixed
  lateral inhibition ``inhibit`` on the recurrent matrix;
* the core's **winner-take-all** (``CoreConfig.winner_take_all``, global word ``wta``): of the
  neurons that reach their threshold in a step only the one with the largest margin spikes,
  and a spike restarts every membrane from ``v_reset`` in the next step, so each image is a
  race that one neuron wins, about once per image (the membrane integrates slowly:
  ``thr = 60000``, ``alpha_v = 0.999``, the floor ``v_min = 0``);
* STDP with the core's **weight-dependent term** (``CoreConfig.weight_decay``, global word
  ``a_decay``): when a neuron spikes, each of its weights moves by ``(a_plus * X - a_decay *
  W) >> stdp_shift`` (stochastically rounded), towards ``a_plus / a_decay`` times the line's
  pre trace ``X``: the winner's weights move towards the image it won, and the lines absent
  from it decay. No depression on arrival (``a_minus = 0``). This is online k-means, run by
  the core;
* the adaptive threshold (``theta_inc``; it decays by at least 1 per step) keeps a neuron
  that just won from taking the next images too;
* a learning rate that falls from epoch to epoch (``stdp_shifts``, one shift per epoch, set
  through the GLOBAL word between epochs); every epoch starts from a reset neuron state.

A training sample is ``present_steps`` steps of the rate-coded image and ``rest_steps`` silent
steps, all with learning on.

``negative-image`` (the recipe before the core had these two options)
---------------------------------------------------------------------

The same neurons and lateral inhibition, adaptive thresholds, and pair STDP dominated by
depression (``a_minus``), no winner-take-all; optionally (``inhibitory = K``) Diehl & Cook's
inhibitory population: the last ``K`` of the core's neurons form a pool that every excitatory
neuron drives (``pool_drive``) and that inhibits every excitatory neuron (``pool_inhibit``).
Each training sample is ``present_steps`` steps of the image, then ``negative_steps`` steps of
its negative (each line at the rate of ``1 - pixel``), then ``rest_steps`` silent steps.

Why the negative: pair STDP changes a synapse only when its line spikes. A neuron that wins an
image is potentiated on the lines that spiked before its spikes; lines that stay silent in the
image would never be depressed, and the receptive field would grow into the union of every
image the neuron ever won. The negative image arrives while the winner's post trace ``y`` is
still high, so the lines *absent* from the image are depressed by ``a_minus * y`` (post before
pre). The ``wta`` recipe's weight-dependent term does this directly.

In both, the network is never reset within an epoch while it learns, exactly as a core would
run, and ``theta`` carries over from sample to sample.

Labelling and evaluation (learning off)
----------------------------------------

After learning, ``theta`` is read back and folded into the thresholds (``thr + theta``,
``theta_inc = 0``), the neuron state is reset before every sample, and

1. every training image is presented once; each neuron is labelled with the class for which it
   spiked most on average (a neuron that never spiked gets no label);
2. every test image is presented; the predicted class is the one whose labelled neurons spiked
   most on average (ties: the lowest class; no spike at all: class 0 counts as a miss like any
   other wrong answer).

The labels are used only here, after learning, by the host. With ``wta`` the winner-take-all
stays on while labelling and testing: a sample's spikes are the wins of its races.

That is the ``spikes`` readout. The ``drive`` readout (``readout="drive"``) sets the recurrent
weights to 0 while labelling and testing (and writes them back afterwards) and makes every
neuron count its input drive (threshold ``eval_thr``, subtractive reset, no refractory period,
the slowest leak); a neuron is labelled with the class whose samples it is the top-counting
neuron of most often, and a test sample goes to the label of the top-counting labelled neuron
(or the majority of the ``vote_top`` best); the winner-take-all is off for it.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from spikeforge.config import CoreConfig

from ..model.params import GlobalParams, Network, NeuronParams
from ..model.quantize import fraction_factor
from .digits import CLASSES, PIXELS, checked_shifts, load_data, shift_of_epoch

__all__ = ["UnsupervisedRecipe", "RECIPES", "build_network", "encode", "train",
           "label_neurons", "classify", "evaluate", "run_recipe", "read_theta", "read_state",
           "write_state"]


#: the readouts of labelling and testing (see ``UnsupervisedRecipe.readout``)
READOUTS = ("spikes", "drive")


@dataclass(frozen=True)
class UnsupervisedRecipe:
    """Every hyperparameter of the unsupervised digits demo. The defaults are the wta recipe.

    Data and encoding
    -----------------
    test_size, split_seed, stratify :
        The split of :func:`spikeforge.host.demos.digits.load_data` (1,203 training and 594
        test samples).
    on_off : bool
        Two lines per pixel: ON fires with probability ``rate * p``, OFF with
        ``rate * (1 - p)``, ``p = pixel / 16``; every image then brings the same total input
        rate.
    rate : float
        Spike probability per step of a full-intensity line (Bernoulli, seeded numpy
        generator).
    present_steps, negative_steps, negative_rate, rest_steps :
        A training sample is ``present_steps`` steps of the image, then ``negative_steps``
        steps of its negative (``1 - pixel`` at ``negative_rate``), then ``rest_steps`` silent
        steps; evaluation samples are ``eval_steps`` image steps, each from a reset state.

    Network
    -------
    wta : bool
        Build the core's winner-take-all and switch it on (one winner per step, a spike
        restarts every membrane); excludes the inhibitory pool.
    neurons : int
        The core's neurons: ``neurons - inhibitory`` excitatory ones, then the inhibitory
        pool.
    inhibit : int
        Fixed recurrent weight from every excitatory neuron onto every other excitatory one.
    inhibitory : int
        Neurons of the inhibitory pool (0: none, the lateral inhibition ``inhibit`` alone).
        Every excitatory neuron drives every pool neuron with ``pool_drive``, every pool
        neuron inhibits every excitatory neuron with ``pool_inhibit``, nothing of the pool is
        plastic and no input line reaches it, so one excitatory spike makes the whole pool
        fire in the next step and brings ``inhibitory * pool_inhibit * 2^w_shift`` to every
        excitatory neuron in the step after.
    pool_drive, pool_inhibit, pool_thr, pool_alpha_i :
        The pool's weights (excitatory onto pool, pool onto excitatory), its neurons'
        threshold and current decay (reset to 0, no refractory period, no leak of ``v``, no
        adaptive threshold); ``pool_alpha_i > 0`` keeps a pool neuron firing for a few steps
        after one excitatory spike.
    thr, alpha_v, alpha_i, refrac, v_reset, v_min :
        LIF parameters; decay factors as fractions of 1 (``round(fraction * 2^F)``); ``v_min``
        the membrane floor.
    theta_inc, alpha_th :
        The adaptive threshold: increment per spike, decay factor per step (a fraction of 1).
    eval_steps : int
        Steps of image presentation of a labelling or test sample (longer than in training:
        more spikes, finer counts).
    readout : str
        ``"drive"``: labelling and test samples run without lateral inhibition (the recurrent
        weights are set to 0 for them and restored afterwards), every neuron at threshold
        ``eval_thr`` with subtractive reset, no refractory period and the slowest leak, so
        that its spike count measures its input drive; a neuron's response is being among the
        ``label_top`` highest counts of a sample (labelling), and the ``vote_top`` labelled
        neurons with the highest counts vote (classification). ``"spikes"``: the training
        network with inhibition, thresholds ``(thr + theta) * eval_thr_scale``; responses are
        spike counts, labels the class of the highest mean count, the vote the class whose
        labelled neurons spiked most on average.
    eval_thr, label_top, vote_top :
        The ``"drive"`` readout's threshold and ranks (see ``readout``).
    eval_thr_scale, eval_theta :
        ``"spikes"`` readout: thresholds are ``round((thr + theta) * eval_thr_scale)``
        (without ``eval_theta``: ``round(thr * eval_thr_scale)``).
    w_shift, init_low, init_high :
        Weight scaling, and the uniform integer range of the initial input weights.

    STDP
    ----
    w_min, w_max, a_plus, a_minus, stdp_shift, x_inc, y_inc, alpha_x, alpha_y :
        As in ``docs/model.md``; only the input synapses are plastic. Stochastic rounding is
        on; its seed is drawn from ``seed``.
    a_decay : int
        The weight-dependent term of potentiation (``docs/model.md``; 0: not built).
    stdp_shifts : tuple of int or None
        ``stdp_shift`` of each epoch (the last one repeats); None: ``stdp_shift`` throughout.

    Schedule
    --------
    epochs : int
        Passes over the training set, each in a fresh random order.
    seed : int
        Seeds the initial weights, the sample order, the training rasters and the rounding
        seed; the labelling and test rasters use ``default_rng([seed, 1])`` and
        ``default_rng([seed, 2])``.
    """

    test_size: float = 0.33
    split_seed: int = 42
    stratify: bool = True
    on_off: bool = True
    rate: float = 0.375
    present_steps: int = 32
    negative_steps: int = 0
    negative_rate: float = 0.25
    rest_steps: int = 16
    neurons: int = 100
    inhibit: int = -96
    inhibitory: int = 0
    pool_drive: int = 127
    pool_inhibit: int = -127
    pool_thr: int = 256
    pool_alpha_i: float = 0.8
    wta: bool = True
    thr: int = 60000
    alpha_v: float = 0.999
    alpha_i: float = 0.0
    refrac: int = 0
    v_reset: int = 0
    v_min: int = 0
    theta_inc: int = 1000
    alpha_th: float = 4095 / 4096
    eval_steps: int = 256
    readout: str = "spikes"
    eval_thr: int = 8000
    label_top: int = 1
    vote_top: int = 1
    eval_thr_scale: float = 0.7
    eval_theta: bool = True
    w_shift: int = 2
    init_low: int = 20
    init_high: int = 40
    w_min: int = 0
    w_max: int = 63
    a_plus: int = 14
    a_minus: int = 0
    a_decay: int = 32
    stdp_shift: int = 9
    stdp_shifts: tuple = (9, 9, 10, 10, 11, 11, 12, 12)
    x_inc: int = 16
    y_inc: int = 32
    alpha_x: float = 0.95
    alpha_y: float = 0.97
    epochs: int = 8
    seed: int = 1

    def __post_init__(self):
        if self.readout not in READOUTS:
            raise ValueError(f"readout {self.readout!r} is unknown: choose one of "
                             f"{', '.join(READOUTS)}")
        if not 0 <= self.inhibitory < self.neurons:
            raise ValueError(f"inhibitory must be at least 0 and below neurons "
                             f"({self.neurons}), not {self.inhibitory}: the pool leaves at "
                             f"least one excitatory neuron")
        checked_shifts(self)
        if self.wta and self.inhibitory:
            raise ValueError("an inhibitory pool and the winner-take-all exclude each other "
                             "(the pool's neurons would compete with the excitatory ones): "
                             "use the negative-image recipe (--recipe negative-image) for "
                             "the pool")
        if self.label_top < 1 or self.vote_top < 1:
            raise ValueError(f"label_top and vote_top must be at least 1, not "
                             f"{self.label_top} and {self.vote_top}")

    @property
    def excitatory(self):
        """The excitatory neurons (the first ``neurons - inhibitory`` of the core)."""
        return self.neurons - self.inhibitory

    @property
    def image_inputs(self):
        return PIXELS * (2 if self.on_off else 1)

    @property
    def inputs(self):
        return self.image_inputs

    def shift_of_epoch(self, epoch):
        """``stdp_shift`` of epoch ``epoch`` (0-based; see :func:`.digits.shift_of_epoch`)."""
        return shift_of_epoch(self, epoch)

    @property
    def train_steps_per_sample(self):
        return self.present_steps + self.negative_steps + self.rest_steps

    @property
    def eval_steps_per_sample(self):
        return self.eval_steps

    def config(self, **changes):
        """The :class:`CoreConfig` of the recipe: stochastic rounding and the floor on, the
        weight-dependent STDP term when ``a_decay > 0`` and the winner-take-all with
        ``wta``."""
        options = dict(stochastic_rounding=True, v_floor=True,
                       weight_decay=self.a_decay > 0, winner_take_all=bool(self.wta))
        options.update(changes)
        return CoreConfig(neurons=self.neurons, inputs=self.inputs, **options)

    def to_dict(self):
        return asdict(self)


#: the earlier recipe, before the core had a winner-take-all and the weight-dependent term:
#: depression-dominated pair STDP, each image followed by its negative, two epochs
NEGATIVE_IMAGE = dict(
    wta=False, a_decay=0, negative_steps=16, rest_steps=64, thr=12000, alpha_v=0.9, refrac=2,
    v_min=-12000, theta_inc=128, init_low=15, init_high=47, a_plus=16, a_minus=40,
    stdp_shift=11, stdp_shifts=None, x_inc=64, alpha_x=0.8, epochs=2)

#: the named unsupervised recipes (``spikeforge demo digits-unsupervised --recipe NAME``)
RECIPES = {"wta": UnsupervisedRecipe(),
           "negative-image": UnsupervisedRecipe(**NEGATIVE_IMAGE)}


# -- network --------------------------------------------------------------------------------------

def _neuron_params(recipe, config, thr=None, theta_inc=None):
    """The excitatory neurons' parameters (``thr`` may be an array over them), then the
    pool's."""
    def frac(value):
        return fraction_factor(value, config.decay_bits)

    e, k = recipe.excitatory, recipe.inhibitory

    def both(excitatory, pool):
        return np.concatenate([np.broadcast_to(np.asarray(excitatory, dtype=np.int64), (e,)),
                               np.full(k, pool, dtype=np.int64)])

    thr = recipe.thr if thr is None else np.asarray(thr)[:e] if np.ndim(thr) else thr
    return NeuronParams.full(
        config, thr=both(thr, recipe.pool_thr), v_reset=both(recipe.v_reset, 0), reset_sub=0,
        refrac=both(recipe.refrac, 0), alpha_v=both(frac(recipe.alpha_v), 0),
        alpha_i=both(frac(recipe.alpha_i), frac(recipe.pool_alpha_i)), bias=0,
        theta_inc=both(recipe.theta_inc if theta_inc is None else theta_inc, 0),
        alpha_th=both(frac(recipe.alpha_th), 0))


def build_network(recipe, rng=None):
    """The recipe's network with random initial input weights drawn from ``rng``."""
    if rng is None:
        rng = np.random.default_rng(recipe.seed)
    config = recipe.config()
    n = recipe.neurons

    def frac(value):
        return fraction_factor(value, config.decay_bits)

    options = {}
    if config.weight_decay:
        options["a_decay"] = recipe.a_decay
    if config.winner_take_all:
        options["wta"] = int(bool(recipe.wta))
    glob = GlobalParams(
        w_shift=recipe.w_shift, w_min=recipe.w_min, w_max=recipe.w_max,
        a_plus=recipe.a_plus, a_minus=recipe.a_minus, stdp_shift=recipe.shift_of_epoch(0),
        x_inc=recipe.x_inc, y_inc=recipe.y_inc, alpha_x=frac(recipe.alpha_x),
        alpha_y=frac(recipe.alpha_y), v_min=recipe.v_min,
        sr_seed=int(rng.integers(1, 1 << 32)), **options)
    e = recipe.excitatory
    W = np.zeros((config.rows, n), dtype=np.int64)
    mask = np.zeros((config.rows, n), dtype=bool)
    W[:e, :e] = recipe.inhibit
    np.fill_diagonal(W[:e, :e], 0)
    W[:e, e:n] = recipe.pool_drive
    W[e:n, :e] = recipe.pool_inhibit
    W[n:, :e] = rng.integers(recipe.init_low, recipe.init_high, size=(recipe.inputs, e),
                             endpoint=True)
    mask[n:, :e] = True
    return Network(config, _neuron_params(recipe, config), glob, W, mask).validate()


def eval_params(recipe, theta):
    """Neuron parameters of labelling and evaluation, no threshold adaptation.

    ``readout="drive"``: threshold ``eval_thr`` for every neuron, subtractive reset, no
    refractory period, the slowest leak the core has (``alpha_v = (2^F - 1) / 2^F``), so a
    neuron's spike count is its input drive (the weighted sum of the input spikes it received)
    divided by ``eval_thr``. ``readout="spikes"``: the training neuron with thresholds
    ``(thr + theta) * eval_thr_scale``."""
    config = recipe.config()
    top = (1 << (config.v_bits - 1)) - 1
    if recipe.readout == "drive":
        # the recurrent matrix is silent while the drive is measured: the pool gets nothing
        n = recipe.neurons
        return NeuronParams.full(
            config, thr=np.full(n, recipe.eval_thr), v_reset=0, reset_sub=1, refrac=0,
            alpha_v=(1 << config.decay_bits) - 1, alpha_i=0, bias=0, theta_inc=0,
            alpha_th=0).validate(config)
    theta = (np.asarray(theta, dtype=np.int64)[:recipe.excitatory] if recipe.eval_theta
             else 0)
    thr = np.clip(np.round((recipe.thr + theta)
                           * recipe.eval_thr_scale), 1, top).astype(np.int64)
    return _neuron_params(recipe, config, thr=thr, theta_inc=0).validate(config)


# -- encoding -------------------------------------------------------------------------------------

def _line_probabilities(images, recipe, rate, negative=False):
    q = np.clip(images, 0.0, 1.0)
    if negative:
        q = 1.0 - q
    p = q * rate
    if recipe.on_off:
        p = np.concatenate([p, rate - p], axis=1)
    return p


def encode(images, recipe, rng, train=False):
    """Bool rasters ``(samples, T, inputs)`` of ``images`` (``(samples, 64)`` in ``[0, 1]``).

    Evaluation (``train`` False): the image for ``eval_steps`` steps. Training: the image,
    then its negative (``1 - pixel``) at ``negative_rate`` for ``negative_steps`` steps, then
    ``rest_steps`` silent steps."""
    rng = np.random.default_rng(rng)
    images = np.asarray(images, dtype=float).reshape(-1, PIXELS)
    samples = images.shape[0]
    present = recipe.present_steps if train else recipe.eval_steps
    steps = recipe.train_steps_per_sample if train else present
    raster = np.zeros((samples, steps, recipe.inputs), dtype=bool)
    p = _line_probabilities(images, recipe, recipe.rate)
    raster[:, :present] = rng.random((samples, present, recipe.inputs)) < p[:, None, :]
    if train and recipe.negative_steps:
        p = _line_probabilities(images, recipe, recipe.negative_rate, negative=True)
        end = present + recipe.negative_steps
        raster[:, present:end] = (rng.random((samples, recipe.negative_steps, recipe.inputs))
                                  < p[:, None, :])
    return raster


def describe_encoding(recipe):
    text = (f"rate coding: each step a pixel's line spikes with probability {recipe.rate} * "
            f"pixel/16")
    if recipe.on_off:
        text += f", its OFF line with {recipe.rate} * (1 - pixel/16)"
    negative = (f"{recipe.negative_steps} steps of the negative image at rate "
                f"{recipe.negative_rate} and " if recipe.negative_steps else "")
    return (text + f"; {recipe.present_steps} image steps per training sample ("
            f"{recipe.eval_steps} per labelling or test sample), followed in training by "
            f"{negative}{recipe.rest_steps} silent steps; no label is presented")


# -- backend helpers ------------------------------------------------------------------------------

def read_theta(backend):
    """The adaptive-threshold offsets held by ``backend`` (a twin or a device backend)."""
    twin = getattr(backend, "twin", None)
    if twin is not None:
        return np.array(twin.theta, dtype=np.int64)
    return np.asarray(backend.device.read_state()["theta"], dtype=np.int64)


#: the neuron and trace state an evaluation saves and restores
_STATE = ("v", "i", "r", "s", "theta", "x", "y", "xin")


def read_state(backend):
    """Copies of the neuron and trace state (``v, i, r, s, theta, x, y, xin``) of ``backend``."""
    twin = getattr(backend, "twin", None)
    state = twin.state_dict() if twin is not None else backend.device.read_state()
    return {name: np.array(state[name]) for name in _STATE}


def write_state(backend, state):
    """Write state arrays read by :func:`read_state` back into ``backend``."""
    twin = getattr(backend, "twin", None)
    if twin is not None:
        twin.load_state(state)
    else:
        backend.device.write_state(state)


def _sr_seed(backend):
    twin = getattr(backend, "twin", None)
    if twin is not None:
        return int(twin.sr_seed)
    from ...rtl.regions import Region, unpack_region

    device = backend.device
    return int(unpack_region(device.config, Region.GLOBAL,
                             device.read_region(Region.GLOBAL))["sr_seed"])


def _responses(backend, recipe, rasters):
    """Spike counts ``(samples, excitatory)`` of the excitatory neurons for every raster run
    from the reset state with learning off."""
    e = recipe.excitatory
    batched = getattr(backend, "run_batch", None)
    out = batched(rasters) if batched else None
    if out is not None:
        return out.sum(axis=1)[:, :e]
    counts = np.zeros((len(rasters), e), dtype=np.int64)
    for k, raster in enumerate(rasters):
        backend.reset()
        counts[k] = backend.run(raster, False).sum(axis=0)[:e]
    return counts


# -- labelling and classification -----------------------------------------------------------------

def wins(counts, top):
    """``(samples, neurons)`` 0/1: 1 for the ``top`` neurons with the highest counts of each
    sample (ties: the lower neuron index first); none for a sample without any spike."""
    counts = np.asarray(counts)
    order = np.argsort(-counts, axis=1, kind="stable")[:, :top]
    out = np.zeros(counts.shape, dtype=np.int64)
    np.put_along_axis(out, order, 1, axis=1)
    out[counts.sum(axis=1) == 0] = 0
    return out


def label_neurons(counts, labels, top=None):
    """Each neuron's class: its strongest class response over the training samples, -1 for a
    neuron without any response.

    ``top=None``: the response is the spike count (the class with the highest mean count).
    ``top=k``: the response is being among the ``k`` neurons with the highest counts of a
    sample (the class whose samples the neuron ranks among the top ``k`` of most often, as a
    fraction of the class's samples)."""
    labels = np.asarray(labels, dtype=np.int64)
    response = np.asarray(counts) if top is None else wins(counts, top)
    mean = np.stack([response[labels == c].mean(axis=0) if np.any(labels == c)
                     else np.zeros(response.shape[1]) for c in range(CLASSES)])
    neuron_label = mean.argmax(axis=0)
    neuron_label[response.sum(axis=0) == 0] = -1
    return neuron_label


def classify(counts, neuron_label, top=None):
    """Predicted classes ``(samples,)`` from the labelled neurons' votes.

    ``top=None``: the class whose labelled neurons spiked most on average (ties: the lowest
    class). ``top=k``: the ``k`` labelled neurons with the highest counts vote with their
    labels (ties between neurons: the lower index first; a tie of votes goes to the class of
    the higher-ranked neuron)."""
    counts = np.asarray(counts)
    if top is None:
        votes = np.zeros((counts.shape[0], CLASSES))
        for c in range(CLASSES):
            members = neuron_label == c
            if members.any():
                votes[:, c] = counts[:, members].mean(axis=1)
        return votes.argmax(axis=1)
    labelled = np.flatnonzero(neuron_label >= 0)
    if labelled.size == 0:
        return np.zeros(counts.shape[0], dtype=np.int64)
    order = np.argsort(-counts[:, labelled], axis=1, kind="stable")[:, :top]
    ranked = neuron_label[labelled][order]                       # (samples, k) classes
    tally = np.zeros((counts.shape[0], CLASSES), dtype=np.int64)
    np.add.at(tally, (np.arange(counts.shape[0])[:, None], ranked), 1)
    # the best-ranked neuron's class wins a tie of votes
    first = np.full((counts.shape[0], CLASSES), top, dtype=np.int64)
    for k in range(ranked.shape[1] - 1, -1, -1):
        first[np.arange(counts.shape[0]), ranked[:, k]] = k
    return np.array([np.lexsort((f, -t))[0] for t, f in zip(tally, first)], dtype=np.int64)


def evaluate(backend, recipe, data, seed=None):
    """Label the neurons on the training set and classify the test set, learning off.

    The backend's ``theta`` is folded into the thresholds; afterwards the training
    parameters and the whole neuron state are restored, so training continues exactly as if
    no evaluation had happened. Returns accuracy,
    confusion, neuron labels, theta and spike statistics.
    """
    seed = recipe.seed if seed is None else seed
    start = time.perf_counter()
    saved = read_state(backend)
    theta = saved["theta"]
    train_params = build_network(recipe, np.random.default_rng(0)).neuron_params
    backend.set_params(eval_params(recipe, theta))
    weights = None
    drive = recipe.readout == "drive"
    if drive:
        # no lateral inhibition while the responses are measured: each neuron's count
        # follows its own input drive, not which neuron fired first
        weights = backend.weights()
        silent = weights.copy()
        silent[:recipe.neurons] = 0                # the pool falls silent with it
        backend.set_weights(silent)
        if recipe.wta:
            backend.set_global(wta=0)
    train_counts = _responses(backend, recipe,
                              encode(data.x_train, recipe, np.random.default_rng([seed, 1])))
    test_counts = _responses(backend, recipe,
                             encode(data.x_test, recipe, np.random.default_rng([seed, 2])))
    label_top = vote_top = None
    if recipe.readout == "drive":
        label_top, vote_top = recipe.label_top, recipe.vote_top
    neuron_label = label_neurons(train_counts, data.y_train, label_top)
    predictions = classify(test_counts, neuron_label, vote_top)
    labels = np.asarray(data.y_test, dtype=np.int64)
    confusion = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    # back to training: its weights, parameters and the whole neuron state as it was, so that
    # an evaluation between epochs changes nothing that is learned afterwards
    if weights is not None:
        backend.set_weights(weights)
    if drive and recipe.wta:
        backend.set_global(wta=1)
    backend.set_params(train_params)
    write_state(backend, saved)
    return {"accuracy": float(np.mean(predictions == labels)) if len(labels) else 0.0,
            "train_accuracy": float(np.mean(classify(train_counts, neuron_label, vote_top)
                                            == data.y_train)),
            "confusion": confusion, "predictions": predictions,
            "neuron_label": neuron_label, "theta": theta[:recipe.excitatory],
            "labelled_neurons": int(np.sum(neuron_label >= 0)),
            "spikes_per_sample": float(test_counts.sum(axis=1).mean()) if len(labels) else 0.0,
            "silent_test_samples": int(np.sum(test_counts.sum(axis=1) == 0)),
            "samples": len(labels), "wall_s": time.perf_counter() - start}


# -- training -------------------------------------------------------------------------------------

def weight_histogram(recipe, weights):
    """Counts of the plastic weights (input lines onto excitatory neurons) in one bin per
    integer value of ``[w_min, w_max]``; returns ``(counts, edges)``."""
    edges = np.arange(recipe.w_min, recipe.w_max + 2) - 0.5
    counts, _ = np.histogram(np.asarray(weights)[recipe.neurons:, :recipe.excitatory],
                             bins=edges)
    return counts, edges


def train(backend, recipe, data, rng=None, log=None, evaluate_epochs=True, on_epoch=None,
          stop_after=None):
    """Load the recipe's network into ``backend`` and learn ``data.x_train`` unsupervised.

    After every epoch (``evaluate_epochs``) the network is labelled and evaluated, and
    ``on_epoch(epoch, backend, evaluation)`` is called. ``stop_after``: stop after that many
    samples (for prefix comparisons). Returns weights, per-epoch records and statistics.
    """
    if rng is None:
        rng = np.random.default_rng(recipe.seed)
    network = build_network(recipe, rng)
    backend.load(network)
    backend.reset()
    n, e = recipe.neurons, recipe.excitatory
    epochs, samples, spikes = [], 0, 0
    neuron_spikes = np.zeros(n, dtype=np.int64)
    start = time.perf_counter()
    done = False
    evaluation = None
    for epoch in range(recipe.epochs):
        if epoch and recipe.stdp_shifts is not None:
            # a new learning rate for the epoch, and every epoch from a reset neuron state
            # (theta, traces, membranes 0); the weights carry over
            backend.set_global(stdp_shift=recipe.shift_of_epoch(epoch))
            backend.reset()
        order = rng.permutation(len(data.y_train))
        rasters = encode(data.x_train[order], recipe, rng, train=True)
        epoch_spikes = np.zeros(n, dtype=np.int64)
        epoch_winners = epoch_samples = 0
        for raster in rasters:
            out = backend.run(raster, True)
            epoch_spikes += out.sum(axis=0)
            # winners: the distinct excitatory neurons that spiked during the sample
            epoch_winners += int(out[:, :e].any(axis=0).sum())
            epoch_samples += 1
            samples += 1
            if stop_after is not None and samples >= stop_after:
                done = True
                break
        spikes += int(epoch_spikes[:e].sum())
        neuron_spikes += epoch_spikes
        learned = max(1, epoch_samples)
        record = {"epoch": epoch + 1, "samples": samples,
                  "active_neurons": int(np.sum(epoch_spikes[:e] > 0)),
                  "train_spikes_per_sample": float(epoch_spikes[:e].sum()) / learned,
                  "winners_per_image": epoch_winners / learned,
                  "wall_s": time.perf_counter() - start}
        evaluation = None
        if evaluate_epochs and not done:
            evaluation = evaluate(backend, recipe, data)
            theta = evaluation["theta"]
            record.update(accuracy=evaluation["accuracy"],
                          train_accuracy=evaluation["train_accuracy"],
                          labelled_neurons=evaluation["labelled_neurons"],
                          weight_histogram=weight_histogram(recipe, backend.weights())[0],
                          theta_percentiles=np.percentile(theta, [0, 25, 50, 75, 100]))
            if on_epoch:
                on_epoch(epoch + 1, backend, evaluation)
        epochs.append(record)
        if log:
            text = f"epoch {epoch + 1}/{recipe.epochs}: {record['wall_s']:.1f} s"
            if "accuracy" in record:
                text += f", test accuracy {record['accuracy']:.1%}"
            log(text)
        if done:
            break
    return {"initial_weights": network.W, "weights": backend.weights(), "mask": network.mask,
            "samples": samples, "steps": samples * recipe.train_steps_per_sample,
            "steps_per_sample": recipe.train_steps_per_sample,
            "spikes_per_sample": spikes / max(1, samples), "epochs": epochs,
            "neuron_spikes": neuron_spikes,
            "sr_seed": _sr_seed(backend), "evaluation": evaluation,
            "wall_s": time.perf_counter() - start}


def run_recipe(recipe=None, backend=None, log=None, *, train_samples=None, test_samples=None,
               evaluate_epochs=True, on_epoch=None):
    """Split, learn unsupervised, label and evaluate. Returns a dict of the results."""
    from .digits import TwinBackend

    recipe = recipe or UnsupervisedRecipe()
    backend = backend or TwinBackend()
    data = load_data(recipe)
    if train_samples is not None:
        data.x_train, data.y_train = data.x_train[:train_samples], data.y_train[:train_samples]
    if test_samples is not None:
        data.x_test, data.y_test = data.x_test[:test_samples], data.y_test[:test_samples]
    start = time.perf_counter()
    trained = train(backend, recipe, data, np.random.default_rng(recipe.seed), log=log,
                    evaluate_epochs=evaluate_epochs, on_epoch=on_epoch)
    test = trained.pop("evaluation", None) or evaluate(backend, recipe, data)
    return {"recipe": recipe.to_dict(),
            "backend": getattr(backend, "name", type(backend).__name__),
            "config": recipe.config().describe(), "split": data.split,
            "encoding": describe_encoding(recipe), "accuracy": test["accuracy"],
            "confusion": test["confusion"], "train": trained, "test": test,
            "wall_s": time.perf_counter() - start}
