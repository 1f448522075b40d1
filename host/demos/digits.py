"""Digits demo: a spiking classifier of scikit-learn's 8x8 digits that learns with the core's
own STDP rule.

Nothing is trained off-chip. The host draws small random initial weights, chooses the
hyperparameters, streams spike rasters into the core with learning on, and reads the learned
weights back only to report them. Learning is supervised: one teacher input line per class
makes the output neuron of the sample's class spike at the end of each training sample.

How pair-based STDP (``docs/model.md``) becomes an error-correcting rule
--------------------------------------------------------------------------

A training sample is ``free_steps + teach_steps`` steps long.

* **Free phase** (``free_steps``): the image is presented (rate coding, one line per pixel),
  the teacher lines are silent, and every output neuron is free to respond. The STDP window is
  unbalanced towards depression (``a_minus`` times the post-trace window exceeds ``a_plus``
  times the pre-trace window), so a neuron that spikes *while the image is still streaming in*
  sees more pre-after-post pairs (depression, phase A) than pre-before-post pairs
  (potentiation, phase C): each free-phase spike costs its neuron weight on the image's active
  lines, in proportion to their rates.
* **Teaching phase** (``teach_steps``): the image stops and the teacher line of the label
  spikes in every step. It drives the label's relay neurons, which spike from the next step on;
  teacher line and relays together push the labelled output neuron over its threshold and hold
  every other output neuron down. The labelled neuron's spikes now come *after* the image with
  nothing arriving after them: pure potentiation, in proportion to the slowly decaying pre
  traces ``xin`` of the image's lines.

Together the two phases act as a one-vs-rest perceptron with a fixed threshold: a neuron that
spikes for another class's image is depressed on that image's active lines, the labelled neuron
is potentiated until it spikes for its images by itself, and the two terms balance when it
spikes about ``(potentiation per teaching spike) / (net depression per free spike)`` times per
image of its class.

The margin-gated teacher (``gate``, the ``hinge`` recipe)
---------------------------------------------------------

The rule above regresses every neuron's free-phase count towards a target on every sample (a
least-squares one-vs-rest). With ``gate`` set, the host first runs the free phase with learning
off and reads the output spike counts; a sample on which the labelled class wins by the margin
is not learned from, and on the others only the erring neurons learn (the plasticity mask is
restricted to them). With ``split_phases`` the free phase learns with the mask of the erring
wrong neurons only (depression) and the teaching phase with the mask of the erring labelled
neurons only (potentiation): a hinge-like update. Learning stays on the device; the host only
chooses the runs with learning on and their masks.

Evaluation presents the image only (``eval_steps`` steps, by default ``free_steps``; teacher
silent, learning off). The
output thresholds are lowered to ``eval_thr`` for it so that the spike counts resolve the
summed weighted input finely; the predicted class is the output neuron with most spikes (ties:
the earliest first spike, then the lowest class).

Neuron state (``v, i, r, s, theta`` and the traces ``x, y, xin``) is reset before every sample;
the recipe does not use the adaptive threshold, so nothing is kept across samples.

The backend interface
---------------------

:func:`train` and :func:`evaluate` talk to a backend object with five methods:

* ``load(network)`` — load a :class:`~spikeforge.host.model.params.Network` (weights, plasticity
  mask, neuron and global parameters), once;
* ``set_params(neuron_params)`` — replace the per-neuron parameters, keeping weights and mask
  (used once, before the evaluation, to set the evaluation thresholds);
* ``reset()`` — zero the neuron state (every per-neuron and per-input state variable), keeping
  weights, mask and parameters;
* ``run(raster, learn)`` — one step per row of a bool ``(T, M)`` input raster, STDP on or off;
  returns the bool ``(T, N)`` spike raster;
* ``weights()`` — the current ``(N+M, N)`` weight matrix;
* ``set_weights(W)`` — replace the ``(N+M, N)`` weight matrix, keeping mask, parameters and
  state (the unsupervised recipe's evaluation silences the recurrent matrix with it);
* ``set_global(**fields)`` — change global parameters (``stdp_shift``), keeping the others,
  the rounding seed, weights, mask and state;
* ``set_mask(mask)`` — replace the ``(N+M, N)`` plasticity mask, keeping everything else
  (the margin-gated teacher, ``gate``, restricts learning to the erring neurons);
* optionally ``run_batch(rasters)`` — every raster of ``(S, T, M)`` run from the reset state
  with learning off, as ``reset()`` and ``run(raster, False)`` one after another would, in one
  batch; returns the ``(S, T, N)`` spikes, or None when it cannot (the evaluation then runs
  the samples one by one).

:class:`TwinBackend` implements it with the twin (compiled when numba is installed);
:class:`DeviceBackend` with any device, batching the evaluation on ``model://``.
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from spikeforge._extras import require
from spikeforge.config import CoreConfig

from ..model.fast import BatchTwin, make_twin
from ..model.params import GlobalParams, Network, NeuronParams
from ..model.quantize import fraction_factor

__all__ = ["DigitsRecipe", "RECIPES", "DigitsData", "TwinBackend", "DeviceBackend", "load_data",
           "build_network",
           "eval_params", "encode", "train", "evaluate", "predict", "run_recipe",
           "neuron_class", "input_layout", "erring_outputs", "learning_runs", "CLASSES"]

CLASSES = 10
PIXELS = 64
PIXEL_MAX = 16  # load_digits pixel values are 0..16


def checked_shifts(recipe):
    """Normalise a recipe's ``stdp_shifts`` (one shift per epoch, or None) to a tuple of ints,
    refusing an empty schedule or a shift outside 0..31 (for ``__post_init__``)."""
    if recipe.stdp_shifts is None:
        return
    object.__setattr__(recipe, "stdp_shifts", tuple(int(k) for k in recipe.stdp_shifts))
    if not recipe.stdp_shifts or not all(0 <= k <= 31 for k in recipe.stdp_shifts):
        raise ValueError(f"stdp_shifts {recipe.stdp_shifts} must be one or more "
                         f"values in 0..31 (one per epoch, the last one repeats)")


def shift_of_epoch(recipe, epoch):
    """``stdp_shift`` of epoch ``epoch`` (0-based): ``stdp_shifts[epoch]`` (its last entry past
    its end), or the recipe's ``stdp_shift`` without a schedule."""
    if recipe.stdp_shifts is None:
        return recipe.stdp_shift
    return recipe.stdp_shifts[min(epoch, len(recipe.stdp_shifts) - 1)]


