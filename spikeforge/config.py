"""The one configuration object of a spikeforge core.

Every size and every width used by the RTL, the numpy twin, the protocol and the board builds is
read from a :class:`CoreConfig`. Nothing else in the project writes a neuron count, a lane count or
a field width as a literal.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass

__all__ = ["CoreConfig", "ConfigError", "ceil_log2"]


class ConfigError(ValueError):
    """A configuration value is out of its legal range or inconsistent with another one."""


def ceil_log2(value):
    """Smallest ``n`` with ``2 ** n >= value`` (0 for ``value <= 1``)."""
    return max(0, (int(value) - 1).bit_length())


LANE_CHOICES = (1, 2, 4, 8, 16, 32)

#: the feature flags of a configuration
_FLAGS = ("stdp", "adaptive_threshold", "poisson", "single_port_weights", "stochastic_rounding",
          "v_floor", "weight_decay", "winner_take_all")
#: flags added after the first bitstreams: they enter the hash only when set, so that the hash
#: of every configuration without them stays what it was
_LATE_FLAGS = ("stochastic_rounding", "v_floor", "weight_decay", "winner_take_all")


@dataclass(frozen=True)
class CoreConfig:
    """Sizes, widths and built features of one core.

    Arguments
    ---------
    neurons : int, 1..1024
        N, the number of leaky integrate-and-fire neurons.
    inputs : int, 0..1024
        M, the number of external input lines (rows of the input matrix U).
    lanes : int, one of 1, 2, 4, 8, 16, 32
        L, synapses processed per clock cycle during spike delivery.
    banks : int, a power of two from 1 to ``lanes``; default ``lanes``
        B, banks of the weight memory: rows are interleaved over the banks, so potentiation,
        which walks a column, touches B synapses per clock. ``banks=1`` keeps the weights in
        one memory (as a single-ported SPRAM needs) at one synapse per clock.
    weight_bits : int, 2..16
        Width of a signed weight.
    v_bits, i_bits : int, 8..32
        Widths of the signed membrane potential and synaptic current.
    decay_bits : int, 4..16
        F, fractional width of every decay factor: a factor ``a`` means ``a / 2**F``.
    refrac_bits : int, 1..16
        Width of the refractory counter and of the refractory period parameter.
    trace_bits : int, 2..16
        Width of the unsigned STDP traces.
    theta_bits : int, 1..v_bits-1
        Width of the unsigned adaptive-threshold offset.
    rate_bits : int, 1..16
        Width of the unsigned STDP learning rates ``a_plus`` and ``a_minus``.
    stdp : bool
        Build the STDP learning engine (traces, plasticity mask, weight write-back).
    poisson : bool
        Build the on-chip Poisson input generators (one 32-bit xorshift state and one 16-bit
        rate per input).
    adaptive_threshold : bool
        Build the adaptive threshold (per-neuron offset theta).
    single_port_weights : bool
        Read and write the weight memory through one shared address (never both in one cycle),
        so that it maps onto single-ported RAM such as the iCE40 UltraPlus SPRAM. Needs
        ``banks=1`` and ``stdp=False``: without learning the core only reads the weights while
        it runs, and the host reads or writes them one word at a time while it is idle.
    stochastic_rounding : bool, default False
        Round the magnitude of every STDP update up with a probability equal to the fraction
        the shift drops, drawn from a counter-based generator keyed by a per-step seed (the
        global word ``sr_seed``) and the synapse. Needs ``stdp``.
    v_floor : bool, default False
        Build the membrane floor: the global word ``v_min`` bounds ``v`` from below after
        integration.
    weight_decay : bool, default False
        Build the weight-dependent term of potentiation: the global word ``a_decay`` makes a
        spiking neuron's plastic weights move by ``(a_plus * X - a_decay * W) >> stdp_shift``
        (towards ``a_plus * X / a_decay``) instead of ``(a_plus * X) >> stdp_shift``. Needs
        ``stdp``.
    winner_take_all : bool, default False
        Build the winner-take-all of phase B, switched on by the global word ``wta``: a spike
        in the previous step resets every neuron's ``v`` to its ``v_reset`` before the update,
        and of the neurons that reach their threshold in a step only the one with the largest
        margin ``v1 - th`` (the lowest index on a tie) spikes; the others are reset without
        spiking.
    """

    neurons: int = 100
    inputs: int = 64
    lanes: int = 8
    banks: int = None
    weight_bits: int = 8
    v_bits: int = 18
    i_bits: int = 18
    decay_bits: int = 12
    refrac_bits: int = 8
    trace_bits: int = 8
    theta_bits: int = 16
    rate_bits: int = 8
    stdp: bool = True
    adaptive_threshold: bool = True
    poisson: bool = True
    single_port_weights: bool = False
    stochastic_rounding: bool = False
    v_floor: bool = False
    weight_decay: bool = False
    winner_take_all: bool = False

    def __post_init__(self):
        def check_int(name, low, high):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, not {value!r}")
            if not low <= value <= high:
                raise ConfigError(f"{name}={value} is out of range: allowed {low}..{high}")

        check_int("neurons", 1, 1024)
        check_int("inputs", 0, 1024)
        if self.lanes not in LANE_CHOICES or isinstance(self.lanes, bool):
            raise ConfigError(f"lanes={self.lanes!r} is not allowed: choose one of "
                              f"{', '.join(map(str, LANE_CHOICES))}")
        if self.banks is None:
            object.__setattr__(self, "banks", self.lanes)
        check_int("banks", 1, self.lanes)
        if self.banks & (self.banks - 1):
            raise ConfigError(f"banks={self.banks} must be a power of two from 1 to "
                              f"lanes={self.lanes}")
        check_int("weight_bits", 2, 16)
        check_int("v_bits", 8, 32)
        check_int("i_bits", 8, 32)
        check_int("decay_bits", 4, 16)
        check_int("refrac_bits", 1, 16)
        check_int("trace_bits", 2, 16)
        check_int("theta_bits", 1, self.v_bits - 1)
        check_int("rate_bits", 1, 16)
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, not {getattr(self, name)!r}")
        if self.single_port_weights and (self.stdp or self.banks != 1):
            raise ConfigError(
                f"single_port_weights needs stdp=False and banks=1 (got stdp={self.stdp}, "
                f"banks={self.banks}): learning writes weights back while reading the next "
                f"ones, which a single-ported memory cannot do; build without learning or "
                f"with two-port weights")
        if self.stochastic_rounding and not self.stdp:
            raise ConfigError("stochastic_rounding needs stdp=True: it rounds the STDP weight "
                              "updates; build with learning or without stochastic rounding")
        if self.weight_decay and not self.stdp:
            raise ConfigError("weight_decay needs stdp=True: it is a term of the STDP "
                              "potentiation; build with learning or without weight_decay")
        if self.i_bits < self.weight_bits:
            raise ConfigError(f"i_bits={self.i_bits} must be at least weight_bits="
                              f"{self.weight_bits}: one weight must fit in the synaptic current")

    # -- derived sizes ------------------------------------------------------------------------

    @property
    def rows(self):
        """Rows of the weight store: N recurrent sources followed by M input sources."""
        return self.neurons + self.inputs

    @property
    def words_per_row(self):
        """Weight words per row; one word holds ``lanes`` weights."""
        return -(-self.neurons // self.lanes)

    @property
    def neuron_bank_rows(self):
        """Rows of each weight bank that hold recurrent (neuron) rows: ``ceil(N/B)``."""
        return -(-self.neurons // self.banks)

    @property
    def input_bank_rows(self):
        """Rows of each weight bank that hold input rows: ``ceil(M/B)``."""
        return -(-self.inputs // self.banks)

    @property
    def bank_depth(self):
        """Words in one weight bank."""
        return (self.neuron_bank_rows + self.input_bank_rows) * self.words_per_row

    @property
    def weight_depth(self):
        """Words of the WEIGHT region: all banks, padding rows included."""
        return self.banks * self.bank_depth

    @property
    def acc_bits(self):
        """Width of the per-step synaptic accumulator: it holds the sum of up to ``rows``
        weights without overflow."""
        return self.weight_bits + ceil_log2(self.rows + 1) + 1

    @property
    def max_w_shift(self):
        """Largest left shift applied to the accumulated weights before they enter the
        current: a single weight then reaches the top of the current's range."""
        return self.i_bits - self.weight_bits

    @property
    def stdp_shift_bits(self):
        return 5

    #: Width of a Poisson input's rate: the spike probability per step is rate / 2**16.
    poisson_rate_bits = 16
    #: Width of a Poisson input's xorshift state.
    poisson_state_bits = 32

    @property
    def has_poisson(self):
        """Poisson generators exist (built, and there are inputs to drive)."""
        return self.poisson and self.inputs > 0

    @property
    def neuron_index_bits(self):
        return max(1, ceil_log2(self.neurons))

    @property
    def input_index_bits(self):
        return max(1, ceil_log2(self.inputs))

    @property
    def row_index_bits(self):
        return max(1, ceil_log2(self.rows))

    # -- ranges of values ----------------------------------------------------------------------

    @staticmethod
    def signed_range(bits):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    @staticmethod
    def unsigned_range(bits):
        return 0, (1 << bits) - 1

    @property
    def weight_range(self):
        return self.signed_range(self.weight_bits)

    @property
    def v_range(self):
        return self.signed_range(self.v_bits)

    @property
    def i_range(self):
        return self.signed_range(self.i_bits)

    # -- identity ------------------------------------------------------------------------------

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown configuration field(s): {', '.join(sorted(unknown))}; "
                              f"known fields are {', '.join(sorted(known))}")
        return cls(**data)

    def replace(self, **changes):
        """A copy with ``changes``; ``banks`` keeps following ``lanes`` when it did."""
        if "lanes" in changes and "banks" not in changes and self.banks == self.lanes:
            changes["banks"] = None
        return dataclasses.replace(self, **changes)

    @property
    def hash(self):
        """32-bit hash of the configuration; a bitstream reports it so that the host can refuse
        to talk to a core built for another configuration."""
        fields = self.to_dict()
        for name in _LATE_FLAGS:
            if not fields[name]:
                del fields[name]
        text = json.dumps(fields, sort_keys=True).encode()
        return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")

    def describe(self):
        features = [name for name in _FLAGS if getattr(self, name)]
        return (f"N={self.neurons} M={self.inputs} L={self.lanes} B={self.banks} "
                f"w{self.weight_bits} "
                f"v{self.v_bits} i{self.i_bits} [{', '.join(features) or 'no learning'}]")
