"""NIR (Neuromorphic Intermediate Representation) import and export.

Import maps a graph of ``CubaLIF`` / ``LIF`` populations joined by ``Affine`` / ``Linear``
edges, with ``Input`` and ``Output`` nodes, onto one core:

* the populations are concatenated into neurons ``0..N-1`` (in the graph's node order), the
  ``Input`` nodes into inputs ``0..M-1``;
* an edge from an ``Input`` fills the input rows ``N..`` of ``W``, an edge from a population the
  recurrent rows ``0..N-1``; NIR weights are ``(post, pre)``, the core's ``W[row=pre, col=post]``,
  so every matrix is transposed;
* the float parameters are quantised to the core's fixed point, and :class:`NirImport` reports
  the largest absolute and relative error of each.

The discrete-time reading of the float model (one step = ``dt`` seconds), which the integer
core implements exactly::

    I[t] = a_syn * I[t-1] + w_in * (W x[t] + b)        a_syn = exp(-dt / tau_syn)
    v[t] = a_mem * v[t-1] + (1 - a_mem) * (v_leak + r * I[t])
    spike when v[t] crosses v_threshold; then v = v_reset

(``LIF`` is the case ``a_syn = 0``.) With ``s`` state units per NIR voltage unit and
``k = s * (1 - a_mem) * r``: ``alpha_v = round(2^F a_mem)``, ``alpha_i = round(2^F a_syn)``,
``thr = round(s v_threshold)``, ``v_reset = round(s v_reset)``,
``W * 2^w_shift = round(k w_in W_nir)``, ``bias = round(k w_in b + s (1 - a_mem)(1 - a_syn)
v_leak)`` (the leak voltage enters through the bias: exact in steady state). ``s`` is chosen so
that the largest threshold is a quarter of the membrane range, ``w_shift`` as the smallest shift
that fits the largest weight in ``weight_bits``.

Export writes a network as one ``CubaLIF`` population (``s = 1``, ``r = 1 / (1 - a_mem)``,
``w_in = 1``) with an ``Affine`` input edge (carrying the bias) and a ``Linear`` recurrent edge;
the parameters NIR has no field for (refractory period, subtractive reset, adaptive threshold,
STDP, mask, ``w_shift``) travel in the graph's metadata under ``"spikeforge"``, so that
export -> import gives back the same integer network.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge._extras import install_hint, require
from spikeforge.config import ConfigError, CoreConfig

from .netfile import DEFAULT_STEPS, NetworkSpec
from ..model.params import GLOBAL_FIELDS, GlobalParams, Network, NeuronParams
from ..model.quantize import decay_fraction, factor_tau, fraction_factor

__all__ = ["NirImport", "ParameterError", "EdgeReport", "import_nir", "export_nir", "read_nir", "write_nir",
           "require_nir", "DEFAULT_DT", "INSTALL_HINT"]

DEFAULT_DT = 1e-3
INSTALL_HINT = install_hint("nir")
_META = "spikeforge"


def require_nir():
    """The ``nir`` module, or a :class:`ConfigError` that says how to install it."""
    return require("nir", "nir", "NIR files")


@dataclass(frozen=True)
class ParameterError:
    """Quantisation error of one parameter, in the NIR graph's units."""
    parameter: str
    unit: str
    max_abs: float
    max_rel: float
    count: int

    def to_dict(self):
        return {"parameter": self.parameter, "unit": self.unit, "max_abs_error": self.max_abs,
                "max_rel_error": self.max_rel, "values": self.count}


@dataclass(frozen=True)
class EdgeReport:
    """What quantisation did to the weights of one edge: how many of its non-zero NIR weights
    became 0 in the core, how many were clipped to the weight range, the largest relative
    error of those that stayed non-zero, and the option that would help (empty if none)."""
    edge: str
    pre: str
    post: str
    weights: int
    zeroed: int
    clipped: int
    max_rel: float
    hint: str = ""

    def to_dict(self):
        return {"edge": self.edge, "pre": self.pre, "post": self.post, "weights": self.weights,
                "rounded_to_zero": self.zeroed, "clipped": self.clipped,
                "max_rel_error": self.max_rel, "hint": self.hint}

    def describe(self):
        text = (f"{self.edge} ({self.pre} -> {self.post}): {self.weights} weights, "
                f"{self.zeroed} round to 0, {self.clipped} clipped, largest error of the rest "
                f"{100 * self.max_rel:.3g} %")
        return f"{text}; {self.hint}" if self.hint else text