@dataclass(frozen=True)
class DigitsRecipe:
    """Every hyperparameter of the digits demo. The defaults are the recipe.

    Data and encoding
    -----------------
    test_size, split_seed, stratify :
        ``train_test_split(X, y, test_size=test_size, random_state=split_seed,
        stratify=y if stratify else None)`` on ``sklearn.datasets.load_digits()``, ``X`` the
        pixels divided by 16: 1,203 training and 594 test samples.
    on_off : bool
        Two lines per pixel: ON fires with probability ``rate * p``, OFF with
        ``rate * (1 - p)``, ``p = pixel / 16``. Off by default: one (ON) line per pixel.
    rate : float
        Spike probability per step of a full-intensity pixel (Bernoulli rate coding from a
        seeded numpy generator).
    free_steps : int
        Steps of image presentation: the free phase of a training sample, and the whole of an
        evaluation sample unless ``eval_steps`` is set.
    eval_steps : int or None
        Steps of an evaluation sample (None: ``free_steps``); longer presentations give finer
        spike counts.
    teach_steps : int
        Steps of the teaching phase appended to each training sample: the image is silent and
        the teacher lines of the label spike in every step.

    Network
    -------
    neurons_per_class : int
        Output neurons per class; the outputs are neurons ``0 .. 10 * neurons_per_class - 1``.
    relays_per_class : int
        Relay neurons per class (neurons ``outputs ..``). A relay spikes in every step in which
        its class's teacher line spikes (threshold 1, no memory) and passes the teaching drive
        on through the recurrent matrix one step later, with the same fixed weights as a
        teacher line: the teaching drive of the labelled output is
        ``(teacher_lines + relays_per_class) * teacher_weight`` per step. A single 8-bit
        teacher synapse is far weaker than a threshold that many image spikes must add up to;
        the relays make up the difference. They have no image synapses and never spike outside
        the teaching phase.
    teacher_lines : int
        Teacher input lines per class (all spike together).
    teacher_weight, teacher_inhibit : int
        Fixed weight of a teacher line or relay onto the outputs of its class, and onto every
        other output.
    thr, alpha_v, alpha_i, refrac, v_reset, reset_sub :
        LIF parameters of the output neurons during training (``docs/model.md``); decay
        factors as fractions of 1, converted to ``round(fraction * 2^F)``.
    eval_thr : int
        Threshold of the output neurons during evaluation (0: keep ``thr``).
    w_shift : int
        Accumulated weights enter the current multiplied by ``2^w_shift``.
    v_min : int or None
        The membrane floor (``v_floor`` is built into the core when it is set); None: no floor.
    init_low, init_high : int
        Initial image weights are uniform integers in ``[init_low, init_high]``.

    STDP (global parameters of the core)
    ------------------------------------
    w_min, w_max, a_plus, a_minus, stdp_shift, x_inc, y_inc, alpha_x, alpha_y :
        As in ``docs/model.md``; decay factors as fractions of 1. Only the image synapses of
        the outputs are plastic (mask 1); teacher, relay and recurrent synapses are fixed.
    stochastic_rounding : bool
        Build the core with stochastic rounding of the STDP updates (the rounding seed is drawn
        from ``seed``).

    Margin-gated teacher
    --------------------
    gate : None, "sample", "neuron" or "class"
        None: every training sample is run once with learning on (free phase, then teaching
        phase). Otherwise each sample's free phase is first run with learning off, and the
        host reads the output neurons' spike counts (:func:`erring_outputs`). ``"neuron"``
        and ``"sample"``: a neuron of the labelled class *errs* when it spiked fewer than
        ``count_high`` times, a neuron of any other class when it spiked more than
        ``count_low`` times. ``"class"``: with class scores the summed counts of each class's
        neurons, the labelled class's neurons err when its score is below the best other
        score plus ``count_high``, a neuron of another class when it spiked more than
        ``count_low`` times and its class's score plus ``count_high`` exceeds the labelled
        score. A sample with no erring neuron is not learned from. ``"sample"``: a sample
        with an erring neuron is run again from the reset state, free and teaching phase,
        with learning on for every output neuron. ``"neuron"`` and ``"class"``: the same, with
        the plasticity mask of the run restricted to the erring neurons' columns (the mask is
        written to the device when it changes, and whole again after each epoch), so a neuron
        that responds as it should learns nothing from the sample: a hinge-like update
        instead of the delta rule.
    count_high, count_low : int
        The margins of ``gate``, in spikes over the free phase.
    split_phases : bool
        With ``gate = "neuron"`` or ``"class"``: the erring sample's free phase learns with the
        mask of the erring neurons of other classes only, its teaching phase (run on from the
        state the free phase left) with the mask of the erring labelled neurons only: a wrong
        response is only depressed, a missing one only potentiated.

    Schedule
    --------
    epochs : int
        Passes over the training set, each in a fresh random order.
    stdp_shifts : tuple of int or None
        ``stdp_shift`` of each epoch (the last one for any later epoch): a learning rate that
        halves with each step up. Written into the core's global parameters before the epoch
        (read back first, so the stochastic-rounding seed carries on). None: ``stdp_shift``
        throughout.
    seed : int
        Seeds the initial weights, the sample order and the training rasters; the evaluation
        rasters use ``numpy.random.default_rng([seed, 1])``.
    """

    # data and encoding
    test_size: float = 0.33
    split_seed: int = 42
    stratify: bool = True
    on_off: bool = False
    rate: float = 0.5
    free_steps: int = 48
    eval_steps: int = None
    teach_steps: int = 8
    # network
    neurons_per_class: int = 1
    relays_per_class: int = 9
    teacher_lines: int = 1
    teacher_weight: int = 127
    teacher_inhibit: int = -128
    thr: int = 6000
    alpha_v: float = 0.9
    alpha_i: float = 0.0
    refrac: int = 0
    v_reset: int = 0
    reset_sub: int = 1
    eval_thr: int = 1000
    w_shift: int = 0
    v_min: int = None
    init_low: int = -4
    init_high: int = 4
    # STDP
    w_min: int = -64
    w_max: int = 127
    a_plus: int = 16
    a_minus: int = 56
    stdp_shift: int = 10
    x_inc: int = 24
    y_inc: int = 64
    alpha_x: float = 0.9375
    alpha_y: float = 0.75
    stochastic_rounding: bool = False
    # margin-gated teacher
    gate: str = None
    count_high: int = 1
    count_low: int = 0
    split_phases: bool = False
    # schedule
    stdp_shifts: tuple = None
    epochs: int = 2
    seed: int = 1

    def __post_init__(self):
        if self.gate not in (None, "sample", "neuron", "class"):
            raise ValueError(f"gate {self.gate!r} is unknown: use None, 'sample', 'neuron' "
                             f"or 'class'")
        checked_shifts(self)
        if self.count_high < 0 or self.count_low < 0:
            raise ValueError(f"count_high ({self.count_high}) and count_low "
                             f"({self.count_low}) must be >= 0")

    @property
    def outputs(self):
        """Output (classifying) neurons: ``0 .. outputs-1``."""
        return CLASSES * self.neurons_per_class

    @property
    def neurons(self):
        return CLASSES * (self.neurons_per_class + self.relays_per_class)

    @property
    def image_inputs(self):
        return PIXELS * (2 if self.on_off else 1)

    @property
    def inputs(self):
        return self.image_inputs + CLASSES * self.teacher_lines

    @property
    def train_steps_per_sample(self):
        return self.free_steps + self.teach_steps

    @property
    def eval_steps_per_sample(self):
        return self.free_steps if self.eval_steps is None else self.eval_steps

    def config(self, **changes):
        """The :class:`CoreConfig` of the recipe (default widths)."""
        if self.stochastic_rounding:
            changes.setdefault("stochastic_rounding", True)
        if self.v_min is not None:
            changes.setdefault("v_floor", True)
        return CoreConfig(neurons=self.neurons, inputs=self.inputs, **changes)

    def to_dict(self):
        return asdict(self)


