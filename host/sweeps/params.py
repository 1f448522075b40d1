"""Parameter paths: how a swept value reaches the network before it is built.

A sweep names each parameter by a dotted path such as ``neurons.thr``, ``globals.a_plus``,
``inputs.rate`` or ``run.steps``: the section and key of a network file (``host/formats/
netfile.py``). A path is applied to the *parsed* TOML dict of the base network file, before the
network is built, so that every check of the network file reader still runs on the swept value
and an out-of-range value fails the point with the reader's own message.

The first component of a path chooses an *applier*, a function
``apply(data, key, value)`` that changes the dict ``data`` in place. :func:`register_prefix`
adds new ones (a physical-units layer adds e.g. ``lif.tau_m`` that converts milliseconds into
``neurons.alpha_v``); the raw sections of a network file are registered here, with the short
aliases ``neuron.`` (= ``neurons.``), ``global.`` and ``stdp.`` (= ``globals.``, the latter for
the STDP fields only).

Digits points (``kind = "digits"``) take ``recipe.<field>`` paths, the fields of
:class:`~spikeforge.host.demos.digits.DigitsRecipe`.
"""

from spikeforge.config import ConfigError

from ..model.params import GLOBAL_FIELDS, NEURON_FIELDS

__all__ = ["apply_parameter", "apply_parameters", "register_prefix", "check_path",
           "NETWORK_PREFIXES", "STDP_FIELDS"]

STDP_FIELDS = ("w_min", "w_max", "a_plus", "a_minus", "stdp_shift", "x_inc", "y_inc",
               "alpha_x", "alpha_y")

_RAW_KEYS = {
    "neurons": NEURON_FIELDS,
    "globals": GLOBAL_FIELDS,
    "inputs": ("rate", "seed", "spikes"),
    "run": ("steps", "learn", "probes"),
    "config": None,     # any CoreConfig field; the reader checks it
}
_ALIASES = {"neuron": ("neurons", NEURON_FIELDS), "global": ("globals", GLOBAL_FIELDS),
            "stdp": ("globals", STDP_FIELDS)}


def _raw_applier(section, allowed, prefix=None):
    prefix = prefix or section

    def apply(data, key, value):
        if allowed is not None and key not in allowed:
            raise ConfigError(f"parameter {prefix}.{key} does not exist: the keys of "
                              f"{prefix}. are {', '.join(allowed)}")
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] of the base network is not a table")
        table[key] = value
    return apply


#: prefix -> apply(data, key, value); the network-file sections and their aliases
NETWORK_PREFIXES = {name: _raw_applier(name, keys) for name, keys in _RAW_KEYS.items()}
for _alias, (_section, _keys) in _ALIASES.items():
    NETWORK_PREFIXES[_alias] = _raw_applier(_section, _keys, _alias)


def register_prefix(prefix, apply):
    """Route paths ``prefix.<key>`` to ``apply(data, key, value)``, which changes the parsed
    network-file dict ``data`` in place (and raises :class:`ConfigError` for a bad key or
    value)."""
    if not prefix or "." in prefix:
        raise ValueError(f"a parameter prefix is one word, not {prefix!r}")
    NETWORK_PREFIXES[prefix] = apply


def _split(path):
    if not isinstance(path, str) or path.count(".") < 1 or not all(path.split(".")):
        raise ConfigError(f"parameter {path!r} is not a dotted path: write section.key, e.g. "
                          f"neurons.thr or globals.a_plus")
    prefix, key = path.split(".", 1)
    return prefix, key


def check_path(path, kind="network"):
    """Raise :class:`ConfigError` unless ``path`` names a parameter of a ``kind`` point."""
    prefix, key = _split(path)
    if kind == "digits":
        from dataclasses import fields

        from ..demos.digits import DigitsRecipe

        names = [f.name for f in fields(DigitsRecipe)]
        if prefix != "recipe" or key not in names:
            raise ConfigError(f"parameter {path!r} is not a digits recipe field: use "
                              f"recipe.<field>, one of {', '.join(names)}")
        return
    if prefix not in NETWORK_PREFIXES:
        raise ConfigError(f"parameter {path!r}: unknown section {prefix!r}; use one of "
                          f"{', '.join(sorted(NETWORK_PREFIXES))}")
    NETWORK_PREFIXES[prefix]({}, key, 0)        # the applier checks the key


def apply_parameter(data, path, value):
    """Set the parameter ``path`` (``neurons.thr``, ``stdp.a_plus``, …) to ``value`` in the
    parsed network-file dict ``data`` (changed in place)."""
    prefix, key = _split(path)
    apply = NETWORK_PREFIXES.get(prefix)
    if apply is None:
        raise ConfigError(f"parameter {path!r}: unknown section {prefix!r}; use one of "
                          f"{', '.join(sorted(NETWORK_PREFIXES))}")
    apply(data, key, value)


def apply_parameters(data, params):
    """Apply every ``path: value`` of ``params`` in order; returns ``data``."""
    for path, value in params.items():
        apply_parameter(data, path, value)
    return data
