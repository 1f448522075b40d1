"""The host side of spikeforge, in rooms.

* :mod:`.model` — the bit-exact twin, network parameters, float references;
* :mod:`.device` — the Device API, its backends, the link codec and the serial link;
* :mod:`.formats` — network files and NIR;
* :mod:`.runs` — running networks, saving and comparing runs, agreement, plots;
* :mod:`.demos` — the digits and Song–Miller–Abbott demonstrations;
* :mod:`.commands` and :mod:`.cli` — the ``spikeforge`` command line.

Nothing here imports :mod:`spikeforge.sim` or :mod:`spikeforge.boards` (the simulated board
registers its ``sim://`` scheme by name), except the command line, which sits on top of all.
"""