#: The named recipes of ``spikeforge demo digits --recipe``. ``relays``: the original recipe (one
#: teacher line amplified by nine relay neurons per class). ``lines``: no relay neurons; twelve
#: teacher input lines per class, two output neurons per class, stochastic rounding of the STDP
#: updates and the membrane floor. ``hinge``: the ``lines`` network with the margin-gated
#: teacher (a sample is learned from only when its class did not win the free phase by 3
#: spikes; the free phase then depresses only the rival classes' responding neurons, the
#: teaching phase potentiates only the labelled class), every pixel line at rate 1, six
#: epochs at a learning rate halved every second epoch.
RECIPES = {
    "relays": DigitsRecipe(),
    "lines": DigitsRecipe(
        relays_per_class=0, teacher_lines=12, neurons_per_class=2, teach_steps=12,
        eval_steps=256, eval_thr=2000, a_plus=16, a_minus=24, x_inc=32, y_inc=96, alpha_x=0.9, alpha_y=0.85,
        w_min=-127, v_min=-20000, stochastic_rounding=True),
    "hinge": DigitsRecipe(
        relays_per_class=0, teacher_lines=12, neurons_per_class=2, teach_steps=12,
        eval_steps=256, eval_thr=2000, a_plus=16, a_minus=24, x_inc=32, y_inc=96,
        alpha_x=0.9, alpha_y=0.85, w_min=-127, v_min=-20000, stochastic_rounding=True, rate=1.0,
        gate="class", count_high=3, split_phases=True,
        epochs=6, stdp_shifts=(10, 10, 11, 11, 12, 12)),
}


