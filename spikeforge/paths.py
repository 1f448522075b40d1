"""Where spikeforge keeps its per-user files, on every platform."""

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root():
    """Root of spikeforge's caches (compiled twin kernel, simulation builds).

    ``$SPIKEFORGE_CACHE`` when set, else the platform's per-user cache folder for spikeforge
    (:func:`platformdirs.user_cache_dir`: ``$XDG_CACHE_HOME/spikeforge`` or
    ``~/.cache/spikeforge`` on Linux, ``~/Library/Caches/spikeforge`` on macOS,
    ``%LOCALAPPDATA%\\spikeforge\\Cache`` on Windows). Returns a :class:`~pathlib.Path`; the folder
    is not created.
    """
    if os.environ.get("SPIKEFORGE_CACHE"):
        return Path(os.environ["SPIKEFORGE_CACHE"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("spikeforge", appauthor=False))