@dataclass(eq=False)
class NirImport:
    """A graph mapped onto a core: the network file contents, the quantisation report, the
    neuron range of every population and the input range of every input node."""
    spec: NetworkSpec
    errors: list
    populations: dict
    inputs: dict
    outputs: list
    v_scale: float
    w_shift: int
    dt: float
    notes: list = field(default_factory=list)
    edges: list = field(default_factory=list)

    def to_dict(self):
        return {"populations": {k: list(v) for k, v in self.populations.items()},
                "inputs": {k: list(v) for k, v in self.inputs.items()},
                "outputs": self.outputs, "v_scale": self.v_scale, "w_shift": self.w_shift,
                "dt": self.dt, "quantisation": [e.to_dict() for e in self.errors],
                "edges": [e.to_dict() for e in self.edges], "notes": self.notes}


def _error(parameter, unit, target, got):
    target = np.asarray(target, dtype=float).reshape(-1)
    got = np.asarray(got, dtype=float).reshape(-1)
    if target.size == 0:
        return ParameterError(parameter, unit, 0.0, 0.0, 0)
    diff = np.abs(got - target)
    nonzero = np.abs(target) > 0
    rel = float(np.max(diff[nonzero] / np.abs(target[nonzero]))) if nonzero.any() else 0.0
    return ParameterError(parameter, unit, float(diff.max()), rel, int(target.size))


# -- reading the graph ---------------------------------------------------------------------------

def read_nir(path):
    """Read a ``.nir`` file into a ``nir.NIRGraph``."""
    nir = require_nir()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"NIR file {str(path)!r} does not exist")
    try:
        return nir.read(path)
    except Exception as error:
        raise ConfigError(f"{path}: cannot read it as a NIR graph ({type(error).__name__}: "
                          f"{error})") from None


def write_nir(graph, path):
    nir = require_nir()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(path, graph)
    return path


def _size(node_type):
    shape = np.asarray(node_type).reshape(-1)
    return int(np.prod(shape)) if shape.size else 1