def input_layout(recipe):
    """``{name: slice}`` of the input lines: ``on``, ``off`` (with ON/OFF coding) and
    ``teacher`` (teacher line ``k`` belongs to class ``k // teacher_lines``)."""
    layout = {"on": slice(0, PIXELS)}
    if recipe.on_off:
        layout["off"] = slice(PIXELS, 2 * PIXELS)
    layout["teacher"] = slice(recipe.image_inputs, recipe.inputs)
    return layout


# -- data -----------------------------------------------------------------------------------------

@dataclass
class DigitsData:
    """The split: images as ``pixel / 16`` in ``[0, 1]`` (float, ``(samples, 64)``) and
    integer labels; ``split`` describes how it was made."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: dict = field(default_factory=dict)


def load_data(recipe):
    """Load scikit-learn's digits and split them as the recipe says."""
    load_digits = require("sklearn.datasets", "demos", "the digits demo").load_digits
    train_test_split = require("sklearn.model_selection", "demos").train_test_split

    digits = load_digits()
    images = digits.data / PIXEL_MAX
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=recipe.test_size, random_state=recipe.split_seed,
        stratify=labels if recipe.stratify else None)
    split = {"call": (f"train_test_split(load_digits().data / 16, load_digits().target, "
                      f"test_size={recipe.test_size}, random_state={recipe.split_seed}, "
                      f"stratify={'y' if recipe.stratify else None})"),
             "train": int(len(y_train)), "test": int(len(y_test))}
    return DigitsData(x_train, y_train, x_test, y_test, split)


# -- network --------------------------------------------------------------------------------------

def _fraction(config, value):
    return fraction_factor(value, config.decay_bits)


def neuron_class(recipe):
    """The class of every neuron: output ``j < outputs`` belongs to class
    ``j // neurons_per_class``, relay ``outputs + j`` to class ``j // relays_per_class``."""
    outputs = np.arange(recipe.outputs) // recipe.neurons_per_class
    relays = np.arange(recipe.neurons - recipe.outputs) // max(1, recipe.relays_per_class)
    return np.concatenate([outputs, relays])


