"""The twin's network and state as the region words a core holding them would contain.

Every backend reads and writes region words packed by :mod:`spikeforge.rtl.regions`; the twin
keeps typed arrays. :func:`twin_region_words` is the one bridge between the two.
"""

import numpy as np

from ...rtl.regions import Region, pack_region

__all__ = ["twin_region_words"]


def twin_region_words(twin, region):
    """The words a core holding the twin's network and state has in ``region``."""
    c = twin.config
    region = Region(region)
    if region == Region.WEIGHT:
        return pack_region(c, region, twin.W)
    if region == Region.MASK:
        return pack_region(c, region, twin.mask)
    if region == Region.PARAM:
        p = twin.network.neuron_params
        return pack_region(c, region, p.to_dict())
    if region == Region.STATE:
        return pack_region(c, region, {"v": twin.v, "i": twin.i, "r": twin.r,
                                       "s": twin.s.astype(np.int64), "theta": twin.theta})
    if region == Region.XTRACE:
        return pack_region(c, region, twin.x)
    if region == Region.YTRACE:
        return pack_region(c, region, twin.y)
    if region == Region.XINTRACE:
        return pack_region(c, region, twin.xin)
    if region == Region.GLOBAL:
        g = twin.network.global_params
        return pack_region(c, region, g.to_dict())
    if region == Region.POISSON_RATE:
        return pack_region(c, region, twin.poisson_rate)
    if region == Region.POISSON_STATE:
        return pack_region(c, region, twin.pstate)
    if region == Region.RECORD:
        # which neurons a run records is the device's setting, not the network's: a twin
        # holds the power-on value (none selected)
        return [0] * c.neurons
    raise AssertionError(region)
