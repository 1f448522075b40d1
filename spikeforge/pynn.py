"""The PyNN interface: ``import spikeforge.pynn as sim`` in place of ``import pyNN.brian2 as sim``.

Everything is defined in :mod:`spikeforge.host.pynn` (docs/pynn.md).
"""

from spikeforge.host.pynn import *  # noqa: F401,F403
from spikeforge.host.pynn import __all__  # noqa: F401