def build_network(recipe, rng=None):
    """The network of the recipe, with random initial image weights drawn from ``rng``.

    * Image rows onto the outputs: uniform in ``[init_low, init_high]``; the only plastic
      synapses. Image rows onto the relays: 0.
    * Teacher rows and relay rows: ``teacher_weight`` onto the outputs of their class,
      ``teacher_inhibit`` onto every other output; a teacher line also drives the relays of its
      class with ``teacher_weight``. Fixed.
    * Output rows: 0 (no recurrent connections between outputs).
    """
    if rng is None:
        rng = np.random.default_rng(recipe.seed)
    config = recipe.config()
    n, outputs = config.neurons, recipe.outputs
    cls = neuron_class(recipe)
    is_relay = np.arange(n) >= outputs

    def frac(value):
        return _fraction(config, value)

    neuron = NeuronParams.full(
        config,
        thr=np.where(is_relay, 1, recipe.thr),
        v_reset=np.where(is_relay, 0, recipe.v_reset),
        reset_sub=np.where(is_relay, 0, recipe.reset_sub),
        refrac=np.where(is_relay, 0, recipe.refrac),
        alpha_v=np.where(is_relay, 0, frac(recipe.alpha_v)),
        alpha_i=np.where(is_relay, 0, frac(recipe.alpha_i)),
        bias=0, theta_inc=0, alpha_th=0)
    extra = {}
    if recipe.v_min is not None:
        extra["v_min"] = recipe.v_min
    if recipe.stochastic_rounding:
        # drawn after the weights, so recipes without rounding keep their weights
        extra["sr_seed"] = None
    glob = GlobalParams(
        w_shift=recipe.w_shift, w_min=recipe.w_min, w_max=recipe.w_max,
        a_plus=recipe.a_plus, a_minus=recipe.a_minus, stdp_shift=recipe.stdp_shift,
        x_inc=recipe.x_inc, y_inc=recipe.y_inc,
        alpha_x=frac(recipe.alpha_x), alpha_y=frac(recipe.alpha_y),
        **{k: v for k, v in extra.items() if v is not None})
    W = np.zeros((config.rows, n), dtype=np.int64)
    mask = np.zeros((config.rows, n), dtype=bool)
    # relay rows (recurrent): drive their class's outputs, inhibit the others
    same = cls[outputs:, None] == cls[None, :outputs]
    W[outputs:n, :outputs] = np.where(same, recipe.teacher_weight, recipe.teacher_inhibit)
    # image rows onto the outputs: random, plastic
    image = slice(n, n + recipe.image_inputs)
    W[image, :outputs] = rng.integers(recipe.init_low, recipe.init_high,
                                      size=(recipe.image_inputs, outputs), endpoint=True)
    mask[image, :outputs] = True
    # teacher rows
    line_class = np.arange(CLASSES * recipe.teacher_lines) // recipe.teacher_lines
    line_same = line_class[:, None] == cls[None, :]
    W[n + recipe.image_inputs:] = np.where(
        line_same, recipe.teacher_weight,
        np.where(is_relay[None, :], 0, recipe.teacher_inhibit))
    if recipe.stochastic_rounding:
        glob.sr_seed = int(rng.integers(1, 1 << 32))
    return Network(config, neuron, glob, W, mask).validate()


def eval_params(recipe):
    """Per-neuron parameters of the evaluation: those of training with the output thresholds
    set to ``eval_thr``."""
    params = build_network(recipe, np.random.default_rng(0)).neuron_params.copy()
    if recipe.eval_thr:
        params.thr[:recipe.outputs] = recipe.eval_thr
    return params.validate(recipe.config())


# -- encoding -------------------------------------------------------------------------------------

def encode(images, recipe, rng, labels=None):
    """Spike rasters of ``images`` (``(samples, 64)`` in ``[0, 1]``): bool
    ``(samples, T, M)``.

    Without ``labels`` (evaluation) ``T = eval_steps_per_sample`` and the teacher lines are
    silent. With
    ``labels`` (training) ``teach_steps`` steps follow in which the image is silent and the
    teacher lines of the label spike in every step. ``rng``: a ``numpy.random.Generator`` or a
    seed; the rasters are a deterministic function of it.
    """
    rng = np.random.default_rng(rng)
    images = np.asarray(images, dtype=float)
    if images.ndim == 1:
        images = images[None]
    if images.shape[1] != PIXELS:
        raise ValueError(f"images must have {PIXELS} pixels, not {images.shape[1]}")
    samples = images.shape[0]
    p = np.clip(images, 0.0, 1.0) * recipe.rate
    if recipe.on_off:
        p = np.concatenate([p, recipe.rate - p], axis=1)
    teach = recipe.teach_steps if labels is not None else 0
    present = recipe.free_steps if labels is not None else recipe.eval_steps_per_sample
    raster = np.zeros((samples, present + teach, recipe.inputs), dtype=bool)
    draws = rng.random((samples, present, recipe.image_inputs))
    raster[:, :present, :recipe.image_inputs] = draws < p[:, None, :]
    if labels is not None and teach:
        labels = np.asarray(labels, dtype=np.int64).reshape(samples)
        for line in range(recipe.teacher_lines):
            column = recipe.image_inputs + labels * recipe.teacher_lines + line
            raster[np.arange(samples), present:, column] = True
    return raster


def describe_encoding(recipe):
    text = (f"rate coding: each step a pixel line spikes with probability "
            f"{recipe.rate} * pixel/16 (Bernoulli, seeded numpy generator)")
    if recipe.on_off:
        text += f", its OFF line with {recipe.rate} * (1 - pixel/16)"
    if recipe.eval_steps is not None:
        text += f"; {recipe.eval_steps} image steps per test sample"
    return (text + f"; {recipe.free_steps} image steps per training sample, followed by "
            f"{recipe.teach_steps} teaching steps (image silent, {recipe.teacher_lines} "
            f"teacher line(s) of the label spiking every step)")


