"""Arithmetic and memory helpers shared by the parts of the core (see docs/model.md)."""

from amaranth.hdl import Array, Cat, Const, Mux, Shape

__all__ = ["sat", "dec", "xorshift32", "sr_hash", "sr_uniform", "sr_scaled", "sr_round",
           "sr_scaled_signed", "sr_round_signed", "low", "high", "select", "write_banked",
           "clampw"]


def sat(value, shape):
    """Clamp ``value`` into the range of ``shape`` (signed or unsigned) and cast to it."""
    shape = Shape.cast(shape)
    if shape.signed:
        low, high = -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    else:
        low, high = 0, (1 << shape.width) - 1
    return Mux(value > high, high, Mux(value < low, low, value))[:shape.width]


def dec(value, factor, frac_bits):
    """``value * factor / 2**frac_bits`` rounded toward zero (docs/model.md, ``dec``)."""
    product = value * factor
    if Shape.cast(product.shape()).signed:
        bias = (1 << frac_bits) - 1
        return Mux(product < 0, (product + bias) >> frac_bits, product >> frac_bits)
    return product >> frac_bits


def xorshift32(value):
    """One xorshift32 (13, 17, 5) step of a 32-bit value: XOR gates only."""
    value = value ^ (value << 13)[:32]
    value = value ^ (value >> 17)
    return value ^ (value << 5)[:32]


def sr_hash(value):
    """The top 16 bits of two xorshift32 steps of a 32-bit value."""
    return xorshift32(xorshift32(value))[16:32]


def sr_uniform(seed_hash, row, col):
    """The 16-bit uniform value of stochastic rounding of synapse (row, col), the top 16 bits
    of two xorshift32 steps of ``seed ^ (row << 11 | col)`` (docs/model.md). xorshift32 is
    linear over GF(2), so that is ``sr_hash(seed) ^ sr_hash(row << 11 | col)``: the seed's
    part (``seed_hash``) is computed once per step, and each lane hashes only the 21 bits of
    its synapse's key."""
    key = Cat(col, Const(0, 11 - len(col)), row, Const(0, 32 - 11 - len(row)))
    return seed_hash ^ sr_hash(key)


def sr_scaled(product, shift):
    """``(product << 16) >> shift``: the integer part of ``product / 2^shift`` above 16 bits
    of the fraction the shift drops."""
    return Cat(Const(0, 16), product) >> shift


def sr_round(scaled, uniform):
    """The rounded magnitude: the integer part, plus 1 when the dropped fraction exceeds the
    uniform value."""
    return scaled[16:] + (scaled[:16] > uniform)


def sr_scaled_signed(product, shift):
    """:func:`sr_scaled` of a signed ``product``: an arithmetic shift, so the integer part is
    rounded down and the 16 bits below it are the fraction that rounding down dropped."""
    return Cat(Const(0, 16), product).as_signed() >> shift


def sr_round_signed(scaled, uniform):
    """:func:`sr_round` of a signed ``scaled`` value (from :func:`sr_scaled_signed`)."""
    return scaled[16:].as_signed() + (scaled[:16] > uniform)


def low(value, bits):
    """The ``bits`` low bits of ``value`` (a zero-width constant when ``bits`` is 0)."""
    return value[:bits] if bits else Const(0, 0)


def high(value, bits):
    """``value`` shifted right by ``bits``."""
    return value[bits:] if bits else value


def select(memories, index):
    """Read data of the memory ``index`` of a bank of ``(read, write)`` port pairs."""
    return Array(rp.data.as_value() if hasattr(rp.data, "as_value") else rp.data
                 for rp, _ in memories)[index]


def write_banked(m, memories, addr, bits, data):
    """Write ``data`` to element ``addr`` of a banked memory: bank ``addr mod 2**bits``,
    bank address ``addr >> bits``."""
    for bank, (_, wp) in enumerate(memories):
        m.d.comb += [wp.addr.eq(high(addr, bits)), wp.data.eq(data),
                     wp.en.eq(low(addr, bits) == bank)]


def clampw(value, gl):
    """``value`` clamped into the weight range ``[gl.w_min, gl.w_max]``."""
    return Mux(value > gl.w_max, gl.w_max, Mux(value < gl.w_min, gl.w_min, value))