def _numbers(value, name, node, *, infinite=False):
    """``value`` as a float array, or a :class:`ConfigError` naming the node and parameter when
    it is not numeric, or holds NaN (or an infinity, unless ``infinite``)."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"node {node!r}: {name} is not numeric ({_show(value)}): NIR "
                          f"parameters must be numbers") from None
    bad = np.isnan(array) if infinite else ~np.isfinite(array)
    if bad.any():
        index = np.argwhere(bad)[0] if array.ndim else ()
        where = f"[{', '.join(str(int(k)) for k in index)}]" if array.ndim else ""
        raise ConfigError(f"node {node!r}: {name}{where} is {float(array[tuple(index)])!r} "
                          f"({int(bad.sum())} such values): NIR parameters must be finite "
                          f"numbers{' (an infinite time constant is allowed)' if infinite else ''}")
    return array


def _show(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flat(value, size, name, node, *, infinite=False):
    array = _numbers(value, name, node, infinite=infinite).reshape(-1)
    if array.size == 1 and size != 1:
        array = np.full(size, float(array[0]))
    if array.size != size:
        raise ConfigError(f"node {node!r}: {name} has {array.size} values, expected {size}")
    return array


def _plain(value):
    """Metadata as read back from HDF5 (numpy scalars, bytes) into Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def import_nir(graph, *, neurons=None, inputs=None, config=None, config_fields=None, dt=None,
               v_scale=None,
               w_shift=None, steps=DEFAULT_STEPS, input_rate=0.05, seed=0, name=""):
    """Map ``graph`` (a ``nir.NIRGraph``) onto a core and return a :class:`NirImport`.

    ``config`` (a :class:`CoreConfig`) sets the core; otherwise one is built with ``neurons``
    and ``inputs`` (default: just enough for the graph) and ``config_fields`` (other
    :class:`CoreConfig` fields; default widths otherwise). ``dt`` is the
    length of one time step in seconds (default: the graph's ``metadata["dt"]``).
    ``v_scale`` (state units per NIR voltage unit) and ``w_shift`` override the automatic
    choice.
    """
    nir = require_nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError(f"expected a NIR graph, got a {type(graph).__name__}")
    metadata = _plain(getattr(graph, "metadata", {}) or {})
    extra = metadata.get(_META, {}) if isinstance(metadata.get(_META), dict) else {}
    notes = []

    if dt is None:
        dt = metadata.get("dt")
        if dt is None:
            raise ConfigError("the NIR graph does not say how long a time step is (no 'dt' in "
                              "its metadata): pass --dt SECONDS, e.g. --dt 0.001")
    try:
        dt = float(np.asarray(dt, dtype=float).item())
    except (TypeError, ValueError):
        raise ConfigError(f"dt={_show(dt)} is not a number: the time step must be a number of "
                          f"seconds > 0, e.g. --dt 0.001") from None
    if not dt > 0 or not math.isfinite(dt):
        raise ConfigError(f"dt={dt} is not allowed: use a time step > 0 seconds, e.g. "
                          f"--dt 0.001")

    # -- classify the nodes
    neuron_types = (nir.CubaLIF, nir.LIF)
    edge_types = (nir.Affine, nir.Linear)
    populations, input_nodes, outputs = {}, {}, []
    n_used = m_used = 0
    for node_name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            size = _size(node.input_type["input"])
            input_nodes[node_name] = (m_used, m_used + size)
            m_used += size
        elif isinstance(node, neuron_types):
            size = int(np.asarray(node.v_threshold).size)
            populations[node_name] = (n_used, n_used + size)
            n_used += size
        elif isinstance(node, nir.Output):
            outputs.append(node_name)
        elif not isinstance(node, edge_types):
            raise ConfigError(f"node {node_name!r} is a {type(node).__name__}, which spikeforge "
                              f"cannot map: a graph may hold CubaLIF and LIF populations joined "
                              f"by Affine or Linear edges, with Input and Output nodes")
    if not populations:
        raise ConfigError("the NIR graph holds no CubaLIF or LIF population: nothing to map "
                          "onto neurons")

    # -- the core
    if config is None:
        fields = dict(extra.get("config", {}))
        fields.update(config_fields or {})
        fields["neurons"] = n_used if neurons is None else neurons
        fields["inputs"] = m_used if inputs is None else inputs
        try:
            config = CoreConfig.from_dict(fields)
        except ConfigError as error:
            raise ConfigError(f"the graph needs a core with {n_used} neurons and {m_used} "
                              f"inputs: {error}") from None
    if n_used > config.neurons:
        raise ConfigError(f"the graph has {n_used} neurons "
                          f"({', '.join(f'{k}: {b - a}' for k, (a, b) in populations.items())}) "
                          f"but the core holds {config.neurons}: raise --neurons to at least "
                          f"{n_used} (at most 1024)")
    if m_used > config.inputs:
        raise ConfigError(f"the graph has {m_used} inputs but the core holds {config.inputs}: "
                          f"raise --inputs to at least {m_used}")
    n, m = config.neurons, config.inputs

    # -- per-neuron float parameters
    tau_mem = np.full(n, np.inf)
    tau_syn = np.zeros(n)
    r = np.ones(n)
    v_leak = np.zeros(n)
    v_thr = np.zeros(n)
    v_reset = np.zeros(n)
    w_in = np.ones(n)
    for node_name, (a, b) in populations.items():
        node = graph.nodes[node_name]
        size = b - a
        if isinstance(node, nir.CubaLIF):
            tau_mem[a:b] = _flat(node.tau_mem, size, "tau_mem", node_name, infinite=True)
            tau_syn[a:b] = _flat(node.tau_syn, size, "tau_syn", node_name, infinite=True)
            w_in[a:b] = _flat(node.w_in, size, "w_in", node_name)
        else:
            tau_mem[a:b] = _flat(node.tau, size, "tau", node_name, infinite=True)
        r[a:b] = _flat(node.r, size, "r", node_name)
        v_leak[a:b] = _flat(node.v_leak, size, "v_leak", node_name)
        v_thr[a:b] = _flat(node.v_threshold, size, "v_threshold", node_name)
        v_reset[a:b] = _flat(node.v_reset, size, "v_reset", node_name)
    for label, values in (("tau_mem", tau_mem[:n_used]), ("tau_syn", tau_syn[:n_used])):
        if label.startswith("tau") and np.any(values < 0):
            raise ConfigError(f"{label} holds {values[values < 0][0]}: time constants must be "
                              f">= 0")

    # -- weights and biases in NIR units, the core's orientation (row = pre, col = post)
    Wf = np.zeros((n + m, n))
    bias_f = np.zeros(n)
    edge_blocks = []                 # (edge, pre, post, rows, cols, NIR weights (pre, post))
    predecessors = {}
    for src, dst in graph.edges:
        predecessors.setdefault(dst, []).append(src)

    def source_rows(node_name):
        if node_name in input_nodes:
            a, b = input_nodes[node_name]
            return n + a, n + b
        if node_name in populations:
            return populations[node_name]
        kind = type(graph.nodes[node_name]).__name__ if node_name in graph.nodes else "?"
        raise ConfigError(f"edge source {node_name!r} is a {kind}: an Affine or Linear edge "
                          f"must start at an Input node or at a CubaLIF/LIF population")

    for src, dst in graph.edges:
        if src not in graph.nodes or dst not in graph.nodes:
            raise ConfigError(f"edge ({src!r}, {dst!r}) names a node that is not in the graph")
        source, target = graph.nodes[src], graph.nodes[dst]
        if isinstance(source, edge_types):
            if dst in outputs:
                raise ConfigError(f"edge node {src!r} ({type(source).__name__}) feeds the "
                                  f"Output {dst!r}: a weighted read-out without neurons cannot "
                                  f"be mapped; end the graph with a CubaLIF/LIF population")
            if dst not in populations:
                raise ConfigError(f"edge node {src!r} ({type(source).__name__}) feeds {dst!r} "
                                  f"({type(target).__name__}); it may only feed a CubaLIF or "
                                  f"LIF population")
            pre = predecessors.get(src, [])
            if len(pre) != 1:
                raise ConfigError(f"edge node {src!r} has {len(pre)} inputs; it needs exactly "
                                  f"one (an Input node or a population)")
            r0, r1 = source_rows(pre[0])
            c0, c1 = populations[dst]
            weight = _numbers(source.weight, "weight", src)
            if weight.shape != (c1 - c0, r1 - r0):
                raise ConfigError(f"edge node {src!r}: weight has shape {weight.shape}, "
                                  f"expected ({c1 - c0}, {r1 - r0}) (post {dst!r}, pre "
                                  f"{pre[0]!r})")
            Wf[r0:r1, c0:c1] += weight.T
            edge_blocks.append((src, pre[0], dst, slice(r0, r1), slice(c0, c1), weight.T))
            if isinstance(source, nir.Affine):
                bias_f[c0:c1] += _flat(source.bias, c1 - c0, "bias", src)
        elif dst in populations and (src in input_nodes or src in populations):
            r0, r1 = source_rows(src)
            c0, c1 = populations[dst]
            if r1 - r0 != c1 - c0:
                raise ConfigError(f"edge ({src!r}, {dst!r}) joins {r1 - r0} sources to "
                                  f"{c1 - c0} neurons without a weight: put an Affine or "
                                  f"Linear node between them")
            Wf[r0:r1, c0:c1] += np.eye(r1 - r0)
        elif dst in outputs:
            if src not in populations and not isinstance(source, edge_types):
                raise ConfigError(f"edge ({src!r}, {dst!r}): an Output may only follow a "
                                  f"population, not a {type(source).__name__}")
        elif isinstance(target, edge_types):
            if src not in input_nodes and src not in populations:
                source_rows(src)  # raises with the reason
        else:
            raise ConfigError(f"edge ({src!r}, {dst!r}) from a {type(source).__name__} to a "
                              f"{type(target).__name__} cannot be mapped")

    # -- quantisation
    F = config.decay_bits
    top = (1 << F) - 1
    a_mem = np.asarray(decay_fraction(tau_mem, dt))
    a_syn = np.asarray(decay_fraction(tau_syn, dt))
    alpha_v = np.asarray(fraction_factor(a_mem, F))
    alpha_i = np.asarray(fraction_factor(a_syn, F))
    for label, a, q in (("tau_mem", a_mem, alpha_v), ("tau_syn", a_syn, alpha_i)):
        slow = np.flatnonzero(np.rint(a[:n_used] * (1 << F)) > top)
        if slow.size:
            notes.append(f"{label} of neuron {int(slow[0])} is too long for {F} decay bits "
                         f"(decay factor {a[slow[0]]:.6f} per step); it is clipped to "
                         f"{top}/{1 << F}")

    v_low, v_high = config.v_range
    used = slice(0, n_used)
    gain = (1.0 - a_mem) * r * w_in          # k / s: NIR current -> NIR volts per step
    if v_scale is None:
        v_scale = extra.get("v_scale")
    if v_scale is None:
        largest = float(np.max(np.abs(np.concatenate([v_thr[used], v_reset[used],
                                                      v_leak[used]]))))
        if largest == 0:
            raise ConfigError("every v_threshold, v_reset and v_leak of the graph is 0: the "
                              "voltage scale is undefined (and every weight would round to "
                              "0); give the populations a threshold (e.g. v_threshold=1.0) or "
                              "pass --v-scale STATE_UNITS_PER_VOLT")
        v_scale = (v_high // 4) / largest
    v_scale = float(v_scale)
    if not v_scale > 0 or not math.isfinite(v_scale):
        raise ConfigError(f"v_scale={v_scale} is not allowed: use a number > 0 (state units per "
                          f"NIR voltage unit)")
    w_low, w_high = config.weight_range
    fixed_shift = w_shift if w_shift is not None else extra.get("w_shift")

    def weights_for(scale):
        target = scale * gain[None, :] * Wf
        largest = float(np.max(np.abs(target))) if target.size else 0.0
        if fixed_shift is not None:
            shift = int(fixed_shift)
            if not 0 <= shift <= config.max_w_shift:
                raise ConfigError(f"w_shift={shift} is out of range 0..{config.max_w_shift} "
                                  f"(i_bits - weight_bits)")
        else:
            shift = 0
            while shift < config.max_w_shift and round(largest / (1 << shift)) > w_high:
                shift += 1
        return target, shift, np.rint(target / (1 << shift))

    target_w, shift, W = weights_for(v_scale)
    if (np.abs(W) > w_high).any() and fixed_shift is None and "v_scale" not in extra:
        # even the largest shift is not enough: lower the voltage scale until the weights fit
        v_scale *= (w_high * (1 << config.max_w_shift)) / float(np.max(np.abs(target_w)))
        notes.append(f"v_scale lowered to {v_scale:.6g} so that the largest weight fits "
                     f"{config.weight_bits} bits")
        target_w, shift, W = weights_for(v_scale)
    bad = np.argwhere((W < w_low) | (W > w_high))
    if bad.size:
        row, col = (int(v) for v in bad[0])
        raise ConfigError(f"weight W[{row}, {col}] = {Wf[row, col]:g} becomes {int(W[row, col])}"
                          f" with w_shift={shift}, outside the signed {config.weight_bits}-bit "
                          f"range {w_low}..{w_high}: raise --weight-bits or lower --v-scale")
    W = W.astype(np.int64)

    thr = np.rint(v_scale * v_thr)
    reset = np.rint(v_scale * v_reset)
    target_bias = v_scale * (gain * bias_f + (1.0 - a_mem) * (1.0 - a_syn) * v_leak)
    bias = np.rint(target_bias)
    i_low, i_high = config.i_range
    for label, values, low, high, fix in (
            ("v_threshold", thr, v_low, v_high, "lower --v-scale or raise v_bits"),
            ("v_reset", reset, v_low, v_high, "lower --v-scale or raise v_bits"),
            ("bias", bias, i_low, i_high, "lower --v-scale or raise i_bits")):
        bad = np.flatnonzero((values < low) | (values > high))
        if bad.size:
            k = int(bad[0])
            raise ConfigError(f"{label} of neuron {k} becomes {int(values[k])} in state units, "
                              f"outside {low}..{high}; it is not representable: {fix}")
    thr[n_used:] = v_high                    # unused neurons never fire
    if np.any(v_leak[used] != 0) and np.any(a_syn[used] > 0):
        notes.append("v_leak enters through the bias and the synaptic decay: exact in steady "
                     "state, the first steps after a reset differ")

    # -- report (NIR units)
    errors = [
        _error("alpha_v (membrane decay per step)", "factor", a_mem[used],
               alpha_v[used] / (1 << F)),
        _error("alpha_i (synaptic decay per step)", "factor", a_syn[used],
               alpha_i[used] / (1 << F)),
        _error("v_threshold", "NIR volts", v_thr[used], thr[used] / v_scale),
        _error("v_reset", "NIR volts", v_reset[used], reset[used] / v_scale),
    ]
    nonzero = Wf != 0
    if nonzero.any():
        k = (v_scale * gain)[None, :].repeat(n + m, axis=0)
        representable = nonzero & (k != 0)
        got = np.where(representable, W * (1 << shift) / np.where(k != 0, k, 1.0), 0.0)
        errors.append(_error("weight", "NIR weight", Wf[nonzero], got[nonzero]))
    edges = _edge_reports(edge_blocks, W, Wf, v_scale * gain, shift, config, fixed_shift)
    if np.count_nonzero(Wf) and not np.count_nonzero(W):
        raise ConfigError(f"every one of the {np.count_nonzero(Wf)} non-zero weights rounds to 0 "
                          f"(v_scale={v_scale:.6g}, w_shift={shift}): the network would be "
                          f"silent; raise --v-scale or --weight-bits, or check v_threshold "
                          f"against the weights")
    if np.any(target_bias[used] != 0):
        errors.append(_error("bias (Affine bias and v_leak)", "state units",
                             target_bias[used], bias[used]))

    # -- the network (plus the integer extras of a spikeforge export)
    neuron_values = dict(thr=thr.astype(np.int64), v_reset=reset.astype(np.int64),
                         alpha_v=alpha_v, alpha_i=alpha_i, bias=bias.astype(np.int64),
                         refrac=0, reset_sub=0, theta_inc=0)
    for field_name in ("refrac", "reset_sub", "theta_inc", "alpha_th"):
        if field_name in extra:
            neuron_values[field_name] = np.asarray(extra[field_name], dtype=np.int64).reshape(-1)
    glob = {key: int(extra["globals"][key]) for key in GLOBAL_FIELDS
            if key in extra.get("globals", {})}
    glob["w_shift"] = shift
    mask = extra.get("mask")
    mask = np.asarray(mask, dtype=bool) if mask is not None else np.zeros((n + m, n), bool)
    network = Network(config, NeuronParams.default(config, **neuron_values),
                      GlobalParams.default(config, **glob), W, mask).validate()
    run = extra.get("run", {})
    spec = NetworkSpec(network, steps=int(run.get("steps", steps)),
                       learn=bool(run.get("learn", False)),
                       probes=tuple(range(min(n_used, 4))),
                       input_rate=float(run.get("input_rate", input_rate)) if m else 0.0,
                       input_seed=int(run.get("seed", seed)),
                       name=name or str(metadata.get("name", "")),
                       description=f"imported from NIR ({', '.join(populations)}; dt={dt:g} s)")
    spec.validate("imported network")
    return NirImport(spec=spec, errors=errors, populations=populations, inputs=input_nodes,
                     outputs=outputs, v_scale=v_scale, w_shift=shift, dt=dt, notes=notes,
                     edges=edges)


def _edge_reports(blocks, W, Wf, gain, shift, config, fixed_shift):
    """An :class:`EdgeReport` per weighted edge: ``W`` are the core's weights, ``Wf`` the NIR
    weights summed per synapse, ``gain`` the state units per NIR weight unit of each column."""
    reports = []
    w_low, w_high = config.weight_range
    for edge, pre, post, rows, cols, weight in blocks:
        nir_w = Wf[rows, cols]
        core = W[rows, cols]
        k = np.broadcast_to(gain[cols][None, :], nir_w.shape)
        nonzero = (weight != 0) & (nir_w != 0)
        zeroed = int(np.count_nonzero(nonzero & (core == 0)))
        clipped = int(np.count_nonzero(nonzero & ((core <= w_low) | (core >= w_high))
                                       & (np.abs(np.rint(k * nir_w / (1 << shift)))
                                          > np.abs(core))))
        kept = nonzero & (core != 0) & (k != 0)
        got = core[kept] * (1 << shift) / k[kept]
        rel = (float(np.max(np.abs(got - nir_w[kept]) / np.abs(nir_w[kept])))
               if kept.any() else 0.0)
        hint = ""
        if zeroed:
            options = [f"raise --weight-bits (now {config.weight_bits})"]
            if shift > 0:
                options.append(f"lower --w-shift (now {shift}) if the largest weight still "
                               f"fits" if fixed_shift is not None else
                               "scale the small weights up relative to the largest one")
            hint = f"{zeroed} synapse(s) lost: " + " or ".join(options)
        elif clipped:
            hint = (f"{clipped} weights were clipped: raise --weight-bits or --w-shift, or "
                    f"lower --v-scale")
        reports.append(EdgeReport(edge, pre, post, int(np.count_nonzero(nonzero)), zeroed,
                                  clipped, rel, hint))
    return reports


# -- export ----------------------------------------------------------------------------------------

def export_nir(spec_or_network, *, dt=DEFAULT_DT):
    """A ``nir.NIRGraph`` of the network: ``input`` -> ``w_in`` (Affine) -> ``lif`` (CubaLIF),
    ``lif`` -> ``w_rec`` (Linear) -> ``lif``, ``lif`` -> ``output``. Returns ``(graph, notes)``
    where the notes list what NIR cannot express (it travels in the metadata)."""
    nir = require_nir()
    if isinstance(spec_or_network, NetworkSpec):
        spec = spec_or_network
    else:
        spec = NetworkSpec(spec_or_network)
    network = spec.network.validate()
    dt = float(dt)
    if not dt > 0 or not math.isfinite(dt):
        raise ConfigError(f"dt={dt} is not allowed: use a time step > 0 seconds")
    config = network.config
    n, m, F = config.neurons, config.inputs, config.decay_bits
    p, g = network.neuron_params, network.global_params
    a_mem = p.alpha_v / (1 << F)
    a_syn = p.alpha_i / (1 << F)
    tau_mem = np.asarray(factor_tau(p.alpha_v, dt, F))
    tau_syn = np.asarray(factor_tau(p.alpha_i, dt, F))
    r = 1.0 / (1.0 - a_mem)
    scale = float(1 << g.w_shift)
    notes = []
    if p.reset_sub.any():
        notes.append("subtractive reset (reset_sub) has no NIR field: kept in the metadata")
    if p.refrac.any():
        notes.append("refractory periods have no NIR field: kept in the metadata")
    if config.adaptive_threshold and p.theta_inc.any():
        notes.append("the adaptive threshold has no NIR field: kept in the metadata")
    if config.stdp and spec.learn:
        notes.append("STDP has no NIR field: its parameters and the mask are kept in the "
                     "metadata")
    if config.has_poisson and g.poisson_on and network.poisson_rate.any():
        notes.append("the core's Poisson generators have no NIR field and are not exported: "
                     "the graph's inputs carry no spikes of their own")
    nodes = {
        "lif": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=np.zeros(n),
                           v_threshold=p.thr.astype(float), v_reset=p.v_reset.astype(float),
                           w_in=np.ones(n)),
        "output": nir.Output(np.array([n])),
    }
    edges = [("lif", "output")]
    bias = p.bias.astype(float)
    if m:
        nodes["input"] = nir.Input(np.array([m]))
        nodes["w_in"] = nir.Affine(weight=network.W[n:].T.astype(float) * scale, bias=bias)
        edges += [("input", "w_in"), ("w_in", "lif")]
    recurrent = network.W[:n].T.astype(float) * scale
    if m == 0:
        nodes["w_rec"] = nir.Affine(weight=recurrent, bias=bias)
    elif recurrent.any():
        nodes["w_rec"] = nir.Linear(weight=recurrent)
    if "w_rec" in nodes:
        edges += [("lif", "w_rec"), ("w_rec", "lif")]
    rate = spec.input_rate
    metadata = {
        "dt": dt,
        "name": spec.name,
        _META: {
            "v_scale": 1.0,
            "w_shift": int(g.w_shift),
            "config": config.to_dict(),
            "refrac": p.refrac.copy(),
            "reset_sub": p.reset_sub.copy(),
            "theta_inc": p.theta_inc.copy(),
            "alpha_th": p.alpha_th.copy(),
            "globals": g.to_dict(),
            "mask": network.mask.astype(np.int8),
            "run": {"steps": int(spec.steps), "learn": bool(spec.learn),
                    "input_rate": float(rate) if np.isscalar(rate) else float(np.mean(rate)),
                    "seed": int(spec.input_seed)},
        },
    }
    order = ["input", "w_in", "lif", "w_rec", "output"]
    graph = nir.NIRGraph(nodes={k: nodes[k] for k in order if k in nodes}, edges=edges,
                         metadata=metadata)
    return graph, notes