# -- backends -------------------------------------------------------------------------------------

def batch_run_twin(twin, rasters):
    """Run every raster of ``rasters`` (bool ``(S, T, M)``) on ``twin``'s network from the reset
    state with learning off, all in one :class:`BatchTwin`, exactly as resetting ``twin`` and
    running the rasters one after another would; ``twin`` is left in the state the last one
    ends in. Returns the ``(S, T, N)`` spikes, or None when the samples are not independent
    (on-chip Poisson generators carry over from one sample to the next)."""
    if twin.poisson_on or len(rasters) == 0:
        return None
    network = Network(twin.config, twin.network.neuron_params.copy(),
                      twin.network.global_params.copy(), np.asarray(twin.W, dtype=np.int64),
                      np.array(twin.mask), twin.poisson_rate.copy())
    batch = BatchTwin.replicate(network, len(rasters))
    spikes = batch.run(rasters, learn=False)["spikes"]
    last = batch.member_state(len(rasters) - 1)
    twin.load_state({name: value for name, value in last.items()
                     if name not in ("W", "mask", "pstate")})
    return spikes


class TwinBackend:
    """The twin (compiled when numba is installed, else numpy; ``kernel`` picks) behind the
    backend interface of :func:`train` and :func:`evaluate` (see the module docstring)."""

    name = "twin"

    def __init__(self, kernel="auto"):
        self.kernel = kernel
        self.twin = None

    def load(self, network):
        self.twin = make_twin(network, self.kernel)

    def set_params(self, neuron_params):
        twin = self.twin
        network = Network(twin.config, neuron_params.copy(), twin.network.global_params.copy(),
                          np.asarray(twin.W, dtype=np.int64), np.array(twin.mask))
        self.twin = make_twin(network, self.kernel)

    def set_weights(self, weights):
        self.twin.load_state({"W": np.asarray(weights, dtype=np.int64)})

    def set_mask(self, mask):
        self.twin.load_state({"mask": np.asarray(mask, dtype=bool)})

    def set_global(self, **fields):
        twin = self.twin
        glob = twin.network.global_params.copy()
        for name, value in fields.items():
            setattr(glob, name, value)
        if twin.config.stochastic_rounding:
            glob.sr_seed = twin.sr_seed
        network = Network(twin.config, twin.network.neuron_params.copy(), glob,
                          np.asarray(twin.W, dtype=np.int64), np.array(twin.mask))
        state = twin.state_dict()
        self.twin = make_twin(network, self.kernel)
        # a device keeps its state when its global words change: so does the twin
        self.twin.load_state(state)

    def run_batch(self, rasters):
        self.twin.reset_state()
        return batch_run_twin(self.twin, rasters)

    def reset(self):
        self.twin.reset_state()

    def run(self, raster, learn):
        return self.twin.run(raster, learn=learn)["spikes"]

    def weights(self):
        return self.twin.W.copy()


class DeviceBackend:
    """Any :class:`~spikeforge.host.device.Device` (``model://``, ``sim://``, a board) behind the
    backend interface: the network is uploaded once, the evaluation thresholds are a write of
    the neuron-parameter region alone, and the weights are read back only to report them."""

    def __init__(self, device):
        self.device = device
        self.name = device.backend

    def load(self, network):
        self.device.load_network(network)

    def set_params(self, neuron_params):
        from ...rtl.regions import Region, pack_region

        config = self.device.config
        self.device.write_region(Region.PARAM,
                                 pack_region(config, Region.PARAM, neuron_params.to_dict()))

    def set_weights(self, weights):
        from ...rtl.regions import Region, pack_region

        self.device.write_region(Region.WEIGHT,
                                 pack_region(self.device.config, Region.WEIGHT, weights))

    def set_mask(self, mask):
        from ...rtl.regions import Region, pack_region

        self.device.write_region(Region.MASK,
                                 pack_region(self.device.config, Region.MASK, mask))

    def set_global(self, **fields):
        from ...rtl.regions import Region, pack_region, unpack_region

        config = self.device.config
        glob = unpack_region(config, Region.GLOBAL, self.device.read_region(Region.GLOBAL))
        glob.update(fields)
        self.device.write_region(Region.GLOBAL, pack_region(config, Region.GLOBAL, glob))

    def reset(self):
        self.device.reset("state")

    def run(self, raster, learn):
        return self.device.run(inputs=raster, learn=learn).spikes

    def run_batch(self, rasters):
        twin = getattr(self.device, "twin", None)       # model:// holds its twin
        if twin is None:
            return None
        self.device.reset("state")
        return batch_run_twin(self.device.twin, rasters)

    def weights(self):
        return self.device.read_network().W


# -- training and evaluation ----------------------------------------------------------------------

def _arrivals(raster, spikes):
    """Arriving rows of one sample run from a reset state: the input spikes of each step plus
    the neuron spikes of the step before."""
    return int(raster.sum()) + int(spikes[:-1].sum())


def train(backend, recipe, data, rng=None, log=None, evaluate_epochs=False):
    """Load the recipe's network into ``backend`` and train it on ``data.x_train`` with
    learning on.

    With ``evaluate_epochs`` the held-out part is evaluated after every epoch but the last
    (:func:`evaluate`, its own encoding seed, so the learned weights do not change), and the
    training parameters are restored before learning goes on.

    Returns a dict: initial and learned weights, mask, samples, steps, spikes and synaptic
    operations per sample (arriving rows times N, summed over the steps), wall time, and
    ``epochs`` (per epoch: the weight histogram of the plastic synapses, one bin per weight
    value, and with ``evaluate_epochs`` the accuracy after all but the last epoch).
    """
    if rng is None:
        rng = np.random.default_rng(recipe.seed)
    network = build_network(recipe, rng)
    backend.load(network)
    n = recipe.neurons
    steps = spikes = output_spikes = arrivals = learned = 0
    current_mask, current_shift = network.mask, recipe.stdp_shift
    epochs = []
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        if recipe.stdp_shifts is not None:
            shift = shift_of_epoch(recipe, epoch)
            if shift != current_shift:
                backend.set_global(stdp_shift=shift)
                current_shift = shift
        order = rng.permutation(len(data.y_train))
        rasters = encode(data.x_train[order], recipe, rng, labels=data.y_train[order])
        for raster, label in zip(rasters, data.y_train[order]):
            runs = ((slice(None), None),)
            if recipe.gate is not None:
                backend.reset()
                free = backend.run(raster[:recipe.free_steps], False)
                steps += recipe.free_steps
                spikes += int(free.sum())
                output_spikes += int(free[:, :recipe.outputs].sum())
                arrivals += _arrivals(raster[:recipe.free_steps], free)
                erring = erring_outputs(free, label, recipe)
                if not erring.any():
                    continue
                learned += 1
                runs = learning_runs(recipe, erring, label)
            backend.reset()
            out = []
            for part, columns in runs:
                wanted = network.mask if columns is None else network.mask & columns[None, :]
                if wanted is not current_mask and not np.array_equal(wanted, current_mask):
                    backend.set_mask(wanted)
                current_mask = wanted
                out.append(backend.run(raster[part], True))
            out = np.concatenate(out)
            steps += raster.shape[0]
            spikes += int(out.sum())
            output_spikes += int(out[:, :recipe.outputs].sum())
            arrivals += _arrivals(raster, out)
        if not np.array_equal(current_mask, network.mask):  # the whole mask, for evaluation
            backend.set_mask(network.mask)
        current_mask = network.mask
        weights = backend.weights()
        record = {"epoch": epoch + 1, "weight_histogram": np.histogram(
            weights[network.mask], bins=np.arange(recipe.w_min, recipe.w_max + 2) - 0.5)[0]}
        if recipe.gate is not None:
            record["learned_samples"] = learned - sum(r["learned_samples"] for r in epochs)
        if evaluate_epochs and epoch + 1 < recipe.epochs:
            record["accuracy"] = evaluate(backend, recipe, data.x_test, data.y_test,
                                          np.random.default_rng([recipe.seed, 1]))["accuracy"]
            backend.set_params(network.neuron_params)
        epochs.append(record)
        if log:
            log(f"epoch {epoch + 1}/{recipe.epochs}: {time.perf_counter() - start:.1f} s")
    samples = max(1, recipe.epochs * len(data.y_train))
    return {"initial_weights": network.W, "weights": backend.weights(), "mask": network.mask,
            "samples": recipe.epochs * len(data.y_train), "steps": steps,
            "steps_per_sample": recipe.train_steps_per_sample,
            "spikes_per_sample": spikes / samples,
            "output_spikes_per_sample": output_spikes / samples,
            "synaptic_ops_per_sample": arrivals * n / samples, "epochs": epochs,
            "learned_samples": learned if recipe.gate is not None else recipe.epochs * len(
                data.y_train),
            "wall_s": time.perf_counter() - start}


def learning_runs(recipe, erring, label):
    """The learning runs of one training sample that the margin gate let through:
    ``(steps, columns)`` pairs, ``steps`` a slice of the sample's raster (the runs follow each
    other without a reset), ``columns`` the bool ``(N,)`` neurons whose plastic synapses may
    learn in it (None: the whole mask). ``erring``: :func:`erring_outputs` of the sample."""
    if recipe.gate == "sample":
        return ((slice(None), None),)
    erring = np.pad(erring, (0, recipe.neurons - recipe.outputs))
    if not recipe.split_phases:
        return ((slice(None), erring),)
    labelled = neuron_class(recipe) == label
    labelled[recipe.outputs:] = False
    return ((slice(0, recipe.free_steps), erring & ~labelled),
            (slice(recipe.free_steps, None), erring & labelled))


def erring_outputs(free_spikes, label, recipe):
    """The output neurons that err on one training sample (bool, ``(outputs,)``), from the
    ``(T, N)`` spikes of its free phase run with learning off, by the recipe's ``gate`` (see
    :class:`DigitsRecipe`)."""
    counts = np.asarray(free_spikes)[:, :recipe.outputs].sum(axis=0)
    cls = np.arange(recipe.outputs) // recipe.neurons_per_class
    labelled = cls == label
    if recipe.gate == "class":
        scores = np.bincount(cls, weights=counts, minlength=CLASSES)
        own = scores[label]
        rival = np.max(np.delete(scores, label))
        return np.where(labelled, own < rival + recipe.count_high,
                        (scores[cls] + recipe.count_high > own) & (counts > recipe.count_low))
    return np.where(labelled, counts < recipe.count_high, counts > recipe.count_low)


def predict(spikes, recipe):
    """Class predicted from one sample's ``(T, N)`` spike raster: the class whose output
    neurons spiked most; ties go to the earliest first spike, then to the lowest class."""
    spikes = np.asarray(spikes, dtype=bool)[:, :recipe.outputs]
    steps = spikes.shape[0]
    grouped = spikes.reshape(steps, CLASSES, recipe.neurons_per_class)
    counts = grouped.sum(axis=(0, 2))
    active = grouped.any(axis=2)
    first = np.where(active.any(axis=0), active.argmax(axis=0), steps)
    return int(np.lexsort((np.arange(CLASSES), first, -counts))[0])


def evaluate(backend, recipe, images, labels, rng=None):
    """Set the evaluation thresholds, run every image with learning off (image only, teacher
    silent) and score it.

    Returns accuracy, the 10x10 confusion matrix (rows: true class, columns: predicted),
    predictions, spikes and synaptic operations per sample, steps and wall time.
    """
    if rng is None:
        rng = np.random.default_rng([recipe.seed, 1])
    labels = np.asarray(labels, dtype=np.int64)
    backend.set_params(eval_params(recipe))
    rasters = encode(images, recipe, rng)
    predictions = np.zeros(len(labels), dtype=np.int64)
    confusion = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    spikes = arrivals = 0
    start = time.perf_counter()
    batched = getattr(backend, "run_batch", None)
    outputs = batched(rasters) if batched else None
    for k, raster in enumerate(rasters):
        if outputs is not None:
            out = outputs[k]
        else:
            backend.reset()
            out = backend.run(raster, False)
        predictions[k] = predict(out, recipe)
        confusion[labels[k], predictions[k]] += 1
        spikes += int(out.sum())
        arrivals += _arrivals(raster, out)
    samples = max(1, len(labels))
    return {"accuracy": float(np.mean(predictions == labels)) if len(labels) else 0.0,
            "confusion": confusion, "predictions": predictions, "samples": len(labels),
            "steps": len(labels) * recipe.eval_steps_per_sample,
            "steps_per_sample": recipe.eval_steps_per_sample,
            "spikes_per_sample": spikes / samples,
            "synaptic_ops_per_sample": arrivals * recipe.neurons / samples,
            "wall_s": time.perf_counter() - start}


def run_recipe(recipe=None, backend=None, log=None, *, train_samples=None, test_samples=None,
               evaluate_epochs=False):
    """The whole demo: split, train with learning on, evaluate on the held-out part with
    learning off. ``train_samples`` / ``test_samples`` keep only the first samples of each part
    (for quick runs and for comparing backends on a prefix). Returns a dict of the results."""
    recipe = recipe or DigitsRecipe()
    backend = backend or TwinBackend()
    data = load_data(recipe)
    if train_samples is not None:
        data.x_train, data.y_train = data.x_train[:train_samples], data.y_train[:train_samples]
    if test_samples is not None:
        data.x_test, data.y_test = data.x_test[:test_samples], data.y_test[:test_samples]
    start = time.perf_counter()
    trained = train(backend, recipe, data, np.random.default_rng(recipe.seed), log=log,
                    evaluate_epochs=evaluate_epochs)
    test = evaluate(backend, recipe, data.x_test, data.y_test,
                    np.random.default_rng([recipe.seed, 1]))
    trained["epochs"][-1]["accuracy"] = test["accuracy"]
    return {"recipe": recipe.to_dict(),
            "backend": getattr(backend, "name", type(backend).__name__),
            "config": recipe.config().describe(), "split": data.split,
            "encoding": describe_encoding(recipe), "accuracy": test["accuracy"],
            "confusion": test["confusion"], "train": trained, "test": test,
            "steps": trained["steps"] + test["steps"],
            "wall_s": time.perf_counter() - start}
